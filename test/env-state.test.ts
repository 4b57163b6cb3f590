import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { getEnvState, type Env, type EnvState } from '../src/envs/env.ts';
import { makeEnv } from '../src/envs/registry.ts';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { SyncVectorEnv, type VectorEnv } from '../src/envs/vector.ts';
import { WorkerVectorEnv } from '../src/envs/vector-worker.ts';
import { ActionChunk, OrderEnforcing, RecordEpisodeStatistics, TimeLimit } from '../src/envs/wrappers.ts';

const MUJOCO_IDS = ['Hopper-v5', 'Walker2d-v5', 'HalfCheetah-v5'] as const;

const opened: Env[] = [];
const openedVector: VectorEnv[] = [];
afterAll(async () => {
  for (const env of opened) env.close();
  for (const venv of openedVector) await venv.close();
});
function track<T extends Env>(env: T): T {
  opened.push(env);
  return env;
}
function trackVector<T extends VectorEnv>(venv: T): T {
  openedVector.push(venv);
  return venv;
}

/** Everything a step returns, with floats as plain numbers so toStrictEqual compares them bit for bit (Object.is). */
interface StepRecord {
  obs: number[];
  reward: number;
  terminated: boolean;
  truncated: boolean;
  info: unknown;
}

/** Steps with the given actions until the episode ends or the actions run out. */
function rollout(env: Env, actions: Float32Array[]): StepRecord[] {
  const records: StepRecord[] = [];
  for (const action of actions) {
    const r = env.step(action);
    const { episode, ...info } = r.info; // episode.t is wall-clock
    records.push({
      obs: Array.from(r.obs),
      reward: r.reward,
      terminated: r.terminated,
      truncated: r.truncated,
      info: { ...info, episode: episode ? { ...episode, t: 0 } : undefined },
    });
    if (r.terminated || r.truncated) break;
  }
  return records;
}

function actionsFor(env: Env, count: number, seed: number, scale = 1): Float32Array[] {
  const rng = Rng.fromSeed(seed);
  return Array.from({ length: count }, () => env.actionSpace.sample(rng).map((v) => v * scale));
}

/** A deep copy through JSON-like cloning, as a checkpoint round trip would produce. */
function cloneState<T>(state: T): T {
  return structuredClone(state);
}

describe('single-env state capture and restore', () => {
  it.each(MUJOCO_IDS)('%s: restoring mid-episode into a fresh env gives bit-identical steps', async (id) => {
    const original = track(await makeEnv(id, { maxEpisodeSteps: 200 }));
    original.reset({ seed: 7 });
    // Small actions keep Hopper and Walker2d upright, so the capture is mid-episode and the rest runs long.
    const warmup = rollout(original, actionsFor(original, 25, 1, 0.3));
    expect(warmup).toHaveLength(25);
    const state = cloneState(getEnvState(original));
    const continuation = actionsFor(original, 60, 2, 0.3);
    const expected = rollout(original, continuation);
    expect(expected.length).toBeGreaterThan(5);

    const fresh = track(await makeEnv(id, { maxEpisodeSteps: 200 }));
    fresh.setState!(state);
    expect(rollout(fresh, continuation)).toStrictEqual(expected);
    // Restoring rewinds an env that has run on, too; and the reset generator continues identically.
    original.setState!(state);
    expect(rollout(original, continuation)).toStrictEqual(expected);
    expect(Array.from(fresh.reset().obs)).toStrictEqual(Array.from(original.reset().obs));
  });

  it('the TimeLimit counter is part of the state: truncation falls on the same step', async () => {
    const env = track(await makeEnv('HalfCheetah-v5', { maxEpisodeSteps: 30 }));
    env.reset({ seed: 3 });
    rollout(env, actionsFor(env, 20, 4));
    const state = cloneState(getEnvState(env));
    const rest = actionsFor(env, 20, 5);
    const expected = rollout(env, rest);
    expect(expected).toHaveLength(10);
    expect(expected[9].truncated).toBe(true);
    const fresh = track(await makeEnv('HalfCheetah-v5', { maxEpisodeSteps: 30 }));
    fresh.setState!(state);
    expect(rollout(fresh, rest)).toStrictEqual(expected);
  });

  it('RecordEpisodeStatistics keeps its running sums and queues; ActionChunk passes its inner state through', () => {
    const make = () => new ActionChunk(new RecordEpisodeStatistics(new TimeLimit(new Reach1D(), 12)), 3);
    const env = make();
    env.reset({ seed: 11 });
    rollout(env, actionsFor(env, 4, 6)); // one full episode (12 steps) ...
    env.reset();
    rollout(env, actionsFor(env, 2, 7)); // ... and 6 steps into the next
    const state = cloneState(env.getState());
    const rest = actionsFor(env, 4, 8);
    const expected = rollout(env, rest);
    expect((expected.at(-1)!.info as { episode?: { l: number } }).episode?.l).toBe(12);
    const fresh = make();
    fresh.setState(state);
    expect(rollout(fresh, rest)).toStrictEqual(expected);
    const stats = (e: ActionChunk) => e.env as RecordEpisodeStatistics;
    expect(stats(fresh).returnQueue).toStrictEqual(stats(env).returnQueue);
    expect(stats(fresh).lengthQueue).toStrictEqual([12, 12]);
  });

  it('OrderEnforcing remembers whether reset ran', () => {
    const env = new OrderEnforcing(new Reach1D());
    const unreset = env.getState();
    env.reset({ seed: 0 });
    const fresh = new OrderEnforcing(new Reach1D());
    fresh.setState(env.getState());
    expect(() => fresh.step([0])).not.toThrow();
    fresh.setState(unreset);
    expect(() => fresh.step([0])).toThrow(/call reset\(\) before step\(\)/);
  });

  it('refuses a state from another task or wrapper stack, and names what is missing', async () => {
    const hopper = track(await makeEnv('Hopper-v5'));
    const walker = track(await makeEnv('Walker2d-v5'));
    hopper.reset({ seed: 0 });
    expect(() => walker.setState!(hopper.getState!())).toThrow(/state saved by 'Hopper-v5' where 'Walker2d-v5' was expected/);
    const bare = new Reach1D();
    expect(() => bare.setState(new TimeLimit(new Reach1D(), 5).getState())).toThrow(/Reach1D: setState got a state saved by 'TimeLimit'/);
    const hopperState = hopper.getState!() as { env: { env: EnvState & { integration: Float64Array } } };
    const broken = structuredClone(hopperState);
    broken.env.env.integration = broken.env.env.integration.slice(1);
    expect(() => hopper.setState!(broken as unknown as EnvState)).toThrow(/integration state has 57 values, this model's has 58/);
    const noState = new Reach1D();
    (noState as { getState?: unknown }).getState = undefined; // as an env that never implemented it
    expect(() => new TimeLimit(noState, 3).getState()).toThrow(/does not implement getState\(\), so it cannot be checkpointed/);
  });
});

/** Vector steps with per-step actions; rows are compared whole (obs, rewards, flags, infos without wall-clock). */
async function vectorRollout(venv: VectorEnv, actions: Float32Array[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const a of actions) {
    const r = await venv.step(a);
    out.push({ obs: Array.from(r.obs), rewards: Array.from(r.rewards), terminated: r.terminated, truncated: r.truncated, infos: r.infos });
  }
  return out;
}

describe('vector-env state capture and restore', () => {
  it('SyncVectorEnv: a capture with an autoreset pending continues across it identically', async () => {
    const make = () => new SyncVectorEnv([new TimeLimit(new Reach1D(), 4), new TimeLimit(new Reach1D(), 6)]);
    const venv = make();
    await venv.reset({ seed: 5 });
    const rng = Rng.fromSeed(9);
    const steps = (k: number) => Array.from({ length: k }, () => venv.actionSpace.sample(rng));
    const before = await vectorRollout(venv, steps(4));
    expect((before[3] as { truncated: boolean[] }).truncated).toEqual([true, false]); // sub-env 0's autoreset is pending
    const state = cloneState(await venv.getState());
    expect(state.autoresetPending).toEqual([true, false]);
    const rest = steps(10);
    const expected = await vectorRollout(venv, rest);
    const fresh = make();
    await fresh.setState(state);
    expect(await vectorRollout(fresh, rest)).toStrictEqual(expected);
    await expect(new SyncVectorEnv([new Reach1D()]).setState(state)).rejects.toThrow(/saved state has 2 sub-envs, this vector env has 1/);
  });

  it('Hopper in workers: mid-episode state restores into fresh worker and in-thread vector envs, across autoresets', async () => {
    const options = { maxEpisodeSteps: 15 };
    const workers = trackVector(await WorkerVectorEnv.create('Hopper-v5', 3, { numWorkers: 2, envOptions: options }));
    await workers.reset({ seed: 21 });
    const rng = Rng.fromSeed(4);
    const steps = (k: number) => Array.from({ length: k }, () => workers.actionSpace.sample(rng));
    await vectorRollout(workers, steps(15)); // every sub-env is truncated at 15 (if it did not fall earlier)
    await vectorRollout(workers, steps(7));
    const state = cloneState(await workers.getState());
    const rest = steps(40); // crosses at least two more episode ends per sub-env
    const expected = await vectorRollout(workers, rest);
    expect((expected as { truncated: boolean[]; terminated: boolean[] }[]).some((r) => r.truncated.some(Boolean))).toBe(true);

    const freshWorkers = trackVector(await WorkerVectorEnv.create('Hopper-v5', 3, { numWorkers: 2, envOptions: options }));
    await freshWorkers.setState(state);
    expect(await vectorRollout(freshWorkers, rest)).toStrictEqual(expected);
    const inThread = trackVector(await SyncVectorEnv.create('Hopper-v5', 3, options));
    await inThread.setState(state);
    expect(await vectorRollout(inThread, rest)).toStrictEqual(expected);
  });
});
