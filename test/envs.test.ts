import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { checkEnv, EnvCheckError } from '../src/envs/checker.ts';
import type { Env } from '../src/envs/env.ts';
import { makeEnv, registeredEnvIds } from '../src/envs/registry.ts';
import { Box } from '../src/envs/spaces.ts';
import { OrderEnforcing, TimeLimit } from '../src/envs/wrappers.ts';
import { ToyEnv } from './helpers/envs.ts';

const MUJOCO_IDS = ['Hopper-v5', 'Walker2d-v5', 'HalfCheetah-v5'] as const;
const opened: Env[] = [];
async function make(id: string, options: Record<string, unknown> = {}): Promise<Env> {
  const env = await makeEnv(id, options);
  opened.push(env);
  return env;
}
afterAll(() => {
  for (const env of opened) env.close();
});

describe('Box', () => {
  it('broadcasts scalar bounds, rejects bad bounds and reports containment', () => {
    const box = new Box(-1, 2, [3]);
    expect(Array.from(box.low)).toEqual([-1, -1, -1]);
    expect(box.size).toBe(3);
    expect(box.contains([0, 2, -1])).toBe(true);
    expect(box.contains([0, 2.5, -1])).toBe(false);
    expect(box.contains([0, NaN, 0])).toBe(false);
    expect(box.contains([0, 0])).toBe(false);
    expect(() => new Box([0, 1], [1, 0])).toThrow(/bad bounds at 1/);
    expect(() => new Box([0, 1], [1, 2, 3])).toThrow(/high has 3 elements/);
  });

  it('samples inside its bounds, reproducibly from a seeded Rng', () => {
    const box = new Box([-1, 0, -Infinity, -Infinity], [1, 0.5, Infinity, 3]);
    const a = Array.from({ length: 200 }, () => box.sample(Rng.fromSeed(7)));
    const rng = Rng.fromSeed(7);
    const b = box.sample(rng);
    expect(Array.from(b)).toEqual(Array.from(a[0]));
    let belowHigh = 0;
    for (let i = 0; i < 500; i++) {
      const x = box.sample(rng);
      expect(x).toBeInstanceOf(Float32Array);
      expect(box.contains(x)).toBe(true);
      if (x[3] < 3) belowHigh++;
    }
    expect(belowHigh).toBeGreaterThan(450); // upper-bounded coordinate: high - Exp(1), almost never exactly at the bound
    box.seed(3);
    const first = box.sample();
    box.seed(3);
    expect(Array.from(box.sample())).toEqual(Array.from(first));
  });
});

describe('registry', () => {
  it('knows the three MuJoCo tasks and names unknown ids', async () => {
    expect(registeredEnvIds()).toEqual(expect.arrayContaining([...MUJOCO_IDS]));
    await expect(makeEnv('Hopper-v4')).rejects.toThrow(/unknown env id 'Hopper-v4'; registered: .*Hopper-v5/);
  });

  it('applies OrderEnforcing and a 1000-step TimeLimit like gym.make, with the spec attached', async () => {
    const env = await make('Hopper-v5');
    expect(env).toBeInstanceOf(TimeLimit);
    expect((env as TimeLimit).maxEpisodeSteps).toBe(1000);
    expect((env as TimeLimit).env).toBeInstanceOf(OrderEnforcing);
    expect(env.spec).toMatchObject({ id: 'Hopper-v5', maxEpisodeSteps: 1000, rewardThreshold: 3800 });
    expect(() => env.step([0, 0, 0])).toThrow(/Hopper-v5: call reset\(\) before step\(\)/);
    const noLimit = await make('HalfCheetah-v5', { maxEpisodeSteps: null });
    expect(noLimit).toBeInstanceOf(OrderEnforcing);
    const short = await make('Walker2d-v5', { maxEpisodeSteps: 5 });
    expect((short as TimeLimit).maxEpisodeSteps).toBe(5);
  });

  it('passes options to the env and rejects unknown ones', async () => {
    await expect(makeEnv('Hopper-v5', { resetNoise: 0 })).rejects.toThrow(/Hopper-v5: unknown option 'resetNoise'/);
    const env = await make('Hopper-v5', { excludeCurrentPositionsFromObservation: false });
    expect(env.observationSpace.size).toBe(12);
  });
});

describe('checkEnv', () => {
  it.each(MUJOCO_IDS)('passes on %s with no warnings', async (id) => {
    const env = await make(id, { maxEpisodeSteps: 100 });
    const report = checkEnv(env, { steps: 150 });
    expect(report.warnings).toEqual([]);
    expect(report.episodesEnded).toBeGreaterThan(0); // it crossed at least one reset
  });

  it('passes on a correct toy env', () => {
    expect(checkEnv(new ToyEnv({ terminateAfter: 10 }), { steps: 30 }).warnings).toEqual([]);
  });

  it('names the env and the step when an observation is NaN', async () => {
    const env = await make('Toy-v0', { nanAtStep: 4 });
    expect(() => checkEnv(env, { steps: 10 })).toThrow(EnvCheckError);
    expect(() => checkEnv(env, { steps: 10 })).toThrow(/^Toy-v0: step 4: observation\[0\] is NaN$/);
  });

  it('catches an env whose reset ignores the seed', () => {
    expect(() => checkEnv(new ToyEnv({ ignoreSeed: true }), { steps: 5 })).toThrow(
      /not deterministic under reset\(\{seed: 0\}\): the reset observation differs/,
    );
  });

  it('catches an env that reuses its observation array', () => {
    expect(() => checkEnv(new ToyEnv({ reuseObservation: true }), { steps: 5 })).toThrow(/step 1 returned the same observation array/);
  });

  it('catches a wrong observation size', () => {
    class WrongSize extends ToyEnv {
      override readonly observationSpace = new Box(-Infinity, Infinity, [3]);
    }
    expect(() => checkEnv(new WrongSize(), { steps: 2 })).toThrow(/reset\(\{seed: 0\}\): observation has 2 values, observationSpace has 3/);
  });

  it('warns about an action space that is not [-1, 1]', () => {
    class WideActions extends ToyEnv {
      override readonly actionSpace = new Box(-2, 2, [1]);
    }
    expect(checkEnv(new WideActions(), { steps: 3 }).warnings.join()).toMatch(/not \[-1, 1\]: consider RescaleAction/);
  });
});

describe('seeding', () => {
  it.each(MUJOCO_IDS)('%s: reset({seed}) reproduces, other seeds differ, reset() continues the stream', async (id) => {
    const env = await make(id);
    const a = env.reset({ seed: 123 }).obs;
    const continued = env.reset().obs;
    const b = env.reset({ seed: 123 }).obs;
    const continuedAgain = env.reset().obs;
    const c = env.reset({ seed: 124 }).obs;
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(continued)).not.toEqual(Array.from(a));
    expect(Array.from(continuedAgain)).toEqual(Array.from(continued));
    expect(Array.from(c)).not.toEqual(Array.from(a));
  });

  it('reproduces a whole random-action episode from the same seed', async () => {
    const env = await make('Walker2d-v5');
    const run = () => {
      const rng = Rng.fromSeed(5);
      const out: number[] = Array.from(env.reset({ seed: 9 }).obs);
      for (let t = 0; t < 60; t++) {
        const r = env.step(env.actionSpace.sample(rng));
        out.push(...r.obs, r.reward);
        if (r.terminated) break;
      }
      return out;
    };
    expect(run()).toEqual(run());
  });
});

describe('lifecycle', () => {
  it('close() is idempotent and later use fails clearly', async () => {
    const env = await makeEnv('Hopper-v5');
    env.reset({ seed: 0 });
    env.close();
    env.close();
    expect(() => env.step([0, 0, 0])).toThrow(/Hopper-v5: step\(\) called after close\(\)/);
    expect(() => env.reset()).toThrow(/reset\(\) called after close\(\)/);
  });

  it('rejects actions of the wrong length or with NaN', async () => {
    const env = await make('HalfCheetah-v5');
    env.reset({ seed: 0 });
    expect(() => env.step([0, 0, 0])).toThrow(/HalfCheetah-v5: action has 3 values, expected 6/);
    expect(() => env.step([0, 0, NaN, 0, 0, 0])).toThrow(/HalfCheetah-v5: action\[2\] is NaN at step 1/);
  });
});
