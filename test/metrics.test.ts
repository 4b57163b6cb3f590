import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricsLogger, readMetrics } from '../src/run/metrics.ts';
import { csvCell, metricSeries, parseCsvLine, parseMetricsJsonl } from '../src/run/metrics-format.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dsrl-metrics-'));
  dirs.push(d);
  return d;
}

/** Parse metrics.csv into header + rows, asserting every row has as many cells as the header. */
function readCsv(dir: string): { header: string[]; rows: string[][] } {
  const text = readFileSync(join(dir, 'metrics.csv'), 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  const [header, ...rows] = text.slice(0, -1).split('\n').map(parseCsvLine);
  for (const row of rows) expect(row).toHaveLength(header.length);
  return { header, rows };
}

function jsonlSteps(dir: string): number[] {
  return readMetrics(dir).map((r) => r.step);
}

describe('MetricsLogger', () => {
  it('writes one jsonl object and one csv row per log call, growing columns as names appear', () => {
    const dir = tempDir();
    let t = 1_700_000_000_000;
    const m = new MetricsLogger(dir, { now: () => t, host: 'h' });
    t += 500;
    m.log(100, { 'losses/qf_loss': 0.5, 'losses/actor_loss': -1.25 });
    t += 500;
    m.log(200, { 'losses/qf_loss': 0.25 });
    t += 500;
    m.log(300, { 'charts/episodic_return': 12, 'losses/qf_loss': NaN });
    t += 500;
    m.log(400, {});
    m.close();

    expect(m.columns).toEqual(['losses/qf_loss', 'losses/actor_loss', 'charts/episodic_return']);
    const { header, rows } = readCsv(dir);
    expect(header).toEqual(['step', 'wall_time', 'losses/qf_loss', 'losses/actor_loss', 'charts/episodic_return']);
    expect(rows).toEqual([
      ['100', '1700000000.5', '0.5', '-1.25', ''],
      ['200', '1700000001', '0.25', '', ''],
      ['300', '1700000001.5', 'nan', '', '12'],
      ['400', '1700000002', '', '', ''],
    ]);

    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[0])).toEqual({ step: 100, wall_time: 1700000000.5, 'losses/qf_loss': 0.5, 'losses/actor_loss': -1.25 });
    expect(JSON.parse(lines[2])).toEqual({ step: 300, wall_time: 1700000001.5, 'charts/episodic_return': 12, 'losses/qf_loss': null });

    const back = readMetrics(dir);
    expect(metricSeries(back, 'losses/qf_loss')).toEqual([
      [100, 0.5],
      [200, 0.25],
      [300, NaN],
    ]);
    expect(metricSeries(back, 'charts/episodic_return')).toEqual([[300, 12]]);

    expect(readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'))).toEqual(['events.out.tfevents.1700000000.h']);
  });

  it('keeps the CSV valid on disk after each flush, before and after columns grow', () => {
    const dir = tempDir();
    const m = new MetricsLogger(dir, { tensorboard: false });
    expect(readCsv(dir).header).toEqual(['step', 'wall_time']);
    m.log(1, { a: 1 });
    m.flush();
    expect(readCsv(dir).rows).toHaveLength(1);
    m.log(2, { b: 2, 'odd,"name"': 3 });
    m.flush();
    const { header, rows } = readCsv(dir);
    expect(header).toEqual(['step', 'wall_time', 'a', 'b', 'odd,"name"']);
    expect(rows.map((r) => r[0])).toEqual(['1', '2']);
    m.close();
    expect(existsSync(join(dir, 'metrics.csv'))).toBe(true);
    expect(readdirSync(dir).some((f) => f.startsWith('events.'))).toBe(false);
  });

  it('buffers rows until the flush interval has passed', () => {
    const dir = tempDir();
    let t = 0;
    const m = new MetricsLogger(dir, { now: () => t, flushEveryMs: 1000, tensorboard: false });
    m.log(1, { a: 1 });
    m.log(2, { a: 2 });
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).toBe('');
    t = 1500;
    m.log(3, { a: 3 });
    expect(jsonlSteps(dir)).toEqual([1, 2, 3]);
    m.close();
  });

  it('resumes: drops rows past the resume step, then appends to the same files', () => {
    const dir = tempDir();
    let t = 1_000_000;
    const first = new MetricsLogger(dir, { now: () => (t += 1000), host: 'h' });
    for (let step = 100; step <= 500; step += 100) first.log(step, { 'charts/episodic_return': step / 10 });
    first.log(500, { 'losses/late_only': 1 });
    first.close();
    // The crash also tore the last line of each file.
    appendFileSync(join(dir, 'metrics.jsonl'), '{"step":600,"wall_t');
    appendFileSync(join(dir, 'metrics.csv'), '600,17');

    expect(() => new MetricsLogger(dir, { tensorboard: false })).toThrow(/resumeStep/);

    const resumed = new MetricsLogger(dir, { resumeStep: 300, now: () => (t += 1000), host: 'h' });
    expect(resumed.columns).toEqual(['charts/episodic_return', 'losses/late_only']);
    resumed.log(400, { 'charts/episodic_return': -4, 'losses/new': 7 });
    resumed.close();

    expect(jsonlSteps(dir)).toEqual([100, 200, 300, 400]);
    expect(metricSeries(readMetrics(dir), 'charts/episodic_return')).toEqual([
      [100, 10],
      [200, 20],
      [300, 30],
      [400, -4],
    ]);
    const { header, rows } = readCsv(dir);
    expect(header).toEqual(['step', 'wall_time', 'charts/episodic_return', 'losses/late_only', 'losses/new']);
    expect(rows.map((r) => [r[0], r[2], r[4]])).toEqual([
      ['100', '10', ''],
      ['200', '20', ''],
      ['300', '30', ''],
      ['400', '-4', '7'],
    ]);
    // A second events file, so TensorBoard sees the restart marker.
    expect(readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'))).toHaveLength(2);
  });

  it('resumes into an empty folder as a fresh run', () => {
    const dir = tempDir();
    const m = new MetricsLogger(dir, { resumeStep: 0, tensorboard: false });
    m.log(1, { a: 1 });
    m.close();
    expect(jsonlSteps(dir)).toEqual([1]);
    expect(readCsv(dir).header).toEqual(['step', 'wall_time', 'a']);
  });

  it('rejects bad input before writing anything', () => {
    const dir = tempDir();
    const m = new MetricsLogger(dir, { tensorboard: false });
    expect(() => m.log(1.5, { a: 1 })).toThrow(/integer/);
    expect(() => m.log(1, { step: 1 })).toThrow(/reserved/);
    expect(() => m.log(1, { a: '1' as unknown as number })).toThrow(/number/);
    m.close();
    expect(readMetrics(dir)).toEqual([]);
  });
});

describe('metrics formats', () => {
  it('round-trips CSV cells', () => {
    for (const cells of [['a', 'b'], ['', ''], ['x,y', 'say "hi"', ''], ['only']]) {
      expect(parseCsvLine(cells.map(csvCell).join(','))).toEqual(cells);
    }
    expect(() => parseCsvLine('"open')).toThrow(/unterminated/);
  });

  it('parses jsonl, dropping only a torn last line', () => {
    expect(parseMetricsJsonl('{"step":1,"wall_time":2,"a":null}\n{"step":2').map((r) => r.step)).toEqual([1]);
    expect(parseMetricsJsonl('{"step":1,"wall_time":2,"a":null}\n')[0].values.a).toBeNaN();
    expect(() => parseMetricsJsonl('garbage\n{"step":1}\n')).toThrow(/line 1/);
    expect(() => parseMetricsJsonl('{"wall_time":1}\n')).toThrow(/step/);
  });
});
