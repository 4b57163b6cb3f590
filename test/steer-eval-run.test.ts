import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerEval } from '../src/cli/eval.ts';
import { Rng } from '../src/core/rng.ts';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { SyncVectorEnv, type VectorEnv } from '../src/envs/vector.ts';
import { ActionChunk, TimeLimit } from '../src/envs/wrappers.ts';
import { saveDiffusionCheckpoint } from '../src/policies/diffusion/checkpoint-io.ts';
import { createDiffusionNetwork, DiffusionPolicy } from '../src/policies/diffusion/policy.ts';
import { evaluateRun, type RunEnvMaker } from '../src/run/evaluate-run.ts';
import { steer } from '../src/run/steer.ts';
import { trainSac } from '../src/run/train-sac.ts';

const spec = { obsDim: 2, actDim: 1, chunk: 2, denoisingSteps: 10, ddimSteps: 3, timeDim: 8, width: 16, depth: 1 };
const policy = new DiffusionPolicy({
  spec,
  obsStats: { min: Float32Array.from([-2, -0.5]), max: Float32Array.from([1, 3]) },
  actionLow: [-1],
  actionHigh: [1],
  weights: createDiffusionNetwork(spec, Rng.fromSeed(3)).values,
});
const reach = async (n: number, chunk: number): Promise<VectorEnv> =>
  new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new TimeLimit(new Reach1D(), 12), chunk)));
const reachEnvs: RunEnvMaker = async (_id, n, chunk) => reach(n, chunk ?? 1);
const out = () => join(mkdtempSync(join(tmpdir(), 'dsrl-eval-run-')), 'run');
const common = {
  env: 'Reach1D',
  steps: 120,
  learningStarts: 24,
  numEnvs: 2,
  batchSize: 16,
  utd: 2,
  distillSteps: 2,
  actorHidden: [16],
  criticHidden: [16],
  evalEvery: 40,
  evalEpisodes: 6,
  quiet: true,
};

describe('evaluateRun (dsrl eval --run)', () => {
  for (const [name, extra] of [
    ['DSRL-NA on normalized observations', { algo: 'na', normalizeObs: true }],
    ['DSRL-SAC', { algo: 'sac' }],
  ] as const) {
    it(`${name}: the saved best and last agents give back their training evaluations on the same starts`, async () => {
      const run = await steer({ ...common, ...extra, out: out() }, policy, reach);
      // Training evaluates with seed 10000 on min(evalEpisodes, 5) sub-envs: the same batches, so the same floats.
      const same = { run: run.dir, episodes: 6, seed: 10_000, parallel: 5 };
      const best = await evaluateRun({ ...same, agent: 'best' }, policy, reachEnvs);
      expect(best.returns).toEqual(run.best!.returns);
      expect([best.trainedSteps, best.trainedEval]).toEqual([run.best!.step, run.best!.mean]);
      expect([best.algo, best.env]).toEqual([extra.algo, 'Reach1D']);
      const last = await evaluateRun({ ...same, agent: 'last' }, policy, reachEnvs);
      expect(last.returns).toEqual(run.evals.at(-1)!.returns);
      // Episodes do not depend on how many run side by side; only the policy's batch size differs, and a BLAS may
      // round rows of a different batch differently (last bits), which 12 smooth Reach1D steps keep far below 1e-4.
      const narrow = await evaluateRun({ ...same, agent: 'last', parallel: 2 }, policy, reachEnvs);
      narrow.returns.forEach((r, i) => expect(r).toBeCloseTo(last.returns[i], 4));
      // Other starts, as many as asked for.
      const fresh = await evaluateRun({ run: run.dir, agent: 'best', episodes: 9, seed: 3, parallel: 4 }, policy, reachEnvs);
      expect(fresh.returns).toHaveLength(9);
      expect(fresh.returns).not.toEqual(best.returns.slice(0, 9));
      // Sampled actions (--stochastic): each episode draws from its own stream, so the episodes do not depend on
      // how many run side by side either (same BLAS tolerance as above), and they differ from the mean's.
      const sampled = await evaluateRun({ ...same, agent: 'best', stochastic: true }, policy, reachEnvs);
      const sampledNarrow = await evaluateRun({ ...same, agent: 'best', stochastic: true, parallel: 2 }, policy, reachEnvs);
      sampledNarrow.returns.forEach((r, i) => expect(r).toBeCloseTo(sampled.returns[i], 4));
      expect(sampled.returns.some((r, i) => Math.abs(r - best.returns[i]) > 1e-3)).toBe(true);
    });
  }

  it('residual SAC runs too; folders without an agent are refused, naming the problem', async () => {
    const residual = await steer({ ...common, algo: 'residual', out: out() }, policy, reach);
    const res = await evaluateRun({ run: residual.dir, agent: 'best', episodes: 4, seed: 1, parallel: 2 }, policy, reachEnvs);
    expect(res.returns).toHaveLength(4);
    expect(res.lengths.every((l) => l === 12)).toBe(true);

    const base = await steer({ ...common, algo: 'base', steps: undefined, out: out() }, policy, reach);
    await expect(evaluateRun({ run: base.dir, agent: 'best', episodes: 2, seed: 0, parallel: 1 }, policy, reachEnvs)).rejects.toThrow(
      /a base policy run has no agent to evaluate/,
    );
    const missing = join(tmpdir(), 'dsrl-no-such-run');
    await expect(evaluateRun({ run: missing, agent: 'best', episodes: 2, seed: 0, parallel: 1 }, policy, reachEnvs)).rejects.toThrow(
      /dsrl-no-such-run: no config\.json, so it is not a dsrl run folder/,
    );
    rmSync(join(residual.dir, 'last'), { recursive: true });
    await expect(evaluateRun({ run: residual.dir, agent: 'last', episodes: 2, seed: 0, parallel: 1 }, policy, reachEnvs)).rejects.toThrow(
      /no last\/actor\.safetensors yet/,
    );
    await expect(evaluateRun({ run: residual.dir, agent: 'best', episodes: 0, seed: 0, parallel: 1 }, policy, reachEnvs)).rejects.toThrow(
      /episodes must be a positive integer, got 0/,
    );
    const spec3 = { ...spec, obsDim: 3 };
    const other = new DiffusionPolicy({
      spec: spec3,
      obsStats: { min: new Float32Array(3), max: new Float32Array(3).fill(1) },
      actionLow: [-1],
      actionHigh: [1],
      weights: createDiffusionNetwork(spec3, Rng.fromSeed(1)).values,
    });
    await expect(evaluateRun({ run: residual.dir, agent: 'best', episodes: 2, seed: 0, parallel: 1 }, other, reachEnvs)).rejects.toThrow(
      /base policy does not fit Reach1D: the policy takes observations of dim 3/,
    );
  });

  it('dsrl eval --run reloads the base policy the run names and prints the evaluation (Hopper-v5, tiny networks)', async () => {
    const hopperSpec = { obsDim: 11, actDim: 3, chunk: 4, denoisingSteps: 10, ddimSteps: 2, timeDim: 8, width: 16, depth: 1 };
    const hopperPolicy = new DiffusionPolicy({
      spec: hopperSpec,
      obsStats: { min: new Float32Array(11).fill(-5), max: new Float32Array(11).fill(5) },
      actionLow: [-1, -1, -1],
      actionHigh: [1, 1, 1],
      weights: createDiffusionNetwork(hopperSpec, Rng.fromSeed(8)).values,
    });
    const checkpoint = join(mkdtempSync(join(tmpdir(), 'dsrl-eval-run-policy-')), 'hopper');
    saveDiffusionCheckpoint(checkpoint, hopperPolicy, { envId: 'Hopper-v5' });
    const run = await steer(
      {
        ...common,
        env: 'Hopper-v5',
        algo: 'sac',
        policy: checkpoint,
        steps: 64,
        learningStarts: 32,
        evalEvery: 64,
        evalEpisodes: 2,
        out: out(),
      },
      hopperPolicy,
    );
    const cli = async (...args: string[]): Promise<string[]> => {
      const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
      registerEval(program);
      const lines: string[] = [];
      const original = console.log;
      console.log = (line: string) => lines.push(line);
      try {
        await program.parseAsync(['node', 'dsrl', 'eval', ...args]);
      } finally {
        console.log = original;
      }
      return lines;
    };
    const [text] = await cli('--run', run.dir, '--episodes', '2', '--parallel', '2', '--seed', '10000');
    expect(text).toMatch(
      new RegExp(
        `^eval .*: sac best agent \\(saved at ${run.best!.step} env steps, training eval return -?[\\d.]+\\) on Hopper-v5, 2 episodes \\(seed 10000\\): return -?[\\d.]+ ± [\\d.]+`,
      ),
    );
    const [json] = await cli('--run', run.dir, '--agent', 'last', '--episodes', '2', '--parallel', '2', '--seed', '10000', '--json');
    expect(JSON.parse(json).returns).toEqual(run.evals.at(-1)!.returns);
    await expect(cli('--run', run.dir, '--env', 'Walker2d-v5')).rejects.toThrow(/--env does not apply with --run/);
    await expect(cli('--run', run.dir, '--agent', 'first')).rejects.toThrow(/--agent must be best or last, got "first"/);
    await expect(cli('--episodes', '2')).rejects.toThrow(/give --policy <checkpoint folder>, or --run <run folder>/);
    await expect(cli('--policy', 'models/hopper', '--stochastic')).rejects.toThrow(/--stochastic applies to a run's agent: give --run/);
    const [sampled] = await cli('--run', run.dir, '--episodes', '2', '--parallel', '2', '--seed', '10000', '--stochastic');
    expect(sampled).toMatch(/^eval .*: sac best agent \(sampled actions\) \(saved at/);
    // A `dsrl sac` run folder: the same command evaluates its SAC agent on the env alone.
    const sacRun = await trainSac({
      env: 'Hopper-v5',
      steps: 64,
      seed: 1,
      learningStarts: 32,
      batchSize: 16,
      actorHidden: [16],
      criticHidden: [16],
      evalEvery: 64,
      evalEpisodes: 2,
      out: out(),
      quiet: true,
    });
    const [sacJson] = await cli('--run', sacRun.dir, '--episodes', '2', '--parallel', '2', '--seed', '10000', '--json');
    expect(JSON.parse(sacJson)).toMatchObject({ algo: 'scratch', env: 'Hopper-v5', returns: sacRun.best!.returns });
    await expect(cli('--run', sacRun.dir, '--policy', checkpoint)).rejects.toThrow(
      /is a SAC-from-scratch run: it has no base policy, so --policy does not apply/,
    );
  });

  it('a dsrl sac run: its saved agents give back their training evaluations', async () => {
    const makeReach = async (n: number): Promise<VectorEnv> => new SyncVectorEnv(Array.from({ length: n }, () => new TimeLimit(new Reach1D(), 12)));
    const run = await trainSac(
      {
        env: 'Reach1D',
        steps: 300,
        seed: 2,
        learningStarts: 100,
        actorHidden: [16],
        criticHidden: [16],
        evalEvery: 150,
        evalEpisodes: 6,
        out: out(),
        quiet: true,
      },
      makeReach,
    );
    const noPolicy = async (): Promise<never> => {
      throw new Error('a SAC run loads no base policy');
    };
    const evaluateSacRun = (input: Parameters<typeof evaluateRun>[0]) => evaluateRun(input, noPolicy, (_id, n) => makeReach(n));
    const best = await evaluateSacRun({ run: run.dir, agent: 'best', episodes: 6, seed: 10_000, parallel: 5 });
    expect(best.returns).toEqual(run.best!.returns);
    expect([best.algo, best.trainedSteps, best.trainedEval]).toEqual(['scratch', run.best!.step, run.best!.mean]);
    const last = await evaluateSacRun({ run: run.dir, agent: 'last', episodes: 6, seed: 10_000, parallel: 5 });
    expect(last.returns).toEqual(run.evals.at(-1)!.returns);
    // Another batching: the same episodes; a BLAS may round rows of another batch size in the last bits.
    const narrow = await evaluateSacRun({ run: run.dir, agent: 'last', episodes: 6, seed: 10_000, parallel: 3 });
    narrow.returns.forEach((r, i) => expect(r).toBeCloseTo(last.returns[i], 4));
    rmSync(join(run.dir, 'last'), { recursive: true });
    await expect(evaluateSacRun({ run: run.dir, agent: 'last', episodes: 2, seed: 0, parallel: 1 })).rejects.toThrow(/no last\/agent\.json yet/);
  });
});
