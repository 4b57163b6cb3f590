import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { SyncVectorEnv } from '../src/envs/vector.ts';
import { TimeLimit } from '../src/envs/wrappers.ts';
import { deterministicActor, evaluate, TRAINING_EVAL_SEED } from '../src/run/evaluate.ts';
import { loadSacCheckpoint } from '../src/run/sac-checkpoint.ts';
import { trainSac } from '../src/run/train-sac.ts';

const EPISODE = 20;
const makeReach = async (n: number) => new SyncVectorEnv(Array.from({ length: n }, () => new TimeLimit(new Reach1D(), EPISODE)));

/** The optimal controller, acting through the same evaluation code. */
async function optimalReturn(episodes: number): Promise<number> {
  const env = await makeReach(5);
  const agent = {
    act(obs: Float32Array, rows: number) {
      const out = new Float32Array(rows);
      for (let i = 0; i < rows; i++) out[i] = Math.max(-1, Math.min(1, (obs[2 * i + 1] - obs[2 * i]) / 0.2));
      return out;
    },
  };
  const res = await evaluate(agent, env, { episodes, seed: TRAINING_EVAL_SEED });
  await env.close();
  return res.mean;
}

async function randomReturn(episodes: number): Promise<number> {
  const env = await makeReach(5);
  let k = 0;
  const res = await evaluate({ act: (_o, rows) => new Float32Array(rows).map(() => Math.sin(++k * 12.9898)) }, env, {
    episodes,
    seed: TRAINING_EVAL_SEED,
  });
  await env.close();
  return res.mean;
}

describe('SAC end to end', () => {
  it('learns Reach1D to near-optimal return within a few thousand steps', { tags: ['learning'] }, async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'dsrl-sac-')), 'run');
    const res = await trainSac(
      {
        env: 'Reach1D',
        steps: 3000,
        seed: 1,
        learningStarts: 500,
        actorHidden: [64, 64],
        criticHidden: [64, 64],
        evalEvery: 1000,
        evalEpisodes: 20,
        logEvery: 200,
        out,
        quiet: true,
        lr: 1e-3,
      },
      makeReach,
    );
    const optimal = await optimalReturn(20);
    const random = await randomReturn(20);
    expect(res.best).not.toBeNull();
    // Returns are negative distances summed over 20 steps: optimal about -4, random about -15.
    expect(res.best!.mean).toBeGreaterThan(optimal - 0.1 * Math.abs(random - optimal));
    expect(res.best!.mean).toBeLessThanOrEqual(optimal + 1e-6);
    // The run folder has what a user expects.
    for (const f of ['config.json', 'metrics.csv', 'metrics.jsonl', 'curve.svg', 'best/agent.json', 'best/agent.safetensors', 'last/agent.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(readFileSync(join(out, 'metrics.csv'), 'utf8')).toMatch(/charts\/eval_return_mean/);
    const { sac, manifest } = loadSacCheckpoint(join(out, 'best'), { obsDim: 2, actDim: 1 });
    expect(manifest.evalReturn).toBeCloseTo(res.best!.mean, 5);
    const env = await makeReach(5);
    // The saved agent gives back its training evaluation under the one protocol (same process and backend: exact).
    expect((await evaluate(deterministicActor(sac), env, { episodes: 20, seed: TRAINING_EVAL_SEED })).mean).toBe(res.best!.mean);
    await env.close();
    expect(() => loadSacCheckpoint(join(out, 'best'), { obsDim: 3, actDim: 1 })).toThrow(/obs 2 \/ action 1 dims but the env has 3 \/ 1/);
  });

  it('is reproducible under a seed', async () => {
    const run = async () => {
      const out = join(mkdtempSync(join(tmpdir(), 'dsrl-sac-')), 'run');
      const r = await trainSac(
        {
          env: 'Reach1D',
          steps: 600,
          seed: 3,
          learningStarts: 200,
          actorHidden: [16],
          criticHidden: [16],
          evalEvery: 300,
          evalEpisodes: 5,
          out,
          quiet: true,
        },
        makeReach,
      );
      return r.evals.map((e) => e.mean);
    };
    expect(await run()).toEqual(await run());
  });

  it("reward 'dense' gives a manipulation task its shaped reward (SAC from scratch's baseline); other envs refuse it by name", async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'dsrl-sac-')), 'run');
    const common = { steps: 8, learningStarts: 4, batchSize: 4, actorHidden: [8], criticHidden: [8], evalEpisodes: 1, quiet: true };
    const dense = await trainSac({ env: 'Lift-v0', reward: 'dense', out, ...common });
    // The sparse reward is -1 per step (an integer return); the shaped one is fractional, in [-1, 0] per step.
    const ret = dense.evals.at(-1)!.mean;
    expect(Number.isInteger(ret)).toBe(false);
    expect(ret).toBeGreaterThanOrEqual(-300);
    expect(ret).toBeLessThan(0);
    await expect(trainSac({ env: 'Hopper-v5', reward: 'dense', out: join(out, 'h'), ...common })).rejects.toThrow(
      /Hopper-v5: unknown option 'reward'/,
    );
  });
});
