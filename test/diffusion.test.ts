import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { createD4rlDataset, type D4rlDataset } from '../src/data/d4rl.ts';
import { getBackend } from '../src/nn/backend.ts';
import { Model } from '../src/nn/module.ts';
import { DiffusionMlp } from '../src/policies/diffusion/network.ts';
import { ObsNormalizer, normalizeActions } from '../src/policies/diffusion/normalization.ts';
import { createDiffusionNetwork, DiffusionPolicy, type DiffusionPolicySpec } from '../src/policies/diffusion/policy.ts';
import { cosineSchedule, ddimPlan } from '../src/policies/diffusion/schedule.ts';
import { buildChunkData, DiffusionTrainer, gatherChunk, resolvePretrainConfig } from '../src/policies/diffusion/train.ts';
import { gradCheck } from './helpers/gradcheck.ts';

function randomPolicy(spec: DiffusionPolicySpec, seed: number, bounds?: { low: number[]; high: number[] }): DiffusionPolicy {
  const net = createDiffusionNetwork(spec, Rng.fromSeed(seed));
  const rng = Rng.fromSeed(seed + 100);
  const min = Float32Array.from({ length: spec.obsDim }, () => -1 - rng.uniform());
  const max = Float32Array.from({ length: spec.obsDim }, () => 1 + rng.uniform());
  return new DiffusionPolicy({
    spec,
    obsStats: { min, max },
    actionLow: bounds?.low ?? new Array(spec.actDim).fill(-1),
    actionHigh: bounds?.high ?? new Array(spec.actDim).fill(1),
    weights: net.values,
  });
}

function dataset(obs: number[][], actions: number[][], ends: { terminal?: number[]; timeout?: number[] }): D4rlDataset {
  const n = obs.length;
  const terminals = new Uint8Array(n);
  const timeouts = new Uint8Array(n);
  for (const i of ends.terminal ?? []) terminals[i] = 1;
  for (const i of ends.timeout ?? []) timeouts[i] = 1;
  const o = Float32Array.from(obs.flat());
  return createD4rlDataset({
    observations: o,
    actions: Float32Array.from(actions.flat()),
    rewards: new Float32Array(n),
    nextObservations: o.slice(),
    terminals,
    timeouts,
    obsDim: obs[0].length,
    actionDim: actions[0].length,
  });
}

describe('noise schedule', () => {
  it('cosine alphas_cumprod match values computed by hand (DPPO formula, s = 0.008, betas clipped at 0.999)', () => {
    // Computed independently from DPPO's cosine_beta_schedule (np.linspace form) in float64.
    const want: Record<number, number[]> = {
      1: [0.0010000000000000009],
      2: [0.49384359044063775, 0.0004938435904406382],
      3: [0.7428836293917329, 0.24644816766240815, 0.0002464481676624084],
      5: [0.8987059205995089, 0.6474782111465038, 0.3408096397593241, 0.09404561267665394, 9.404561267665402e-5],
    };
    for (const [T, values] of Object.entries(want)) {
      const s = cosineSchedule(Number(T));
      values.forEach((v, i) => expect(s.alphasCumprod[i]).toBeCloseTo(v, 14));
      expect(s.betas[Number(T) - 1]).toBe(0.999); // the last beta is 1 before clipping
    }
    // T = 2 written out: abar_0 = cos^2((0.5 + s)/(1 + s) * pi/2) / cos^2(s/(1 + s) * pi/2).
    const f = (x: number) => Math.cos(((x + 0.008) / 1.008) * Math.PI * 0.5) ** 2;
    expect(cosineSchedule(2).alphasCumprod[0]).toBeCloseTo(f(0.5) / f(0), 15);
    const s20 = cosineSchedule(20);
    for (let t = 1; t < 20; t++) expect(s20.alphasCumprod[t]).toBeLessThan(s20.alphasCumprod[t - 1]);
  });

  it('DDIM uses the "leading" timesteps (S-1)*T/S, ..., T/S, 0 and ends at alpha_prev = 1', () => {
    const s = cosineSchedule(20);
    const plan = ddimPlan(s, 5);
    expect(Array.from(plan.timesteps)).toEqual([16, 12, 8, 4, 0]);
    expect(plan.sqrtAlpha[0]).toBeCloseTo(Math.sqrt(s.alphasCumprod[16]), 15);
    expect(plan.sqrtAlphaPrev[0]).toBeCloseTo(Math.sqrt(s.alphasCumprod[12]), 15);
    expect(plan.sqrtAlphaPrev[4]).toBe(1);
    expect(plan.sqrtOneMinusAlphaPrev[4]).toBe(0);
    expect(Array.from(ddimPlan(cosineSchedule(10), 3).timesteps)).toEqual([6, 3, 0]); // floor(10/3) = 3
    expect(Array.from(ddimPlan(cosineSchedule(4), 4).timesteps)).toEqual([3, 2, 1, 0]);
    expect(() => ddimPlan(s, 21)).toThrow(/DDIM steps must be an integer in \[1, T=20\]/);
  });
});

describe('noise-prediction network', () => {
  const spec = { xDim: 4, obsDim: 3, timeDim: 6, width: 7, depth: 2 };

  it('uses DPPO DiffusionMLP parameter names and shapes', () => {
    const shapes = new Model(new DiffusionMlp(spec), Rng.fromSeed(1)).shapes();
    expect(shapes).toEqual({
      'time_embedding.1.weight': [12, 6],
      'time_embedding.1.bias': [12],
      'time_embedding.3.weight': [6, 12],
      'time_embedding.3.bias': [6],
      'mlp_mean.layers.0.weight': [7, 4 + 6 + 3],
      'mlp_mean.layers.0.bias': [7],
      'mlp_mean.layers.1.l1.weight': [7, 7],
      'mlp_mean.layers.1.l1.bias': [7],
      'mlp_mean.layers.1.l2.weight': [7, 7],
      'mlp_mean.layers.1.l2.bias': [7],
      'mlp_mean.layers.2.l1.weight': [7, 7],
      'mlp_mean.layers.2.l1.bias': [7],
      'mlp_mean.layers.2.l2.weight': [7, 7],
      'mlp_mean.layers.2.l2.bias': [7],
      'mlp_mean.layers.3.weight': [4, 7],
      'mlp_mean.layers.3.bias': [4],
    });
  });

  it('passes a finite-difference gradient check (parameters, x_t, t and obs)', () => {
    const model = new Model(new DiffusionMlp(spec), Rng.fromSeed(2));
    const rows = 3;
    const x = Rng.fromSeed(3).fillNormal(new Float32Array(rows * model.inDim)) as Float32Array;
    for (let r = 0; r < rows; r++) x[r * model.inDim + spec.xDim] = 2 + 3 * r; // timesteps
    const res = gradCheck(model, x, rows);
    expect(res.failures, JSON.stringify(res.worst)).toEqual([]);
    expect(res.checked).toBeGreaterThan(100);
  });

  it('rejects bad sizes with a named field', () => {
    expect(() => new DiffusionMlp({ ...spec, timeDim: 5 })).toThrow(/timeDim must be an even integer >= 4, got 5/);
    expect(() => new DiffusionMlp({ ...spec, width: 0 })).toThrow(/width must be a positive integer/);
  });
});

describe('DDIM sampling', () => {
  it('with S = T and eta = 0 matches a hand-written float64 reference on a tiny net', () => {
    const spec: DiffusionPolicySpec = { obsDim: 3, actDim: 2, chunk: 2, denoisingSteps: 4, ddimSteps: 4, timeDim: 4, width: 5, depth: 1 };
    const policy = randomPolicy(spec, 7, { low: [-2, 0], high: [2, 1] });
    const P = new Map(policy.network.params.map(([name, p]) => [name, Array.from(p.value)]));
    const linear = (name: string, x: number[]) => {
      const w = P.get(`${name}.weight`)!;
      const b = P.get(`${name}.bias`)!;
      return b.map((bi, i) => bi + x.reduce((s, xj, j) => s + w[i * x.length + j] * xj, 0));
    };
    const mish = (v: number[]) => v.map((u) => u * Math.tanh(Math.log1p(Math.exp(u))));
    const add = (a: number[], b: number[]) => a.map((v, i) => v + b[i]);
    const eps = (x: number[], t: number, obsN: number[]) => {
      const f = [0, 1].map((k) => Math.exp(-k * (Math.log(10000) / 1))); // half = 2
      const emb = [...f.map((fk) => Math.sin(t * fk)), ...f.map((fk) => Math.cos(t * fk))];
      const temb = linear('time_embedding.3', mish(linear('time_embedding.1', emb)));
      const h0 = linear('mlp_mean.layers.0', [...x, ...temb, ...obsN]);
      const h1 = add(h0, linear('mlp_mean.layers.1.l2', mish(linear('mlp_mean.layers.1.l1', mish(h0)))));
      return linear('mlp_mean.layers.2', h1);
    };
    // DDPM cosine schedule, T = 4, written out.
    const f = (i: number) => Math.cos(((i / 4 + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    const abar: number[] = [];
    let prod = 1;
    for (let i = 0; i < 4; i++) {
      prod *= 1 - Math.min(0.999, 1 - f(i + 1) / f(i));
      abar.push(prod);
    }
    const rng = Rng.fromSeed(11);
    const batch = 3;
    const obs = rng.fillNormal(new Float32Array(batch * 3)) as Float32Array;
    const noise = rng.fillNormal(new Float32Array(batch * 4), 0, 1.5) as Float32Array;
    const got = policy.act(obs, noise, batch).slice();
    let clamps = 0;
    for (let r = 0; r < batch; r++) {
      const o = Array.from(obs.subarray(r * 3, r * 3 + 3));
      const obsN = o.map((v, j) => 2 * ((v - policy.obsStats.min[j]) / (policy.obsStats.max[j] - policy.obsStats.min[j] + 1e-6) - 0.5));
      let x = Array.from(noise.subarray(r * 4, r * 4 + 4));
      for (let t = 3; t >= 0; t--) {
        const a = abar[t];
        const aPrev = t > 0 ? abar[t - 1] : 1;
        const e = eps(x, t, obsN);
        const x0 = x.map((xi, i) => {
          const v = (xi - Math.sqrt(1 - a) * e[i]) / Math.sqrt(a);
          if (Math.abs(v) > 1) clamps++;
          return Math.max(-1, Math.min(1, v));
        });
        const e2 = x.map((xi, i) => (xi - Math.sqrt(a) * x0[i]) / Math.sqrt(1 - a));
        x = x0.map((v, i) => Math.sqrt(aPrev) * v + Math.sqrt(1 - aPrev) * e2[i]);
      }
      const low = [-2, 0];
      const high = [2, 1];
      const want = x.map((v, i) => low[i % 2] + ((v + 1) / 2) * (high[i % 2] - low[i % 2]));
      for (let i = 0; i < 4; i++) expect(got[r * 4 + i]).toBeCloseTo(want[i], 5);
    }
    expect(clamps).toBeGreaterThan(0); // the clamp-and-recompute path was exercised
  });

  it('the direct pass agrees with network.forward step by step (batch 1 and 9)', () => {
    const spec: DiffusionPolicySpec = { obsDim: 11, actDim: 3, chunk: 4, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 64, depth: 3 };
    const policy = randomPolicy(spec, 3);
    const rng = Rng.fromSeed(4);
    for (const batch of [1, 9]) {
      const obs = rng.fillNormal(new Float32Array(batch * 11)) as Float32Array;
      const noise = rng.fillNormal(new Float32Array(batch * 12)) as Float32Array;
      const fast = policy.denoise(obs, noise, batch).slice();
      const ref = policy.denoiseWithLayers(obs, noise, batch);
      // Two code paths with their own products and batch shapes, 5 DDIM steps: measured at most 4.2e-7 over
      // OpenBLAS (4 core types), the built-in SGEMMs and js; 2e-5 leaves 50x.
      for (let i = 0; i < fast.length; i++) expect(Math.abs(fast[i] - ref[i])).toBeLessThan(2e-5);
    }
  });

  it('is a pure function of (obs, noise): same inputs give bitwise the same chunk, batch rows are independent', () => {
    const spec: DiffusionPolicySpec = { obsDim: 5, actDim: 2, chunk: 3, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 32, depth: 2 };
    const policy = randomPolicy(spec, 5, { low: [-0.5, 0], high: [0.5, 2] });
    const rng = Rng.fromSeed(6);
    const obs = rng.fillNormal(new Float32Array(4 * 5)) as Float32Array;
    const noise = rng.fillNormal(new Float32Array(4 * 6)) as Float32Array;
    const obsCopy = obs.slice();
    const noiseCopy = noise.slice();
    const a = policy.act(obs, noise, 4).slice();
    policy.act(rng.fillNormal(new Float32Array(20)) as Float32Array, rng.fillNormal(new Float32Array(24)) as Float32Array, 4);
    const b = policy.act(obs, noise, 4).slice();
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(obs)).toEqual(Array.from(obsCopy)); // inputs untouched
    expect(Array.from(noise)).toEqual(Array.from(noiseCopy));
    // An identical second policy gives the same bits.
    expect(Array.from(randomPolicy(spec, 5, { low: [-0.5, 0], high: [0.5, 2] }).act(obs, noise, 4))).toEqual(Array.from(a));
    // Each row depends only on its own inputs (float rounding may differ between batch shapes).
    const row2 = policy.act(obs.subarray(10, 15), noise.subarray(12, 18), 1);
    for (let i = 0; i < 6; i++) expect(row2[i]).toBeCloseTo(a[12 + i], 5);
    for (let i = 0; i < a.length; i++) {
      const j = i % 2;
      expect(a[i]).toBeGreaterThanOrEqual([-0.5, 0][j]);
      expect(a[i]).toBeLessThanOrEqual([0.5, 2][j]);
    }
    // sample() draws its noise from the generator: same seed, same chunk.
    const s1 = policy.sample(obs, Rng.fromSeed(9), 4).slice();
    expect(Array.from(policy.sample(obs, Rng.fromSeed(9), 4))).toEqual(Array.from(s1));
    expect(Array.from(policy.sample(obs, Rng.fromSeed(10), 4))).not.toEqual(Array.from(s1));
  });

  it('rejects inputs of the wrong size with the shapes in the message', () => {
    const spec: DiffusionPolicySpec = { obsDim: 5, actDim: 2, chunk: 3, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 8, depth: 1 };
    const policy = randomPolicy(spec, 1);
    expect(() => policy.act(new Float32Array(10), new Float32Array(6), 2)).toThrow(/noise has 6 values, expected 2 x 3 x 2/);
    expect(() => policy.act(new Float32Array(4), new Float32Array(6), 1)).toThrow(/obs has 4 values, expected 1 x 5/);
    expect(() => policy.act(new Float32Array(5), new Float32Array(6), 0)).toThrow(/batch must be a positive integer/);
  });
});

describe('normalization and training chunks', () => {
  it('normalizes observations as 2*((o - min)/(max - min + 1e-6) - 0.5) and actions from the bounds', () => {
    const norm = new ObsNormalizer({ min: Float32Array.of(-2, 0, 5), max: Float32Array.of(2, 10, 5) });
    const out = new Float32Array(3);
    norm.apply(Float32Array.of(1, 10, 5), 1, out);
    expect(out[0]).toBeCloseTo(2 * (3 / (4 + 1e-6) - 0.5), 6);
    expect(out[1]).toBeCloseTo(2 * (10 / (10 + 1e-6) - 0.5), 6);
    expect(out[2]).toBeCloseTo(-1, 6); // constant dimension
    const acts = new Float32Array(4);
    const clipped = normalizeActions(Float32Array.of(-0.4, 1, 0.4, 3), Float32Array.of(-0.4, 0), Float32Array.of(0.4, 2), acts);
    expect(Array.from(acts)).toEqual([-1, 0, 1, 1]);
    expect(clipped).toBe(1);
  });

  it('never builds a chunk across an episode end; "skip" drops short tails (DPPO), "pad" repeats the last action', () => {
    // Episode A: steps 0-4 (terminal at 4); episode B: steps 5-7 (timeout at 7); episode C: steps 8-9 (unfinished).
    const obs = Array.from({ length: 10 }, (_, i) => [i]);
    const actions = Array.from({ length: 10 }, (_, i) => [i / 10]);
    const ds = dataset(obs, actions, { terminal: [4], timeout: [7] });
    const bounds = { actionLow: [-1], actionHigh: [1] };
    const skip = buildChunkData(ds, { chunk: 3, tail: 'skip', ...bounds });
    expect(Array.from(skip.starts)).toEqual([0, 1, 2, 5]);
    expect(skip.episodes).toBe(3);
    const pad = buildChunkData(ds, { chunk: 3, tail: 'pad', ...bounds });
    expect(Array.from(pad.starts)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const chunkOf = (i: number) => {
      const out = new Float32Array(3);
      gatherChunk(pad, i, out);
      return Array.from(out, (v) => Math.round(v * 10));
    };
    expect(chunkOf(2)).toEqual([2, 3, 4]);
    expect(chunkOf(3)).toEqual([3, 4, 4]); // padded with step 4's action, not step 5's
    expect(chunkOf(4)).toEqual([4, 4, 4]);
    expect(chunkOf(6)).toEqual([6, 7, 7]);
    expect(chunkOf(9)).toEqual([9, 9, 9]);
    // Observation stats come from the whole dataset; obs are normalized to [-1, 1].
    expect(Array.from(pad.obsStats.min)).toEqual([0]);
    expect(Array.from(pad.obsStats.max)).toEqual([9]);
    expect(pad.obs[0]).toBeCloseTo(-1, 6);
    expect(pad.obs[9]).toBeCloseTo(1, 5);
    expect(() => buildChunkData(ds, { chunk: 6, tail: 'skip', ...bounds })).toThrow(/no training chunks/);
  });

  it('validates the training config once, naming the field', () => {
    expect(resolvePretrainConfig({ steps: 10 })).toMatchObject({ batchSize: 256, lr: 3e-4, emaDecay: 0.995, tail: 'skip', seed: 0 });
    expect(() => resolvePretrainConfig({ steps: 10, lr: -1 })).toThrow(/pretrain config: lr: /);
    expect(() => resolvePretrainConfig({ steps: 0 })).toThrow(/steps/);
    expect(() => resolvePretrainConfig({ steps: 1, batch: 3 } as never)).toThrow(/batch/);
  });
});

// A few thousand steps at batch 256 take ~2 s on the native backend and minutes on the portable TS
// one, whose kernels are checked against native in nn-backend.test.ts; CI requires native.
describe.skipIf(getBackend().name !== 'native')('behavior cloning on a two-mode toy', { tags: ['learning'] }, () => {
  // obs in {0, 1}; action (a, a) with a = +0.6 w.p. p(obs), else -0.6; p(1) = 0.7, p(0) = 0.3.
  const N = 4000;
  const rng = Rng.fromSeed(1);
  const obs: number[][] = [];
  const actions: number[][] = [];
  const terminal: number[] = [];
  for (let i = 0; i < N; i++) {
    const o = Math.floor(i / 10) % 2;
    const a = rng.uniform() < (o === 1 ? 0.7 : 0.3) ? 0.6 : -0.6;
    obs.push([o]);
    actions.push([a, a]);
    if (i % 10 === 9) terminal.push(i);
  }
  const ds = dataset(obs, actions, { terminal });
  const spec: DiffusionPolicySpec = { obsDim: 1, actDim: 2, chunk: 1, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 64, depth: 2 };
  const data = buildChunkData(ds, { chunk: 1, tail: 'skip', actionLow: [-1, -1], actionHigh: [1, 1] });
  const config = { steps: 3000, batchSize: 256, lr: 1e-3, seed: 0, emaDecay: 0.99, emaEvery: 1, emaStart: 1800 };
  let lastLoss = 0;
  let policy: DiffusionPolicy;
  beforeAll(() => {
    const trainer = new DiffusionTrainer(spec, data, config);
    for (let i = 0; i < config.steps; i++) lastLoss = trainer.trainStep();
    policy = trainer.policy();
  });

  it('reproduces both modes in the right proportions for each observation', () => {
    expect(lastLoss).toBeLessThan(0.15);
    const M = 4000;
    for (const [o, p] of [
      [0, 0.3],
      [1, 0.7],
    ]) {
      const a = policy.sample(new Float32Array(M).fill(o), Rng.fromSeed(5 + o), M);
      let plus = 0;
      let near = 0;
      for (let i = 0; i < M; i++) {
        const mode = a[2 * i] + a[2 * i + 1] > 0 ? 0.6 : -0.6;
        if (mode > 0) plus++;
        if (Math.abs(a[2 * i] - mode) < 0.15 && Math.abs(a[2 * i + 1] - mode) < 0.15) near++;
      }
      expect(Math.abs(plus / M - p), `obs ${o}: p(+) = ${plus / M}`).toBeLessThan(0.04);
      expect(near / M, `obs ${o}: share near a mode`).toBeGreaterThan(0.85);
    }
  });

  it('maps different noise to different modes, and the same noise to the same action bitwise', () => {
    const o = Float32Array.of(1);
    const up = Array.from(policy.act(o, Float32Array.of(1.5, 1.5), 1));
    const down = Array.from(policy.act(o, Float32Array.of(-1.5, -1.5), 1));
    expect(up[0]).toBeCloseTo(0.6, 1);
    expect(up[1]).toBeCloseTo(0.6, 1);
    expect(down[0]).toBeCloseTo(-0.6, 1);
    expect(down[1]).toBeCloseTo(-0.6, 1);
    expect(Array.from(policy.act(o, Float32Array.of(1.5, 1.5), 1))).toEqual(up);
  });

  it('trains deterministically from the seed', () => {
    const run = (seed: number) => {
      const t = new DiffusionTrainer(spec, data, { ...config, steps: 15, seed });
      for (let i = 0; i < 15; i++) t.trainStep();
      return t;
    };
    const a = run(3);
    const b = run(3);
    expect(Buffer.from(a.model.values.buffer).equals(Buffer.from(b.model.values.buffer))).toBe(true);
    expect(Buffer.from(a.ema.values.buffer).equals(Buffer.from(b.ema.values.buffer))).toBe(true);
    expect(Buffer.from(run(4).model.values.buffer).equals(Buffer.from(a.model.values.buffer))).toBe(false);
  });
});
