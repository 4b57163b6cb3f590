/**
 * Checks the manipulation tasks share: expert rollouts and the sparse and dense rewards (all three); for the 23-dim
 * ones (PickPlaceCan-v0, NutAssemblySquare-v0) also the robosuite observation layout recomputed independently, exact
 * getState/setState resume, close() freeing the wasm objects, and sync vs worker vector envs agreeing.
 */
import { expect } from 'vitest';
import { Rng } from '../../src/core/rng.ts';
import type { Env, StepResult } from '../../src/envs/env.ts';
import type { ManipulationEnv } from '../../src/envs/mujoco/manipulation-env.ts';
import { makeEnv } from '../../src/envs/registry.ts';
import { SyncVectorEnv, type VectorEnv } from '../../src/envs/vector.ts';
import { WorkerVectorEnv } from '../../src/envs/vector-worker.ts';

export interface Expert {
  reset(): void;
  act(obs: ArrayLike<number>): Float32Array;
}

/** Runs the expert until the episode ends; returns every step. */
export function runExpert(env: Env, seed: number, expert: Expert, onStep?: (r: StepResult) => void): StepResult[] {
  let { obs } = env.reset({ seed });
  expert.reset();
  const steps: StepResult[] = [];
  for (;;) {
    const r = env.step(expert.act(obs));
    onStep?.(r);
    steps.push(r);
    obs = r.obs;
    if (r.terminated || r.truncated) return steps;
  }
}

/**
 * The sparse reward: the expert's episode pays -1 per step and 0 on the success step, which terminates with
 * info.success (`atSuccess` then checks the env's state); an arm that only holds its gripper open never succeeds
 * and is truncated at `limit` steps.
 */
export function expectSparseReward(env: Env, expert: Expert, seed: number, limit: number, atSuccess?: () => void): void {
  const steps = runExpert(env, seed, expert);
  atSuccess?.();
  expect(steps[steps.length - 1]).toMatchObject({ reward: 0, terminated: true, truncated: false, info: { success: true } });
  for (const s of steps.slice(0, -1)) expect(s).toMatchObject({ reward: -1, terminated: false, info: { success: false } });
  env.reset({ seed });
  let total = 0;
  let r: StepResult;
  let n = 0;
  do {
    r = env.step([0, 0, 0, 0, 0, 0, -1]);
    total += r.reward;
    n++;
  } while (!r.terminated && !r.truncated);
  expect([n, total, r.truncated, r.terminated, r.info.success]).toEqual([limit, -limit, true, false, false]);
}

/**
 * The dense reward along the expert's episode: every step in [-1, 0], 0 on the success step. Returns the best
 * reward of each expert phase before success and the first step's reward, for the task's own checks of robosuite's
 * stages.
 */
export function denseRewardByPhase(env: Env, expert: Expert & { phase: string }, seed: number): { peak: Map<string, number>; first: number } {
  const byPhase = new Map<string, number>();
  const steps = runExpert(env, seed, expert, (r) => {
    expect(r.reward).toBeGreaterThanOrEqual(-1);
    expect(r.reward).toBeLessThanOrEqual(0);
    if (!r.info.success) byPhase.set(expert.phase, Math.max(byPhase.get(expert.phase) ?? -1, r.reward));
  });
  expect(steps[steps.length - 1].reward).toBe(0);
  return { peak: byPhase, first: steps[0].reward };
}

/** Row-major matrix of a unit quaternion given x y z w (robosuite's order); written out, not rotations.ts's, so the check is independent. */
function matOfXyzw(q: ArrayLike<number>, at: number): number[] {
  const [x, y, z, w] = [q[at], q[at + 1], q[at + 2], q[at + 3]];
  return [
    1 - 2 * (y * y + z * z),
    2 * (x * y - w * z),
    2 * (x * z + w * y),
    2 * (x * y + w * z),
    1 - 2 * (x * x + z * z),
    2 * (y * z - w * x),
    2 * (x * z - w * y),
    2 * (y * z + w * x),
    1 - 2 * (x * x + y * y),
  ];
}

/**
 * The 23-dim layout: robot part as the controller reports it, unit quaternions, and the object's pose in the eef
 * frame equal to R_eefᵀ (p_obj - p_eef) and R_eefᵀ R_obj (compared as matrices: q and -q are one rotation).
 */
export function expectRobosuiteLayout(env: ManipulationEnv, obs: Float32Array): void {
  expect(obs.length).toBe(23);
  const eef = env.controller.eefPos();
  for (let i = 0; i < 3; i++) expect(obs[i]).toBe(Math.fround(eef[i]));
  expect(Math.hypot(obs[3], obs[4], obs[5], obs[6])).toBeCloseTo(1, 5);
  expect(Math.hypot(obs[12], obs[13], obs[14], obs[15])).toBeCloseTo(1, 5);
  expect(Math.hypot(obs[19], obs[20], obs[21], obs[22])).toBeCloseTo(1, 5);
  const E = matOfXyzw(obs, 3);
  const O = matOfXyzw(obs, 12);
  const d = [obs[9] - obs[0], obs[10] - obs[1], obs[11] - obs[2]];
  for (let i = 0; i < 3; i++) expect(obs[16 + i]).toBeCloseTo(E[i] * d[0] + E[3 + i] * d[1] + E[6 + i] * d[2], 5);
  const rel = matOfXyzw(obs, 19);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) expect(rel[3 * i + j]).toBeCloseTo(E[i] * O[j] + E[3 + i] * O[3 + j] + E[6 + i] * O[6 + j], 5);
  }
}

/** A restored env continues bit-identically mid-episode, and the reset generator travels with the state. */
export async function expectExactResume(id: string, expert: Expert, seed: number, warmup: number): Promise<void> {
  const a = await makeEnv(id);
  const b = await makeEnv(id);
  try {
    let { obs } = a.reset({ seed });
    expert.reset();
    for (let t = 0; t < warmup; t++) obs = a.step(expert.act(obs)).obs;
    b.setState!(structuredClone(a.getState!()));
    const rng = Rng.fromSeed(9);
    for (let t = 0; t < 15; t++) {
      const action = a.actionSpace.sample(rng);
      const ra = a.step(action);
      const rb = b.step(action);
      expect(Array.from(rb.obs)).toEqual(Array.from(ra.obs));
      expect([rb.reward, rb.terminated, rb.truncated, rb.info]).toEqual([ra.reward, ra.terminated, ra.truncated, ra.info]);
    }
    expect(Array.from(b.reset().obs)).toEqual(Array.from(a.reset().obs));
  } finally {
    a.close();
    b.close();
  }
}

/** Many envs made and closed leave the wasm heap as it was: a view into it taken before is still attached. */
export function expectCloseFreesEverything(make: () => ManipulationEnv, nq: number): void {
  for (let i = 0; i < 3; i++) make().close();
  const probe = make();
  probe.reset({ seed: 0 });
  const qpos = (probe as unknown as { qpos: Float64Array }).qpos;
  for (let i = 0; i < 30; i++) {
    const env = make();
    env.reset({ seed: i });
    env.step([0, 0, 0, 0, 0, 0.5, 1]);
    env.close();
  }
  expect(qpos.length).toBe(nq); // a heap growth (a leak of ~4 MB per env) would have detached this view
  probe.close();
  probe.close(); // a second close does nothing
  expect(() => probe.step(new Float32Array(7))).toThrow(/after close/);
}

async function rollout(venv: VectorEnv, seed: number, steps: number): Promise<number[]> {
  const rng = Rng.fromSeed(seed);
  const out: number[] = Array.from((await venv.reset({ seed })).obs);
  for (let t = 0; t < steps; t++) {
    const r = await venv.step(venv.actionSpace.sample(rng));
    out.push(...r.obs, ...r.rewards, ...r.terminated.map(Number), ...r.truncated.map(Number));
  }
  return out;
}

/** Two sub-envs in a worker thread and in-thread give the same trajectories, across an autoreset. */
export async function expectVectorEnvsAgree(id: string): Promise<void> {
  const options = { maxEpisodeSteps: 12 };
  const workers = await WorkerVectorEnv.create(id, 2, { numWorkers: 1, envOptions: options });
  const sync = await SyncVectorEnv.create(id, 2, options);
  try {
    expect(workers.singleObservationSpace.equals(sync.singleObservationSpace)).toBe(true);
    expect(workers.actionSpace.equals(sync.actionSpace)).toBe(true);
    expect(sync.singleObservationSpace.shape).toEqual([23]);
    const a = await rollout(workers, 5, 20);
    expect(a).toEqual(await rollout(sync, 5, 20));
  } finally {
    await workers.close();
    await sync.close();
  }
}
