/**
 * The viewer draws a manipulation task, not only the locomotion robots: one Lift-v0 episode of the shipped base
 * policy (models/lift) and one of its shipped steered agent (models/lift-dsrl), recorded as `dsrl eval
 * --record-episodes` records them, served by `dsrl view`'s server to the page built from the current sources, in
 * Debian's Chromium. Every moving geom (the arm's links, the hand, both gripper fingers, the cube) must be drawn
 * at its recorded pose, judged by its own colour near its projected centre. Skipped, as web-viewer.test.ts,
 * only when Chromium is missing and CI is not set. DSRL_VIEWER_SCREENSHOT=<file.png> also saves the canvas.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';
import { decodeEpisode, type RecordedEpisode } from '../src/run/episode-format.ts';
import { runEpisodeFile } from '../src/run/episode-record.ts';
import { evaluateBasePolicy, evaluateRun } from '../src/run/evaluate-run.ts';
import { startViewer } from '../src/web/server.ts';
import { CHROMIUM, haveChromium, launchChromium, MISSING_IN_CI } from './helpers/chromium.ts';
import { colourClass, movingGeoms, paneHits } from './helpers/viewer-pixels.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dsrl-web-manip-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('dsrl view on a manipulation task, in Chromium', () => {
  it('draws the arm, the gripper fingers and the cube of Lift-v0 at their recorded poses, in both panes', async (ctx) => {
    if (!haveChromium) {
      if (process.env.CI) throw new Error(MISSING_IN_CI);
      ctx.skip(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set DSRL_CHROMIUM); with CI set this fails instead`);
    }
    const t0 = performance.now();
    // A run folder holding the two recordings (config.json names the env; no summary.json: no chart).
    const run = join(tmp, 'run');
    const policy = loadDiffusionPolicy('models/lift');
    await evaluateBasePolicy(policy, 'Lift-v0', { episodes: 1, seed: 0, parallel: 1, recordEpisodes: runEpisodeFile(run, 'base') });
    await evaluateRun(
      { run: 'models/lift-dsrl', agent: 'best', episodes: 1, seed: 0, parallel: 1, recordEpisodes: runEpisodeFile(run, 'agent') },
      policy,
    );
    writeFileSync(join(run, 'config.json'), JSON.stringify({ env: 'Lift-v0', algo: 'DSRL-SAC' }));
    const episodes: RecordedEpisode[] = ['base', 'agent'].map((n) => decodeEpisode(readFileSync(runEpisodeFile(run, n)), n));
    const geoms = movingGeoms(episodes[0].geoms);
    const classes = geoms.map((g) => colourClass(g.rgba));
    // Lift's moving bodies: 8 arm links, the hand, two fingers (two boxes each), the cube.
    expect(classes.filter((c) => c === 'grey').length).toBe(13);
    expect(classes.filter((c) => c === 'red').length).toBe(1);
    const tRecord = performance.now();

    const vite = await import('vite');
    const dist = join(tmp, 'dist');
    await vite.build({ configFile: fileURLToPath(new URL('../web/vite.config.ts', import.meta.url)), logLevel: 'silent', build: { outDir: dist } });
    const tBuild = performance.now();
    const server = await startViewer({ runs: [run], distDir: dist, port: 0 });
    const browser = await launchChromium(join(tmp, 'profile'), { width: 990, height: 760 });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.waitForFunction(() => window.dsrlViewer?.ready || window.dsrlViewer?.error !== null, null, { timeout: 10_000 });
      expect(await page.evaluate(() => window.dsrlViewer.error)).toBeNull();
      const panes = await page.evaluate(() => window.dsrlViewer.panes);
      expect(panes.map((p) => [p.name, p.frames])).toEqual(episodes.map((e) => [e.label === 'base policy' ? 'base' : 'agent', e.frameSteps.length]));

      // Paused at two moments: each time, every moving geom of both panes is drawn at its projected centre.
      const moments = [];
      for (const wait of [0, 500]) {
        await page.waitForTimeout(wait);
        await page.click('#play');
        await page.waitForTimeout(100);
        const shot = [];
        for (const pane of [0, 1]) {
          const h = await paneHits(page, pane, pane * 480, 479, classes);
          expect(h.centres.length, `pane ${pane} geoms`).toBe(geoms.length);
          const missed = h.hit.flatMap((ok, j) => (ok ? [] : [`${classes[j]} geom of body ${geoms[j].body}`]));
          expect(missed, `pane ${pane}: geoms not drawn at their poses`).toEqual([]);
          // Not a trivial pass: the arm's grey and the cube's red cover only part of the pane.
          expect(h.counts.grey, `pane ${pane} grey pixels`).toBeLessThan(479 * 400 * 0.1);
          expect(h.counts.red, `pane ${pane} red pixels`).toBeGreaterThan(10);
          expect(h.counts.red, `pane ${pane} red pixels`).toBeLessThan(479 * 400 * 0.05);
          shot.push(h);
        }
        moments.push({ frames: await page.evaluate(() => window.dsrlViewer.panes.map((p) => p.frame)), shot });
        await page.click('#play');
      }
      // The base policy's arm moved between the two moments (its episode is 41 frames of 0.2 s).
      const [a, b] = moments.map((m) => m.shot[0].centres);
      expect(Math.max(...a.map((c, j) => Math.hypot(c.x - b[j].x, c.y - b[j].y))), 'base pane geoms moved (px)').toBeGreaterThan(2);
      expect(errors).toEqual([]);
      const file = process.env.DSRL_VIEWER_SCREENSHOT;
      if (file) await page.locator('#scene').screenshot({ path: file });
      console.log(
        `web-manipulation: record ${((tRecord - t0) / 1000).toFixed(1)} s, page build ${((tBuild - tRecord) / 1000).toFixed(1)} s, ` +
          `frames ${moments.map((m) => m.frames.join('/')).join(', ')}, grey px ${moments.map((m) => m.shot.map((s) => s.counts.grey).join('/')).join(', ')}, ` +
          `red px ${moments.map((m) => m.shot.map((s) => s.counts.red).join('/')).join(', ')}, browser part ${((performance.now() - tBuild) / 1000).toFixed(1)} s`,
      );
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
