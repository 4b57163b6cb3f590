/** `dsrl pack`: a run's agent as a small, movable folder that `dsrl eval --run` evaluates like the run itself. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerEval } from '../src/cli/eval.ts';
import { Rng } from '../src/core/rng.ts';
import { saveDiffusionCheckpoint } from '../src/policies/diffusion/checkpoint-io.ts';
import { createDiffusionNetwork, DiffusionPolicy } from '../src/policies/diffusion/policy.ts';
import { packRun, resolveRunPath } from '../src/run/pack-run.ts';
import { steer } from '../src/run/steer.ts';

async function evalJson(...args: string[]): Promise<{ returns: number[] }> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
  registerEval(program);
  const lines: string[] = [];
  const original = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    await program.parseAsync(['node', 'dsrl', 'eval', ...args, '--json']);
  } finally {
    console.log = original;
  }
  return JSON.parse(lines[0]);
}

describe('dsrl pack', () => {
  it('keeps agents, config, summary, metrics, curve and episodes, drops the training state, and evaluates the same after a move', async () => {
    // A tiny Hopper base policy saved as a checkpoint folder, steered for a few updates with a checkpoint saved.
    const spec = { obsDim: 11, actDim: 3, chunk: 4, denoisingSteps: 10, ddimSteps: 2, timeDim: 8, width: 16, depth: 1 };
    const policy = new DiffusionPolicy({
      spec,
      obsStats: { min: new Float32Array(11).fill(-5), max: new Float32Array(11).fill(5) },
      actionLow: [-1, -1, -1],
      actionHigh: [1, 1, 1],
      weights: createDiffusionNetwork(spec, Rng.fromSeed(8)).values,
    });
    const root = mkdtempSync(join(tmpdir(), 'dsrl-pack-'));
    const models = join(root, 'models');
    mkdirSync(models);
    saveDiffusionCheckpoint(join(models, 'hopper'), policy, { envId: 'Hopper-v5' });
    const run = await steer(
      {
        env: 'Hopper-v5',
        algo: 'na',
        policy: join(models, 'hopper'),
        steps: 64,
        learningStarts: 32,
        numEnvs: 2,
        batchSize: 16,
        utd: 1,
        distillSteps: 1,
        actorHidden: [16],
        criticHidden: [16],
        evalEvery: 64,
        evalEpisodes: 2,
        checkpointEvery: 64,
        out: join(root, 'runs', 'run'),
        quiet: true,
      },
      policy,
    );
    expect(existsSync(join(run.dir, 'train-state'))).toBe(true);
    const packed = packRun(run.dir, join(models, 'hopper-dsrl'));
    expect(packed.files).toContain('best/actor.safetensors');
    expect(packed.files).toContain('config.json');
    expect(packed.files).toContain('summary.json');
    expect(packed.files.some((f) => f.startsWith('train-state') || f.startsWith('events.'))).toBe(false);
    const config = JSON.parse(readFileSync(join(packed.out, 'config.json'), 'utf8'));
    expect(config.policy).toBe(join('..', 'hopper'));
    expect(config.out).toBeUndefined();
    expect(resolveRunPath(packed.out, config.policy)).toBe(join(models, 'hopper'));

    const same = ['--episodes', '2', '--parallel', '2', '--seed', '10000'];
    const original = await evalJson('--run', run.dir, ...same);
    // Move the models folder (policy and packed agent together): the relative policy still resolves.
    renameSync(models, join(root, 'moved'));
    const moved = await evalJson('--run', join(root, 'moved', 'hopper-dsrl'), ...same);
    expect(moved.returns).toEqual(original.returns);

    expect(() => packRun(run.dir, join(root, 'moved', 'hopper-dsrl'))).toThrow(/already exists; pack into a new folder/);
    expect(() => packRun(join(root, 'moved'), join(root, 'x'))).toThrow(/config\.json/);

    // A run trained with offline data (stored as an absolute path) ships it relative to the packed folder too.
    const saved = JSON.parse(readFileSync(join(run.dir, 'config.json'), 'utf8'));
    writeFileSync(join(run.dir, 'config.json'), JSON.stringify({ ...saved, offline: join(root, 'data', 'demos.hdf5') }));
    const withData = packRun(run.dir, join(root, 'moved', 'with-data'));
    const packedData = JSON.parse(readFileSync(join(withData.out, 'config.json'), 'utf8'));
    expect(packedData.offline).toBe(join('..', '..', 'data', 'demos.hdf5'));
  });
});
