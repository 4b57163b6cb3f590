import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NoiseActionVectorEnv } from '../src/algos/dsrl/noise-action-env.ts';
import { ResidualActionVectorEnv } from '../src/algos/residual-sac.ts';
import { Rng } from '../src/core/rng.ts';
import { BimodalChoice } from '../src/envs/toy/bimodal.ts';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { SyncVectorEnv, type VectorEnv } from '../src/envs/vector.ts';
import { ActionChunk, TimeLimit } from '../src/envs/wrappers.ts';
import { createDiffusionNetwork, DiffusionPolicy } from '../src/policies/diffusion/policy.ts';
import { latestCheckpoint, listCheckpoints, TRAIN_STATE_DIR } from '../src/run/checkpoint.ts';
import { readCheckpoint } from '../src/run/checkpoint-restore.ts';
import { WALL_CLOCK_METRICS } from '../src/run/metrics-format.ts';
import { readMetrics } from '../src/run/metrics.ts';
import { noiseTargetEntropy } from '../src/algos/spec.ts';
import { evaluateRun } from '../src/run/evaluate-run.ts';
import { steer } from '../src/run/steer.ts';

/** A small untrained diffusion policy: resume exactness does not depend on what it learned. */
function tinyPolicy(obsDim: number, actDim: number, chunk: number, seed: number): DiffusionPolicy {
  const spec = { obsDim, actDim, chunk, denoisingSteps: 10, ddimSteps: 3, timeDim: 8, width: 16, depth: 1 };
  return new DiffusionPolicy({
    spec,
    obsStats: { min: new Float32Array(obsDim).fill(-1), max: new Float32Array(obsDim).fill(1) },
    actionLow: new Array(actDim).fill(-1),
    actionHigh: new Array(actDim).fill(1),
    weights: createDiffusionNetwork(spec, Rng.fromSeed(seed)).values,
  });
}

const bimodal = async (n: number, chunk: number): Promise<VectorEnv> =>
  new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new BimodalChoice(), chunk)));
const REACH_EPISODE = 15;
const reach = async (n: number, chunk: number): Promise<VectorEnv> =>
  new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new TimeLimit(new Reach1D(), REACH_EPISODE), chunk)));
const tempRun = () => join(mkdtempSync(join(tmpdir(), 'dsrl-steer-resume-')), 'run');

const STATE_FILES = ['agent.safetensors', 'replay.safetensors', 'env.safetensors', 'loop.safetensors', 'run.safetensors'];

/** metrics.jsonl rows without the wall-clock parts. */
function loggedMetrics(run: string): unknown[] {
  return readMetrics(run).map((row) => {
    const values = Object.fromEntries(Object.entries(row.values).filter(([name]) => !WALL_CLOCK_METRICS.includes(name)));
    return { step: row.step, values };
  });
}

function expectSameRun(uninterrupted: string, resumed: string): void {
  const a = latestCheckpoint(join(uninterrupted, TRAIN_STATE_DIR))!;
  const b = latestCheckpoint(join(resumed, TRAIN_STATE_DIR))!;
  expect(b.split('/').pop()).toBe(a.split('/').pop());
  for (const file of STATE_FILES) expect(readFileSync(join(b, file)).equals(readFileSync(join(a, file))), file).toBe(true);
  for (const file of ['last/actor.safetensors', 'best/actor.safetensors', 'summary.json']) {
    expect(readFileSync(join(resumed, file)).equals(readFileSync(join(uninterrupted, file))), file).toBe(true);
  }
  expect(loggedMetrics(resumed)).toStrictEqual(loggedMetrics(uninterrupted));
}

const common = {
  env: 'BimodalChoice',
  steps: 360,
  seed: 3,
  numEnvs: 2,
  learningStarts: 60,
  utd: 2,
  distillSteps: 2,
  batchSize: 32,
  actorHidden: [16],
  criticHidden: [16],
  evalEvery: 120,
  evalEpisodes: 4,
  logEvery: 30,
  checkpointEvery: 100,
  quiet: true,
};

describe('steer: exact resume', () => {
  for (const algo of ['na', 'sac'] as const) {
    it(`DSRL-${algo.toUpperCase()} on the bimodal toy: stopped twice and resumed, it ends bit-identical to an uninterrupted run`, async () => {
      const policy = tinyPolicy(1, 2, 1, 7);
      const config = { ...common, algo };
      const uninterrupted = tempRun();
      const full = await steer({ ...config, out: uninterrupted }, policy, bimodal);
      expect(full.step).toBeGreaterThanOrEqual(360);
      expect(full.evals.map((e) => e.step)).toEqual([120, 240, 360]);

      const run = tempRun();
      const first = await steer({ ...config, out: run, stopAfter: 150 }, policy, bimodal);
      expect(first.step).toBe(150);
      expect(Math.max(...readMetrics(run).map((r) => r.step))).toBeGreaterThan(100); // logged past the checkpoint: resume cuts it back
      const saved = readCheckpoint(latestCheckpoint(join(run, TRAIN_STATE_DIR))!);
      expect(saved.manifest.kind).toBe(`dsrl-${algo}`);
      expect(saved.manifest.buffer.fields).toEqual(algo === 'na' ? { realActions: 2 } : {});
      expect(saved.loop.metrics.count).toBeGreaterThan(0); // between log points

      const second = await steer({ resume: true, quiet: true, out: run, stopAfter: 260 }, policy, bimodal);
      expect([second.resumedFrom, second.step]).toEqual([100, 260]);
      const third = await steer({ resume: true, quiet: true, out: run }, policy, bimodal);
      expect(third.resumedFrom).toBe(200);
      expect(third.step).toBe(full.step);
      expect(third.evals).toStrictEqual(full.evals);
      expect(third.base).toStrictEqual(full.base);
      expectSameRun(uninterrupted, run);
    });
  }

  for (const algo of ['residual', 'na'] as const) {
    it(`${algo === 'na' ? 'DSRL-NA' : 'residual SAC'} on a chunked Reach1D: a checkpoint taken mid-episode resumes bit-identically`, async () => {
      const policy = tinyPolicy(2, 1, 3, 11);
      const config = { ...common, env: 'Reach1D', algo, steps: 300, learningStarts: 45, evalEvery: 150, checkpointEvery: 100 };
      const uninterrupted = tempRun();
      const full = await steer({ ...config, out: uninterrupted }, policy, reach);
      const run = tempRun();
      await steer({ ...config, out: run, stopAfter: 120 }, policy, reach);
      const saved = readCheckpoint(latestCheckpoint(join(run, TRAIN_STATE_DIR))!);
      expect(saved.loop.state.runningLength.some((l) => l > 0 && l < REACH_EPISODE)).toBe(true);
      expect(saved.loop.state.episodes).toBeGreaterThan(0); // truncations and autoresets happened before it
      // Residual SAC observes [s, a_base] and acts with one chunk of corrections; DSRL-NA observes s and acts with a chunk of noise.
      expect(saved.manifest.dims).toEqual({ obsDim: algo === 'residual' ? 2 + 3 : 2, actDim: 3, numEnvs: 2 });
      const resumed = await steer({ resume: true, quiet: true, out: run }, policy, reach);
      expect([resumed.resumedFrom, resumed.step]).toEqual([102, full.step]); // 6 env steps per vector step (2 envs x chunk 3)
      expect(listCheckpoints(join(run, TRAIN_STATE_DIR)).at(-1)!.step).toBe(full.step);
      expectSameRun(uninterrupted, run);
    });
  }

  it('refuses a resume without a checkpoint, with changed hyperparameters, or with another policy', async () => {
    const policy = tinyPolicy(1, 2, 1, 7);
    const run = tempRun();
    await steer({ ...common, steps: 40, learningStarts: 20, evalEvery: 0, checkpointEvery: 0, out: run }, policy, bimodal);
    await expect(steer({ resume: true, quiet: true, out: run }, policy, bimodal)).rejects.toThrow(
      /no checkpoint in .*train-state \(a run is resumable when started with checkpointEvery/,
    );
    const withCheckpoint = tempRun();
    await steer({ ...common, steps: 40, learningStarts: 20, evalEvery: 0, checkpointEvery: 20, out: withCheckpoint }, policy, bimodal);
    await expect(steer({ resume: true, quiet: true, out: withCheckpoint, utd: 5 }, policy, bimodal)).rejects.toThrow(
      /with utd = 5: the run was started with 2 \(config\.json\)/,
    );
    await expect(steer({ resume: true, quiet: true, out: withCheckpoint, algo: 'sac' }, policy, bimodal)).rejects.toThrow(
      /with algo = "sac": the run was started with "na"/,
    );
    const otherChunk = tinyPolicy(1, 2, 2, 7);
    const chunked = async (n: number) => bimodal(n, 2);
    await expect(steer({ resume: true, quiet: true, out: withCheckpoint }, otherChunk, chunked)).rejects.toThrow(
      /saved with obs dim 1, action dim 2, 2 envs, but this run has obs dim 1, action dim 4/,
    );
    // A finished run continues with a raised budget.
    const longer = await steer({ resume: true, quiet: true, out: withCheckpoint, steps: 60 }, policy, bimodal);
    expect([longer.resumedFrom, longer.step]).toEqual([40, 60]);
  });
});

describe('steer: temperature target', () => {
  it("is set on w / M (the reference's convention): on the noise w itself it is C ln M higher", () => {
    // A uniform law on [-M, M]^C has entropy C ln(2M); on [-1, 1]^C, C ln 2.
    const C = 12;
    const M = 1.5;
    expect(noiseTargetEntropy(C * Math.log(2), C, M)).toBeCloseTo(C * Math.log(2 * M), 12);
    expect(noiseTargetEntropy(0, C, 1)).toBe(0);
  });

  it('a run folder saved before targetEntropy and normalizeObs existed evaluates as it trained (raw observations)', async () => {
    const policy = tinyPolicy(1, 2, 1, 7);
    const run = tempRun();
    const trained = await steer(
      { ...common, algo: 'na', steps: 120, learningStarts: 40, evalEvery: 60, normalizeObs: false, out: run },
      policy,
      bimodal,
    );
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as Record<string, unknown>;
    delete config.targetEntropy;
    delete config.normalizeObs;
    writeFileSync(join(run, 'config.json'), JSON.stringify(config));
    // This policy declares observation statistics, so a missing normalizeObs must not read as today's default (on).
    const res = await evaluateRun({ run, agent: 'last', episodes: common.evalEpisodes, seed: 10_000, parallel: 5 }, policy, async (_id, n, chunk) =>
      bimodal(n, chunk ?? 1),
    );
    expect(res.returns).toEqual(trained.evals.at(-1)!.returns);
  });
});

describe('vector env state', () => {
  it('NoiseActionVectorEnv and ResidualActionVectorEnv continue bit-identically from getState()', async () => {
    const policy = tinyPolicy(2, 1, 3, 5);
    const rng = Rng.fromSeed(9);
    const drive = async (env: VectorEnv, steps: number, r: Rng) => {
      const out: Float32Array[] = [];
      for (let k = 0; k < steps; k++) {
        const step = await env.step(r.fillUniform(new Float32Array(env.actionSpace.size), -0.3, 0.3));
        out.push(step.obs, Float32Array.from(step.rewards));
      }
      return out;
    };
    for (const build of [
      async () => new NoiseActionVectorEnv(await reach(2, 3), policy, 1.5),
      async () => new ResidualActionVectorEnv(await reach(2, 3), policy, 0.2, Rng.fromSeed(4)),
    ]) {
      const a = await build();
      await a.reset({ seed: 1 });
      await drive(a, 7, rng);
      const state = await a.getState();
      const actionsRng = Rng.fromState(rng.state());
      const expected = await drive(a, 9, rng);
      const b = await build();
      await b.setState(state);
      expect(await drive(b, 9, actionsRng)).toStrictEqual(expected);
      await expect(b.setState({ ...state, type: 'Other' })).rejects.toThrow(/saved by 'Other'/);
    }
  });
});
