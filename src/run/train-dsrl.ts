/**
 * `dsrl steer`: DSRL-NA or DSRL-SAC on a base policy (any NoisePolicy) through the shared
 * off-policy loop. The run folder holds config.json, metrics (csv, jsonl, TensorBoard), curve.svg
 * with the base policy's return as a reference line, and best/last agent weights.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { DsrlNA, dsrlNaDefaults } from '../algos/dsrl/dsrl-na.ts';
import { NoiseActionVectorEnv } from '../algos/dsrl/noise-action-env.ts';
import { SAC, sacDefaults } from '../algos/sac.ts';
import { Rng } from '../core/rng.ts';
import { ReplayBuffer } from '../data/replay-buffer.ts';
import { makeEnv } from '../envs/registry.ts';
import { SyncVectorEnv, type VectorEnv } from '../envs/vector.ts';
import { ActionChunk } from '../envs/wrappers.ts';
import { writeFileAtomic } from '../node/fs.ts';
import { saveSafetensors } from '../node/safetensors-io.ts';
import { modelTensors } from '../nn/safetensors.ts';
import type { NoisePolicy } from '../policies/policy.ts';
import { curveSvg } from './curve.ts';
import { MetricsLogger } from './metrics.ts';
import { createOffPolicyLoop, evaluate, type EvalResult, type OffPolicyAgent } from './offpolicy.ts';
import { ProgressBar } from './progress.ts';
import { createRunDir } from './run-dir.ts';

/** Defaults: the DSRL reference's Gym settings (shared/reference/dsrl.md) unless noted. */
export const steerSchema = z.object({
  env: z.string(),
  algo: z.enum(['na', 'sac']).default('na'),
  steps: z.number().int().positive(),
  seed: z.number().int().nonnegative().default(1),
  numEnvs: z.number().int().positive().default(4),
  /** M: noise bound (reference: Hopper 1.5, Walker2d 2.5, HalfCheetah 1.5). */
  actionMagnitude: z.number().positive().default(1.5),
  /** Gradient updates per vector step (reference: 20). */
  utd: z.number().int().positive().default(20),
  distillSteps: z.number().int().nonnegative().default(10),
  /** Env steps of the base policy with N(0, I) noise before learning (chunk length counted). */
  learningStarts: z.number().int().nonnegative().default(4000),
  batchSize: z.number().int().positive().default(256),
  actorHidden: z.array(z.number().int().positive()).default([128, 128, 128]),
  criticHidden: z.array(z.number().int().positive()).default([128, 128, 128]),
  lr: z.number().positive().default(3e-4),
  gamma: z.number().min(0).max(1).default(0.99),
  evalEvery: z.number().int().nonnegative().default(5000),
  evalEpisodes: z.number().int().positive().default(10),
  logEvery: z.number().int().positive().default(1000),
  out: z.string().optional(),
  quiet: z.boolean().default(false),
}).strict();

export type SteerConfig = z.infer<typeof steerSchema>;

export interface SteerResult {
  dir: string;
  base: Omit<EvalResult, 'step'>;
  evals: EvalResult[];
  best: EvalResult | null;
  seconds: number;
}

/** A vector env of ActionChunk(Ta)-wrapped copies of a registered env. */
export async function chunkedVectorEnv(id: string, n: number, chunk: number): Promise<VectorEnv> {
  const envs = [];
  for (let i = 0; i < n; i++) envs.push(new ActionChunk(await makeEnv(id), chunk));
  return new SyncVectorEnv(envs);
}

export async function steer(
  input: z.input<typeof steerSchema>, policy: NoisePolicy,
  makeInner: (n: number, chunk: number) => Promise<VectorEnv> = (n, chunk) => chunkedVectorEnv(input.env, n, chunk),
): Promise<SteerResult> {
  const parsed = steerSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`steer config: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const cfg = parsed.data;
  const M = cfg.actionMagnitude;
  const chunkDim = policy.chunk * policy.actDim;
  const env = new NoiseActionVectorEnv(await makeInner(cfg.numEnvs, policy.chunk), policy, M);
  const evalEnv = new NoiseActionVectorEnv(await makeInner(Math.min(cfg.evalEpisodes, 5), policy.chunk), policy, M);
  const obsDim = env.singleObservationSpace.size;
  const { dir } = createRunDir({ algo: `dsrl-${cfg.algo}`, env: cfg.env, seed: cfg.seed, config: cfg, out: cfg.out });
  const rng = Rng.fromSeed(cfg.seed);
  const t0 = performance.now();

  // The base policy alone, with N(0, I) noise: the line DSRL has to beat.
  const baseRng = rng.derive('base-eval');
  const base = await evaluate({ act: (_o, rows) => baseRng.fillNormal(new Float32Array(rows * chunkDim)) }, evalEnv, cfg.evalEpisodes, { seed: 10_000 });

  let agent: OffPolicyAgent & { actor: import('../nn/module.ts').Model };
  if (cfg.algo === 'na') {
    agent = new DsrlNA(dsrlNaDefaults(obsDim, chunkDim, {
      actionMagnitude: M, actorHidden: cfg.actorHidden, criticHidden: cfg.criticHidden, lr: cfg.lr, gamma: cfg.gamma,
      utd: cfg.utd, distillSteps: cfg.distillSteps,
    }), policy, rng.split(), cfg.batchSize);
  } else {
    agent = new SAC(sacDefaults(obsDim, chunkDim, {
      actionLow: new Array(chunkDim).fill(-M), actionHigh: new Array(chunkDim).fill(M), actorHidden: cfg.actorHidden,
      criticHidden: cfg.criticHidden, criticLayerNorm: true, activation: 'tanh', targetEntropy: 0,
      actorLr: cfg.lr, criticLr: cfg.lr, alphaLr: cfg.lr, gamma: cfg.gamma,
    }), rng.split(), cfg.batchSize);
  }
  const buffer = new ReplayBuffer({
    capacity: Math.ceil(cfg.steps / policy.chunk) + cfg.numEnvs, obsDim, actionDim: chunkDim,
    fields: cfg.algo === 'na' ? { realActions: chunkDim } : {}, rng: rng.split(),
  });
  const logger = new MetricsLogger(dir);
  logger.log(0, { 'charts/base_return_mean': base.mean, 'charts/base_return_std': base.std });
  const bar = new ProgressBar({ total: cfg.steps, label: `dsrl-${cfg.algo} ${cfg.env}`, ...(cfg.quiet ? { stream: { write: () => true } } : {}) });
  const evals: EvalResult[] = [];
  let best: EvalResult | null = null;
  const saveAgent = (name: string, res: EvalResult) => {
    saveSafetensors(join(dir, name, 'actor.safetensors'), modelTensors(agent.actor), {
      algo: `dsrl-${cfg.algo}`, env: cfg.env, step: String(res.step), eval_return: String(res.mean), action_magnitude: String(M),
    });
  };

  const loop = await createOffPolicyLoop({
    agent, env, evalEnv, buffer, rng: rng.split(), seed: cfg.seed,
    config: {
      totalSteps: cfg.steps, learningStarts: cfg.learningStarts, updatesPerStep: cfg.utd, batchSize: cfg.batchSize,
      evalEvery: cfg.evalEvery, evalEpisodes: cfg.evalEpisodes, logEvery: cfg.logEvery,
    },
    callbacks: {
      // Warm-up is the base policy itself: N(0, I) noise, clipped to the agent's range.
      warmupActions: (r, out) => {
        for (let i = 0; i < out.length; i++) out[i] = Math.max(-M, Math.min(M, r.normal()));
      },
      transitionFields: cfg.algo === 'na' ? () => ({ realActions: env.lastActions }) : undefined,
      log: (step, values) => logger.log(step, values),
      progress: (step, fields) => bar.update(step, { ...fields, base: Number(base.mean.toPrecision(4)) }),
      onEval: (res) => {
        evals.push(res);
        saveAgent('last', res);
        if (!best || res.mean > best.mean) {
          best = res;
          saveAgent('best', res);
        }
        writeFileAtomic(join(dir, 'curve.svg'), curveSvg({
          title: `DSRL-${cfg.algo.toUpperCase()} on ${cfg.env} (seed ${cfg.seed})`, xLabel: 'env steps', yLabel: 'eval return',
          series: [{ name: `DSRL-${cfg.algo.toUpperCase()}`, points: evals.map((e) => [e.step, e.mean] as [number, number]) }],
          hlines: [{ name: 'base policy', value: base.mean }],
        }));
      },
    },
  });
  try {
    await loop.run();
  } finally {
    bar.finish();
    logger.close();
    await env.inner.close();
    await evalEnv.inner.close();
  }
  return { dir, base, evals, best, seconds: (performance.now() - t0) / 1000 };
}
