/**
 * `dsrl collect --scripted lift|can|square`: multi-human demos written in robomimic layout, read back exactly,
 * varied across operators, with the configured share of failures, and states that replay the demo in the env.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { readDataset, readRobomimic } from '../src/data/hdf5.ts';
import { ENV_OBS_KEYS } from '../src/data/robomimic.ts';
import { LIFT_OPERATORS, LiftMultiHuman } from '../src/envs/mujoco/scripted/lift-mh.ts';
import { NutAssemblySquareMultiHuman, SQUARE_OPERATORS } from '../src/envs/mujoco/scripted/nut-assembly-square-mh.ts';
import { CAN_OPERATORS, PickPlaceCanMultiHuman } from '../src/envs/mujoco/scripted/pick-place-can-mh.ts';
import { operator as op, type MultiHumanDemonstrator, type Operator, type PhasedExpert } from '../src/envs/mujoco/scripted/multi-human.ts';
import { makeEnv } from '../src/envs/registry.ts';
import { collectScripted } from '../src/run/collect.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsrl-collect-scripted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('collect --scripted lift', () => {
  it('writes 6 demos (1 failure as configured), read back exactly, varied across operators, states that replay', async () => {
    const out = join(dir, 'lift.hdf5');
    const res = await collectScripted({ scripted: 'lift', episodes: 6, seed: 3, out, failureShare: 1 / 6 });
    expect(res.successes).toBe(5);
    expect(res.failures).toBe(1);
    const back = await readRobomimic(out);
    expect(back.demos.length).toBe(6);
    expect(back.envArgs.env_id).toBe('Lift-v0');
    for (let i = 0; i < 6; i++) {
      const a = res.dataset.demos[i];
      const b = back.demos[i];
      expect(b.name).toBe(`demo_${i}`);
      expect(b.actions).toEqual(a.actions);
      expect(b.states).toEqual(a.states);
      expect(b.rewards).toEqual(a.rewards);
      expect(b.dones).toEqual(a.dones);
      for (const k of back.obsKeys) expect(b.obs[k.name]).toEqual(a.obs[k.name]);
      expect(b.attrs).toEqual(a.attrs);
      // A successful demo ends on its success step (reward 0, done); a failed one runs into the 300-step limit.
      const success = b.attrs.success === 1;
      expect(b.dones[b.length - 1]).toBe(success ? 1 : 0);
      expect(b.rewards[b.length - 1]).toBe(success ? 0 : -1);
      if (!success) expect(b.length).toBe(300);
    }
    expect(back.masks.successful.length).toBe(5);
    expect(back.masks.failed.length).toBe(1);
    expect([...back.masks.train, ...back.masks.valid].sort()).toEqual(back.demos.map((d) => d.name).sort());
    expect(back.masks.better.length + back.masks.okay.length + back.masks.worse.length).toBe(6);
    // Variety: several operators, different lengths, different paths (hand positions after 10 steps).
    expect(new Set(back.demos.map((d) => d.attrs.operator)).size).toBeGreaterThanOrEqual(4);
    expect(new Set(back.demos.map((d) => d.length)).size).toBeGreaterThanOrEqual(5);
    const at10 = back.demos.map((d) => Array.from(d.obs.robot0_eef_pos.subarray(30, 33), (v) => v.toFixed(3)).join());
    expect(new Set(at10).size).toBe(6);
    // The flat view pretrain reads: 19-dim observations in Lift-v0's order.
    const flat = await readDataset(out);
    expect(flat.obsDim).toBe(19);
    expect(flat.size).toBe(back.demos.reduce((s, d) => s + d.length, 0));

    // states[t] + actions[t] reproduce next_obs[t] in the env (the simulator state is complete).
    const env = await makeEnv('Lift-v0');
    try {
      const demo = back.demos[0];
      env.reset({ seed: Number(demo.attrs.seed) });
      const sim = env.unwrapped;
      const template = sim.getState!();
      const t = Math.floor(demo.length / 2);
      sim.setState!({ ...template, integration: demo.states.slice(t * back.stateDim, (t + 1) * back.stateDim), stepsSinceReset: t });
      const r = sim.step(demo.actions.subarray(t * 7, (t + 1) * 7));
      const order = ['robot0_eef_pos', 'robot0_eef_quat', 'robot0_gripper_qpos', 'object'];
      const byKey = order.flatMap((name) => {
        const k = back.obsKeys.find((o) => o.name === name)!;
        return Array.from(demo.nextObs[name].subarray(t * k.dim, (t + 1) * k.dim));
      });
      expect(byKey.length).toBe(19);
      expect(Array.from(r.obs)).toEqual(byKey);
    } finally {
      env.close();
    }
  });

  it('is a function of the seed; the same seed writes the same demos', async () => {
    const a = await collectScripted({ scripted: 'lift', episodes: 2, seed: 7, out: join(dir, 'a.hdf5') });
    const b = await collectScripted({ scripted: 'lift', episodes: 2, seed: 7, out: join(dir, 'b.hdf5') });
    const c = await collectScripted({ scripted: 'lift', episodes: 2, seed: 8, out: join(dir, 'c.hdf5') });
    expect(b.dataset.demos[1].actions).toEqual(a.dataset.demos[1].actions);
    expect(c.dataset.demos[1].actions).not.toEqual(a.dataset.demos[1].actions);
  });

  it('operators: the worse ones are slower than the better ones on the same cube placements', async () => {
    const env = await makeEnv('Lift-v0');
    const lengths = (operator: number) => {
      let total = 0;
      for (let k = 0; k < 4; k++) {
        const d = new LiftMultiHuman(LIFT_OPERATORS[operator]);
        let { obs } = env.reset({ seed: 100 + k });
        d.reset(obs, Rng.fromSeed(`op ${operator} ${k}`));
        for (let t = 0; t < 300; t++) {
          const r = env.step(d.act(obs));
          obs = r.obs;
          total++;
          if (r.terminated || r.truncated) break;
        }
      }
      return total / 4;
    };
    try {
      expect(lengths(4)).toBeGreaterThan(1.5 * lengths(0));
    } finally {
      env.close();
    }
  });

  it('refuses an unknown task and impossible shares', async () => {
    await expect(collectScripted({ scripted: 'stack', episodes: 1, seed: 0, out: join(dir, 'x.hdf5') })).rejects.toThrow(
      '--scripted must be one of lift, can, square, got "stack"',
    );
    await expect(collectScripted({ scripted: 'lift', episodes: 1, seed: 0, out: join(dir, 'x.hdf5'), failureShare: 2 })).rejects.toThrow(
      '--failure-share must be in [0, 1]',
    );
  });
});

/** Runs one demo of `d` from a seeded reset; its length and success. */
function runDemo(
  env: Awaited<ReturnType<typeof makeEnv>>,
  d: MultiHumanDemonstrator<PhasedExpert, object>,
  seed: number,
  stream: string,
): { length: number; success: boolean } {
  let { obs } = env.reset({ seed });
  d.reset(obs, Rng.fromSeed(stream));
  for (let t = 1; ; t++) {
    const r = env.step(d.act(obs));
    obs = r.obs;
    if (r.terminated || r.truncated) return { length: t, success: r.info.success === true };
  }
}

const TASKS: {
  task: 'can' | 'square';
  env: string;
  operators: readonly Operator[];
  make: (o: Operator) => MultiHumanDemonstrator<PhasedExpert, object>;
}[] = [
  { task: 'can', env: 'PickPlaceCan-v0', operators: CAN_OPERATORS, make: (o) => new PickPlaceCanMultiHuman(o) },
  { task: 'square', env: 'NutAssemblySquare-v0', operators: SQUARE_OPERATORS, make: (o) => new NutAssemblySquareMultiHuman(o) },
];

describe.each(TASKS)('collect --scripted $task', ({ task, env: envId, operators, make }) => {
  it('writes demos of three operators, 23-dim when flattened, whose states replay', async () => {
    const out = join(dir, `${task}.hdf5`);
    // Attempts 0-2, all successes here: operators 0, 1 (better) and 2 (okay).
    const res = await collectScripted({ scripted: task, episodes: 3, seed: 1, out });
    expect(res.successes).toBe(3);
    const back = await readRobomimic(out);
    expect(back.envArgs.env_id).toBe(envId);
    expect(back.demos.map((d) => d.attrs.operator)).toEqual([0, 1, 2]);
    for (const d of back.demos) {
      expect(d.dones[d.length - 1]).toBe(1);
      expect(d.rewards[d.length - 1]).toBe(0);
    }
    const flat = await readDataset(out);
    expect(flat.obsDim).toBe(23);
    expect(flat.size).toBe(back.demos.reduce((s, d) => s + d.length, 0));
    // states[t] + actions[t] reproduce next_obs[t] in the env, mid-demo (the object in hand for these tasks).
    const env = await makeEnv(envId);
    try {
      const demo = back.demos[2];
      env.reset({ seed: Number(demo.attrs.seed) });
      const sim = env.unwrapped;
      const template = sim.getState!();
      const t = Math.floor(demo.length / 2);
      sim.setState!({ ...template, integration: demo.states.slice(t * back.stateDim, (t + 1) * back.stateDim), stepsSinceReset: t });
      const r = sim.step(demo.actions.subarray(t * 7, (t + 1) * 7));
      // The env's order (the file lists its keys alphabetically).
      const byKey = ENV_OBS_KEYS[envId].flatMap((k) => Array.from(demo.nextObs[k.name].subarray(t * k.dim, (t + 1) * k.dim)));
      expect(byKey.length).toBe(23);
      expect(Array.from(r.obs)).toEqual(byKey);
    } finally {
      env.close();
    }
  });

  it('operators: varied plans; the worse ones are slower than the better ones on the same placements', async () => {
    const env = await makeEnv(envId);
    try {
      const lengths = (operator: number): number => {
        let total = 0;
        for (let k = 0; k < 3; k++) total += runDemo(env, make(operators[operator]), 100 + k, `op ${operator} ${k}`).length;
        return total / 3;
      };
      expect(lengths(4)).toBeGreaterThan(1.5 * lengths(0));
      // Two demos of one operator from one placement draw different grasps and speeds, and so take different paths.
      const a = make(operators[2]);
      const b = make(operators[2]);
      runDemo(env, a, 5, 'plan a');
      runDemo(env, b, 5, 'plan b');
      expect(a.plan).not.toEqual(b.plan);
    } finally {
      env.close();
    }
  });

  it('an operator whose grasps land a finger on the object, or close on air, backs off and grasps again', async () => {
    // No voluntary re-grasps (chance 0) and 3 cm grasp offsets: only a blocked descent or a missed grasp re-grasps.
    const sloppy = op(9, 'worse', [0.6, 0.6], 0, 0, 0, 0.1, 0.03, 0);
    const env = await makeEnv(envId);
    try {
      let regrasps = 0;
      for (let k = 0; k < 4; k++) {
        const d = make(sloppy);
        runDemo(env, d, 200 + k, `sloppy ${k}`);
        regrasps += d.regrasps;
      }
      expect(regrasps).toBeGreaterThan(0);
    } finally {
      env.close();
    }
  });
});
