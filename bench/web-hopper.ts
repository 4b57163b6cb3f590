/**
 * The in-page Hopper training's speed: `dsrl demo`'s settings (src/web/hopper-config.ts) with the first `--steps`
 * env steps, in Node on the WebAssembly NN backend and in Chromium (the static site of scripts/build-web.ts from a
 * plain static server, web/hopper.html's Web Worker), one after the other on the same machine. Prints env steps/s
 * of the warm-up (the base policy with N(0, I) noise filling the buffer), of learning (DSRL-NA updates, the
 * evaluations included) and overall, and whether both gave the same evaluation returns (they must: same seed,
 * same backend, same MuJoCo wasm).
 *
 *   tsx bench/web-hopper.ts [--steps 15000]        (DSRL_CHROMIUM: the browser, default /usr/bin/chromium)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { buildWeb } from '../scripts/build-web.ts';
import { chooseBackend, setBackend } from '../src/nn/backend.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';
import { HOPPER_DEMO_CONFIG, trainHopper, type HopperProgress, type HopperResult } from '../src/web/hopper-training.ts';
import { serveStatic } from '../test/helpers/static-server.ts';

type Mark = { phase: HopperProgress['phase']; seconds: number; envSteps: number };

const { values } = parseArgs({ options: { steps: { type: 'string', default: String(HOPPER_DEMO_CONFIG.steps) } } });
const steps = Number(values.steps);
if (!Number.isSafeInteger(steps) || steps <= HOPPER_DEMO_CONFIG.learningStarts)
  throw new Error(`--steps must be an integer above the warm-up's ${HOPPER_DEMO_CONFIG.learningStarts} env steps, got ${values.steps}`);
const config = { steps };

function speeds(marks: Mark[]): string {
  const at = (phase: Mark['phase']) => marks.find((m) => m.phase === phase)!;
  const rate = (a: Mark, b: Mark) => ((b.envSteps - a.envSteps) / (b.seconds - a.seconds)).toFixed(1);
  const [warm, learn, done] = [at('warmup'), at('learn'), at('done')];
  return `warm-up ${rate(warm, learn)}, learning ${rate(learn, done)}, overall ${(done.envSteps / done.seconds).toFixed(1)} env steps/s (${done.seconds.toFixed(0)} s)`;
}

async function inNode(): Promise<{ result: HopperResult; marks: Mark[] }> {
  setBackend(chooseBackend({ DSRL_BACKEND: 'wasm' }));
  const policy = loadDiffusionPolicy(new URL('../models/hopper', import.meta.url).pathname, { expect: { obsDim: 11, actDim: 3 } });
  const marks: Mark[] = [];
  const t0 = performance.now();
  const result = await trainHopper(
    policy,
    { ...HOPPER_DEMO_CONFIG, ...config },
    {
      yield: async (progress) => {
        const p = progress();
        if (marks.at(-1)?.phase !== p.phase) marks.push({ phase: p.phase, seconds: (performance.now() - t0) / 1000, envSteps: p.envSteps });
      },
    },
  );
  return { result, marks };
}

async function inChromium(): Promise<{ result: HopperResult; marks: Mark[] }> {
  const tmp = mkdtempSync(join(tmpdir(), 'dsrl-bench-web-hopper-'));
  const browser = await chromium.launch({
    executablePath: process.env.DSRL_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu'],
  });
  try {
    await buildWeb(join(tmp, 'dist'), [], () => {});
    const site = await serveStatic(join(tmp, 'dist'), 'site');
    try {
      const page = await browser.newPage();
      await page.goto(`${site.url}hopper.html`);
      await page.evaluate((c) => window.dsrlHopperStart(c), config);
      await page.waitForFunction(() => window.dsrlHopper.status === 'done' || window.dsrlHopper.status === 'error', null, {
        timeout: 0,
        polling: 1000,
      });
      const state = await page.evaluate(() => window.dsrlHopper);
      if (state.error) throw new Error(`in the page: ${state.error}`);
      return { result: state.result!, marks: state.phases };
    } finally {
      await site.close();
    }
  } finally {
    await browser.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const returns = (r: HopperResult) => r.evals.map((e) => `${e.step}: ${e.mean.toFixed(1)}`).join(', ');
const node = await inNode();
console.log(`node (wasm backend): ${speeds(node.marks)}; base ${node.result.base.mean.toFixed(1)}, evals ${returns(node.result)}`);
const page = await inChromium();
console.log(`chromium worker (wasm backend): ${speeds(page.marks)}; base ${page.result.base.mean.toFixed(1)}, evals ${returns(page.result)}`);
const same = JSON.stringify([node.result.base, node.result.evals]) === JSON.stringify([page.result.base, page.result.evals]);
console.log(`web-hopper-bench steps=${steps} same_returns=${same}`);
