/**
 * Pruning old checkpoints must never leave a folder that looks complete but is not: a process killed while
 * a checkpoint folder is being deleted (files go one by one, alphabetically) must leave it without its
 * manifest, so it is not listed. The kill is simulated by an rmSync that deletes a checkpoint folder's
 * first file and then throws.
 */
import * as fs from 'node:fs';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { ReplayBuffer } from '../src/data/replay-buffer.ts';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { SyncVectorEnv } from '../src/envs/vector.ts';
import type { LoopCheckpoint } from '../src/run/offpolicy.ts';

const kill = { armed: false };

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    rmSync(path: fs.PathLike, options?: fs.RmOptions) {
      const p = String(path);
      if (kill.armed && options?.recursive && /step-\d+$/.test(p) && !p.includes('.tmp-') && !p.includes('.old-')) {
        // Killed part-way: the first file (alphabetical, as a recursive delete goes) is gone, the rest stays.
        const first = real.readdirSync(p).sort()[0];
        if (first !== undefined) real.rmSync(join(p, first), { force: true });
        throw new Error('killed while deleting');
      }
      return real.rmSync(path, options);
    },
  };
});

const { listCheckpoints, saveCheckpoint } = await import('../src/run/checkpoint.ts');

describe('checkpoint pruning', () => {
  it('a kill while an old checkpoint is deleted leaves it unlisted (its manifest goes first)', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'dsrl-prune-')), 'train-state');
    const env = new SyncVectorEnv([new Reach1D()]);
    await env.reset({ seed: 0 });
    const buffer = new ReplayBuffer({ capacity: 4, obsDim: 2, actionDim: 1, seed: 1 });
    const loopAt = (envSteps: number): LoopCheckpoint => ({
      version: 2,
      state: {
        envSteps,
        vectorSteps: envSteps,
        updates: 0,
        nextEvalAt: 100,
        episodes: 0,
        runningReturn: [0],
        runningLength: [0],
        obs: new Float32Array(2),
        ended: [false],
        rng: Rng.fromSeed(0).state(),
      },
      metrics: { sums: {}, count: 0, lastLogAt: 0 },
    });
    const agent = { state: () => ({ w: new Float32Array([1]) }), load: () => {} };
    const save = (step: number) => saveCheckpoint(root, { kind: 'test', agent, buffer, env, loop: { checkpoint: () => loopAt(step) } }, { keep: 1 });
    await save(10);
    kill.armed = true;
    await expect(save(20)).rejects.toThrow(/killed while deleting/);
    kill.armed = false;
    // The old folder is still on disk, part-deleted, but only the new checkpoint counts.
    expect(readdirSync(root).filter((n) => n.startsWith('step-'))).toHaveLength(2);
    expect(listCheckpoints(root).map((c) => c.step)).toEqual([20]);
    await env.close();
  });
});
