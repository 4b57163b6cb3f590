import { describe, expect, it } from 'vitest';
import { SAC, TanhGaussian, sacDefaults, type SacBatch } from '../src/algos/sac.ts';
import { Rng } from '../src/core/rng.ts';

describe('tanh-Gaussian head', () => {
  it('log-probability matches the closed form of a squashed, scaled Gaussian', () => {
    const d = 3;
    const low = [-1, -2, 0];
    const high = [1, 2, 4];
    const head = new TanhGaussian(4, d, low, high, -5, 2);
    const out = Rng.fromSeed(1).fillNormal(new Float32Array(4 * 2 * d), 0, 0.7) as Float32Array;
    head.sample(out, 4, Rng.fromSeed(2));
    for (let b = 0; b < 4; b++) {
      let lp = 0;
      for (let j = 0; j < d; j++) {
        const mean = out[b * 2 * d + j];
        const logStd = -5 + 0.5 * 7 * (Math.tanh(out[b * 2 * d + d + j]) + 1);
        const std = Math.exp(logStd);
        const scale = (high[j] - low[j]) / 2;
        const shift = (high[j] + low[j]) / 2;
        const a = head.action[b * d + j];
        const t = (a - shift) / scale; // tanh(u)
        const u = Math.atanh(t);
        // density of a = scale * tanh(u) + shift with u ~ N(mean, std): change of variables
        lp += -0.5 * ((u - mean) / std) ** 2 - Math.log(std) - 0.5 * Math.log(2 * Math.PI) - Math.log(scale * (1 - t * t));
        expect(a).toBeGreaterThanOrEqual(low[j]);
        expect(a).toBeLessThanOrEqual(high[j]);
      }
      expect(head.logProb[b]).toBeCloseTo(lp, 3);
    }
  });

  it('backward matches finite differences of the head loss', () => {
    const d = 2;
    const rows = 3;
    const head = new TanhGaussian(rows, d, [-1, -1], [1, 1], -5, 2);
    const out = Rng.fromSeed(3).fillNormal(new Float64Array(rows * 2 * d), 0, 0.5);
    const wA = Rng.fromSeed(4).fillNormal(new Float32Array(rows * d)) as Float32Array;
    const wL = Rng.fromSeed(5).fillNormal(new Float32Array(rows)) as Float32Array;
    const lossAt = (o: Float64Array) => {
      head.sample(Float32Array.from(o), rows, Rng.fromSeed(6)); // same eps every time: reparameterised
      let s = 0;
      for (let i = 0; i < rows * d; i++) s += wA[i] * head.action[i];
      for (let b = 0; b < rows; b++) s += wL[b] * head.logProb[b];
      return s;
    };
    lossAt(out);
    const g = head.backward(rows, wA, wL).slice();
    for (let i = 0; i < out.length; i++) {
      const h = 1e-3;
      const p = out.slice();
      p[i] += h;
      const m = out.slice();
      m[i] -= h;
      const num = (lossAt(p) - lossAt(m)) / (2 * h);
      expect(Math.abs(num - g[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(num)));
    }
  });
});

function randomBatch(rng: Rng, B: number, obsDim: number, actDim: number): SacBatch {
  return {
    batchSize: B,
    obs: rng.fillNormal(new Float32Array(B * obsDim)) as Float32Array,
    nextObs: rng.fillNormal(new Float32Array(B * obsDim)) as Float32Array,
    actions: rng.fillUniform(new Float32Array(B * actDim), -1, 1) as Float32Array,
    rewards: rng.fillNormal(new Float32Array(B)) as Float32Array,
    terminated: new Uint8Array(B),
  };
}

describe('SAC update', () => {
  it('targets start equal to critics and follow them by Polyak averaging with tau', () => {
    const sac = new SAC(sacDefaults(4, 2, { actorHidden: [16], criticHidden: [16], tau: 0.1 }), Rng.fromSeed(1), 8);
    for (let i = 0; i < 2; i++) expect(Array.from(sac.targets[i].values)).toEqual(Array.from(sac.critics[i].values));
    const before = sac.targets.map((t) => t.values.slice());
    sac.update(randomBatch(Rng.fromSeed(2), 8, 4, 2));
    for (let i = 0; i < 2; i++) {
      const c = sac.critics[i].values;
      const t = sac.targets[i].values;
      for (let k = 0; k < t.length; k += 7) expect(t[k]).toBeCloseTo(0.9 * before[i][k] + 0.1 * c[k], 5);
    }
  });

  it('critic target ignores the next state after termination but bootstraps otherwise', () => {
    // With terminated = 1 the target is the reward: critics trained on a fixed batch converge to it.
    const sac = new SAC(sacDefaults(2, 1, { actorHidden: [16], criticHidden: [32], criticLr: 3e-3 }), Rng.fromSeed(3), 4);
    const batch: SacBatch = {
      batchSize: 4,
      obs: new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]),
      nextObs: new Float32Array([5, 5, 5, 5, 5, 5, 5, 5]),
      actions: new Float32Array([0.1, -0.2, 0.3, 0.5]),
      rewards: new Float32Array([1, 2, 3, 4]),
      terminated: new Uint8Array([1, 1, 1, 1]),
    };
    for (let i = 0; i < 600; i++) sac.updateCritics(batch);
    const x = new Float32Array([0, 0, 0.1, 1, 0, -0.2, 0, 1, 0.3, 1, 1, 0.5]);
    const q = sac.critics[0].forward(x, 4);
    for (let b = 0; b < 4; b++) expect(q[b]).toBeCloseTo(b + 1, 1);
  });

  it('the actor moves toward the action the critic prefers', { tags: ['learning'] }, () => {
    // Q(s, a) is trained to prefer a = +0.8; the actor's deterministic action then moves there.
    const sac = new SAC(
      sacDefaults(1, 1, { actorHidden: [32], criticHidden: [32], initAlpha: 0.01, actorLr: 3e-3, criticLr: 3e-3 }),
      Rng.fromSeed(4),
      64,
    );
    const rng = Rng.fromSeed(5);
    const B = 64;
    for (let it = 0; it < 2000; it++) {
      const actions = rng.fillUniform(new Float32Array(B), -1, 1) as Float32Array;
      const rewards = actions.map((a) => -((a - 0.8) ** 2));
      sac.update({ batchSize: B, obs: new Float32Array(B), nextObs: new Float32Array(B), actions, rewards, terminated: new Uint8Array(B).fill(1) });
    }
    // E[a] under the policy is what the soft objective puts at the optimum (tanh of the mean is biased outward).
    const obs = new Float32Array(B);
    let mean = 0;
    for (let k = 0; k < 20; k++) for (const a of sac.act(obs, B, false, rng)) mean += a / (20 * B);
    expect(mean).toBeCloseTo(0.8, 1);
  });

  it('state round trip continues bit-identically', () => {
    const mk = () => new SAC(sacDefaults(3, 2, { actorHidden: [8], criticHidden: [8] }), Rng.fromSeed(7), 16);
    const a = mk();
    const batch = randomBatch(Rng.fromSeed(8), 16, 3, 2);
    a.update(batch);
    const b = mk();
    b.load(a.state());
    const ia = a.update(batch);
    const ib = b.update(batch);
    expect(ib).toEqual(ia);
    expect(Array.from(b.actor.values)).toEqual(Array.from(a.actor.values));
    const wrong = new SAC(sacDefaults(3, 2, { actorHidden: [9], criticHidden: [8] }), Rng.fromSeed(7), 16);
    expect(() => wrong.load(a.state())).toThrow(/actor has/);
  });
});
