import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { createD4rlDataset } from '../src/data/d4rl.ts';
import { writeD4rl } from '../src/data/hdf5.ts';
import { BimodalChoice } from '../src/envs/toy/bimodal.ts';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { Box } from '../src/envs/spaces.ts';
import { SyncVectorEnv, type VectorEnv } from '../src/envs/vector.ts';
import { ActionChunk, TimeLimit } from '../src/envs/wrappers.ts';
import { createDiffusionNetwork, DiffusionPolicy } from '../src/policies/diffusion/policy.ts';
import { buildChunkData, DiffusionTrainer } from '../src/policies/diffusion/train.ts';
import { latestCheckpoint, TRAIN_STATE_DIR } from '../src/run/checkpoint.ts';
import { readCheckpoint } from '../src/run/checkpoint-restore.ts';
import { readMetrics } from '../src/run/metrics.ts';
import { steer } from '../src/run/steer.ts';
import { collectScripted } from '../src/run/collect.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';

const temp = () => mkdtempSync(join(tmpdir(), 'dsrl-steer-offline-'));
const bimodal = async (n: number, chunk: number): Promise<VectorEnv> =>
  new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new BimodalChoice(), chunk)));

/** Demonstrations split evenly between (+0.6, +0.6) (reward 1) and (-0.6, -0.6) (reward 0), one step each. */
function bimodalData(n: number, seed: number) {
  const rng = Rng.fromSeed(seed);
  const obs = rng.fillUniform(new Float32Array(n), -1, 1);
  const actions = new Float32Array(2 * n);
  const rewards = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const plus = rng.uniform() < 0.5;
    actions.fill(plus ? 0.6 : -0.6, 2 * i, 2 * i + 2);
    rewards[i] = plus ? 1 : 0;
  }
  return createD4rlDataset({
    obsDim: 1,
    actionDim: 2,
    observations: obs,
    actions,
    rewards,
    nextObservations: obs,
    terminals: new Uint8Array(n).fill(1),
    timeouts: new Uint8Array(n),
  });
}

describe('DSRL-NA with offline data', () => {
  let base: DiffusionPolicy;
  let dataPath: string;
  beforeAll(async () => {
    // The bimodal toy's base policy (as test/dsrl-toy.test.ts): cloned from the demonstrations, rewards ignored.
    const demos = bimodalData(2000, 0);
    const data = buildChunkData(demos, { chunk: 1, tail: 'skip', actionLow: [-1, -1], actionHigh: [1, 1] });
    const spec = { obsDim: 1, actDim: 2, chunk: 1, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 64, depth: 2 };
    const trainer = new DiffusionTrainer(spec, data, { steps: 2500, batchSize: 256, lr: 1e-3, seed: 0, emaDecay: 0.99, emaEvery: 1, emaStart: 1500 });
    for (let i = 0; i < 2500; i++) trainer.trainStep();
    base = trainer.policy();
    dataPath = join(temp(), 'bimodal.h5');
    await writeD4rl(dataPath, bimodalData(1000, 1));
  });

  it('offlineOnly: learns the rewarded mode from the offline data alone, with no env step', { tags: ['learning'] }, async () => {
    const res = await steer(
      {
        env: 'BimodalChoice',
        algo: 'na',
        offline: dataPath,
        offlineOnly: 1200,
        numEnvs: 4,
        actionMagnitude: 2,
        utd: 2,
        distillSteps: 4,
        batchSize: 64,
        actorHidden: [64, 64],
        criticHidden: [64, 64],
        lr: 1e-3,
        evalEvery: 600,
        evalEpisodes: 200,
        logEvery: 300,
        out: join(temp(), 'run'),
        quiet: true,
      },
      base,
      bimodal,
    );
    expect([res.step, res.updates, res.offlineTransitions]).toEqual([0, 1200, 1000]);
    expect(res.base.mean).toBeGreaterThan(0.35);
    expect(res.base.mean).toBeLessThan(0.65);
    expect(res.evals.map((e) => e.step)).toEqual([600, 1200]); // the step axis is gradient updates here
    expect(res.evals.at(-1)!.mean).toBeGreaterThanOrEqual(0.95);
    const rows = readMetrics(res.dir);
    expect(rows.filter((r) => 'charts/eval_return_mean' in r.values).map((r) => r.step)).toEqual([600, 1200]);
    expect(rows.filter((r) => 'losses/qa_loss' in r.values).map((r) => r.step)).toEqual([300, 600, 900, 1200]);
  });

  it('offline-to-online: the chunked data sits in the buffer (real chunks in realActions, noise column 0) before the online rows', async () => {
    // Reach1D episodes of 5 steps cut by a time limit; the policy acts in chunks of 2.
    const n = 20;
    const rng = Rng.fromSeed(3);
    const obs = rng.fillUniform(new Float32Array(2 * n), -1, 1);
    const next = rng.fillUniform(new Float32Array(2 * n), -1, 1);
    const actions = Float32Array.from({ length: n }, (_, i) => (i % 7) / 10);
    const timeouts = Uint8Array.from({ length: n }, (_, i) => (i % 5 === 4 ? 1 : 0));
    const path = join(temp(), 'reach.h5');
    await writeD4rl(
      path,
      createD4rlDataset({
        obsDim: 2,
        actionDim: 1,
        observations: obs,
        actions,
        rewards: Float32Array.from({ length: n }, (_, i) => -i),
        nextObservations: next,
        terminals: new Uint8Array(n),
        timeouts,
      }),
    );
    const spec = { obsDim: 2, actDim: 1, chunk: 2, denoisingSteps: 10, ddimSteps: 3, timeDim: 8, width: 16, depth: 1 };
    const policy = new DiffusionPolicy({
      spec,
      obsStats: { min: new Float32Array(2).fill(-1), max: new Float32Array(2).fill(1) },
      actionLow: [-1],
      actionHigh: [1],
      weights: createDiffusionNetwork(spec, Rng.fromSeed(2)).values,
    });
    const reach = async (k: number, chunk: number): Promise<VectorEnv> =>
      new SyncVectorEnv(Array.from({ length: k }, () => new ActionChunk(new TimeLimit(new Reach1D(), 10), chunk)));
    const res = await steer(
      {
        env: 'Reach1D',
        algo: 'na',
        offline: path,
        steps: 40,
        learningStarts: 0,
        numEnvs: 2,
        utd: 1,
        distillSteps: 1,
        batchSize: 8,
        actorHidden: [8],
        criticHidden: [8],
        evalEvery: 0,
        evalEpisodes: 2,
        checkpointEvery: 40,
        out: join(temp(), 'run'),
        quiet: true,
      },
      policy,
      reach,
    );
    // Every step starts a chunk (a chunk cut by the time limit is kept, truncated): 20 transitions.
    expect(res.offlineTransitions).toBe(20);
    const { buffer, extra } = readCheckpoint(latestCheckpoint(join(res.dir, TRAIN_STATE_DIR))!);
    expect((extra as { offlineTransitions: number }).offlineTransitions).toBe(20);
    const state = buffer.toState();
    expect(state.size).toBe(20 + 40 / 2); // 20 offline chunks, then one online chunk per 2 env steps
    expect(state.capacity).toBe(n + 40 + 2);
    const real = state.fieldData.realActions;
    expect(Array.from(real.subarray(0, 4))).toEqual([0, 0.1, 0.1, 0.2].map(Math.fround)); // chunks start at every step
    expect(Array.from(real.subarray(8, 10))).toEqual([0.4, 0.4].map(Math.fround)); // step 4 ends its episode: its last action repeats
    expect(state.truncated[4]).toBe(1);
    expect(Array.from(state.rewards.subarray(0, 5))).toEqual([-1, -3, -5, -7, -4]);
    expect(state.actions.subarray(0, 20 * 2).every((v) => v === 0)).toBe(true);
    expect(state.actions.subarray(20 * 2).some((v) => v !== 0)).toBe(true); // online rows hold the noise the agent chose

    // normalizeObs: the same offline rows, their observations in the agent's normalized view.
    const stats = { min: Float32Array.from([-2, 0]), max: Float32Array.from([2, 1]) };
    const normalizing = new DiffusionPolicy({
      spec,
      obsStats: stats,
      actionLow: [-1],
      actionHigh: [1],
      weights: createDiffusionNetwork(spec, Rng.fromSeed(2)).values,
    });
    const again = await steer(
      {
        env: 'Reach1D',
        algo: 'na',
        offline: path,
        steps: 4,
        learningStarts: 0,
        numEnvs: 2,
        utd: 1,
        distillSteps: 1,
        batchSize: 8,
        actorHidden: [8],
        criticHidden: [8],
        evalEvery: 0,
        evalEpisodes: 2,
        checkpointEvery: 4,
        normalizeObs: true,
        out: join(temp(), 'run'),
        quiet: true,
      },
      normalizing,
      reach,
    );
    const normState = readCheckpoint(latestCheckpoint(join(again.dir, TRAIN_STATE_DIR))!).buffer.toState();
    expect(normState.size).toBe(20 + 2);
    const normalize = (v: number, j: number) => 2 * ((v - stats.min[j]) / (stats.max[j] - stats.min[j] + 1e-6) - 0.5);
    for (let i = 0; i < 20 * 2; i++) {
      expect(normState.obs[i]).toBeCloseTo(normalize(state.obs[i], i % 2), 5);
      expect(normState.nextObs[i]).toBeCloseTo(normalize(state.nextObs[i], i % 2), 5);
    }
    expect(Array.from(normState.rewards.subarray(0, 20))).toEqual(Array.from(state.rewards.subarray(0, 20)));
    expect(Array.from(normState.fieldData.realActions.subarray(0, 20 * 2))).toEqual(Array.from(real.subarray(0, 20 * 2)));
  });

  it('a dataset whose dims do not fit the policy is refused, naming the file and the key', async () => {
    const spec = { obsDim: 3, actDim: 2, chunk: 1, denoisingSteps: 10, ddimSteps: 3, timeDim: 8, width: 16, depth: 1 };
    const policy = new DiffusionPolicy({
      spec,
      obsStats: { min: new Float32Array(3).fill(-1), max: new Float32Array(3).fill(1) },
      actionLow: [-1, -1],
      actionHigh: [1, 1],
      weights: createDiffusionNetwork(spec, Rng.fromSeed(2)).values,
    });
    const obs3 = async (k: number): Promise<VectorEnv> => {
      const env = await bimodal(k, 1);
      // Pretend the env has 3-dim observations, so only the dataset disagrees.
      Object.defineProperty(env, 'singleObservationSpace', { value: new Box(-1, 1, [3]) });
      return env;
    };
    await expect(
      steer({ env: 'BimodalChoice', algo: 'na', offline: dataPath, offlineOnly: 10, out: join(temp(), 'run'), quiet: true }, policy, obs3),
    ).rejects.toThrow(/bimodal\.h5: key "observations" has dim 1 but the env expects 3/);
  });
});

describe('DSRL-NA with demonstrations in robomimic layout', () => {
  it('a scripted Lift dataset fills the buffer with one chunked transition per demo step', async () => {
    const dir = temp();
    const data = join(dir, 'lift.hdf5');
    const demos = await collectScripted({ scripted: 'lift', episodes: 2, seed: 0, out: data, validShare: 0 });
    const steps = demos.dataset.demos.reduce((s, d) => s + d.length, 0);
    const policy = loadDiffusionPolicy('models/lift');
    // A chunk starts at every demo step; those cut by the success terminal are kept padded (loadIntoReplayBuffer).
    const res = await steer(
      {
        env: 'Lift-v0',
        algo: 'na',
        offline: data,
        offlineOnly: 2,
        numEnvs: 1,
        utd: 1,
        distillSteps: 1,
        batchSize: 8,
        actorHidden: [8],
        criticHidden: [8],
        evalEpisodes: 1,
        out: join(dir, 'run'),
        quiet: true,
      },
      policy,
    );
    expect([res.updates, res.offlineTransitions]).toEqual([2, steps]);
  });
});
