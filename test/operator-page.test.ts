/**
 * The operator page's takeover in Debian's Chromium (playwright-core; skipped only when Chromium or the Python
 * adapter is missing and CI is not set): holding Shift and a movement key on the real page, and a gamepad's
 * dead-man button and stick, drive the Python adapter (docs/examples/remote_env_adapter.py serving
 * test/fixtures/remote_env_reach.py's make_logged, which prints each action it receives). The gamepad is the
 * one test double: navigator.getGamepads, replaced before the page's script runs; the rest is real.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteVectorEnv } from '../src/envs/remote/remote-vector-env.ts';
import type { VectorEnv } from '../src/envs/vector.ts';
import { startOperatorSession, type OperatorSession } from '../src/node/operator-session.ts';
import { openWsLink } from '../src/node/remote-env-link.ts';
import { haveChromium, launchChromium, MISSING_IN_CI } from './helpers/chromium.ts';
import { freePort, pythonProblem, startAdapter, type Adapter } from './helpers/remote-adapter.ts';

const problem = pythonProblem() ?? (haveChromium ? null : 'no Chromium');
const required = process.env.CI === 'true';
if (problem && !required) console.warn(`operator page tests skipped: ${problem}`);

const CHUNK = 4;
const tmp = mkdtempSync(join(tmpdir(), 'dsrl-operator-page-'));
let browser: BrowserContext | null = null;

beforeAll(async () => {
  if (problem) return;
  browser = await launchChromium(join(tmp, 'profile'));
});
afterAll(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** An operator session, the adapter and its env with the page open, the episode started from the page's r key. */
async function setUp(initScript?: string): Promise<{ s: OperatorSession; adapter: Adapter; env: VectorEnv; page: Page; close: () => Promise<void> }> {
  if (!browser) throw new Error(MISSING_IN_CI);
  const adapter = await startAdapter(await freePort(), ['--rate', '0'], 'make_logged');
  const s = await startOperatorSession({ port: 0, chunk: CHUNK, storesRealActions: true, firstIsTraining: true, terminal: null, log: () => {} });
  const env = await s.maker((n) =>
    RemoteVectorEnv.connect(adapter.url, n, { open: openWsLink, chunk: CHUNK, timeoutMs: 5000, watchdogMs: 0, log: () => {} }),
  )(1, CHUNK);
  const page = await browser.newPage();
  if (initScript) await page.addInitScript(initScript);
  await page.goto(s.server.url);
  await page.waitForFunction(() => document.getElementById('takeover')!.textContent!.startsWith('policy drives'));
  await page.keyboard.press('r');
  await env.reset({ seed: 1 });
  return {
    s,
    adapter,
    env,
    page,
    async close() {
      await page.close();
      await env.close();
      await s.close();
      await adapter.kill();
    },
  };
}

/** One chunk: the actions the adapter printed, and the step's info. */
async function chunk(adapter: Adapter, env: VectorEnv, policy: number) {
  const from = adapter.lines.length;
  const r = await env.step(new Float32Array(CHUNK).fill(policy));
  // The adapter's stdout may trail its reply and hold other lines (its watchdog's): wait for this chunk's action lines.
  const actions = () => adapter.lines.slice(from).filter((l) => l.text.startsWith('action '));
  await expect.poll(() => actions().length).toBe(CHUNK);
  return { printed: actions().map((l) => Number(l.text.slice('action '.length))), info: r.infos[0] };
}

describe.skipIf(problem !== null && !required)('operator page takeover in Chromium', () => {
  it('holding Shift and W drives the robot at the page speed; S while held is a move, not a label; releasing hands back', async () => {
    const { s, adapter, env, page, close } = await setUp();
    try {
      await page.keyboard.down('Shift');
      await page.keyboard.down('KeyW');
      await expect.poll(() => s.operator.status().takeover).toBe('page 1');
      await expect.poll(() => page.textContent('#takeover')).toBe('TAKEOVER: you drive the robot');
      const up = await chunk(adapter, env, -0.1);
      expect(up.printed).toEqual([0.5, 0.5, 0.5, 0.5]); // speed 50% of the bound 1
      expect(up.info).toMatchObject({ intervention: true, intervention_steps: CHUNK, intervention_source: 'page' });
      // Full speed, the other way: S while Shift is held moves; it does not label the episode a success.
      await page.keyboard.up('KeyW');
      await page.locator('#speed').fill('100');
      await page.keyboard.down('KeyS');
      await expect.poll(() => page.textContent('#tvalues')).toBe('[-1.000]');
      const down = await chunk(adapter, env, 0.1);
      expect(down.printed).toEqual([-0.5, -0.5, -0.5, -0.5]); // -1, clipped into the workspace box [-0.5, 0.5]
      expect(s.operator.status().label).toBeNull();
      await page.keyboard.up('KeyS');
      await page.keyboard.up('Shift');
      await expect.poll(() => s.operator.status().takeover).toBeNull();
      const back = await chunk(adapter, env, 0.1);
      expect(back.printed).toEqual([0.1, 0.1, 0.1, 0.1].map(Math.fround));
      expect(back.info.intervention).toBe(false);
      // The e-stop key still stops while the takeover is held.
      await page.keyboard.down('Shift');
      await page.keyboard.down('KeyW');
      await expect.poll(() => s.operator.status().takeover).toBe('page 1');
      await page.keyboard.press('e');
      await expect.poll(() => s.operator.status().estopped).toBe(true);
      await adapter.waitFor(/^stop: stop from dsrl \(emergency stop \(page\)\)/, 2000);
      await expect.poll(() => page.textContent('#takeover')).toBe('takeover refused: release, then press again');
      expect(s.operator.status().takeover).toBeNull();
    } finally {
      await close();
    }
  }, 30_000);

  it("a gamepad's LB holds the takeover and its left stick drives dim 0 (navigator.getGamepads replaced)", async () => {
    const fakePad = `
      window.__pad = { id: 'test pad', index: 0, connected: true, mapping: 'standard', axes: [0, 0, 0, 0],
        buttons: Array.from({ length: 17 }, () => ({ pressed: false, touched: false, value: 0 })) };
      navigator.getGamepads = () => [window.__pad, null, null, null];`;
    const { s, adapter, env, page, close } = await setUp(fakePad);
    try {
      await expect.poll(() => page.textContent('#pad')).toBe('gamepad: test pad');
      // The stick alone does nothing; with LB held, half a deflection down (past the 0.15 dead zone) drives dim 0.
      await page.evaluate(() => ((window as unknown as { __pad: { axes: number[] } }).__pad.axes[1] = 0.5));
      await new Promise((r) => setTimeout(r, 120));
      expect(s.operator.status().takeover).toBeNull();
      await page.evaluate(() => ((window as unknown as { __pad: { buttons: { pressed: boolean }[] } }).__pad.buttons[4].pressed = true));
      await expect.poll(() => s.operator.status().takeover).toBe('page 1');
      const moved = await chunk(adapter, env, 0.1);
      const expected = Math.fround((-(0.5 - 0.15) / 0.85) * 0.5);
      expect(moved.printed).toEqual([expected, expected, expected, expected]);
      expect(moved.info).toMatchObject({ intervention: true, intervention_steps: CHUNK });
      await page.evaluate(() => ((window as unknown as { __pad: { buttons: { pressed: boolean }[] } }).__pad.buttons[4].pressed = false));
      await expect.poll(() => s.operator.status().takeover).toBeNull();
      expect((await chunk(adapter, env, 0.1)).info.intervention).toBe(false);
    } finally {
      await close();
    }
  }, 30_000);
});
