/**
 * `dsrl view ws://…` on a real `dsrl steer --view-port 0` process (tiny DSRL-NA on Hopper-v5, 6 evaluations):
 * a viewer that never reads is connected to the stream first, then `dsrl view`'s server follows the stream
 * (src/web/remote-run.ts). Its /api gains the evaluations and the newest episode as the run writes them, ends
 * with exactly the run folder's files, and the run trains to the end regardless of the stalled viewer. In
 * Chromium (when installed; required under CI), the page's curve gains points from the ws:// source without
 * reloading.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../scripts/build-web.ts';
import { RemoteRun } from '../src/web/remote-run.ts';
import { startViewer } from '../src/web/server.ts';
import type {} from '../web/src/viewer-state.ts';
import { haveChromium, launchChromium, MISSING_IN_CI } from './helpers/chromium.ts';
import { startTinySteer } from './helpers/steer-run.ts';
import { waitFor } from './helpers/wait.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dsrl-web-remote-'));
const runDir = join(tmp, 'run');
const dist = join(tmp, 'dist');
let browser: BrowserContext | null = null;
afterAll(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('dsrl view ws:// on a running dsrl steer --view-port', () => {
  it('follows the run through its stream as it evaluates, with a stalled viewer attached', async () => {
    if (process.env.CI && !haveChromium) throw new Error(MISSING_IN_CI);
    const steer = startTinySteer(runDir, ['--view-port', '0']);
    // While the steer process starts: the page (no demos) and the browser.
    const built = buildWeb(dist, [], () => {});
    if (haveChromium) browser = await launchChromium(join(tmp, 'profile'), { width: 990, height: 760 });

    const url = (await waitFor('the view stream line', () => /view stream at (ws:\/\/\S+)/.exec(steer.output), 60_000))[1];
    // A viewer that completes the upgrade and then reads nothing.
    const { port } = new URL(url);
    const stalled: Socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
    const key = Buffer.alloc(16, 3).toString('base64');
    stalled.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const upgraded = await new Promise<string>((resolve) => stalled.once('data', (c: Buffer) => resolve(c.toString('latin1'))));
    expect(upgraded.startsWith('HTTP/1.1 101')).toBe(true);
    stalled.pause();

    await built;
    const remote = new RemoteRun(url);
    const server = await startViewer({ runs: [], remotes: [remote], distDir: dist, port: 0 });
    const api = async (p: string) => fetch(`http://127.0.0.1:${server.port}/api/runs/0/${p}`);
    let page: Page | null = null;
    try {
      if (browser) {
        page = await browser.newPage();
        await page.goto(server.url);
        await page.waitForFunction(() => window.dsrlViewer?.ready || window.dsrlViewer?.error !== null, null, { timeout: 20_000 });
        await page.evaluate(() => ((window as unknown as { __sameLoad: boolean }).__sameLoad = true));
      }
      // Sample the viewer's API (and the page) while the run trains.
      const seen: { evals: number; agentBytes: number; pageEvals: number | null; at: number }[] = [];
      while (steer.exited === null) {
        const evals = ((await (await api('metrics')).json()) as { evals: unknown[] }).evals.length;
        const agent = await api('episodes/agent');
        const agentBytes = agent.ok ? (await agent.arrayBuffer()).byteLength : 0;
        const pageEvals = page ? await page.evaluate(() => Math.max(0, (window.dsrlViewer.chart?.x.length ?? 0) - 1)) : null;
        seen.push({ evals, agentBytes, pageEvals, at: performance.now() });
        await new Promise((r) => setTimeout(r, 50));
      }
      const end = steer.exited!;
      expect(end.code, end.output).toBe(0);
      const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as { evals: { step: number; mean: number }[] };
      expect(summary.evals.length).toBe(6);
      // Live: the API gained evaluations while the run trained, in order, and in the end holds all of them.
      const counts = seen.map((s) => s.evals);
      expect(Math.max(...counts), `evaluations seen while training: ${counts.join(' ')}`).toBeGreaterThan(Math.min(...counts));
      for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]);
      // The stream's last frames are the run folder's files (steer flushes the stream before it exits). They come
      // on another socket than the exit, with no order between the two: give them a few seconds to arrive.
      const evalsOf = async () =>
        ((await (await api('metrics')).json()) as { evals: { step: number; mean: number }[] }).evals.map((e) => [e.step, e.mean]);
      const sameEpisodes = async () => {
        for (const name of ['agent', 'base'])
          if (!Buffer.from(await (await api(`episodes/${name}`)).arrayBuffer()).equals(readFileSync(join(runDir, 'episodes', `${name}.safetensors`))))
            return false;
        return true;
      };
      const wantEvals = summary.evals.map((e) => [e.step, e.mean]);
      // On a timeout, the expectations below say what differs.
      await waitFor('the last frames', async () => (await evalsOf()).length === wantEvals.length && (await sameEpisodes()), 5_000).catch(() => {});
      // The steer's output names each viewer's connection and how the stream's connections closed.
      expect(await evalsOf(), end.output).toEqual(wantEvals);
      expect(await sameEpisodes()).toBe(true);
      if (page) {
        const pageCounts = seen.map((s) => s.pageEvals!);
        expect(Math.max(...pageCounts), `evaluations on the page while training: ${pageCounts.join(' ')}`).toBeGreaterThan(Math.min(...pageCounts));
        await page.waitForFunction((n) => window.dsrlViewer.chart?.x.length === n + 1, summary.evals.length, { timeout: 5_000 });
        const state = await page.evaluate(() => ({
          ...window.dsrlViewer,
          sameLoad: (window as unknown as { __sameLoad?: boolean }).__sameLoad === true,
        }));
        expect(state.error).toBeNull();
        expect(state.sameLoad).toBe(true);
        expect(state.chart!.series.steered).toEqual([null, ...summary.evals.map((e) => e.mean)]);
        expect(state.panes.map((p) => p.name)).toEqual(['base', 'agent']);
      }
      console.log(
        `web-remote: ${(((end.at - seen[0].at) as number) / 1000).toFixed(1)} s of training sampled, evaluations through the stream: ${[...new Set(counts)].join(', ')}` +
          (page ? `; on the page: ${[...new Set(seen.map((s) => s.pageEvals))].join(', ')}` : ''),
      );
    } finally {
      stalled.destroy();
      await server.close();
      steer.kill();
    }
  }, 180_000);
});
