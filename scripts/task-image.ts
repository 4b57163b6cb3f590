/**
 * A still image of a task from recorded data: one evaluation episode of a base policy is recorded (body poses,
 * as `dsrl eval --record-episodes` writes them), served by `dsrl view`'s server to the viewer page (built from
 * web/ with Vite), played in Debian's Chromium (playwright-core), paused at a chosen moment, and the scene's
 * canvas saved as a PNG.
 *
 *   tsx scripts/task-image.ts --policy models/can --env PickPlaceCan-v0 --seed 3 --at 0.7 --out docs/can.png
 *   tsx scripts/task-image.ts --policy models/lift --run models/lift-dsrl --env Lift-v0 --seed 0 --at 1 --out docs/lift-dsrl.png
 *
 * --run: a steered run folder (`dsrl pack`ed or not) whose best agent plays the same episode start beside the
 * base policy; the still then shows both at the same moment, the base policy on the left.
 *
 * --seed: the evaluation seed (episode 0's reset seed is seed * 100003, its noise stream the seed's, as dsrl eval).
 * --at: the moment, as a fraction of the frames up to the first successful one (of all frames if none succeeds),
 * of the steered agent's episode with --run, else of the base policy's.
 * DSRL_CHROMIUM overrides the browser (default /usr/bin/chromium: apt-get install chromium).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';
import { decodeEpisode, frameCount } from '../src/run/episode-format.ts';
import { runEpisodeFile } from '../src/run/episode-record.ts';
import { evaluateBasePolicy, evaluateRun } from '../src/run/evaluate-run.ts';
import { startViewer } from '../src/web/server.ts';
import { CHROMIUM, launchChromium } from '../test/helpers/chromium.ts';
import type {} from '../web/src/viewer-state.ts';

const { values } = parseArgs({
  options: {
    policy: { type: 'string' },
    env: { type: 'string' },
    run: { type: 'string' },
    seed: { type: 'string', default: '0' },
    at: { type: 'string', default: '0.7' },
    out: { type: 'string' },
  },
});
if (!values.policy || !values.env || !values.out)
  throw new Error('usage: tsx scripts/task-image.ts --policy <dir> --env <id> --out <file.png> [--run <steered run>] [--seed n] [--at 0..1]');
const seed = Number(values.seed);
const at = Number(values.at);
if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got ${values.seed}`);
if (!(at >= 0 && at <= 1)) throw new Error(`--at must be in [0, 1], got ${values.at}`);
if (!values.out.endsWith('.png')) throw new Error(`--out must name a .png file, got ${values.out}`);
if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set DSRL_CHROMIUM`);

const tmp = mkdtempSync(join(tmpdir(), 'dsrl-task-image-'));
try {
  // A run folder of one recorded episode (config.json names the env: no summary.json, so the page draws no chart).
  const run = join(tmp, 'run');
  const policy = loadDiffusionPolicy(values.policy);
  const recorded: string[] = [];
  const base = runEpisodeFile(run, 'base');
  await evaluateBasePolicy(policy, values.env, { episodes: 1, seed, parallel: 1, recordEpisodes: base });
  recorded.push(base);
  if (values.run) {
    const agent = runEpisodeFile(run, 'agent');
    await evaluateRun({ run: resolve(values.run), agent: 'best', episodes: 1, seed, parallel: 1, recordEpisodes: agent }, policy);
    recorded.push(agent);
  }
  writeFileSync(join(run, 'config.json'), JSON.stringify({ env: values.env, algo: values.run ? 'steered' : 'base policy' }));
  let frame = 0;
  for (const file of recorded) {
    const episode = decodeEpisode(readFileSync(file), file);
    const frames = frameCount(episode);
    frame = Math.round(at * (episode.successFrame ?? frames - 1));
    console.log(`${episode.label}: return ${episode.return}, length ${episode.length}, ${frames} frames, success ${episode.success}`);
  }
  // The pane whose episode sets the moment: the steered agent's (the right one) when there is one.
  const pane = recorded.length - 1;
  console.log(`still at frame ${frame} of pane ${pane}`);

  const vite = await import('vite');
  const dist = join(tmp, 'dist');
  await vite.build({ configFile: fileURLToPath(new URL('../web/vite.config.ts', import.meta.url)), logLevel: 'silent', build: { outDir: dist } });
  const server = await startViewer({ runs: [run], distDir: dist, port: 0 });
  const browser = await launchChromium(join(tmp, 'profile'), { width: 990, height: 760 });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction((n) => window.dsrlViewer?.panes.length === n || window.dsrlViewer?.error !== null, recorded.length, {
      timeout: 20_000,
    });
    const error = await page.evaluate(() => window.dsrlViewer.error);
    if (error) throw new Error(`viewer: ${error}`);
    // The page plays the episode at simulated speed from its start; pause once it reaches the frame.
    await page.waitForFunction(([i, f]) => window.dsrlViewer.panes[i].frame >= f, [pane, frame], { timeout: 120_000, polling: 'raf' });
    await page.click('#play');
    await page.waitForTimeout(200);
    const shown = await page.evaluate(() => window.dsrlViewer.panes.map((p) => `${p.name} ${p.frame}/${p.frames}`).join(', '));
    await page.locator('#scene').screenshot({ path: resolve(values.out) });
    if (errors.length > 0) throw new Error(`page errors: ${errors.join('; ')}`);
    console.log(`wrote ${values.out} (frames shown: ${shown})`);
  } finally {
    await browser.close();
    await server.close();
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
