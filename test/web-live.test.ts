/**
 * The viewer live and as a static site, in Debian's Chromium (playwright-core; skipped only when Chromium is
 * missing and CI is not set, as in web-viewer.test.ts):
 * - a real `dsrl steer` process (tiny DSRL-NA on Hopper-v5) trains into a fresh run folder while `dsrl view`'s
 *   server watches it and the page is open: the curve and the loss chart gain points and the steered pane's episode
 *   is replaced as the run evaluates, without reloading the page;
 * - the build of scripts/build-web.ts (npm run build:web) from a plain static file server under a sub-path:
 *   the bundled demo draws the robot, and a run folder's files chosen in the page give its curve and episodes.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../scripts/build-web.ts';
import { lossesOf } from '../src/web/run-losses.ts';
import { startViewer } from '../src/web/server.ts';
import { serveStatic } from './helpers/static-server.ts';
import { paneHits, type ColourClass } from './helpers/viewer-pixels.ts';
import type {} from '../web/src/viewer-state.ts';
import { haveChromium, launchChromium, MISSING_IN_CI } from './helpers/chromium.ts';
import { startTinySteer, type SteerExit } from './helpers/steer-run.ts';
import { waitFor } from './helpers/wait.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dsrl-web-live-'));
const runDir = join(tmp, 'run');
const dist = join(tmp, 'dist');

let browser: BrowserContext | null = null;
/** The steer process's exit. */
let steerDone: Promise<SteerExit>;
let built: Promise<unknown>;

beforeAll(() => {
  if (!haveChromium) return;
  // Six evaluations over a few seconds of training; losses logged every 100 steps for the loss chart.
  steerDone = startTinySteer(runDir, ['--log-every', '100']).done;
  // While the steer process starts: the static site (only the Hopper demo, to keep the test short) and the browser.
  built = buildWeb(dist, ['hopper'], () => {});
  return (async () => {
    browser = await launchChromium(join(tmp, 'profile'), { width: 990, height: 760 });
  })();
});
afterAll(async () => {
  await browser?.close();
  await steerDone?.catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

/**
 * Robot-coloured pixels (the Hopper's rgba 0.8 0.6 0.4: the "warm" class of helpers/viewer-pixels.ts) in one pane of
 * the canvas, and how many geom centres of the moving bodies have one within 6 px.
 */
async function robotIn(page: Page, pane: number, x0: number, width: number): Promise<{ robot: number; bodies: number; bodiesHit: number }> {
  // Every moving geom of the locomotion robots is warm; the list only has to be at least as long as theirs.
  const { counts, hit } = await paneHits(page, pane, x0, width, new Array<ColourClass>(64).fill('warm'));
  return { robot: counts.warm, bodies: hit.length, bodiesHit: hit.filter(Boolean).length };
}

function summaryOf(dir: string): { evals: { step: number; mean: number }[]; references: Record<string, { mean: number }> } {
  return JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
}

describe.skipIf(!haveChromium && !process.env.CI)('the viewer live and static, in Chromium', () => {
  it('follows a running dsrl steer: the curve and the loss chart gain points and the newest episode replaces the steered pane', async () => {
    if (!haveChromium) throw new Error(MISSING_IN_CI);
    // The viewer starts as soon as the run folder exists, before the first evaluation.
    await waitFor('the run folder', () => existsSync(join(runDir, 'config.json')), 60_000);
    await built;
    const server = await startViewer({ runs: [runDir], distDir: dist, port: 0, pollMs: 100 });
    try {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.waitForFunction(() => window.dsrlViewer?.ready || window.dsrlViewer?.error !== null, null, { timeout: 10_000 });
      // A marker that a reload would wipe: every update below must reach this same page.
      await page.evaluate(() => ((window as unknown as { __sameLoad: boolean }).__sameLoad = true));
      const seen: { evals: number; losses: number; agentSteps: number | null; at: number }[] = [];
      let exited: Awaited<typeof steerDone> | null = null;
      void steerDone.then((r) => (exited = r));
      // Sample the page while the run trains.
      while (exited === null) {
        const s = await page.evaluate(() => ({
          evals: window.dsrlViewer.chart?.x.length ?? 0,
          losses: window.dsrlViewer.losses?.x.length ?? 0,
          agentSteps: window.dsrlViewer.panes.find((p) => p.name === 'agent')?.trainedSteps ?? null,
        }));
        seen.push({ evals: Math.max(0, s.evals - 1), losses: s.losses, agentSteps: s.agentSteps, at: performance.now() });
        await new Promise((r) => setTimeout(r, 50));
      }
      const done = exited as Awaited<typeof steerDone>;
      expect(done.code, done.output).toBe(0);
      const summary = summaryOf(runDir);
      const steps = summary.evals.map((e) => e.step);
      expect(steps.length).toBe(6);
      // After the run: the page holds every evaluation and the last one's episode.
      await page.waitForFunction(
        (n) => window.dsrlViewer.chart?.x.length === n + 1 && window.dsrlViewer.panes.find((p) => p.name === 'agent')?.trainedSteps !== null,
        steps.length,
        { timeout: 5_000 },
      );
      await page.waitForFunction((last) => window.dsrlViewer.panes.find((p) => p.name === 'agent')?.trainedSteps === last, steps.at(-1)!, {
        timeout: 5_000,
      });
      const state = await page.evaluate(() => ({
        ...window.dsrlViewer,
        sameLoad: (window as unknown as { __sameLoad?: boolean }).__sameLoad === true,
      }));
      expect(state.error).toBeNull();
      expect(state.mode).toBe('server');
      expect(state.sameLoad).toBe(true);
      expect(state.chart!.x).toEqual([0, ...steps]);
      expect(state.chart!.series.steered).toEqual([null, ...summary.evals.map((e) => e.mean)]);
      expect(state.chart!.series['base policy']).toEqual(state.chart!.x.map(() => summary.references['base policy'].mean));
      expect(state.panes.map((p) => p.name)).toEqual(['base', 'agent']);
      // Live: while the run was still training, the page's curve grew and its steered episode was replaced.
      const whileTraining = seen.filter((s) => s.at < done.at);
      const counts = whileTraining.map((s) => s.evals);
      expect(Math.max(...counts), `evaluations the page showed while training: ${counts.join(' ')}`).toBeGreaterThan(Math.min(...counts));
      expect(new Set(whileTraining.map((s) => s.agentSteps).filter((s) => s !== null)).size).toBeGreaterThanOrEqual(2);
      // ... and its loss chart gained points (the run logs every 100 env steps and flushes at each evaluation).
      const lossCounts = whileTraining.map((s) => s.losses);
      expect(Math.max(...lossCounts), `loss points the page showed while training: ${lossCounts.join(' ')}`).toBeGreaterThan(Math.min(...lossCounts));
      // Points only ever add up (the page never showed a shorter curve later).
      for (let i = 1; i < seen.length; i++) {
        expect(seen[i].evals).toBeGreaterThanOrEqual(seen[i - 1].evals);
        expect(seen[i].losses).toBeGreaterThanOrEqual(seen[i - 1].losses);
      }
      // After the run: every loss point of metrics.jsonl, drawn (qa_loss, the first series, in red on the loss chart).
      const logged = lossesOf(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8'));
      await page.waitForFunction((n) => window.dsrlViewer.losses?.x.length === n, logged.series.qa_loss.step.length, { timeout: 5_000 });
      const losses = (await page.evaluate(() => window.dsrlViewer.losses))!;
      expect(losses.keys).toEqual(logged.keys);
      expect(losses.series.qa_loss).toEqual(logged.series.qa_loss.value);
      const lossRed = await page.evaluate(() => {
        const c = document.querySelector('#losses canvas') as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] < 80 && d[i + 2] < 80) n++;
        return n;
      });
      expect(lossRed).toBeGreaterThan(30);
      expect(state.live.updates).toBeGreaterThanOrEqual(2);
      // Both panes draw the robot at its bodies' poses.
      for (const pane of [0, 1]) {
        const r = await robotIn(page, pane, pane * 480, 479);
        expect(r.bodiesHit, `pane ${pane}`).toBe(4);
      }
      expect(errors).toEqual([]);
      // From the last summary.json being written to the page showing its point (server polling every 100 ms here).
      const lastShown = state.live.appliedAt[state.live.evalCounts.indexOf(steps.length)];
      const latency = lastShown - statSync(join(runDir, 'summary.json')).mtimeMs;
      console.log(
        `web-live: run ${((done.at - seen[0].at) / 1000).toFixed(1)} s after the page was ready; evaluations seen while training ${[...new Set(counts)].join(', ')}; ` +
          `loss points seen while training ${[...new Set(lossCounts)].join(', ')}; ${state.live.updates} live updates; last evaluation on the page ${latency.toFixed(0)} ms after summary.json was written`,
      );
    } finally {
      await server.close();
    }
  });

  it('npm run build:web works from a static file server: the bundled demo draws the robot, chosen run files give curve, losses and episodes', async () => {
    if (!haveChromium) throw new Error(MISSING_IN_CI);
    await built;
    // Any static server: this one serves the build under /viewer/ and nothing else (404 for /api/runs too).
    const server = await serveStatic(dist, 'viewer');
    try {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.waitForFunction(() => window.dsrlViewer?.ready || window.dsrlViewer?.error !== null, null, { timeout: 10_000 });
      let state = await page.evaluate(() => window.dsrlViewer);
      expect(state.error).toBeNull();
      expect(state.mode).toBe('static');
      // The shipped Hopper base policy and its shipped steered agent (models/hopper-dsrl, best at 45014 env steps)
      // from the same episode start: the base policy falls within 300 steps, the steered agent runs 1000.
      expect(state.panes.map((p) => [p.name, p.trainedSteps])).toEqual([
        ['base', null],
        ['agent', 45014],
      ]);
      expect(state.panes[0].frames).toBeGreaterThan(50);
      expect(state.panes[1].frames).toBeGreaterThan(state.panes[0].frames);
      // Both policies move: over 1.2 s of playing (each episode rests 0.5 s at its end before it loops), each pane
      // shows several frames and its capsules' drawn centres shift.
      const samples: { frame: number; geoms: { x: number; y: number }[] }[][] = [];
      for (let i = 0; i < 12; i++) {
        samples.push(
          await page.evaluate(() => [0, 1].map((p) => ({ frame: window.dsrlViewer.panes[p].frame, geoms: window.dsrlViewer.geomScreen(p) }))),
        );
        await page.waitForTimeout(100);
      }
      for (const pane of [0, 1]) {
        const first = samples[0][pane].geoms;
        const moved = Math.max(...samples.flatMap((s) => s[pane].geoms.map((g, j) => Math.hypot(g.x - first[j].x, g.y - first[j].y))));
        expect(new Set(samples.map((s) => s[pane].frame)).size, `pane ${pane} frames shown`).toBeGreaterThanOrEqual(3);
        expect(moved, `pane ${pane} capsules moved (px)`).toBeGreaterThan(2);
      }
      // Both panes: the Hopper's four capsules are drawn where its recorded poses put them.
      await page.click('#play'); // paused: the sample and the projected centres are of the same frame
      await page.waitForTimeout(100);
      for (const pane of [0, 1]) {
        const demo = await robotIn(page, pane, pane * 480, 479);
        expect(demo.bodies, `pane ${pane}`).toBe(4);
        expect(demo.bodiesHit, `pane ${pane}`).toBe(4);
        expect(demo.robot, `pane ${pane}`).toBeGreaterThan(50);
        expect(demo.robot, `pane ${pane}`).toBeLessThan(480 * 400 * 0.3);
      }

      // A run folder's files, chosen in the page (the live run above, or any run folder).
      await steerDone;
      const files = ['summary.json', 'metrics.jsonl', 'episodes/base.safetensors', 'episodes/agent.safetensors'].map((f) => join(runDir, f));
      const summary = summaryOf(runDir);
      await page.setInputFiles('#files', files);
      // The demo already shows two panes (models/hopper-dsrl beside its base policy): wait for the chosen run's agent.
      await page.waitForFunction(
        (step) => window.dsrlViewer.ready && window.dsrlViewer.panes.length === 2 && window.dsrlViewer.panes[1].trainedSteps === step,
        summary.evals.at(-1)!.step,
        { timeout: 10_000 },
      );
      state = await page.evaluate(() => window.dsrlViewer);
      expect(state.error).toBeNull();
      expect(state.chart!.x).toEqual([0, ...summary.evals.map((e) => e.step)]);
      expect(state.chart!.series.steered).toEqual([null, ...summary.evals.map((e) => e.mean)]);
      expect(state.losses!.series.qa_loss).toEqual(lossesOf(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')).series.qa_loss.value);
      expect(state.panes.map((p) => [p.name, p.trainedSteps])).toEqual([
        ['base', 0],
        ['agent', summary.evals.at(-1)!.step],
      ]);
      await page.waitForTimeout(100);
      for (const pane of [0, 1]) expect((await robotIn(page, pane, pane * 480, 479)).bodiesHit, `pane ${pane}`).toBe(4);
      expect(errors).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
