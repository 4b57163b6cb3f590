/**
 * The viewer's loss series (src/web/run-losses.ts) and its endpoint GET /api/runs/<i>/losses: each series thinned
 * to at most MAX_LOSS_POINTS however long the run, malformed lines skipped and reported, a line still being
 * written left out, the file read under the server's per-file and bytes-in-flight limits, no symlink followed,
 * and the event stream announcing each append to metrics.jsonl.
 */
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonlLine } from '../src/run/metrics-format.ts';
import { lossesOf, MAX_LOSS_POINTS, MAX_LOSS_SERIES, type RunLosses } from '../src/web/run-losses.ts';
import { startViewer } from '../src/web/server.ts';

const root = mkdtempSync(join(tmpdir(), 'dsrl-viewer-losses-'));
const dist = join(root, 'dist');
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(() => {
  mkdirSync(dist);
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>viewer</title>');
});

/** A run folder whose metrics.jsonl holds `lines` (each with its newline) and then `tail` (no newline). */
function runFolder(name: string, lines: string[], tail = ''): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ env: 'Hopper-v5', algo: 'na' }));
  writeFileSync(join(dir, 'metrics.jsonl'), lines.map((l) => `${l}\n`).join('') + tail);
  return dir;
}

/** Rows as a DSRL-NA run logs them: losses from `from` on, a charts/ row between. */
function rows(n: number, from = 0): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const step = 100 * (i + 1);
    out.push(jsonlLine(step, 1.7e9 + i, { 'charts/SPS': 1000, ...(i >= from ? { 'losses/qa_loss': 1000 / (i + 1), 'losses/actor_loss': -i } : {}) }));
  }
  return out;
}

describe('lossesOf', () => {
  it('keeps every point of a short run, in order, and only losses/ keys', () => {
    const l = lossesOf(rows(10, 3).join('\n') + '\n');
    expect(l.keys).toEqual(['qa_loss', 'actor_loss']);
    expect(l.series.qa_loss.step).toEqual([400, 500, 600, 700, 800, 900, 1000]);
    expect(l.series.actor_loss.value).toEqual([-3, -4, -5, -6, -7, -8, -9]);
    expect(l).toMatchObject({ lines: 10, skipped: 0, firstSkipped: null, xAxis: 'env steps' });
  });

  it('thins any number of rows to at most MAX_LOSS_POINTS per series, keeping the first and the newest point', () => {
    for (const n of [MAX_LOSS_POINTS - 1, MAX_LOSS_POINTS, MAX_LOSS_POINTS + 1, 1001, 100_000]) {
      const l = lossesOf(rows(n).join('\n') + '\n');
      for (const key of l.keys) {
        const { step } = l.series[key];
        expect(step.length, `${n} rows`).toBeLessThanOrEqual(MAX_LOSS_POINTS);
        // Thinning halves at most: never fewer than half the bound once there are that many rows.
        expect(step.length, `${n} rows`).toBeGreaterThanOrEqual(Math.min(n, MAX_LOSS_POINTS / 2));
        expect(step[0]).toBe(100);
        expect(step.at(-1)).toBe(100 * n);
        for (let i = 1; i < step.length; i++) expect(step[i]).toBeGreaterThan(step[i - 1]);
        expect(l.series[key].value.length).toBe(step.length);
      }
    }
  });

  it('skips and reports malformed lines, leaves out a line still being written, drops null values', () => {
    const good = rows(4);
    const text = [good[0], '{"step":', good[1], '[1,2]', '{"wall_time":3}', good[2], '', good[3]].join('\n') + '\n' + '{"step":500,"losses/qa_lo';
    const l = lossesOf(text);
    expect(l.skipped).toBe(3);
    expect(l.firstSkipped).toBe('line 2: not JSON');
    expect(l.lines).toBe(8);
    expect(l.series.qa_loss.step).toEqual([100, 200, 300, 400]);
    const nan = lossesOf('{"step":1,"losses/a":null,"losses/b":2}\n');
    expect(nan.keys).toEqual(['b']);
    expect(lossesOf('').keys).toEqual([]);
    const wide = lossesOf(JSON.stringify({ step: 1, ...Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`losses/l${i}`, i])) }) + '\n');
    expect(wide.keys.length).toBe(MAX_LOSS_SERIES);
  });
});

describe('GET /api/runs/<i>/losses', () => {
  it('answers the thinned series, reports a malformed line, and stays small for a long run', async () => {
    const long = runFolder('long', [...rows(50_000).slice(0, 25_000), 'not json at all', ...rows(50_000).slice(25_000)], '{"step":9');
    const none = join(root, 'none');
    mkdirSync(none);
    writeFileSync(join(none, 'config.json'), '{}');
    // A symlinked metrics.jsonl is not followed: no losses.
    const linked = join(root, 'linked');
    mkdirSync(linked);
    writeFileSync(join(linked, 'config.json'), '{}');
    symlinkSync(join(long, 'metrics.jsonl'), join(linked, 'metrics.jsonl'));
    const server = await startViewer({ runs: [long, none, linked], distDir: dist, port: 0 });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const res = await fetch(`${base}/api/runs/0/losses`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      const text = await res.text();
      const l = JSON.parse(text) as RunLosses;
      expect(l.keys).toEqual(['qa_loss', 'actor_loss']);
      for (const k of l.keys) expect(l.series[k].step.length).toBeLessThanOrEqual(MAX_LOSS_POINTS);
      expect(l.series.qa_loss.step.at(-1)).toBe(5_000_000);
      expect(l).toMatchObject({ lines: 50_001, skipped: 1, firstSkipped: 'line 25001: not JSON' });
      // 50,000 rows (a 4.6 MB file) answer in under 25 KB.
      expect(text.length).toBeLessThan(25_000);
      console.log(`web-losses: ${l.lines} lines -> ${l.keys.map((k) => l.series[k].step.length).join(' / ')} points, ${text.length} bytes`);
      expect(await (await fetch(`${base}/api/runs/1/losses`)).json()).toMatchObject({ keys: [], lines: 0 });
      expect(await (await fetch(`${base}/api/runs/2/losses`)).json()).toMatchObject({ keys: [], lines: 0 });
      for (const bad of ['/api/runs/3/losses', '/api/runs/0/losses/..', '/api/runs/0/metrics.jsonl', '/api/runs/0/losses%2f..%2fsecret'])
        expect((await fetch(`${base}${bad}`)).status, bad).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('follows the per-file and bytes-in-flight limits', async () => {
    const run = runFolder('limits', rows(2000));
    const big = await startViewer({ runs: [run], distDir: dist, port: 0, limits: { maxPayloadBytes: 10_000, maxBytesInFlight: 10_000 } });
    try {
      const res = await fetch(`http://127.0.0.1:${big.port}/api/runs/0/losses`);
      expect(res.status).toBe(413);
      expect(await res.text()).toMatch(/over 10000 bytes/);
    } finally {
      await big.close();
    }
    // Files of 6-7 KB under a 10 KB bound in flight: two read at once are over it. Whether two reads overlap is up to
    // the scheduler, so rounds of 8 requests at once go on (each after replacing the files, so nothing is answered
    // from the cache) until one is refused; a round refuses one about every third time here, so 40 rounds suffice.
    const runs = [0, 1, 2, 3].map((i) => runFolder(`busy-${i}`, rows(70).slice(i)));
    const busy = await startViewer({ runs, distDir: dist, port: 0, limits: { maxPayloadBytes: 10_000, maxBytesInFlight: 10_000 } });
    try {
      const get = (i: number) => fetch(`http://127.0.0.1:${busy.port}/api/runs/${i}/losses`);
      const statuses: number[] = [];
      for (let round = 0; round < 40 && !statuses.includes(503); round++) {
        for (const [i, dir] of runs.entries()) {
          writeFileSync(join(dir, 'new.jsonl'), rows(70).slice(i).join('\n') + '\n');
          renameSync(join(dir, 'new.jsonl'), join(dir, 'metrics.jsonl'));
        }
        statuses.push(...(await Promise.all([0, 1, 2, 3, 0, 1, 2, 3].map(get))).map((r) => r.status));
      }
      expect(statuses.filter((s) => s === 503).length, statuses.join(' ')).toBeGreaterThan(0);
      expect(
        statuses.every((s) => s === 200 || s === 503),
        statuses.join(' '),
      ).toBe(true);
      // Nothing stays reserved: one at a time, every run answers.
      for (const i of [0, 1, 2, 3]) expect((await get(i)).status).toBe(200);
    } finally {
      await busy.close();
    }
  });

  it('the event stream announces each append to metrics.jsonl, and the answer follows it', async () => {
    const run = runFolder('live', rows(3));
    const server = await startViewer({ runs: [run], distDir: dist, port: 0, pollMs: 20 });
    const abort = new AbortController();
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const res = await fetch(`${base}/api/runs/0/events`, { signal: abort.signal });
      const reader = res.body!.getReader();
      let text = '';
      const nextVersion = async (): Promise<{ losses: string | null }> => {
        for (;;) {
          const m = /event: version\ndata: (.*)\n\n/.exec(text);
          if (m) {
            text = text.slice(m.index + m[0].length);
            return JSON.parse(m[1]) as { losses: string | null };
          }
          const { value } = await reader.read();
          text += new TextDecoder().decode(value);
        }
      };
      const v1 = await nextVersion();
      expect(v1.losses).not.toBeNull();
      expect(((await (await fetch(`${base}/api/runs/0/losses`)).json()) as RunLosses).series.qa_loss.step.length).toBe(3);
      appendFileSync(join(run, 'metrics.jsonl'), rows(5).slice(3).join('\n') + '\n');
      const v2 = await nextVersion();
      expect(v2.losses).not.toBe(v1.losses);
      expect(((await (await fetch(`${base}/api/runs/0/losses`)).json()) as RunLosses).series.qa_loss.step).toEqual([100, 200, 300, 400, 500]);
    } finally {
      abort.abort();
      await server.close();
    }
  });
});
