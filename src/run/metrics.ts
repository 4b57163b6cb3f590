/**
 * Node-only metrics logger for a run folder: metrics.jsonl, metrics.csv and a TensorBoard events
 * file, fed by `log(step, {name: value})` with CleanRL-style names (`charts/episodic_return`,
 * `losses/qf_loss`). File formats: see metrics-format.ts.
 *
 * The CSV is wide (one row per log call, one column per metric) because that is what people load
 * into pandas or a spreadsheet. When a new metric appears, the file is rewritten once, atomically,
 * with the grown header and empty cells in the old rows, so the CSV is valid at every moment. New
 * names appear in the first few log calls of a run, so these rewrites stay rare and cheap.
 *
 * Resuming (`resumeStep`) appends to the same files after first dropping rows with
 * step > resumeStep, which the crashed process logged past its last checkpoint; TensorBoard gets
 * a new events file that tells it to drop those steps too.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../node/fs.ts';
import { BufferedFile } from './buffered-file.ts';
import { RESERVED_METRIC_NAMES, csvCell, csvNumber, jsonlLine, parseCsvLine, parseMetricsJsonl, type MetricsRow } from './metrics-format.ts';
import { TensorBoardWriter } from './tensorboard.ts';

export const METRICS_JSONL = 'metrics.jsonl';
export const METRICS_CSV = 'metrics.csv';

export interface MetricsLoggerOptions {
  /** Continue a run: keep rows with step <= resumeStep, drop later ones, then append. */
  resumeStep?: number;
  /** Also write a TensorBoard events file. Default true. */
  tensorboard?: boolean;
  /** Longest time logged rows may sit in memory. Default 2000 ms. */
  flushEveryMs?: number;
  /** Clock in ms; injectable for tests. */
  now?: () => number;
  /** Host name for the events file name; default os.hostname(). */
  host?: string;
}

export class MetricsLogger {
  readonly dir: string;
  private readonly now: () => number;
  private readonly flushEveryMs: number | undefined;
  private readonly jsonl: BufferedFile;
  private csv: BufferedFile;
  private readonly csvPath: string;
  private csvColumns: string[];
  private readonly tb: TensorBoardWriter | null;

  constructor(dir: string, options: MetricsLoggerOptions = {}) {
    this.dir = dir;
    this.now = options.now ?? Date.now;
    this.flushEveryMs = options.flushEveryMs;
    const jsonlPath = join(dir, METRICS_JSONL);
    this.csvPath = join(dir, METRICS_CSV);
    const { resumeStep } = options;

    if (resumeStep === undefined) {
      for (const path of [jsonlPath, this.csvPath]) {
        if (existsSync(path) && statSync(path).size > 0) {
          throw new Error(`${path} already has rows; pass resumeStep to continue that run, or use a new folder`);
        }
      }
      this.csvColumns = [];
    } else {
      if (!Number.isSafeInteger(resumeStep)) throw new Error(`resumeStep must be an integer, got ${resumeStep}`);
      truncateJsonl(jsonlPath, resumeStep);
      this.csvColumns = truncateCsv(this.csvPath, resumeStep);
    }
    // A header from the start, so growCsv can always treat line 1 as the header.
    if (!existsSync(this.csvPath) || statSync(this.csvPath).size === 0) {
      writeFileAtomic(this.csvPath, csvHeader(this.csvColumns) + '\n');
    }

    this.jsonl = new BufferedFile(jsonlPath, { flushEveryMs: this.flushEveryMs, now: this.now });
    this.csv = new BufferedFile(this.csvPath, { flushEveryMs: this.flushEveryMs, now: this.now });
    this.tb =
      options.tensorboard === false
        ? null
        : new TensorBoardWriter(dir, {
            flushEveryMs: this.flushEveryMs,
            now: this.now,
            host: options.host,
            purgeStep: resumeStep === undefined ? undefined : resumeStep + 1,
          });
  }

  /** Metric names in CSV column order (after step and wall_time). */
  get columns(): readonly string[] {
    return this.csvColumns;
  }

  /** Path of the TensorBoard events file, or null when TensorBoard output is off. */
  get eventsPath(): string | null {
    return this.tb?.path ?? null;
  }

  log(step: number, values: Record<string, number>): void {
    if (!Number.isSafeInteger(step)) throw new Error(`metrics step must be an integer, got ${step}`);
    const entries = Object.entries(values);
    for (const [name, value] of entries) {
      if (typeof value !== 'number') throw new TypeError(`metric ${name} must be a number, got ${typeof value}`);
      if (RESERVED_METRIC_NAMES.includes(name)) throw new Error(`metric name "${name}" is reserved`);
      if (name.length === 0 || /[\r\n]/.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
    }
    const wallTime = this.now() / 1000;
    this.jsonl.append(jsonlLine(step, wallTime, values) + '\n');

    const newNames = entries.map(([name]) => name).filter((name) => !this.csvColumns.includes(name));
    if (newNames.length > 0) this.growCsv(newNames);
    const cells = this.csvColumns.map((name) => (name in values ? csvNumber(values[name]) : ''));
    this.csv.append([String(step), String(wallTime), ...cells].join(',') + '\n');

    this.tb?.addScalars(step, entries);
  }

  /** Rewrite the CSV with more columns: grown header, old rows padded with empty cells. */
  private growCsv(newNames: string[]): void {
    this.csv.close();
    const lines = readLines(this.csvPath).slice(1);
    this.csvColumns = [...this.csvColumns, ...newNames];
    const padding = ','.repeat(newNames.length);
    const text = [csvHeader(this.csvColumns), ...lines.map((line) => line + padding)].join('\n') + '\n';
    writeFileAtomic(this.csvPath, text);
    this.csv = new BufferedFile(this.csvPath, { flushEveryMs: this.flushEveryMs, now: this.now });
  }

  flush(): void {
    this.jsonl.flush();
    this.csv.flush();
    this.tb?.flush();
  }

  close(): void {
    this.jsonl.close();
    this.csv.close();
    this.tb?.close();
  }
}

/** Read a run folder's metrics.jsonl. */
export function readMetrics(dir: string): MetricsRow[] {
  const path = join(dir, METRICS_JSONL);
  return existsSync(path) ? parseMetricsJsonl(readFileSync(path, 'utf8')) : [];
}

function csvHeader(columns: readonly string[]): string {
  return ['step', 'wall_time', ...columns].map(csvCell).join(',');
}

/** Complete lines of a file; a last line without newline is a torn write and is dropped. */
function readLines(path: string): string[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.pop();
  return lines;
}

function truncateJsonl(path: string, resumeStep: number): void {
  if (!existsSync(path)) return;
  const text = readFileSync(path, 'utf8');
  const lines = readLines(path);
  const rows = parseMetricsJsonl(text);
  const kept = lines.filter((_, i) => rows[i].step <= resumeStep);
  const keptText = kept.map((line) => line + '\n').join('');
  if (keptText !== text) writeFileAtomic(path, keptText);
}

/** Drop CSV rows past resumeStep; returns the metric columns its header already has. */
function truncateCsv(path: string, resumeStep: number): string[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const lines = readLines(path);
  if (lines.length === 0) {
    if (text.length > 0) writeFileAtomic(path, ''); // a torn header
    return [];
  }
  const header = parseCsvLine(lines[0]);
  if (header[0] !== 'step' || header[1] !== 'wall_time') throw new Error(`${path} is not a dsrl metrics CSV`);
  const kept = lines.slice(1).filter((line, i) => {
    const step = Number(line.slice(0, line.indexOf(',')));
    if (!Number.isFinite(step)) throw new Error(`${path} row ${i + 2} has no numeric step`);
    return step <= resumeStep;
  });
  const keptText = [lines[0], ...kept].map((line) => line + '\n').join('');
  if (keptText !== text) writeFileAtomic(path, keptText);
  return header.slice(2);
}
