/**
 * The viewer in a real browser: a tiny DSRL-NA run on Hopper-v5 (its evaluations and losses), the page built from the current sources,
 * `dsrl view`'s server in-process, Debian's Chromium driven by playwright-core. Skipped (with the reason)
 * only when Chromium is missing and CI is not set; .ci/run installs it, and with CI=true a missing
 * Chromium fails. DSRL_VIEWER_SCREENSHOT=<file.png> also saves a screenshot (docs/viewer.png).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';
import { steer } from '../src/run/steer.ts';
import { lossesOf } from '../src/web/run-losses.ts';
import { startViewer } from '../src/web/server.ts';
import type {} from '../web/src/viewer-state.ts';
import { CHROMIUM, haveChromium, launchChromium, MISSING_IN_CI } from './helpers/chromium.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dsrl-web-viewer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface PaneSample {
  /** Pixels (of the pane) with the Hopper's colour, rgba 0.8 0.6 0.4 (lit: about 194 171 142): red well above blue, unlike sky and floor. */
  robot: number;
  /** Centres of the moving bodies' geoms (the Hopper's 4 capsules) with a robot-coloured pixel within 6 px. */
  bodiesHit: number;
  /** Distinct colours, coarsely quantized: a blank or single-colour pane has one or two. */
  colours: number;
  /** Pixels that changed clearly since the previous sample (all of them on the first). */
  changed: number;
}

/**
 * Reads the WebGL canvas in the page (preserveDrawingBuffer keeps the last frame) and measures each pane there;
 * the pixels stay in the page (window.__viewerTestPrev) for the next sample's comparison.
 */
async function samplePanes(page: Page): Promise<PaneSample[]> {
  return page.evaluate(() => {
    const canvas = document.getElementById('scene') as HTMLCanvasElement;
    const copy = document.createElement('canvas');
    copy.width = canvas.width;
    copy.height = canvas.height;
    const ctx = copy.getContext('2d')!;
    ctx.drawImage(canvas, 0, 0);
    const half = canvas.width / 2;
    const isRobot = (d: Uint8ClampedArray, i: number) => d[i] > 120 && d[i] - d[i + 2] > 30;
    return [0, 1].map((pane) => {
      const x0 = pane * half;
      const img = ctx.getImageData(x0, 0, half - 1, canvas.height);
      const d = img.data;
      let robot = 0;
      let changed = 0;
      const colours = new Set<number>();
      const store = window as unknown as { __viewerTestPrev?: Uint8ClampedArray[] };
      const prev = store.__viewerTestPrev?.[pane];
      for (let i = 0; i < d.length; i += 4) {
        if (isRobot(d, i)) robot++;
        colours.add(((d[i] >> 4) << 8) | ((d[i + 1] >> 4) << 4) | (d[i + 2] >> 4));
        if (!prev || Math.abs(prev[i] - d[i]) + Math.abs(prev[i + 2] - d[i + 2]) > 30) changed++;
      }
      store.__viewerTestPrev ??= [];
      store.__viewerTestPrev[pane] = d;
      let bodiesHit = 0;
      const bodies = window.dsrlViewer.geomScreen(pane);
      for (const b of bodies) {
        let hit = false;
        for (let dy = -6; dy <= 6 && !hit; dy++) {
          for (let dx = -6; dx <= 6 && !hit; dx++) {
            const x = Math.round(b.x - x0 + dx);
            const y = Math.round(b.y + dy);
            if (x >= 0 && y >= 0 && x < img.width && y < img.height && isRobot(d, (y * img.width + x) * 4)) hit = true;
          }
        }
        if (hit) bodiesHit++;
      }
      return { robot, bodiesHit, colours: colours.size, changed };
    });
  });
}

describe('dsrl view in Chromium', () => {
  it('draws both policies moving and the run’s evaluation curve', async (ctx) => {
    if (!haveChromium) {
      if (process.env.CI) throw new Error(MISSING_IN_CI);
      ctx.skip(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set DSRL_CHROMIUM); with CI set this fails instead`);
    }
    const t0 = performance.now();
    const policy = loadDiffusionPolicy('models/hopper');
    const run = await steer(
      {
        env: 'Hopper-v5',
        algo: 'na',
        steps: 320,
        learningStarts: 160,
        numEnvs: 2,
        batchSize: 16,
        utd: 1,
        distillSteps: 1,
        actorHidden: [16],
        criticHidden: [16],
        evalEvery: 80,
        evalEpisodes: 1,
        logEvery: 32,
        quiet: true,
        out: join(tmp, 'run'),
      },
      policy,
    );
    const tRun = performance.now();
    // The page from the current sources, into a folder of the test's own.
    const vite = await import('vite');
    const dist = join(tmp, 'dist');
    await vite.build({ configFile: fileURLToPath(new URL('../web/vite.config.ts', import.meta.url)), logLevel: 'silent', build: { outDir: dist } });
    const tBuild = performance.now();
    const server = await startViewer({ runs: [run.dir], distDir: dist, port: 0 });
    const browser = await launchChromium(join(tmp, 'profile'), { width: 990, height: 760 });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const tLoad = performance.now();
      await page.goto(server.url);
      await page.waitForFunction(() => window.dsrlViewer?.ready || window.dsrlViewer?.error !== null, null, { timeout: 10_000 });
      const loadMs = performance.now() - tLoad;
      expect(await page.evaluate(() => window.dsrlViewer.error)).toBeNull();

      // The chart holds the run's evaluations and the base policy's line.
      const chart = (await page.evaluate(() => window.dsrlViewer.chart))!;
      expect(chart.yLabel).toBe('eval return');
      const steps = run.evals.map((e) => e.step);
      expect(chart.x).toEqual([0, ...steps]);
      expect(chart.series.steered).toEqual([null, ...run.evals.map((e) => e.mean)]);
      expect(chart.series['base policy']).toEqual(chart.x.map(() => run.base.mean));
      // ... and uPlot drew it: the steered line's red (#d62728) is on the chart's canvas.
      const red = await page.evaluate(() => {
        const c = document.querySelector('#chart canvas') as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] < 80 && d[i + 2] < 80) n++;
        return n;
      });
      expect(red).toBeGreaterThan(100);

      // The loss chart: every loss the run logged, against env steps, on the arcsinh scale (the actor's loss is
      // negative), and uPlot drew each series (its colour's pixels on the loss chart's canvas).
      const losses = (await page.evaluate(() => window.dsrlViewer.losses))!;
      const logged = lossesOf(readFileSync(join(run.dir, 'metrics.jsonl'), 'utf8'));
      expect(losses.keys).toEqual(logged.keys);
      expect(losses.keys).toEqual(expect.arrayContaining(['qa_loss', 'qw_loss', 'actor_loss', 'alpha']));
      expect(losses.x).toEqual(logged.series.qa_loss.step);
      expect(losses.x.length).toBeGreaterThanOrEqual(4);
      expect(losses.series.qa_loss).toEqual(logged.series.qa_loss.value);
      expect(losses.scale).toBe('asinh');
      const lossPixels = (colours: string[]) =>
        page.evaluate((colours) => {
          const c = document.querySelector('#losses canvas') as HTMLCanvasElement;
          const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          const rgb = colours.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
          return rgb.map(([r, g, b]) => {
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 40) n++;
            return n;
          });
        }, colours);
      // The first two series: qa_loss red, qa_values blue (loss-chart.ts's palette).
      for (const n of await lossPixels(['#d62728', '#1f77b4'])) expect(n).toBeGreaterThan(30);
      // One loss chosen in the menu: only it is drawn, on a log scale (it is positive).
      await page.selectOption('#loss-key', 'qa_loss');
      const one = (await page.evaluate(() => window.dsrlViewer.losses))!;
      expect(Object.keys(one.series)).toEqual(['qa_loss']);
      expect(one.scale).toBe('log');
      const [redOnly, blueGone] = await lossPixels(['#d62728', '#1f77b4']);
      expect(redOnly).toBeGreaterThan(30);
      expect(blueGone).toBe(0);
      await page.selectOption('#loss-key', '');

      // Both panes animate: pixels change and frames advance while playing.
      const panes = await page.evaluate(() => window.dsrlViewer.panes);
      expect(panes.map((p) => p.name)).toEqual(['base', 'agent']);
      await samplePanes(page);
      await page.waitForTimeout(700);
      const moving = await samplePanes(page);
      const later = await page.evaluate(() => window.dsrlViewer.panes.map((p) => p.frame));
      for (const pane of [0, 1]) {
        expect(moving[pane].changed, `pane ${pane} pixels changed`).toBeGreaterThan(300);
        expect(later[pane]).toBeGreaterThan(0);
      }

      // Paused, the picture holds still, and the robot is drawn where its bodies are.
      await page.click('#play');
      await page.waitForTimeout(150);
      await samplePanes(page);
      await page.waitForTimeout(200);
      const still = await samplePanes(page);
      const total = 479 * 400;
      for (const pane of [0, 1]) {
        const { robot, bodiesHit, colours } = still[pane];
        expect(still[pane].changed, `pane ${pane} paused`).toBe(0);
        expect(robot, `pane ${pane} robot pixels`).toBeGreaterThan(100);
        expect(robot, `pane ${pane} robot pixels`).toBeLessThan(total * 0.3);
        expect(bodiesHit, `pane ${pane} capsules drawn at their poses`).toBe(4);
        expect(colours).toBeGreaterThan(10);
      }
      expect(errors).toEqual([]);
      const shot = process.env.DSRL_VIEWER_SCREENSHOT;
      if (shot) {
        await page.click('#play');
        await page.waitForTimeout(1200);
        await page.screenshot({ path: shot, fullPage: true });
      }
      console.log(
        `web-viewer: steer run ${((tRun - t0) / 1000).toFixed(1)} s, page build ${((tBuild - tRun) / 1000).toFixed(1)} s, ` +
          `page ready ${loadMs.toFixed(0)} ms, ${run.evals.length} evaluations, frames ${panes.map((p) => p.frames).join(' / ')}, ` +
          `robot pixels ${still.map((p) => p.robot).join(' / ')}, browser part ${((performance.now() - tBuild) / 1000).toFixed(1)} s`,
      );
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
