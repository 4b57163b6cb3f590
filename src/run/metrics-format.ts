/**
 * Text formats of the run folder's metrics files, pure so a browser page can read a run's
 * metrics.jsonl and plot it. The Node side that writes them is metrics.ts.
 *
 * metrics.jsonl: one flat JSON object per log call, `{"step":100,"wall_time":1700000000.123,
 * "charts/episodic_return":12.5,...}`; JSON has no NaN/Infinity, so those are written as null.
 * metrics.csv: wide, `step,wall_time,<name>...`, an empty cell where a row did not log that name,
 * and nan / inf / -inf spelled the way pandas and numpy read them.
 */

/** Column names the row itself uses; a metric may not take them. */
export const RESERVED_METRIC_NAMES: readonly string[] = ['step', 'wall_time'];

/** Metrics that measure wall-clock time (besides `wall_time`): the only values a resumed run logs differently. */
export const WALL_CLOCK_METRICS: readonly string[] = ['charts/SPS', 'charts/eval_seconds'];

export interface MetricsRow {
  step: number;
  /** Seconds since the Unix epoch. */
  wall_time: number;
  /** Values logged at this step; null in the file (a NaN or infinity) reads back as NaN. */
  values: Record<string, number>;
}

/** Number as a CSV cell: shortest round-trip decimal, non-finite spelled for pandas. */
export function csvNumber(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  return String(value);
}

/** Quote a CSV cell if it needs it (RFC 4180). */
export function csvCell(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Split one CSV line (no embedded newlines) into cells, undoing csvCell's quoting. */
export function parseCsvLine(line: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    let cell = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new Error(`unterminated quote in CSV line: ${line}`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        cell += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new Error(`text after closing quote in CSV line: ${line}`);
    } else {
      const end = line.indexOf(',', i);
      cell = line.slice(i, end === -1 ? line.length : end);
      i = end === -1 ? line.length : end;
    }
    cells.push(cell);
    if (i >= line.length) return cells;
    i++; // the comma
  }
}

/** One metrics.jsonl line (without the newline). */
export function jsonlLine(step: number, wallTime: number, values: Record<string, number>): string {
  // JSON.stringify already writes NaN and infinities as null.
  return JSON.stringify({ step, wall_time: wallTime, ...values });
}

/**
 * Parse metrics.jsonl text. A last line without its newline is a write torn by a crash and is
 * left out; any other malformed line throws, since it means the file is not ours.
 */
export function parseMetricsJsonl(text: string): MetricsRow[] {
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a torn write
  return lines.map((line, i) => {
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new Error(`metrics.jsonl line ${i + 1} is not JSON: ${line.slice(0, 80)}`);
    }
    if (typeof obj !== 'object' || obj === null || typeof (obj as { step?: unknown }).step !== 'number') {
      throw new Error(`metrics.jsonl line ${i + 1} has no numeric step`);
    }
    const { step, wall_time, ...rest } = obj as Record<string, unknown>;
    const values: Record<string, number> = {};
    for (const [name, v] of Object.entries(rest)) values[name] = typeof v === 'number' ? v : NaN;
    return { step: step as number, wall_time: typeof wall_time === 'number' ? wall_time : NaN, values };
  });
}

/** The `[step, value]` points of one metric, in file order. */
export function metricSeries(rows: readonly MetricsRow[], name: string): [number, number][] {
  const points: [number, number][] = [];
  for (const row of rows) if (name in row.values) points.push([row.step, row.values[name]]);
  return points;
}
