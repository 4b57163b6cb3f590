import { describe, expect, it } from 'vitest';
import { makeEnv } from '../src/envs/registry.ts';
import { ActionChunk, episodeStatistics, RecordEpisodeStatistics, TimeLimit } from '../src/envs/wrappers.ts';
import { ClipAction, NormalizeObservation, RescaleAction } from '../src/envs/transform-wrappers.ts';
import { Box } from '../src/envs/spaces.ts';
import { ToyEnv } from './helpers/envs.ts';

describe('TimeLimit', () => {
  it('truncates at the limit and restarts the count on reset', () => {
    const env = new TimeLimit(new ToyEnv(), 3);
    env.reset({ seed: 0 });
    expect([1, 2, 3].map(() => env.step([0]).truncated)).toEqual([false, false, true]);
    env.reset();
    expect(env.step([0]).truncated).toBe(false);
    expect(env.elapsed).toBe(1);
  });

  it('keeps terminated and truncated apart, and sets both when they coincide', () => {
    const early = new TimeLimit(new ToyEnv({ terminateAfter: 2 }), 5);
    early.reset({ seed: 0 });
    early.step([0]);
    expect(early.step([0])).toMatchObject({ terminated: true, truncated: false });
    const both = new TimeLimit(new ToyEnv({ terminateAfter: 3 }), 3);
    both.reset({ seed: 0 });
    both.step([0]);
    both.step([0]);
    expect(both.step([0])).toMatchObject({ terminated: true, truncated: true });
  });
});

describe('ActionChunk', () => {
  it('runs the whole chunk in order, sums rewards and reports the steps run', () => {
    const inner = new ToyEnv();
    const env = new ActionChunk(inner, 3);
    expect(env.actionSpace.size).toBe(3);
    env.reset({ seed: 0 });
    const r = env.step(Float32Array.of(0.25, -0.5, 0.75));
    expect(inner.actionsTaken).toEqual([0.25, -0.5, 0.75]);
    expect(r.reward).toBe(1 + 2 + 3);
    expect(r.info.steps).toBe(3);
    expect(r.obs[1]).toBe(3);
    expect(r).toMatchObject({ terminated: false, truncated: false });
  });

  it('stops inside the chunk when the episode terminates, without stepping the finished env', () => {
    const inner = new ToyEnv({ terminateAfter: 5 });
    const env = new ActionChunk(inner, 4);
    env.reset({ seed: 0 });
    expect(env.step([0.1, 0.1, 0.1, 0.1]).info.steps).toBe(4);
    const r = env.step([1, 2, 3, 4]);
    expect(r).toMatchObject({ terminated: true, truncated: false, reward: 5 });
    expect(r.info.steps).toBe(1);
    expect(inner.actionsTaken).toHaveLength(5); // actions 2, 3, 4 of the last chunk were dropped
  });

  it('stops inside the chunk when the time limit truncates, reporting truncation not termination', () => {
    const inner = new ToyEnv();
    const env = new ActionChunk(new TimeLimit(inner, 6), 4);
    env.reset({ seed: 0 });
    env.step([0, 0, 0, 0]);
    const r = env.step([0, 0, 0, 0]);
    expect(r).toMatchObject({ terminated: false, truncated: true, reward: 5 + 6 });
    expect(r.info.steps).toBe(2);
    expect(inner.actionsTaken).toHaveLength(6);
  });

  it('tiles the action bounds and rejects a chunk of the wrong length', () => {
    const env = new ActionChunk(new RescaleAction(new ToyEnv(), [0], [2]), 2);
    expect(Array.from(env.actionSpace.low)).toEqual([0, 0]);
    expect(Array.from(env.actionSpace.high)).toEqual([2, 2]);
    env.reset({ seed: 0 });
    expect(() => env.step([0, 0, 0])).toThrow(/ActionChunk expects 2x1 = 2 values, got 3/);
  });

  it('on Hopper-v5 stops exactly at the termination step', async () => {
    // Gymnasium sanity value (shared/reference/gymnasium-mujoco-v5.md): Hopper-v5 with reset noise 0 and zero
    // actions terminates after 141 steps with a return of 132.962.
    const env = new ActionChunk(await makeEnv('Hopper-v5', { resetNoiseScale: 0 }), 50);
    env.reset({ seed: 0 });
    const zeros = new Float32Array(50 * 3);
    const chunks = [env.step(zeros), env.step(zeros), env.step(zeros)];
    expect(chunks.map((c) => c.info.steps)).toEqual([50, 50, 41]);
    expect(chunks.map((c) => c.terminated)).toEqual([false, false, true]);
    expect(chunks.reduce((s, c) => s + c.reward, 0)).toBeCloseTo(132.962, 3);
    env.close();
  });
});

describe('RecordEpisodeStatistics', () => {
  it('reports return and length only on the step that ends the episode', () => {
    const env = new RecordEpisodeStatistics(new TimeLimit(new ToyEnv(), 4), 2);
    for (let episode = 0; episode < 3; episode++) {
      env.reset({ seed: episode });
      for (let t = 1; t <= 4; t++) {
        const r = env.step([0]);
        const stats = episodeStatistics(r.info);
        if (t < 4) expect(stats).toBeUndefined();
        else expect(stats).toMatchObject({ r: 1 + 2 + 3 + 4, l: 4 });
      }
    }
    expect(env.returnQueue).toEqual([10, 10]); // capped at bufferLength 2
  });

  it('counts env steps when placed inside ActionChunk', () => {
    const env = new ActionChunk(new RecordEpisodeStatistics(new ToyEnv({ terminateAfter: 5 })), 3);
    env.reset({ seed: 0 });
    env.step([0, 0, 0]);
    const r = env.step([0, 0, 0]);
    expect(episodeStatistics(r.info)).toMatchObject({ r: 15, l: 5 });
    expect(r.info.steps).toBe(2);
  });
});

describe('NormalizeObservation', () => {
  it('applies the given fixed statistics and optional clipping', () => {
    const env = new NormalizeObservation(new ToyEnv(), { mean: [1, 2], std: [2, 0.5], epsilon: 0, clip: 3 });
    env.reset({ seed: 0 });
    const r = env.step([1]); // raw obs [position0 + 1, 1]
    expect(r.obs[1]).toBe(-2); // (1 - 2) / 0.5
    const raw = new ToyEnv();
    raw.reset({ seed: 0 });
    expect(r.obs[0]).toBeCloseTo((raw.step([1]).obs[0] - 1) / 2, 6);
    for (let i = 0; i < 6; i++) env.step([1]);
    expect(env.step([0]).obs[1]).toBe(3); // (8 - 2) / 0.5 = 12, clipped to 3
    expect(env.observationSpace.high[0]).toBe(3);
    expect(() => new NormalizeObservation(new ToyEnv(), { mean: [0], std: [1] })).toThrow(/stats have 1\/1 entries, observations have 2/);
    expect(() => new NormalizeObservation(new ToyEnv(), { mean: [0, 0], std: [1, -1], epsilon: 0 })).toThrow(/invalid stats at 1/);
  });
});

describe('action rescaling and clipping', () => {
  class WideToy extends ToyEnv {
    override readonly actionSpace = new Box([-4], [2]);
  }

  it('RescaleAction maps [-1, 1] affinely onto the env bounds and clips', () => {
    const inner = new WideToy();
    const env = new RescaleAction(inner);
    expect(Array.from(env.actionSpace.low)).toEqual([-1]);
    env.reset({ seed: 0 });
    env.step([-1]);
    env.step([1]);
    env.step([0]);
    env.step([3]);
    expect(inner.actionsTaken).toEqual([-4, 2, -1, 2]);
  });

  it('ClipAction clips to the env bounds and exposes an unbounded space', () => {
    const inner = new WideToy();
    const env = new ClipAction(inner);
    expect(env.actionSpace.isBounded()).toBe(false);
    env.reset({ seed: 0 });
    env.step([-10]);
    env.step([1.5]);
    env.step([10]);
    expect(inner.actionsTaken).toEqual([-4, 1.5, 2]);
  });
});
