/**
 * DSRL-NA's update against values computed by hand in this file (shared/reference/dsrl.md):
 *
 * - Q_A regresses onto r + gamma (1 - terminated) [min_i Qbar_A_i(s', pi_dp(s', w')) - alpha log pi_w(w'|s')],
 *   w' ~ pi_w(s'), through the base policy; truncation bootstraps.
 * - after every `utd` updates, Q_W member i regresses onto Q_A member i at (s, pi_dp(s, w)), w ~ N(0, I)
 *   fresh for every distillation step.
 *
 * Only DsrlNA's public members are used (constructor, update, act, actor / qa / qaTargets / qw / logAlpha,
 * noiseSource). The expected values come from the networks' own forward passes on the weights taken
 * before the update, the tanh-Gaussian written out below, and a tiny base policy that records its inputs.
 * Everything runs in one process on one backend, so the agent and the hand computation see the same
 * float32 network outputs; the tolerances only cover float32-vs-double arithmetic in the few scalar
 * formulas (relative 1e-5, ~100 ulp of float32).
 */
import { describe, expect, it } from 'vitest';
import { DsrlNA, dsrlNaDefaults, type DsrlNaConfig } from '../src/algos/dsrl/dsrl-na.ts';
import { Rng } from '../src/core/rng.ts';
import type { SampledBatch } from '../src/data/replay-buffer.ts';
import type { Model } from '../src/nn/module.ts';
import type { NoisePolicy } from '../src/policies/policy.ts';

const OBS = 3;
const TA = 2; // chunk length
const DA = 1; // action dim
const C = TA * DA; // noise / chunk size per row
const B = 6;
const M = 1.5; // noise bound

/** actions = tanh(A obs + K noise) per row (C outputs), recording every call's inputs. */
class RecordingLinearPolicy implements NoisePolicy {
  readonly obsDim = OBS;
  readonly actDim = DA;
  readonly chunk = TA;
  readonly actionLow = Float32Array.of(-1);
  readonly actionHigh = Float32Array.of(1);
  readonly calls: { obs: Float32Array; noise: Float32Array; batch: number }[] = [];
  private readonly out = new Float32Array(64 * C); // reused across calls, as NoisePolicy allows
  readonly A: Float64Array;
  readonly K: Float64Array;

  constructor(seed: number) {
    const rng = Rng.fromSeed(seed);
    this.A = rng.fillNormal(new Float64Array(C * OBS), 0, 0.7);
    this.K = rng.fillNormal(new Float64Array(C * C), 0, 0.7);
  }

  /** The map itself, into a fresh array. */
  actions(obs: Float32Array, noise: Float32Array, batch: number, out = new Float32Array(batch * C)): Float32Array {
    for (let b = 0; b < batch; b++) {
      for (let j = 0; j < C; j++) {
        let z = 0;
        for (let k = 0; k < OBS; k++) z += this.A[j * OBS + k] * obs[b * OBS + k];
        for (let l = 0; l < C; l++) z += this.K[j * C + l] * noise[b * C + l];
        out[b * C + j] = Math.tanh(z);
      }
    }
    return out;
  }

  act(obs: Float32Array, noise: Float32Array, batch: number): Float32Array {
    this.calls.push({ obs: obs.slice(0, batch * OBS), noise: noise.slice(0, batch * C), batch });
    return this.actions(obs, noise, batch, this.out).subarray(0, batch * C);
  }
}

/** A fixed sequence of standard normals standing in for the agent's noise source; remembers how many were drawn. */
class FixedNormals {
  readonly values: Float64Array;
  used = 0;
  constructor(n: number, seed: string) {
    this.values = Rng.fromSeed(seed).fillNormal(new Float64Array(n));
  }
  normal(): number {
    if (this.used >= this.values.length) throw new Error('FixedNormals: sequence exhausted');
    return this.values[this.used++];
  }
  /** Offset of the block of n draws equal (as float32) to `noise`, searching from `from`; -1 if none. */
  offsetOf(noise: Float32Array, from = 0): number {
    for (let off = from; off + noise.length <= this.used; off++) {
      let same = true;
      for (let i = 0; i < noise.length && same; i++) same = noise[i] === Math.fround(this.values[off + i]);
      if (same) return off;
    }
    return -1;
  }
}

/** model's output for x with parameters `values` (restores the model's own parameters afterwards). */
function forwardWith(model: Model, values: Float32Array, x: Float32Array, rows: number): Float32Array {
  const keep = model.values.slice();
  model.values.set(values);
  const y = model.forward(x, rows).slice();
  model.values.set(keep);
  return y;
}

/** Gradient of sum_b dy[b] * model(x)[b] w.r.t. the parameters at `values` (restores values and grads). */
function gradWith(model: Model, values: Float32Array, x: Float32Array, rows: number, dy: Float32Array): Float64Array {
  const keepValues = model.values.slice();
  const keepGrads = model.grads.slice();
  model.values.set(values);
  model.forward(x, rows);
  model.zeroGrad();
  model.backward(Float32Array.from(dy), rows, { inputGrad: false });
  const g = Float64Array.from(model.grads);
  model.values.set(keepValues);
  model.grads.set(keepGrads);
  return g;
}

function concat(a: Float32Array, aDim: number, c: Float32Array, cDim: number, rows: number): Float32Array {
  const out = new Float32Array(rows * (aDim + cDim));
  for (let b = 0; b < rows; b++) {
    out.set(a.subarray(b * aDim, (b + 1) * aDim), b * (aDim + cDim));
    out.set(c.subarray(b * cDim, (b + 1) * cDim), b * (aDim + cDim) + aDim);
  }
  return out;
}

const mse = (q: ArrayLike<number>, t: ArrayLike<number>) => {
  let s = 0;
  for (let b = 0; b < B; b++) s += (q[b] - t[b]) ** 2 / B;
  return s;
};

/** d mean_b (q_b - t_b)^2 / d q_b, as tdLoss defines the loss (the mean squared error, not half of it). */
const mseGrad = (q: ArrayLike<number>, t: ArrayLike<number>) => Float32Array.from({ length: B }, (_, b) => (2 * (q[b] - t[b])) / B);

/**
 * Parameters after one Adam step from fresh moments with gradient g: m_hat = g, v_hat = g^2, so each moves by
 * -lr g / (|g| + eps) (= -lr sign(g)). Returns how many coordinates disagree; coordinates whose gradient is at
 * float32 noise level (|g| < 1e-5 max|g|) are left out, and the caller checks that few are.
 */
function firstAdamStepMismatches(before: Float32Array, after: Float32Array, g: Float64Array, lr: number): { bad: number; checked: number } {
  const gMax = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let bad = 0;
  let checked = 0;
  for (let k = 0; k < g.length; k++) {
    if (Math.abs(g[k]) < 1e-5 * gMax) continue;
    checked++;
    const want = -lr * (g[k] / (Math.abs(g[k]) + 1e-8));
    // float32 parameters of size <= 2: their difference is exact to ~2.4e-7 (1e-3 of lr here).
    if (Math.abs(after[k] - before[k] - want) > 0.01 * lr) bad++;
  }
  return { bad, checked };
}

/** The agent's noise actor written out: w = M tanh(mean + std eps), log pi_w(w|s) by change of variables. */
function handTanhGaussian(out: Float32Array, eps: ArrayLike<number>, cfg: DsrlNaConfig): { w: Float64Array; logp: Float64Array } {
  const w = new Float64Array(B * C);
  const logp = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < C; j++) {
      const mean = out[b * 2 * C + j];
      const logStd = cfg.logStdMin + 0.5 * (cfg.logStdMax - cfg.logStdMin) * (Math.tanh(out[b * 2 * C + C + j]) + 1);
      const e = eps[b * C + j];
      const u = mean + Math.exp(logStd) * e;
      const t = Math.tanh(u);
      w[b * C + j] = M * t;
      // density of u ~ N(mean, std), divided by |dw/du| = M (1 - tanh(u)^2)
      logp[b] += -0.5 * e * e - logStd - 0.5 * Math.log(2 * Math.PI) - Math.log(M * (1 - t * t));
    }
  }
  return { w, logp };
}

function makeBatch(seed: number): SampledBatch {
  const rng = Rng.fromSeed(seed);
  return {
    batchSize: B,
    indices: Int32Array.from({ length: B }, (_, i) => i),
    obs: rng.fillNormal(new Float32Array(B * OBS)),
    nextObs: rng.fillNormal(new Float32Array(B * OBS)),
    actions: rng.fillUniform(new Float32Array(B * C), -M, M), // the noise that was taken: must not be what Q_A sees
    rewards: rng.fillNormal(new Float32Array(B)),
    terminated: Uint8Array.of(0, 1, 0, 0, 1, 0),
    truncated: Uint8Array.of(0, 0, 1, 0, 0, 0), // a time-limit end: bootstraps
    fields: { realActions: rng.fillUniform(new Float32Array(B * C), -1, 1) },
  };
}

function setup(overrides: Partial<DsrlNaConfig>) {
  const cfg = dsrlNaDefaults(OBS, C, {
    actionMagnitude: M,
    actorHidden: [8],
    criticHidden: [8, 8],
    gamma: 0.9,
    initAlpha: 0.7,
    lr: 1e-3,
    ...overrides,
  });
  const base = new RecordingLinearPolicy(2);
  // maxBatch above B: the agent must use only the batch's rows of its buffers.
  const agent = new DsrlNA(cfg, base, Rng.fromSeed(1), 8);
  const noise = new FixedNormals(4096, 'dsrl-na-update');
  agent.noiseSource = noise;
  return { cfg, base, agent, noise };
}

/** The output layer's bias (the last parameter of a critic), as a view into model.values. */
function outputBias(model: Model): Float32Array {
  const [name, p] = model.params[model.params.length - 1];
  expect(name).toMatch(/bias$/);
  expect(p.size).toBe(1);
  return p.value;
}

describe('DSRL-NA update against hand-computed values', () => {
  it.each([2, 3])("Q_A regresses onto the soft TD target through the base policy at (s', w' ~ pi_w(s')), %i critics", async (numCritics) => {
    const { cfg, base, agent, noise } = setup({ numCritics, utd: 2, distillSteps: 1 });
    // Targets that differ from the online critics, and from each other row by row, so that using Q_A
    // instead of Qbar_A, or another reduction than min, changes the target.
    const perturb = Rng.fromSeed(3);
    const batch = makeBatch(4);
    const xProbe = concat(batch.nextObs, OBS, base.actions(batch.nextObs, agent.act(batch.nextObs, B, true), B), C, B);
    for (const t of agent.qaTargets) {
      for (let k = 0; k < t.values.length; k++) t.values[k] += 0.3 * perturb.normal();
      // centred on the batch, so that no member is the smallest in every row
      outputBias(t)[0] -= t.forward(xProbe, B).reduce((s, v) => s + v, 0) / B;
    }
    const pre = {
      actor: agent.actor.values.slice(),
      qa: agent.qa.map((m) => m.values.slice()),
      qaTargets: agent.qaTargets.map((m) => m.values.slice()),
      qw: agent.qw.map((m) => m.values.slice()),
      logAlpha: agent.logAlpha.values[0],
    };

    // The layout the hand computation assumes: the actor outputs [mean, raw log std]; the deterministic
    // noise is M tanh(mean).
    const actorOut = forwardWith(agent.actor, pre.actor, batch.nextObs, B);
    const det = agent.act(batch.nextObs, B, true);
    for (let i = 0; i < B * C; i++) expect(det[i]).toBeCloseTo(M * Math.tanh(actorOut[Math.floor(i / C) * 2 * C + (i % C)]), 6);
    expect(noise.used).toBe(0); // deterministic act draws nothing

    const info = await agent.update(batch);

    // The base policy ran once, on (s', w'), with w' a sample of pi_w(s') from the agent's noise source.
    expect(base.calls).toHaveLength(1);
    const call = base.calls[0];
    expect(call.batch).toBe(B);
    expect(Array.from(call.obs)).toEqual(Array.from(batch.nextObs));
    let hand: ReturnType<typeof handTanhGaussian> | null = null;
    for (let off = 0; off + B * C <= noise.used && !hand; off += B * C) {
      const h = handTanhGaussian(actorOut, noise.values.subarray(off, off + B * C), cfg);
      if (h.w.every((v, i) => Math.abs(v - call.noise[i]) < 1e-6)) hand = h;
    }
    expect(hand, "w' is M tanh(mean + std eps) for a block of the agent's normal draws").not.toBeNull();
    const { w: wNext, logp } = hand!;
    expect(wNext.every((v) => Math.abs(v) < M)).toBe(true);

    // The target, by hand: Qbar_A at (s', pi_dp(s', w')), min over members, minus alpha log pi_w(w'|s').
    const alpha = Math.exp(pre.logAlpha);
    expect(info['losses/alpha']).toBeCloseTo(alpha, 6);
    const aNext = base.actions(batch.nextObs, Float32Array.from(wNext), B);
    const qNext = (values: Float32Array[], models: Model[], input: Float32Array) => models.map((m, i) => forwardWith(m, values[i], input, B));
    const qbar = qNext(pre.qaTargets, agent.qaTargets, concat(batch.nextObs, OBS, aNext, C, B));
    const target = (v: { reduce?: 'min' | 'mean'; next?: Float32Array[]; doneOnTruncation?: boolean; entropy?: boolean } = {}) => {
      const next = v.next ?? qbar;
      return Float64Array.from({ length: B }, (_, b) => {
        const col = next.map((q) => q[b]);
        const reduced = (v.reduce ?? 'min') === 'min' ? Math.min(...col) : col.reduce((s, x) => s + x, 0) / col.length;
        const done = batch.terminated[b] === 1 || (v.doneOnTruncation === true && batch.truncated[b] === 1);
        return batch.rewards[b] + (done ? 0 : cfg.gamma * (reduced - (v.entropy === false ? 0 : alpha * logp[b])));
      });
    };
    const y = target();
    // Q_A on the executed chunks (realActions), not on the stored noise.
    const x = concat(batch.obs, OBS, batch.fields.realActions, C, B);
    const q = agent.qa.map((m, i) => forwardWith(m, pre.qa[i], x, B));
    const lossFor = (t: ArrayLike<number>, qs = q) => qs.reduce((s, qi) => s + mse(qi, t), 0) / qs.length;
    const expected = lossFor(y);
    expect(Math.abs(info['losses/qa_loss'] - expected)).toBeLessThan(1e-5 * expected);
    expect(info['losses/qa_values']).toBeCloseTo(q.reduce((s, qi) => s + qi.reduce((a, v) => a + v, 0) / B, 0) / numCritics, 5);

    // The check above can fail: each of these mistakes moves the loss by far more than its tolerance.
    const argmin = Array.from({ length: B }, (_, b) => qbar.reduce((best, qi, i) => (qi[b] < qbar[best][b] ? i : best), 0));
    expect(new Set(argmin.filter((_, b) => !batch.terminated[b])).size, 'the min picks different members in different rows').toBeGreaterThan(1);
    const online = qNext(pre.qa, agent.qa, concat(batch.nextObs, OBS, aNext, C, B));
    const skipBase = qNext(pre.qaTargets, agent.qaTargets, concat(batch.nextObs, OBS, Float32Array.from(wNext), C, B));
    const wrongActions = agent.qa.map((m, i) => forwardWith(m, pre.qa[i], concat(batch.obs, OBS, batch.actions, C, B), B));
    for (const [what, wrong] of [
      ['mean over members', lossFor(target({ reduce: 'mean' }))],
      ['online Q_A in the target', lossFor(target({ next: online }))],
      ["Q at the noise, not at the base policy's action", lossFor(target({ next: skipBase }))],
      ['truncation as terminal', lossFor(target({ doneOnTruncation: true }))],
      ['no entropy term', lossFor(target({ entropy: false }))],
      ['Q_A on the stored noise', lossFor(y, wrongActions)],
    ] as const) {
      expect(Math.abs(wrong - expected), what).toBeGreaterThan(1e-3 * expected);
    }

    // Each Q_A member took one Adam step on the gradient of that loss (the hand-computed target, not another).
    for (let i = 0; i < numCritics; i++) {
      const g = gradWith(agent.qa[i], pre.qa[i], x, B, mseGrad(q[i], y));
      const { bad, checked } = firstAdamStepMismatches(pre.qa[i], agent.qa[i].values, g, cfg.lr);
      expect(bad, `Q_A member ${i}`).toBe(0);
      expect(checked).toBeGreaterThan(0.9 * g.length);
      const gNoBootstrap = gradWith(agent.qa[i], pre.qa[i], x, B, mseGrad(q[i], batch.rewards));
      expect(firstAdamStepMismatches(pre.qa[i], agent.qa[i].values, gNoBootstrap, cfg.lr).bad, 'a wrong target is seen').toBeGreaterThan(0);
      // Polyak: Qbar <- (1 - tau) Qbar + tau Q_A (the updated Q_A).
      const t = agent.qaTargets[i].values;
      for (let k = 0; k < t.length; k++) expect(t[k]).toBeCloseTo((1 - cfg.tau) * pre.qaTargets[i][k] + cfg.tau * agent.qa[i].values[k], 6);
    }
    // No distillation before `utd` updates: Q_W untouched, no Q_W loss reported.
    agent.qw.forEach((m, i) => expect(Array.from(m.values)).toEqual(Array.from(pre.qw[i])));
    expect(info['losses/qw_loss']).toBeUndefined();
  });

  it('after utd updates, Q_W member i regresses onto Q_A member i at (s, pi_dp(s, w)) on fresh w ~ N(0, I)', async () => {
    const { cfg, base, agent, noise } = setup({ utd: 2, distillSteps: 1 });
    // Q_A members far apart, asymmetrically: +3 and -1.5 at the output. Distilling member i onto member i
    // pulls Q_W_0 up and Q_W_1 down; onto the min (or the mean, or crossed) it would pull both the same way
    // or swap them, and give another loss.
    outputBias(agent.qa[0])[0] += 3;
    outputBias(agent.qa[1])[0] -= 1.5;
    const batch = makeBatch(5);
    const qw0 = agent.qw.map((m) => m.values.slice());

    const first = await agent.update(batch);
    expect(first['losses/qw_loss']).toBeUndefined();
    agent.qw.forEach((m, i) => expect(Array.from(m.values)).toEqual(Array.from(qw0[i])));
    const drawnBefore = noise.used;
    const callsBefore = base.calls.length;
    const info = await agent.update(batch); // the utd-th update: one distillation step

    // The distillation call: the batch's s (not s'), with a block of N(0, I) draws made in this update.
    const distillCalls = base.calls.slice(callsBefore).filter((c) => c.obs.every((v, i) => v === batch.obs[i]));
    expect(distillCalls).toHaveLength(1);
    const w = distillCalls[0].noise;
    const offset = noise.offsetOf(w, drawnBefore);
    expect(offset, 'w is raw standard normals drawn in this update').toBeGreaterThanOrEqual(drawnBefore);

    // By hand: targets t_i = Q_A_i(s, pi_dp(s, w)) with Q_A as it is now (distillation does not change it).
    const xa = concat(batch.obs, OBS, base.actions(batch.obs, w, B), C, B);
    const t = agent.qa.map((m) => forwardWith(m, m.values, xa, B));
    const xw = concat(batch.obs, OBS, w, C, B);
    const qw = agent.qw.map((m, i) => forwardWith(m, qw0[i], xw, B));
    const expected = (mse(qw[0], t[0]) + mse(qw[1], t[1])) / 2;
    expect(Math.abs(info['losses/qw_loss'] - expected)).toBeLessThan(1e-5 * expected);
    const crossed = (mse(qw[0], t[1]) + mse(qw[1], t[0])) / 2;
    const tMin = Float64Array.from({ length: B }, (_, b) => Math.min(t[0][b], t[1][b]));
    const onMin = (mse(qw[0], tMin) + mse(qw[1], tMin)) / 2;
    expect(Math.abs(crossed - expected)).toBeGreaterThan(0.1 * expected);
    expect(Math.abs(onMin - expected)).toBeGreaterThan(0.1 * expected);

    // One Adam step of each Q_W member on the gradient toward its own Q_A member.
    for (let i = 0; i < 2; i++) {
      const g = gradWith(agent.qw[i], qw0[i], xw, B, mseGrad(qw[i], t[i]));
      const { bad, checked } = firstAdamStepMismatches(qw0[i], agent.qw[i].values, g, cfg.lr);
      expect(bad, `Q_W member ${i}`).toBe(0);
      expect(checked).toBeGreaterThan(0.9 * g.length);
      const gCrossed = gradWith(agent.qw[i], qw0[i], xw, B, mseGrad(qw[i], t[1 - i]));
      expect(firstAdamStepMismatches(qw0[i], agent.qw[i].values, gCrossed, cfg.lr).bad, 'crossed members are seen').toBeGreaterThan(0);
    }
    expect(outputBias(agent.qw[0])[0]).toBeGreaterThan(qw0[0][qw0[0].length - 1]);
    expect(outputBias(agent.qw[1])[0]).toBeLessThan(qw0[1][qw0[1].length - 1]);
  });

  it('every distillation step draws fresh noise, and each Q_W member converges to its own Q_A member', async () => {
    const { base, agent, noise } = setup({ utd: 1, distillSteps: 3, lr: 1e-2 });
    outputBias(agent.qa[0])[0] += 3;
    outputBias(agent.qa[1])[0] -= 3;
    const batch = makeBatch(6);
    // Held-out noise for measuring the gap |Q_W_i(s, w) - Q_A_j(s, pi_dp(s, w))|.
    const wEval = Rng.fromSeed('held-out').fillNormal(new Float32Array(B * C));
    const xa = concat(batch.obs, OBS, base.actions(batch.obs, wEval, B), C, B);
    const xw = concat(batch.obs, OBS, wEval, C, B);
    const gap = (i: number, j: number) => {
      const qw = agent.qw[i].forward(xw, B).slice();
      const qa = agent.qa[j].forward(xa, B);
      return qw.reduce((s, v, b) => s + Math.abs(v - qa[b]), 0) / B;
    };
    const before = [gap(0, 0), gap(1, 1)];

    const offsets: number[] = [];
    for (let u = 0; u < 15; u++) {
      const drawnBefore = noise.used;
      const callsBefore = base.calls.length;
      const info = await agent.update(batch);
      expect(info['losses/qw_loss']).toBeGreaterThanOrEqual(0);
      // The distillation steps may share one base-policy call (their targets do not depend on each other):
      // rows of the batch's s repeated, each step's B rows with its own block of noise.
      const calls = base.calls.slice(callsBefore).filter((c) => c.obs.every((v, i) => v === batch.obs[i % (B * OBS)]));
      const blocks = calls.flatMap((c) => Array.from({ length: c.batch / B }, (_, k) => c.noise.subarray(k * B * C, (k + 1) * B * C)));
      expect(blocks).toHaveLength(3);
      let from = drawnBefore;
      for (const block of blocks) {
        const off = noise.offsetOf(block, from);
        expect(off, `update ${u}: distillation noise is a new block of N(0, I) draws`).toBeGreaterThanOrEqual(from);
        offsets.push(off);
        from = off + B * C;
      }
    }
    expect(new Set(offsets).size).toBe(offsets.length);

    // Each member closed most of the gap to its own Q_A member and stays far from the other one.
    const after = [gap(0, 0), gap(1, 1)];
    if (process.env.DSRL_TEST_VERBOSE) console.log(`Q_W-Q_A gaps before ${before.map((v) => v.toFixed(3))}, after ${after.map((v) => v.toFixed(3))}`);
    for (let i = 0; i < 2; i++) {
      expect(after[i], `member ${i}`).toBeLessThan(0.3 * before[i]);
      expect(gap(i, 1 - i), `member ${i} vs the other Q_A member`).toBeGreaterThan(3);
    }
  });
});
