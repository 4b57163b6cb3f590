/** VectorWrapper: wrappers that share a base policy close their inner env only, never the policy. */
import { describe, expect, it } from 'vitest';
import { NoiseActionVectorEnv } from '../src/algos/dsrl/noise-action-env.ts';
import { ResidualActionVectorEnv } from '../src/algos/residual-sac.ts';
import { Rng } from '../src/core/rng.ts';
import { BimodalChoice } from '../src/envs/toy/bimodal.ts';
import { SyncVectorEnv } from '../src/envs/vector.ts';
import { ActionChunk } from '../src/envs/wrappers.ts';
import type { NoisePolicy } from '../src/policies/policy.ts';

function countingPolicy(): NoisePolicy & { closed: number } {
  return {
    obsDim: 1,
    actDim: 2,
    chunk: 1,
    actionLow: Float32Array.of(-1, -1),
    actionHigh: Float32Array.of(1, 1),
    closed: 0,
    act: (_obs, noise, batch) => noise.slice(0, batch * 2).map(Math.tanh),
    close() {
      this.closed++;
    },
  };
}

const inner = () => new SyncVectorEnv([new ActionChunk(new BimodalChoice(), 1), new ActionChunk(new BimodalChoice(), 1)]);

describe('VectorWrapper', () => {
  it('closing noise-action and residual wrappers closes their envs, not the policy they share', async () => {
    const policy = countingPolicy();
    const a = new NoiseActionVectorEnv(inner(), policy, 1.5);
    const b = new ResidualActionVectorEnv(inner(), policy, 0.2, Rng.fromSeed(1));
    await a.reset({ seed: 0 });
    await b.reset({ seed: 0 });
    await a.step(new Float32Array(4));
    await a.close();
    await b.close();
    expect(policy.closed).toBe(0);
    await expect(a.inner.step(new Float32Array(4))).rejects.toThrow(/used after close/);
  });

  it('a policy that does not fit the env is refused by the one check, naming both sides', () => {
    const policy = { ...countingPolicy(), obsDim: 3 };
    expect(() => new NoiseActionVectorEnv(inner(), policy, 1.5)).toThrow(
      /base policy does not fit the env: the policy takes observations of dim 3 .* the env has observations of dim 1/,
    );
    expect(() => new ResidualActionVectorEnv(inner(), policy, 0.2, Rng.fromSeed(1))).toThrow(/base policy does not fit the env/);
  });
});
