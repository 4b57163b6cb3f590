import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { makeEnv } from '../src/envs/registry.ts';
import { SyncVectorEnv, type VectorEnv, type VectorStepResult } from '../src/envs/vector.ts';
import { WorkerVectorEnv } from '../src/envs/vector-worker.ts';
import { TimeLimit } from '../src/envs/wrappers.ts';
import { TOY_ENV_MODULE, ToyEnv } from './helpers/envs.ts';

function row(arr: Float32Array, i: number, width: number): number[] {
  return Array.from(arr.subarray(i * width, (i + 1) * width));
}

describe('SyncVectorEnv', () => {
  it('NEXT_STEP autoreset: the step after an episode ends returns the reset obs, reward 0, no flags, and ignores the action', async () => {
    const toys = [new ToyEnv({ terminateAfter: 2 }), new ToyEnv()];
    const venv = new SyncVectorEnv([toys[0], new TimeLimit(toys[1], 3)]);
    await venv.reset({ seed: 10 });
    const steps: VectorStepResult[] = [];
    for (let t = 0; t < 4; t++) steps.push(await venv.step([0.5, 0.25]));
    // sub-env 0 terminates on step 2; step 3 is its autoreset; step 4 is the first step of episode 2.
    expect(steps.map((s) => s.terminated[0])).toEqual([false, true, false, false]);
    expect(steps.map((s) => s.rewards[0])).toEqual([1, 2, 0, 1]);
    expect(steps[2].obs[1]).toBe(0); // reset obs: step count 0
    expect(steps[2].infos[0]).toEqual({ resetCount: 2 });
    expect(toys[0].actionsTaken).toEqual([0.5, 0.5, 0.5]); // 3 real steps in 4 vector steps
    // sub-env 1 is truncated (not terminated) on step 3 and autoresets on step 4.
    expect(steps.map((s) => [s.terminated[1], s.truncated[1]])).toEqual([
      [false, false],
      [false, false],
      [false, true],
      [false, false],
    ]);
    expect(steps[3].rewards[1]).toBe(0);
    expect(toys[1].actionsTaken).toHaveLength(3);
  });

  it('seeds sub-env i with seed + i, so each row matches a single env seeded the same way', async () => {
    const venv = await SyncVectorEnv.create('Hopper-v5', 3, { maxEpisodeSteps: 40 });
    const singles = await Promise.all([0, 1, 2].map(() => makeEnv('Hopper-v5', { maxEpisodeSteps: 40 })));
    const obsDim = venv.singleObservationSpace.size;
    const actDim = venv.singleActionSpace.size;
    expect(venv.observationSpace.shape).toEqual([3, obsDim]);
    const start = await venv.reset({ seed: 100 });
    singles.forEach((env, i) => expect(row(start.obs, i, obsDim)).toEqual(Array.from(env.reset({ seed: 100 + i }).obs)));
    const rng = Rng.fromSeed(3);
    const pendingReset = [false, false, false];
    for (let t = 0; t < 90; t++) {
      const actions = venv.actionSpace.sample(rng);
      const v = await venv.step(actions);
      singles.forEach((env, i) => {
        if (pendingReset[i]) {
          expect(row(v.obs, i, obsDim)).toEqual(Array.from(env.reset().obs));
          expect(v.rewards[i]).toBe(0);
          pendingReset[i] = false;
          return;
        }
        const s = env.step(actions.subarray(i * actDim, (i + 1) * actDim));
        expect(row(v.obs, i, obsDim)).toEqual(Array.from(s.obs));
        expect([v.rewards[i], v.terminated[i], v.truncated[i]]).toEqual([s.reward, s.terminated, s.truncated]);
        pendingReset[i] = s.terminated || s.truncated;
      });
    }
    await venv.close();
    singles.forEach((env) => env.close());
  });

  it('without any seed, the first reset uses seeds 0..N-1', async () => {
    const venv = await SyncVectorEnv.create('HalfCheetah-v5', 2);
    const single = await makeEnv('HalfCheetah-v5');
    const { obs } = await venv.reset();
    expect(row(obs, 1, 17)).toEqual(Array.from(single.reset({ seed: 1 }).obs));
    await expect(venv.step(new Float32Array(5))).rejects.toThrow(/actions have 5 values, expected 2 x 6/);
    await venv.close();
    single.close();
  });
});

async function rollout(venv: VectorEnv, seed: number, steps: number): Promise<number[]> {
  const rng = Rng.fromSeed(seed);
  const out: number[] = Array.from((await venv.reset({ seed })).obs);
  for (let t = 0; t < steps; t++) {
    const r = await venv.step(venv.actionSpace.sample(rng));
    out.push(...r.obs, ...r.rewards, ...r.terminated.map(Number), ...r.truncated.map(Number));
  }
  return out;
}

describe('WorkerVectorEnv', () => {
  it('gives the same trajectories as SyncVectorEnv for the same seeds, across autoresets', async () => {
    // 3 envs on 2 workers (2 + 1) with a short time limit so autoresets happen inside the run.
    const options = { maxEpisodeSteps: 25 };
    const workers = await WorkerVectorEnv.create('Walker2d-v5', 3, { numWorkers: 2, envOptions: options });
    const sync = await SyncVectorEnv.create('Walker2d-v5', 3, options);
    try {
      expect(workers.singleObservationSpace.equals(sync.singleObservationSpace)).toBe(true);
      expect(workers.actionSpace.equals(sync.actionSpace)).toBe(true);
      const a = await rollout(workers, 7, 60);
      const b = await rollout(sync, 7, 60);
      expect(a.length).toBe(b.length);
      expect(a).toEqual(b);
      // Info objects cross the thread boundary intact.
      const r = await workers.step(new Float32Array(18));
      expect(Object.keys(r.infos[2])).toEqual(expect.arrayContaining(['x_position', 'x_velocity', 'reward_survive']));
    } finally {
      await workers.close();
      await sync.close();
    }
    await expect(workers.step(new Float32Array(18))).rejects.toThrow(/used after close\(\)/);
    await workers.close(); // idempotent
  });

  it('runs custom envs registered by preloadModules and reports worker-side errors with context', async () => {
    const venv = await WorkerVectorEnv.create('Toy-v0', 2, { numWorkers: 2, preloadModules: [TOY_ENV_MODULE], envOptions: { terminateAfter: 2 } });
    try {
      await venv.reset({ seed: 0 });
      const rewards: number[][] = [];
      for (let t = 0; t < 3; t++) rewards.push(Array.from((await venv.step([0, 0])).rewards));
      expect(rewards).toEqual([
        [1, 1],
        [2, 2],
        [0, 0],
      ]);
      await expect(venv.step([0])).rejects.toThrow(/actions have 1 values, expected 2 x 1/);
    } finally {
      await venv.close();
    }
    await expect(WorkerVectorEnv.create('Nope-v0', 1)).rejects.toThrow(/WorkerVectorEnv\(Nope-v0 x1\) \(sub-envs 0..0\): unknown env id 'Nope-v0'/);
  });
});
