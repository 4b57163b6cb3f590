/**
 * The WebAssembly SIMD backend beyond the per-kernel agreement of nn-backend.test.ts / nn-gemm.test.ts: whole
 * SAC updates against js (and native), the arrays the engine passes aliased, and the backend choice.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SAC, sacDefaults } from '../src/algos/sac.ts';
import { Rng } from '../src/core/rng.ts';
import { chooseBackend, getBackend, jsBackend, setBackend, type Backend } from '../src/nn/backend.ts';
import { loadWasmBackend } from '../src/nn/wasm-loader.ts';

const initial = getBackend();
const native = initial.name === 'native' ? initial : null;
const wasm = loadWasmBackend();
afterAll(() => setBackend(initial));

function rand(n: number, seed: number): Float32Array {
  return Rng.fromSeed(seed).fillNormal(new Float32Array(n)) as Float32Array;
}

/** max |a - b| / rms(b), as in nn-backend.test.ts: the difference on the tensor's own scale. */
function scaledDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  let ss = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    ss += b[i] * b[i];
  }
  return worst / Math.sqrt(ss / a.length + 1e-30);
}

interface SacState {
  actor: Float32Array;
  critics: Float32Array[];
  targets: Float32Array[];
  logAlpha: number;
  losses: Record<string, number>;
}

/** `updates` SAC updates (LayerNorm critics, hidden 64, batch 32) from the same seeds on backend `be`. */
function sacRun(be: Backend, updates: number): SacState {
  setBackend(be);
  const B = 32;
  const sac = new SAC(sacDefaults(11, 3, { actorHidden: [64, 64], criticHidden: [64, 64], criticLayerNorm: true }), Rng.fromSeed(5), B);
  const r = Rng.fromSeed(6);
  const batch = {
    batchSize: B,
    obs: r.fillNormal(new Float32Array(B * 11)) as Float32Array,
    nextObs: r.fillNormal(new Float32Array(B * 11)) as Float32Array,
    actions: r.fillUniform(new Float32Array(B * 3), -1, 1) as Float32Array,
    rewards: r.fillNormal(new Float32Array(B)) as Float32Array,
    terminated: Uint8Array.from({ length: B }, (_, i) => (i % 7 === 0 ? 1 : 0)),
  };
  let losses: Record<string, number> = {};
  for (let i = 0; i < updates; i++) losses = sac.update(batch);
  return {
    actor: sac.actor.values.slice(),
    critics: sac.critics.map((c) => c.values.slice()),
    targets: sac.targets.map((t) => t.values.slice()),
    logAlpha: sac.logAlpha.values[0],
    losses,
  };
}

/** The largest scaled difference over the networks of two runs, logAlpha's relative one, and the losses'. */
function sacDiff(a: SacState, b: SacState): { nets: number; logAlpha: number; losses: number } {
  let nets = scaledDiff(a.actor, b.actor);
  a.critics.forEach((c, i) => (nets = Math.max(nets, scaledDiff(c, b.critics[i]), scaledDiff(a.targets[i], b.targets[i]))));
  let losses = 0;
  for (const k of Object.keys(b.losses)) losses = Math.max(losses, Math.abs(a.losses[k] - b.losses[k]) / (1e-3 + Math.abs(b.losses[k])));
  return { nets, logAlpha: Math.abs(a.logAlpha - b.logAlpha) / Math.abs(b.logAlpha), losses };
}

describe.runIf(wasm.backend)('wasm backend', () => {
  const be = wasm.backend!;

  it('runs SAC updates like js and native', () => {
    const updates = 5;
    const w = sacRun(be, updates);
    const others: [string, SacState][] = [['js', sacRun(jsBackend, updates)]];
    if (native) others.push(['native', sacRun(native, updates)]);
    for (const [name, o] of others) {
      const d = sacDiff(w, o);
      if (process.env.DSRL_TEST_VERBOSE) console.log(`wasm vs ${name}, ${updates} SAC updates: ${JSON.stringify(d)}`);
      // Five updates of five float32 MLPs whose products and sums round in other orders. Measured (this test):
      // against js (double arithmetic in its element-wise kernels) 1.3e-6 (nets), 6.8e-6 (logAlpha: float32 vs
      // double Adam on one scalar), 2.6e-5 (losses), the same as native against js; against native 3.3e-7,
      // 0, 1e-7. The bounds leave 15x, 7x and 8x; a wrong kernel is above them: Adam's eps 10x too large in
      // the wasm backend moves the nets by 1.1e-4 to 1.9e-4 (after 1 and 5 updates).
      expect(d.nets).toBeLessThan(2e-5);
      expect(d.logAlpha).toBeLessThan(5e-5);
      expect(d.losses).toBeLessThan(2e-4);
    }
    // Same module, same inputs: the same floats (no relaxed SIMD, no threads).
    const again = sacRun(be, updates);
    expect(sacDiff(again, w)).toEqual({ nets: 0, logAlpha: 0, losses: 0 });
  });

  it('handles the aliased arrays the engine passes (in place, dz over dy, x = y)', () => {
    const rows = 6;
    const cols = 13;
    const n = rows * cols;
    const run = (b: Backend) => {
      const z = rand(n, 1);
      b.biasAct(z, rand(cols, 2), rows, cols, 0, z); // identity in place
      const dy = rand(n, 3);
      const db = new Float32Array(cols);
      b.biasActBackward(dy, z, z, rows, cols, 0, dy, db); // dz = dy
      const g = rand(n, 4);
      b.axpby(g, g, 0, 0.5); // clipGradNorm's in-place scale
      return [z, dy, db, g];
    };
    const [a, ref] = [run(be), run(jsBackend)];
    // One or two float32 operations per element (js rounds once from double: an ulp apart at most), and db's
    // column sums of 6 terms in another order (a few ulp). A wrong alias (a stale copy) is off by O(1).
    for (let i = 0; i < a.length; i++) expect(scaledDiff(a[i], ref[i]), `output ${i}`).toBeLessThan(1e-6);
  });

  it('takes big calls after small ones (the arena grows, its views follow)', () => {
    const small = rand(8, 1);
    const big = rand(3_000_000, 2); // 12 MB: past any earlier arena
    expect(be.sumSquares(small)).toBeCloseTo(jsBackend.sumSquares(small), 10);
    const ss = be.sumSquares(big);
    // 3e6 squares summed in double (exact products, two lanes then the tail) vs one running sum in double.
    expect(Math.abs(ss - jsBackend.sumSquares(big)) / ss).toBeLessThan(1e-12);
    expect(be.sumSquares(small)).toBeCloseTo(jsBackend.sumSquares(small), 10);
  });
});

describe('backend choice', () => {
  it('is the fastest backend that loads, and DSRL_BACKEND forces one', () => {
    expect(chooseBackend({}).name).toBe(native ? 'native' : wasm.backend ? 'wasm' : 'js');
    expect(chooseBackend({ DSRL_BACKEND: 'js' })).toBe(jsBackend);
    if (wasm.backend) expect(chooseBackend({ DSRL_BACKEND: 'wasm' })).toBe(wasm.backend);
    else expect(() => chooseBackend({ DSRL_BACKEND: 'wasm' })).toThrow(/DSRL_BACKEND=wasm but the WebAssembly backend cannot load/);
    expect(() => chooseBackend({ DSRL_BACKEND: 'gpu' })).toThrow(/DSRL_BACKEND must be "native", "wasm" or "js"/);
  });
});
