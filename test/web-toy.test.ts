/**
 * Training in the page, in Debian's Chromium (playwright-core; skipped only when Chromium is missing and CI is
 * not set, as in web-viewer.test.ts): the static site of scripts/build-web.ts, from a plain static server, clones
 * the bimodal toy's base policy and steers it with DSRL-NA in a Web Worker (web/src/toy-worker.ts) to >= 95%
 * success, pausing and resuming on the button; the numbers are exactly Node's for the same seed and backend
 * (the WebAssembly one the worker picks, and the TypeScript one); under `dsrl view`'s server (its CSP) the worker
 * still gets the WebAssembly backend.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../scripts/build-web.ts';
import { chooseBackend, getBackend, jsBackend, setBackend, type Backend } from '../src/nn/backend.ts';
import { startViewer } from '../src/web/server.ts';
import { TOY_PAGE_CONFIG, trainToy, type ToyConfig, type ToyResult } from '../src/web/toy-training.ts';
import type { ToyPageState } from '../web/src/toy-state.ts';
import { serveStatic } from './helpers/static-server.ts';
import { haveChromium, launchChromium, MISSING_IN_CI } from './helpers/chromium.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dsrl-web-toy-'));
const dist = join(tmp, 'dist');
let browser: BrowserContext | null = null;

/** A few hundred env steps: enough to compare every number of a run, in about a second. */
const SMALL: Partial<ToyConfig> = { cloneSteps: 60, steps: 160, learningStarts: 40, evalEvery: 40, evalEpisodes: 50 };

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

/** The same training in this process, on `backend`. */
async function inNode(config: Partial<ToyConfig>, backend: Backend): Promise<ToyResult> {
  const before = getBackend();
  setBackend(backend);
  try {
    return await trainToy({ ...TOY_PAGE_CONFIG, ...config }, { yield: async () => {} });
  } finally {
    setBackend(before);
  }
}

const toyState = (page: Page) => page.evaluate(() => window.dsrlToy);

async function runInPage(page: Page, config: Partial<ToyConfig>, backend: 'auto' | 'js'): Promise<ToyPageState> {
  await page.evaluate(({ config, backend }) => window.dsrlToyStart(config, backend), { config, backend });
  await page.waitForFunction(() => window.dsrlToy.status === 'done' || window.dsrlToy.status === 'error', null, { timeout: 60_000 });
  return toyState(page);
}

describe.skipIf(!haveChromium && !process.env.CI)('training in the page, in Chromium', () => {
  it('the static site trains the toy in a Web Worker to >= 95% success, pauses and resumes, with Node’s numbers', async () => {
    if (!haveChromium) throw new Error(MISSING_IN_CI);
    const site = await serveStatic(dist, 'site');
    try {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${site.url}toy.html`);
      const t0 = performance.now();
      // Start and pause in one task of the page, so the worker has both messages before it trains: it holds at its
      // first yield (a clone step), the progress stands still, then goes on. Two separate clicks raced the whole
      // training (about 0.5 s) on a loaded machine, and pausing part way through did on a fast one.
      await page.evaluate(() => {
        const button = document.getElementById('start')!;
        button.click();
        button.click();
      });
      await page.waitForFunction(() => window.dsrlToy.status !== 'running', null, { timeout: 30_000 });
      expect((await toyState(page)).status).toBe('paused');
      const held = (await toyState(page)).progress!;
      await page.waitForTimeout(400);
      const still = (await toyState(page)).progress!;
      expect([still.phase, still.done]).toEqual([held.phase, held.done]);
      expect(held.phase === 'clone' ? held.done : held.total).toBeLessThan(TOY_PAGE_CONFIG.cloneSteps + 1);
      expect(await page.textContent('#start')).toBe('resume');
      await page.click('#start');
      await page.waitForFunction(() => window.dsrlToy.status === 'done' || window.dsrlToy.status === 'error', null, { timeout: 60_000 });
      const wall = (performance.now() - t0) / 1000;
      const state = await toyState(page);
      expect(state.error).toBeNull();
      const result = state.result!;
      // The cloned policy picks each mode about half the time; steered, the rewarded one.
      expect(result.base).toBeGreaterThan(0.3);
      expect(result.base).toBeLessThan(0.7);
      expect(result.final).toBeGreaterThanOrEqual(0.95);
      expect(result.evals.map((e) => e.step)).toEqual([100, 200, 300, 400]);
      // The worker took the WebAssembly backend (built by npm install), as Node can: same seed, same numbers.
      const backend = state.progress!.backend;
      expect(backend).toBe('wasm');
      expect(result).toEqual(await inNode({}, chooseBackend({ DSRL_BACKEND: 'wasm' })));
      // Drawn: the steered actions (red) over the rewarded half-plane, and the success curve.
      const red = await page.evaluate(() => {
        const c = document.getElementById('actions') as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        // The canvas spans [-1.2, 1.2]^2 with a1 up: the rewarded half a0 + a1 > 0 lies above the diagonal.
        const n = { rewarded: 0, other: 0 };
        for (let i = 0; i < d.length; i += 4) {
          const x = (i / 4) % c.width;
          const y = Math.floor(i / 4 / c.width);
          if (d[i] > 180 && d[i + 1] < 110 && d[i + 2] < 110) n[x - c.width / 2 + (c.height / 2 - y) > 0 ? 'rewarded' : 'other']++;
        }
        return n;
      });
      // Red dots in the other half exactly when some plotted steered action is outside the rewarded half.
      const a = result.steeredActions;
      const outside = a.filter((_, i) => i % 2 === 0 && a[i] + a[i + 1] <= 0).length;
      expect(red.rewarded).toBeGreaterThan(20);
      expect(red.other > 0).toBe(outside > 0);
      expect(await page.locator('#chart canvas').count()).toBeGreaterThan(0);

      // The TypeScript backend: a smaller run, the same numbers as Node's on it.
      const ts = await runInPage(page, SMALL, 'js');
      expect(ts.progress!.backend).toBe('js');
      expect(ts.result).toEqual(await inNode(SMALL, jsBackend));
      expect(errors).toEqual([]);
      console.log(
        `web-toy: in-page training ${state.seconds!.toFixed(1)} s on ${backend} (${wall.toFixed(1)} s with the pause), base ${result.base}, ` +
          `steered ${result.final}; small run on js ${ts.seconds!.toFixed(1)} s`,
      );
    } finally {
      await site.close();
    }
  });

  it('under dsrl view’s server (its Content-Security-Policy) the worker still compiles the WebAssembly backend', async () => {
    if (!haveChromium) throw new Error(MISSING_IN_CI);
    const run = join(tmp, 'run');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'config.json'), '{}');
    const server = await startViewer({ runs: [run], distDir: dist, port: 0 });
    try {
      const page = await browser!.newPage();
      await page.goto(`${server.url}toy.html`);
      const state = await runInPage(page, SMALL, 'auto');
      expect(state.error).toBeNull();
      expect(state.progress!.backend).toBe('wasm');
      expect(state.result).toEqual(await inNode(SMALL, chooseBackend({ DSRL_BACKEND: 'wasm' })));
    } finally {
      await server.close();
    }
  });
});
