/**
 * Registers the Fork toy task (src/envs/toy/fork.ts) as 'Fork-v0' with a 12-step limit when imported, so
 * a process that makes envs by id (test/fixtures/env-stdio.ts behind the Python adapter) has it; and a
 * small base policy cloned from its demonstrations, chunk 4, succeeding about half the time.
 */
import { Rng } from '../../src/core/rng.ts';
import { registerEnv, registeredEnvIds } from '../../src/envs/registry.ts';
import { Fork, forkDemonstrations, type ForkOptions } from '../../src/envs/toy/fork.ts';
import type { DiffusionPolicy } from '../../src/policies/diffusion/policy.ts';
import { buildChunkData, DiffusionTrainer } from '../../src/policies/diffusion/train.ts';

export const FORK_ID = 'Fork-v0';
export const FORK_STEPS = 12;
export const FORK_CHUNK = 4;
export const FORK_ENV_MODULE = new URL(import.meta.url).pathname;

if (!registeredEnvIds().includes(FORK_ID)) {
  registerEnv({ id: FORK_ID, entryPoint: (options) => new Fork(options as ForkOptions), maxEpisodeSteps: FORK_STEPS });
}

/** The base policy: 400 demonstrations, 1500 steps of denoising training (about a second on one core). */
export function forkBasePolicy(): DiffusionPolicy {
  const data = buildChunkData(forkDemonstrations(400, FORK_STEPS, Rng.fromSeed(0)), {
    chunk: FORK_CHUNK,
    tail: 'skip',
    actionLow: [-1],
    actionHigh: [1],
  });
  const spec = { obsDim: 1, actDim: 1, chunk: FORK_CHUNK, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 64, depth: 2 };
  const steps = 1500;
  const trainer = new DiffusionTrainer(spec, data, { steps, batchSize: 256, lr: 1e-3, seed: 0, emaDecay: 0.99, emaEvery: 1, emaStart: 900 });
  for (let i = 0; i < steps; i++) trainer.trainStep();
  return trainer.policy();
}
