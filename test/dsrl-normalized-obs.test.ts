import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NoiseActionVectorEnv, onNormalizedObs } from '../src/algos/dsrl/noise-action-env.ts';
import { Rng } from '../src/core/rng.ts';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { SyncVectorEnv, type VectorEnv } from '../src/envs/vector.ts';
import { ActionChunk, TimeLimit } from '../src/envs/wrappers.ts';
import { readSafetensors } from '../src/node/safetensors-io.ts';
import { ObsNormalizer } from '../src/policies/diffusion/normalization.ts';
import { createDiffusionNetwork, DiffusionPolicy } from '../src/policies/diffusion/policy.ts';
import type { NoisePolicy } from '../src/policies/policy.ts';
import { parseSteerConfig, steer } from '../src/run/steer.ts';

// Stats that make the normalization far from the identity on Reach1D's [-1, 1] observations.
const stats = { min: Float32Array.from([-2, -0.5]), max: Float32Array.from([1, 3]) };

function policy(): DiffusionPolicy {
  const spec = { obsDim: 2, actDim: 1, chunk: 2, denoisingSteps: 10, ddimSteps: 3, timeDim: 8, width: 16, depth: 1 };
  return new DiffusionPolicy({
    spec,
    obsStats: stats,
    actionLow: [-1],
    actionHigh: [1],
    weights: createDiffusionNetwork(spec, Rng.fromSeed(5)).values,
  });
}

const reach = async (n: number, chunk: number): Promise<VectorEnv> =>
  new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new TimeLimit(new Reach1D(), 12), chunk)));

describe('DSRL agents on normalized observations', () => {
  it('the normalizer inverts to float rounding, and the base policy on normalized observations acts as on raw ones', () => {
    const p = policy();
    const norm = new ObsNormalizer(stats);
    const raw = Rng.fromSeed(1).fillUniform(new Float32Array(6 * 2), -1, 1);
    const normalized = new Float32Array(raw.length);
    norm.apply(raw, 6, normalized);
    expect(normalized[0]).not.toBeCloseTo(raw[0], 2);
    const back = new Float32Array(raw.length);
    norm.invert(normalized, 6, back);
    for (let i = 0; i < raw.length; i++) expect(back[i]).toBeCloseTo(raw[i], 6);
    const noise = Rng.fromSeed(2).fillNormal(new Float32Array(6 * 2));
    const expected = p.act(raw, noise, 6).slice();
    const got = onNormalizedObs(p, norm).act(normalized, noise, 6) as Float32Array;
    for (let i = 0; i < expected.length; i++) expect(got[i]).toBeCloseTo(expected[i], 5);
    expect(() => onNormalizedObs(p, new ObsNormalizer({ min: new Float32Array(3), max: new Float32Array(3).fill(1) }))).toThrow(
      /normalizer has dim 3, the base policy 2/,
    );
  });

  it('NoiseActionVectorEnv with a normalizer shows the agent normalized observations and runs the same chunks as without', async () => {
    const p = policy();
    const norm = new ObsNormalizer(stats);
    const plain = new NoiseActionVectorEnv(await reach(3, 2), p, 1.5);
    const normalized = new NoiseActionVectorEnv(await reach(3, 2), p, 1.5, norm);
    const a = await plain.reset({ seed: 4 });
    const b = await normalized.reset({ seed: 4 });
    const expectNormalized = (rawObs: Float32Array, seen: Float32Array) => {
      const want = new Float32Array(rawObs.length);
      norm.apply(rawObs, 3, want);
      expect(Array.from(seen)).toEqual(Array.from(want));
    };
    expectNormalized(a.obs, b.obs);
    // The agent's space is the raw Box [-1, 1]^2 moved by the same map: 2 * ((o - min) / (max - min) - 0.5).
    const box = normalized.singleObservationSpace;
    [-1 / 3, -9 / 7].forEach((v, j) => expect(box.low[j]).toBeCloseTo(v, 5));
    [1, -1 / 7].forEach((v, j) => expect(box.high[j]).toBeCloseTo(v, 5));
    expect(normalized.observationSpace.shape).toEqual([3, 2]);
    expect(plain.singleObservationSpace).toBe(plain.inner.singleObservationSpace);
    for (let i = 0; i < b.obs.length; i++) expect(b.obs[i] >= box.low[i % 2] - 1e-6 && b.obs[i] <= box.high[i % 2] + 1e-6).toBe(true);
    const rng = Rng.fromSeed(6);
    for (let k = 0; k < 8; k++) {
      const w = rng.fillUniform(new Float32Array(3 * 2), -1.5, 1.5);
      const sa = await plain.step(w);
      const sb = await normalized.step(w);
      expect(Array.from(normalized.lastActions)).toEqual(Array.from(plain.lastActions));
      expect(Array.from(sb.rewards)).toEqual(Array.from(sa.rewards));
      expectNormalized(sa.obs, sb.obs);
    }
    await plain.close();
    await normalized.close();
  });

  it('steer normalizeObs: DSRL-NA and DSRL-SAC train on it and say so; other algos and policies without statistics are refused', async () => {
    const config = {
      env: 'Reach1D',
      steps: 60,
      learningStarts: 20,
      numEnvs: 2,
      batchSize: 8,
      utd: 1,
      distillSteps: 1,
      actorHidden: [8],
      criticHidden: [8],
      evalEvery: 0,
      evalEpisodes: 2,
      quiet: true,
      normalizeObs: true,
    };
    for (const algo of ['na', 'sac'] as const) {
      const out = join(mkdtempSync(join(tmpdir(), 'dsrl-normobs-')), 'run');
      const res = await steer({ ...config, algo, out }, policy(), reach);
      expect(res.step).toBeGreaterThanOrEqual(60);
      expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).normalizeObs).toBe(true);
      expect(readSafetensors(join(out, 'last', 'actor.safetensors')).metadata?.observations).toMatch(
        /normalized with the base policy's observation statistics/,
      );
    }
    // Unset: on for the DSRL agents when the policy declares statistics, as the reference; config.json says which.
    const saved = async (extra: object, p: NoisePolicy) => {
      const res = await steer(
        { ...config, normalizeObs: undefined, ...extra, out: join(mkdtempSync(join(tmpdir(), 'dsrl-normobs-')), 'run') },
        p,
        reach,
      );
      return JSON.parse(readFileSync(join(res.dir, 'config.json'), 'utf8')).normalizeObs;
    };
    expect(parseSteerConfig({ ...config, normalizeObs: undefined }).normalizeObs).toBeUndefined();
    expect(await saved({ algo: 'sac' }, policy())).toBe(true);
    expect(await saved({ algo: 'na', normalizeObs: false }, policy())).toBe(false);
    expect(await saved({ algo: 'residual' }, policy())).toBe(false);
    expect(() => parseSteerConfig({ ...config, algo: 'residual' })).toThrow(
      /normalizeObs is for the DSRL agents \(algo "na" or "sac"\), not algo "residual"/,
    );
    const p = policy();
    const bare: NoisePolicy = { obsDim: 2, actDim: 1, chunk: 2, actionLow: p.actionLow, actionHigh: p.actionHigh, act: (o, w, b) => p.act(o, w, b) };
    const out = join(mkdtempSync(join(tmpdir(), 'dsrl-normobs-')), 'run');
    await expect(steer({ ...config, out }, bare, reach)).rejects.toThrow(
      /normalizeObs needs the base policy's observation statistics, and this policy declares none/,
    );
    expect(existsSync(out)).toBe(false);
    expect(await saved({ algo: 'na' }, bare)).toBe(false);
  });
});
