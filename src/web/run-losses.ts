/**
 * What the viewer's loss chart draws of a run: the `losses/...` series of its metrics.jsonl (metrics-format.ts),
 * each thinned to at most `maxPoints` points, so the answer stays a few tens of KB however long the run. Node-free:
 * `dsrl view`'s server answers /api/runs/<i>/losses with it, and the static page computes it from a picked file.
 *
 * The file is appended to while a run trains (metrics.ts buffers rows and writes whole lines), so a last line
 * without its newline is a write in progress and is left out. Unlike parseMetricsJsonl, which throws on any
 * malformed line (there it means the file is not a run's), a line that is not a log row is skipped and counted:
 * a viewer should still draw the rest.
 */

export const MAX_LOSS_POINTS = 400;
/** Series beyond this many loss names are left out (the algorithms log 4-8). */
export const MAX_LOSS_SERIES = 32;
export const LOSS_PREFIX = 'losses/';

export interface LossSeries {
  /** Env steps of the kept points, ascending as logged. */
  step: number[];
  value: number[];
}

export interface RunLosses {
  xAxis: string;
  /** Loss names (without `losses/`), in the order they first appear. */
  keys: string[];
  series: Record<string, LossSeries>;
  /** Complete lines read, and of them those skipped as not a log row (the first one's number and why). */
  lines: number;
  skipped: number;
  firstSkipped: string | null;
}

/**
 * Keeps every `stride`-th point of a stream, doubling the stride (and dropping every other kept point) whenever
 * more than `max - 1` are kept, so memory stays bounded for any length; the newest point is always added at the end.
 */
class Thinned {
  readonly step: number[] = [];
  readonly value: number[] = [];
  private stride = 1;
  private seen = 0;
  private last: [number, number] | null = null;

  constructor(private readonly max: number) {}

  push(step: number, value: number): void {
    this.last = [step, value];
    if (this.seen++ % this.stride !== 0) return;
    this.step.push(step);
    this.value.push(value);
    if (this.step.length > this.max - 1) {
      for (const a of [this.step, this.value]) {
        let w = 0;
        for (let r = 0; r < a.length; r += 2) a[w++] = a[r];
        a.length = w;
      }
      this.stride *= 2;
    }
  }

  result(): LossSeries {
    const out = { step: [...this.step], value: [...this.value] };
    // The newest value is what a live run's reader looks at first.
    if (this.last && (this.seen - 1) % this.stride !== 0) {
      out.step.push(this.last[0]);
      out.value.push(this.last[1]);
    }
    return out;
  }
}

/** The loss series of metrics.jsonl text (empty when there are none yet). */
export function lossesOf(text: string, maxPoints = MAX_LOSS_POINTS): RunLosses {
  if (!Number.isInteger(maxPoints) || maxPoints < 2) throw new Error(`maxPoints must be an integer >= 2, got ${maxPoints}`);
  const series = new Map<string, Thinned>();
  let lines = 0;
  let skipped = 0;
  let firstSkipped: string | null = null;
  const skip = (why: string) => {
    skipped++;
    firstSkipped ??= `line ${lines}: ${why}`;
  };
  for (let start = 0; ;) {
    const end = text.indexOf('\n', start);
    if (end < 0) break; // the rest is empty, or a line still being written
    const line = text.slice(start, end);
    start = end + 1;
    lines++;
    if (line.trim() === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      skip('not JSON');
      continue;
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      skip('not a JSON object');
      continue;
    }
    const { step } = row as Record<string, unknown>;
    if (typeof step !== 'number' || !Number.isFinite(step)) {
      skip('no numeric step');
      continue;
    }
    for (const [name, value] of Object.entries(row)) {
      // null is how the file spells a NaN or an infinity: no point to draw.
      if (!name.startsWith(LOSS_PREFIX) || typeof value !== 'number' || !Number.isFinite(value)) continue;
      const key = name.slice(LOSS_PREFIX.length);
      let s = series.get(key);
      if (!s) {
        if (series.size >= MAX_LOSS_SERIES) continue;
        s = new Thinned(maxPoints);
        series.set(key, s);
      }
      s.push(step, value);
    }
  }
  return {
    xAxis: 'env steps',
    keys: [...series.keys()],
    series: Object.fromEntries([...series].map(([k, s]) => [k, s.result()])),
    lines,
    skipped,
    firstSkipped,
  };
}
