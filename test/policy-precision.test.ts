/** A base policy in bf16 (where the CPU has AVX512-BF16): close to fp32, and fp32 again on request. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { bf16Available } from '../src/nn/bf16.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';

const hopperDir = join(import.meta.dirname, '..', 'models', 'hopper');

describe('base policy precision', () => {
  it('bf16 where available (else it stays fp32), close to fp32 on the shipped Hopper policy, and back to fp32 exactly', () => {
    const policy = loadDiffusionPolicy(hopperDir, { expect: { obsDim: 11, actDim: 3 } });
    const B = 64;
    const rng = Rng.fromSeed(3);
    // Observations inside the policy's training range, noise N(0, I).
    const obs = new Float32Array(B * 11);
    for (let i = 0; i < obs.length; i++) {
      const j = i % 11;
      obs[i] = policy.obsStats.min[j] + rng.uniform() * (policy.obsStats.max[j] - policy.obsStats.min[j]);
    }
    const noise = rng.fillNormal(new Float32Array(B * 12));
    const fp32 = policy.act(obs, noise, B).slice();
    const used = policy.usePrecision('bf16');
    expect(used).toBe(bf16Available() ? 'bf16' : 'fp32');
    const reduced = policy.act(obs, noise, B).slice();
    let maxDiff = 0;
    for (let i = 0; i < fp32.length; i++) maxDiff = Math.max(maxDiff, Math.abs(reduced[i] - fp32[i]));
    // bf16 keeps 8 bits of mantissa (relative rounding 2^-9 per value); through 5 DDIM steps of a 3-layer
    // residual MLP the measured worst action difference on this policy was 1.9e-2 of a range of 2 (bench:bf16).
    expect(maxDiff).toBeLessThan(0.05);
    if (used === 'bf16') expect(maxDiff).toBeGreaterThan(0); // the bf16 path really ran
    expect(policy.usePrecision('fp32')).toBe('fp32');
    expect(Array.from(policy.act(obs, noise, B))).toEqual(Array.from(fp32));
  });
});
