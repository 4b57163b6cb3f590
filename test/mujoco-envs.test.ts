import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Env, StepResult } from '../src/envs/env.ts';
import { makeEnv } from '../src/envs/registry.ts';
import { HalfCheetahEnv } from '../src/envs/mujoco/half-cheetah.ts';
import { HopperEnv } from '../src/envs/mujoco/hopper.ts';
import { loadMujoco } from '../src/envs/mujoco/loader.ts';
import type { MujocoEnv } from '../src/envs/mujoco/mujoco-env.ts';
import { Walker2dEnv } from '../src/envs/mujoco/walker2d.ts';

// A copy of shared/reference/gymnasium-trajectories (Gymnasium 1.3.0 recordings), so the test needs nothing outside the repo.
const TRAJECTORY_DIR = new URL('./fixtures/gymnasium-trajectories/', import.meta.url);
const IDS = ['Hopper-v5', 'Walker2d-v5', 'HalfCheetah-v5'] as const;

const opened: Env[] = [];
afterAll(() => {
  for (const env of opened) env.close();
});
function track<T extends Env>(env: T): T {
  opened.push(env);
  return env;
}

interface Trajectory {
  env: string;
  obs0: number[];
  actions: number[][];
  obs: number[][];
  reward: number[];
  terminated: boolean[];
  truncated: boolean[];
}

describe('agreement with Gymnasium 1.3.0 trajectories (MuJoCo 3.14, reset noise 0)', () => {
  // Tolerance: observations are float32 here and float64 in Gymnasium, so they can differ by float32 rounding
  // (relative 6e-8); the engine is the same MuJoCo 3.14, and rewards (float64 here too) agree to ~1e-14.
  it.each(IDS)('%s reproduces observations, rewards and the end of the episode', async (id) => {
    const traj = JSON.parse(readFileSync(new URL(`${id}-amp0.3.json`, TRAJECTORY_DIR), 'utf8')) as Trajectory;
    const env = track(await makeEnv(id, { resetNoiseScale: 0 }));
    const { obs: obs0 } = env.reset({ seed: 0 });
    expect(Array.from(obs0)).toEqual(traj.obs0.map(Math.fround));
    let worstObs = 0;
    let worstReward = 0;
    for (let t = 0; t < traj.actions.length; t++) {
      const r = env.step(Float64Array.from(traj.actions[t]));
      for (let i = 0; i < r.obs.length; i++) {
        worstObs = Math.max(worstObs, Math.abs(r.obs[i] - traj.obs[t][i]) / Math.max(1, Math.abs(traj.obs[t][i])));
      }
      worstReward = Math.max(worstReward, Math.abs(r.reward - traj.reward[t]));
      expect([r.terminated, r.truncated], `flags at step ${t + 1}`).toEqual([traj.terminated[t], traj.truncated[t]]);
    }
    expect(worstObs).toBeLessThan(2e-7);
    expect(worstReward).toBeLessThan(1e-9);
  });

  // Sanity values from shared/reference/gymnasium-mujoco-v5.md: reset noise 0, all-zero actions.
  it.each([
    ['Hopper-v5', 141, 132.962, true, 6, -0.07848, 1.249686],
    ['Walker2d-v5', 135, 112.876, true, 9, -0.07848, 1.249686],
    ['HalfCheetah-v5', 1000, -0.2464, false, 9, -0.4905, -0.014715],
  ] as const)('%s with zero actions: %i steps, return %f', async (id, length, episodeReturn, terminates, velIndex, vel, obs0) => {
    const env = track(await makeEnv(id, { resetNoiseScale: 0 }));
    env.reset({ seed: 0 });
    const zeros = new Float32Array(env.actionSpace.size);
    let total = 0;
    let steps = 0;
    let last: StepResult;
    do {
      last = env.step(zeros);
      if (steps === 0) {
        expect(last.obs[0]).toBeCloseTo(obs0, 6);
        expect(last.obs[velIndex]).toBeCloseTo(vel, 5);
      }
      total += last.reward;
      steps++;
    } while (!last.terminated && !last.truncated);
    expect(steps).toBe(length);
    expect(total).toBeCloseTo(episodeReturn, 3);
    expect(last.terminated).toBe(terminates);
    expect(last.truncated).toBe(!terminates);
  });
});

describe('hand-checked rewards and termination', () => {
  // Free flight: high above the floor with joints inside their limits and zero joint velocity, nothing acts
  // but gravity, so rootx moves at exactly the given speed and rootz falls by g t^2 / 2 (RK4 is exact for
  // constant acceleration): over one Hopper step (0.008 s) that is 9.81 * 0.008^2 / 2 = 3.1392e-4.
  const flight = (env: MujocoEnv, rootx: number, rootz: number, rooty: number, vx: number) => {
    env.reset({ seed: 0 });
    const qpos = new Float64Array(env.nq);
    const qvel = new Float64Array(env.nv);
    qpos.set([rootx, rootz, rooty]);
    if (env instanceof HopperEnv || env instanceof Walker2dEnv) for (let i = 3; i < env.nq; i++) qpos[i] = -0.5;
    qvel[0] = vx;
    env.setQposQvel(qpos, qvel);
  };

  it('Hopper: a healthy flying state earns forward speed + 1 - 1e-3 * |a|^2 on the raw action', async () => {
    const env = track(new HopperEnv(await loadMujoco()));
    flight(env, 0, 3, 0, 2);
    const r = env.step([0, 0, 0]);
    expect(r.info.x_velocity).toBeCloseTo(2, 10);
    expect(r.info.x_position).toBeCloseTo(0.016, 12);
    expect(r.obs[0]).toBeCloseTo(3 - 3.1392e-4, 6); // float32
    expect(r.obs[6]).toBeCloseTo(-0.07848, 6);
    expect(r.reward).toBeCloseTo(2 + 1, 9);
    expect(r.info).toMatchObject({ reward_survive: 1, reward_ctrl: -0, z_distance_from_origin: expect.closeTo(3 - 3.1392e-4 - 1.25, 10) });
    expect(r.terminated).toBe(false);

    // MuJoCo clamps ctrl to [-1, 1] (ctrllimited), but the cost uses the action as given: [2, -1, 0.5] -> 5.25e-3.
    flight(env, 0, 3, 0, 2);
    const clamped = env.step([1, -1, 0.5]);
    flight(env, 0, 3, 0, 2);
    const raw = env.step([2, -1, 0.5]);
    expect(Array.from(raw.obs)).toEqual(Array.from(clamped.obs));
    expect(raw.info.reward_ctrl).toBeCloseTo(-5.25e-3, 15);
    expect(clamped.info.reward_ctrl).toBeCloseTo(-2.25e-3, 15);
    expect(raw.reward - clamped.reward).toBeCloseTo(-3e-3, 12);
  });

  it('Hopper: torso angle outside (-0.2, 0.2) or any raw velocity outside (-100, 100) terminates and pays no survival reward', async () => {
    const env = track(new HopperEnv(await loadMujoco()));
    flight(env, 0, 3, 0.25, 2);
    const tilted = env.step([0, 0, 0]);
    expect(tilted).toMatchObject({ terminated: true, truncated: false, info: { reward_survive: 0 } });
    expect(tilted.reward).toBeCloseTo(2, 9);

    flight(env, 0, 3, 0, 150);
    const fast = env.step([0, 0, 0]);
    expect(fast.obs[5]).toBe(10); // the observation clips velocities to +-10, the health check does not
    expect(fast.terminated).toBe(true);
    expect(fast.reward).toBeCloseTo(150, 6);

    flight(env, 0, 3, 0, 99);
    expect(env.step([0, 0, 0]).terminated).toBe(false);
  });

  it('Walker2d: healthy height is the open interval (0.8, 2.0)', async () => {
    const env = track(new Walker2dEnv(await loadMujoco()));
    flight(env, 0, 1.9, 0, 1);
    const ok = env.step(new Float32Array(6));
    expect(ok.terminated).toBe(false);
    expect(ok.reward).toBeCloseTo(1 + 1, 9);
    flight(env, 0, 2.1, 0, 1);
    const tooHigh = env.step(new Float32Array(6));
    expect(tooHigh.terminated).toBe(true);
    expect(tooHigh.reward).toBeCloseTo(1, 9);
    expect(Object.keys(tooHigh.info).sort()).toEqual([
      'reward_ctrl',
      'reward_forward',
      'reward_survive',
      'x_position',
      'x_velocity',
      'z_distance_from_origin',
    ]);
  });

  it('HalfCheetah: forward speed - 0.1 * |a|^2, never terminates, unclipped velocities', async () => {
    const env = track(new HalfCheetahEnv(await loadMujoco()));
    expect(env.dt).toBeCloseTo(0.05, 15);
    flight(env, 1, 2, Math.PI, 3); // upside down, 2 m above its start
    const r = env.step(new Float32Array(6));
    expect(r.info.x_velocity).toBeCloseTo(3, 9);
    expect(r.reward).toBeCloseTo(3, 9);
    expect(r.terminated).toBe(false);
    expect(Object.keys(r.info).sort()).toEqual(['reward_ctrl', 'reward_forward', 'x_position', 'x_velocity']);
    flight(env, 0, 2, 0, 30);
    const fast = env.step(Float32Array.of(0.5, 0.5, 0.5, 0.5, 0.5, 0.5));
    expect(fast.obs[8]).toBeGreaterThan(29); // qvel[0] is not clipped for HalfCheetah
    expect(fast.info.reward_ctrl).toBeCloseTo(-0.15, 12);
  });

  it('reset info carries x_position (and z_distance_from_origin for Hopper/Walker2d)', async () => {
    const hopper = track(await makeEnv('Hopper-v5'));
    expect(Object.keys(hopper.reset({ seed: 1 }).info).sort()).toEqual(['x_position', 'z_distance_from_origin']);
    const cheetah = track(await makeEnv('HalfCheetah-v5'));
    expect(Object.keys(cheetah.reset({ seed: 1 }).info)).toEqual(['x_position']);
  });
});

describe('reset noise', () => {
  it('Hopper/Walker2d: qpos0 + U(+-0.005) and qvel U(+-0.005); HalfCheetah: qpos0 + U(+-0.1), qvel 0.1 * N(0, 1)', async () => {
    const mj = await loadMujoco();
    const hopper = track(new HopperEnv(mj));
    const cheetah = track(new HalfCheetahEnv(mj));
    expect(hopper.dt).toBeCloseTo(0.008, 15);
    hopper.reset({ seed: 3 });
    let hopperMax = 0;
    const cheetahPos: number[] = [];
    const cheetahVel: number[] = [];
    for (let k = 0; k < 100; k++) {
      hopper.reset();
      const h = hopper.getQposQvel();
      for (let i = 0; i < 6; i++) {
        hopperMax = Math.max(hopperMax, Math.abs(h.qpos[i] - hopper.initQpos[i]), Math.abs(h.qvel[i]));
      }
      cheetah.reset({ seed: k });
      const c = cheetah.getQposQvel();
      cheetahPos.push(...c.qpos);
      cheetahVel.push(...c.qvel);
    }
    expect(hopperMax).toBeLessThanOrEqual(0.005);
    expect(hopperMax).toBeGreaterThan(0.0049);
    expect(Math.max(...cheetahPos.map(Math.abs))).toBeLessThanOrEqual(0.1);
    const std = Math.sqrt(cheetahVel.reduce((s, v) => s + v * v, 0) / cheetahVel.length);
    expect(std).toBeGreaterThan(0.09);
    expect(std).toBeLessThan(0.11);
    expect(Math.max(...cheetahVel.map(Math.abs))).toBeGreaterThan(0.2); // Gaussian tails; uniform noise would stop at 0.1
  });
});

describe('wasm memory', () => {
  class ViewProbe extends HopperEnv {
    qposView(): Float64Array {
      return this.qpos;
    }
  }

  it('close() frees MjModel/MjData: creating and closing many envs does not grow the wasm heap', async () => {
    const mj = await loadMujoco();
    const probe = new ViewProbe(mj);
    for (let i = 0; i < 3; i++) new Walker2dEnv(mj).close(); // let the allocator reach its steady state
    probe.reset(); // re-takes the view if the warm-up grew the heap
    const view = probe.qposView();
    for (let i = 0; i < 60; i++) new Walker2dEnv(mj).close(); // leaking ~2 MB each would force the heap to grow
    expect(view.length).toBe(6); // a heap growth would have detached this view
    probe.close();
  });

  it('keeps stepping correctly after other envs grow the heap (views are taken again)', async () => {
    const mj = await loadMujoco();
    const probe = new ViewProbe(mj);
    const twin = new HopperEnv(mj);
    probe.reset({ seed: 4 });
    const view = probe.qposView();
    const others = Array.from({ length: 60 }, () => new HalfCheetahEnv(mj));
    expect(view.length).toBe(0); // the heap did grow, so the old view is detached
    twin.reset({ seed: 4 });
    for (let t = 0; t < 20; t++) {
      const action = [Math.sin(t), Math.cos(t), 0.3];
      expect(Array.from(probe.step(action).obs)).toEqual(Array.from(twin.step(action).obs));
    }
    for (const env of [probe, twin, ...others]) env.close();
  });
});
