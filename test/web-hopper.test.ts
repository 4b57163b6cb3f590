/**
 * `dsrl demo` in the page: web/hopper.html trains DSRL-NA on the shipped Hopper policy in a Web Worker
 * (web/src/hopper-worker.ts: MuJoCo's WebAssembly build, the NN engine's WebAssembly backend, models/hopper
 * bundled by scripts/build-web.ts). Checked: its settings are `dsrl demo`'s; its code (src/web/hopper-training.ts)
 * computes exactly what `dsrl steer` does in Node; and in Debian's Chromium (playwright-core; skipped only when
 * Chromium is missing and CI is not set, as in web-viewer.test.ts), from a plain static server, a short run
 * pauses and resumes on the button, gives Node's numbers for the same seed and backend (returns, episode
 * lengths and every recorded body pose: MuJoCo in the browser steps the same trajectories), and draws the Hopper
 * of both policies. Short budgets, with a batch of 64 so that a few hundred env steps include updates: this
 * checks equality, not learning.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../scripts/build-web.ts';
import { chooseBackend, getBackend, setBackend } from '../src/nn/backend.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';
import type { NoisePolicy } from '../src/policies/policy.ts';
import { parseSteerConfig, steer } from '../src/run/steer.ts';
import { HOPPER_DEMO_EVAL_EVERY, HOPPER_DEMO_STEPS } from '../src/web/hopper-config.ts';
import { HOPPER_DEMO_CONFIG, trainHopper, type HopperConfig, type HopperResult } from '../src/web/hopper-training.ts';
import type { HopperPageState } from '../web/src/hopper-state.ts';
import { serveStatic } from './helpers/static-server.ts';
import { haveChromium, launchChromium, MISSING_IN_CI } from './helpers/chromium.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dsrl-web-hopper-'));
const dist = join(tmp, 'dist');
let browser: BrowserContext | null = null;

/** 352 env steps: 160 of warm-up, updates from 256 on (once the buffer holds a batch of 64 rows), two evaluations of 2 episodes. */
const SMALL: Partial<HopperConfig> = { steps: 352, learningStarts: 160, batchSize: 64, evalEvery: 176, evalEpisodes: 2 };

/** `run` on the WebAssembly backend (what the worker picks), models/hopper loaded on it too (it computes its cached per-step time terms as it loads). */
async function onWasm<T>(run: (policy: NoisePolicy) => Promise<T>): Promise<T> {
  const before = getBackend();
  setBackend(chooseBackend({ DSRL_BACKEND: 'wasm' }));
  try {
    return await run(loadDiffusionPolicy(new URL('../models/hopper', import.meta.url).pathname, { expect: { obsDim: 11, actDim: 3 } }));
  } finally {
    setBackend(before);
  }
}

/** The page's code in this process. */
let nodeRun: Promise<HopperResult> | null = null;
function inNode(): Promise<HopperResult> {
  nodeRun ??= onWasm((policy) => trainHopper(policy, { ...HOPPER_DEMO_CONFIG, ...SMALL }, { yield: async () => {} }));
  return nodeRun;
}

beforeAll(async () => {
  if (!haveChromium) return;
  await Promise.all([
    buildWeb(dist, [], () => {}),
    (async () => {
      browser = await launchChromium(join(tmp, 'profile'));
    })(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('dsrl demo in the page', () => {
  it('runs dsrl demo’s settings: dsrl steer’s defaults with 15k env steps, seed 1, raw observations, evaluations every 5000', () => {
    const demo = parseSteerConfig({
      env: 'Hopper-v5',
      algo: 'na',
      steps: HOPPER_DEMO_STEPS,
      seed: 1,
      evalEvery: HOPPER_DEMO_EVAL_EVERY,
      evalEpisodes: 10,
      normalizeObs: false,
    });
    for (const [key, value] of Object.entries(HOPPER_DEMO_CONFIG)) expect([key, value]).toEqual([key, demo[key as keyof typeof demo]]);
  });

  it('computes exactly what dsrl steer does in Node, for the same seed and backend', async () => {
    const page = await inNode();
    expect(page.updates).toBeGreaterThan(0);
    const run = await onWasm((policy) =>
      steer({ env: 'Hopper-v5', algo: 'na', seed: 1, normalizeObs: false, quiet: true, out: join(tmp, 'steer'), ...SMALL }, policy),
    );
    const { name: _name, ...base } = run.base as typeof run.base & { name: string };
    expect(page.base).toEqual(base);
    expect(page.evals).toEqual(run.evals);
    expect([page.envSteps, page.updates]).toEqual([run.step, run.updates]);
  }, 60_000);
});

const hopperState = (page: Page) => page.evaluate(() => window.dsrlHopper);

/** Pixels of each pane with the Hopper's colour (rgba 0.8 0.6 0.4, lit about 194 171 142): red well above blue, unlike sky and floor. */
const robotPixels = (page: Page) =>
  page.evaluate(() => {
    const canvas = document.getElementById('scene') as HTMLCanvasElement;
    const copy = document.createElement('canvas');
    copy.width = canvas.width;
    copy.height = canvas.height;
    const ctx = copy.getContext('2d')!;
    ctx.drawImage(canvas, 0, 0);
    const half = canvas.width / 2;
    return [0, 1].map((pane) => {
      const d = ctx.getImageData(pane * half, 0, half - 1, canvas.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 120 && d[i] - d[i + 2] > 30) n++;
      return n;
    });
  });

describe.skipIf(!haveChromium && !process.env.CI)('dsrl demo in Chromium', () => {
  it('the static site trains in a Web Worker with MuJoCo, pauses and resumes, with Node’s numbers and trajectories', async () => {
    if (!haveChromium) throw new Error(MISSING_IN_CI);
    const site = await serveStatic(dist, 'site');
    try {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${site.url}hopper.html`);
      await page.evaluate((config) => window.dsrlHopperStart(config), SMALL);
      // Pause once training has taken env steps: the worker holds, the progress stands still, then goes on.
      await page.waitForFunction(() => (window.dsrlHopper.progress?.envSteps ?? 0) >= 64, null, { timeout: 30_000 });
      await page.click('#start');
      await page.waitForFunction(() => window.dsrlHopper.status === 'paused', null, { timeout: 10_000 });
      const held = (await hopperState(page)).progress!;
      await page.waitForTimeout(400);
      const still = (await hopperState(page)).progress!;
      expect([still.envSteps, still.updates]).toEqual([held.envSteps, held.updates]);
      expect(held.envSteps).toBeLessThan(SMALL.steps!);
      expect(await page.textContent('#start')).toBe('resume');
      await page.click('#start');
      await page.waitForFunction(() => window.dsrlHopper.status === 'done' || window.dsrlHopper.status === 'error', null, { timeout: 60_000 });
      const state: HopperPageState = await hopperState(page);
      expect(state.error).toBeNull();
      expect(state.progress!.backend).toBe('wasm');
      // Same seed, same backend, same MuJoCo wasm: the same returns, updates and recorded body poses as Node.
      const node = await inNode();
      const result = state.result!;
      expect(result.updates).toBeGreaterThan(0);
      expect(result.base).toEqual(node.base);
      expect(result.evals).toEqual(node.evals);
      expect([result.envSteps, result.updates]).toEqual([node.envSteps, node.updates]);
      expect(result.episodes.base.poses).toEqual(node.episodes.base.poses);
      expect(result.episodes.steered!.poses).toEqual(node.episodes.steered!.poses);
      expect(result.episodes.steered!.rewards).toEqual(node.episodes.steered!.rewards);
      // Drawn: the Hopper of both policies, and the curve.
      await page.waitForFunction(() => window.dsrlHopper.panes.length === 2, null, { timeout: 10_000 });
      const robot = await robotPixels(page);
      for (const n of robot) expect(n).toBeGreaterThan(100);
      expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0);
      expect(errors).toEqual([]);
      console.log(
        `web-hopper: ${result.envSteps} env steps, ${result.updates} updates in ${state.seconds!.toFixed(1)} s in the page (${state.sps!.toFixed(0)} env steps/s); ` +
          `base ${result.base.mean.toFixed(1)}, evals ${result.evals.map((e) => e.mean.toFixed(1)).join(' ')}; robot pixels ${robot.join(' / ')}`,
      );
    } finally {
      await site.close();
    }
  }, 90_000);
});
