/**
 * Console progress bar for training runs:
 *   `train [########........] 41.0k/100k  41% 1.2k/s ETA 0m49s | eval/return=3242 loss=0.0123`
 * On a terminal it redraws one line in place, at most every `redrawEveryMs`; when output is not a
 * terminal (CI logs, a pipe to a file) it prints a plain line every `plainEveryMs` instead, since
 * carriage-return redraws would fill a log with thousands of lines.
 *
 * It writes to any object with `write(string)`, so tests pass a fake stream; the default
 * process.stderr is looked up only when no stream is given, so the module also loads in a browser.
 */
import { formatCount, formatDuration, formatRate, formatValue } from './format.ts';

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  /** Terminal width; lines are cut to fit so they never wrap (wrapping breaks in-place redraw). */
  columns?: number;
}

export interface ProgressOptions {
  /** Steps in the whole run; 0 or non-finite when unknown (no bar, percent or ETA then). */
  total: number;
  /** Steps already done when the bar starts (a resumed run's step): not counted in the steps/s. */
  initial?: number;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Short name in front of the bar, e.g. `train`. */
  label?: string;
  /** Force terminal (true) or plain-line (false) output; default: the stream's isTTY. */
  tty?: boolean;
  /** Least time between in-place redraws. Default 100 ms. */
  redrawEveryMs?: number;
  /** Time between plain lines when not on a terminal. Default 10 s. */
  plainEveryMs?: number;
  /** Half-life of the steps/s smoothing. Default 5 s. */
  rateHalfLifeMs?: number;
  /** Characters in the bar. Default 20. */
  barWidth?: number;
  /** Clock in ms; injectable for tests. Default performance.now. */
  now?: () => number;
}

export type ProgressFields = Record<string, number | string>;

// Clear from the cursor to the end of the line, so a shorter redraw leaves no old characters.
const CLEAR_TO_EOL = '\x1b[K';

function defaultStream(): ProgressStream {
  const proc = (globalThis as { process?: { stderr?: ProgressStream } }).process;
  if (!proc?.stderr) throw new Error('ProgressBar: no process.stderr here; pass a stream');
  return proc.stderr;
}

export class ProgressBar {
  private readonly total: number;
  private readonly stream: ProgressStream;
  private readonly label: string;
  private readonly tty: boolean;
  private readonly redrawEveryMs: number;
  private readonly plainEveryMs: number;
  private readonly rateHalfLifeMs: number;
  private readonly barWidth: number;
  private readonly now: () => number;
  private readonly startedAt: number;

  private done = 0;
  private fields: ProgressFields = {};
  private smoothedRate = NaN;
  private sampleAt: number;
  private sampleDone = 0;
  private lastDrawAt = -Infinity;
  /** A bar line is on screen (terminal mode), so log() must clear it first. */
  private barShown = false;
  private finished = false;

  constructor(options: ProgressOptions) {
    this.total = options.total;
    this.stream = options.stream ?? defaultStream();
    this.label = options.label ?? '';
    this.tty = options.tty ?? this.stream.isTTY === true;
    this.redrawEveryMs = options.redrawEveryMs ?? 100;
    this.plainEveryMs = options.plainEveryMs ?? 10_000;
    this.rateHalfLifeMs = options.rateHalfLifeMs ?? 5000;
    this.barWidth = options.barWidth ?? 20;
    this.now = options.now ?? (() => performance.now());
    this.startedAt = this.now();
    this.sampleAt = this.startedAt;
    this.done = this.sampleDone = options.initial ?? 0;
  }

  /** Steps per second, exponentially smoothed over time; NaN until time has passed. */
  get rate(): number {
    return this.smoothedRate;
  }

  /** Set the absolute number of steps done, and optionally merge in fields to show. */
  update(done: number, fields?: ProgressFields): void {
    if (this.finished) return;
    this.done = done;
    if (fields) this.fields = { ...this.fields, ...fields };
    this.sampleRate();
    this.maybeDraw();
  }

  /** Advance by `steps`. */
  tick(steps = 1, fields?: ProgressFields): void {
    this.update(this.done + steps, fields);
  }

  /** Print a message line without garbling the bar; the bar is redrawn below it. */
  log(message: string): void {
    if (this.tty && this.barShown) {
      this.stream.write(`\r${CLEAR_TO_EOL}${message}\n`);
      if (!this.finished) this.draw();
    } else {
      this.stream.write(`${message}\n`);
    }
  }

  /** Final line, with total time taken; later updates are ignored. */
  finish(fields?: ProgressFields): void {
    if (this.finished) return;
    if (fields) this.fields = { ...this.fields, ...fields };
    this.sampleRate();
    this.finished = true;
    const line = this.fit(`${this.render()} | took ${formatDuration((this.now() - this.startedAt) / 1000)}`);
    this.stream.write(this.tty ? `\r${line}${CLEAR_TO_EOL}\n` : `${line}\n`);
    this.barShown = false;
  }

  /** The current status line (without terminal control characters). */
  render(): string {
    const known = Number.isFinite(this.total) && this.total > 0;
    const parts: string[] = [];
    if (this.label) parts.push(this.label);
    if (known) {
      const fraction = Math.min(1, Math.max(0, this.done / this.total));
      const filled = Math.floor(fraction * this.barWidth);
      parts.push(`[${'#'.repeat(filled)}${'.'.repeat(this.barWidth - filled)}]`);
      parts.push(`${formatCount(this.done)}/${formatCount(this.total)}`);
      parts.push(`${Math.floor(fraction * 100)}%`.padStart(4));
    } else {
      parts.push(formatCount(this.done));
    }
    parts.push(formatRate(this.smoothedRate));
    if (known) {
      const remaining = Math.max(0, this.total - this.done);
      parts.push(`ETA ${formatDuration(this.smoothedRate > 0 ? remaining / this.smoothedRate : remaining === 0 ? 0 : NaN)}`);
    }
    let line = parts.join(' ');
    const fieldText = Object.entries(this.fields)
      .map(([name, value]) => `${name}=${formatValue(value)}`)
      .join(' ');
    if (fieldText) line += ` | ${fieldText}`;
    return line;
  }

  private sampleRate(): void {
    const t = this.now();
    const dt = t - this.sampleAt;
    if (dt <= 0) return; // same clock tick: fold these steps into the next sample
    const instant = ((this.done - this.sampleDone) / dt) * 1000;
    if (Number.isNaN(this.smoothedRate)) this.smoothedRate = instant;
    else {
      // Time-weighted EMA: the same smoothing whether updates come every 1 ms or every 10 s.
      const alpha = 1 - 0.5 ** (dt / this.rateHalfLifeMs);
      this.smoothedRate += alpha * (instant - this.smoothedRate);
    }
    this.sampleAt = t;
    this.sampleDone = this.done;
  }

  private maybeDraw(): void {
    const t = this.now();
    const every = this.tty ? this.redrawEveryMs : this.plainEveryMs;
    // The first update draws at once, so a CI log shows the run started.
    if (this.lastDrawAt !== -Infinity && t - this.lastDrawAt < every) return;
    this.lastDrawAt = t;
    this.draw();
  }

  private draw(): void {
    const line = this.fit(this.render());
    if (this.tty) {
      this.stream.write(`\r${line}${CLEAR_TO_EOL}`);
      this.barShown = true;
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  private fit(line: string): string {
    const columns = this.tty ? this.stream.columns : undefined;
    return columns && columns > 1 && line.length > columns - 1 ? line.slice(0, columns - 1) : line;
  }
}
