/**
 * `dsrl sac`: SAC from scratch on a registered env, through the shared off-policy loop, with a run
 * folder (config.json, metrics.csv/jsonl, TensorBoard events, curve.svg, best/last checkpoints).
 */
import { join } from 'node:path';
import { z } from 'zod';
import { SAC, sacDefaults } from '../algos/sac.ts';
import { Rng } from '../core/rng.ts';
import { ReplayBuffer } from '../data/replay-buffer.ts';
import { SyncVectorEnv, type VectorEnv } from '../envs/vector.ts';
import { writeFileAtomic } from '../node/fs.ts';
import { curveSvg } from './curve.ts';
import { MetricsLogger } from './metrics.ts';
import { createOffPolicyLoop, type EvalResult } from './offpolicy.ts';
import { ProgressBar } from './progress.ts';
import { createRunDir } from './run-dir.ts';
import { saveSacCheckpoint } from './sac-checkpoint.ts';

/** `dsrl sac` options, with CleanRL's sac_continuous_action.py defaults where it has one. */
export const sacRunSchema = z.object({
  env: z.string(),
  steps: z.number().int().positive(),
  seed: z.number().int().nonnegative().default(1),
  numEnvs: z.number().int().positive().default(1),
  /** CleanRL learning_starts = 5e3 env steps of uniform random actions. */
  learningStarts: z.number().int().nonnegative().default(5000),
  updatesPerStep: z.number().int().positive().default(1),
  batchSize: z.number().int().positive().default(256),
  bufferSize: z.number().int().positive().default(1_000_000),
  hidden: z.array(z.number().int().positive()).default([256, 256]),
  criticLayerNorm: z.boolean().default(false),
  lr: z.number().positive().default(3e-4),
  gamma: z.number().min(0).max(1).default(0.99),
  tau: z.number().min(0).max(1).default(0.005),
  evalEvery: z.number().int().nonnegative().default(10_000),
  evalEpisodes: z.number().int().positive().default(10),
  logEvery: z.number().int().positive().default(1000),
  out: z.string().optional(),
  /** Keep a checkpoint of every evaluation under checkpoints/step-N (to pick policies of a given quality later). */
  keepSnapshots: z.boolean().default(false),
  quiet: z.boolean().default(false),
}).strict();

export type SacRunConfig = z.infer<typeof sacRunSchema>;

export interface SacRunResult {
  dir: string;
  evals: EvalResult[];
  best: EvalResult | null;
  seconds: number;
}

export async function trainSac(input: z.input<typeof sacRunSchema>, makeVectorEnv?: (n: number) => Promise<VectorEnv>): Promise<SacRunResult> {
  const parsed = sacRunSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`sac config: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const cfg = parsed.data;
  const make = makeVectorEnv ?? ((n: number) => SyncVectorEnv.create(cfg.env, n));
  const env = await make(cfg.numEnvs);
  const evalEnv = await make(Math.min(cfg.evalEpisodes, 5));
  const { dir } = createRunDir({ algo: 'sac', env: cfg.env, seed: cfg.seed, config: cfg, out: cfg.out });
  const obsDim = env.singleObservationSpace.size;
  const actDim = env.singleActionSpace.size;
  const rng = Rng.fromSeed(cfg.seed);
  const sac = new SAC(
    sacDefaults(obsDim, actDim, {
      actionLow: Array.from(env.singleActionSpace.low), actionHigh: Array.from(env.singleActionSpace.high),
      actorHidden: cfg.hidden, criticHidden: cfg.hidden, criticLayerNorm: cfg.criticLayerNorm,
      actorLr: cfg.lr, criticLr: cfg.lr, alphaLr: cfg.lr, gamma: cfg.gamma, tau: cfg.tau,
    }),
    rng.split(),
    cfg.batchSize,
  );
  const buffer = new ReplayBuffer({ capacity: Math.min(cfg.bufferSize, cfg.steps), obsDim, actionDim: actDim, rng: rng.split() });
  const logger = new MetricsLogger(dir);
  const bar = new ProgressBar({ total: cfg.steps, label: `sac ${cfg.env}`, ...(cfg.quiet ? { stream: { write: () => true } } : {}) });
  const evals: EvalResult[] = [];
  let best: EvalResult | null = null;
  const low = env.singleActionSpace.low;
  const high = env.singleActionSpace.high;
  const t0 = performance.now();

  const loop = await createOffPolicyLoop({
    agent: sac, env, evalEnv, buffer, rng: rng.split(), seed: cfg.seed,
    config: {
      totalSteps: cfg.steps, learningStarts: cfg.learningStarts, updatesPerStep: cfg.updatesPerStep,
      batchSize: cfg.batchSize, evalEvery: cfg.evalEvery, evalEpisodes: cfg.evalEpisodes, logEvery: cfg.logEvery,
    },
    callbacks: {
      warmupActions: (r, out) => {
        for (let i = 0; i < out.length; i++) out[i] = r.uniformRange(low[i % actDim], high[i % actDim]);
      },
      log: (step, values) => logger.log(step, values),
      progress: (step, fields) => bar.update(step, fields),
      onEval: (res) => {
        evals.push(res);
        const meta = { env: cfg.env, step: res.step, evalReturn: res.mean };
        saveSacCheckpoint(join(dir, 'last'), sac, meta);
        if (cfg.keepSnapshots) saveSacCheckpoint(join(dir, 'checkpoints', `step-${res.step}`), sac, meta);
        if (!best || res.mean > best.mean) {
          best = res;
          saveSacCheckpoint(join(dir, 'best'), sac, meta);
        }
        writeFileAtomic(join(dir, 'curve.svg'), curveSvg({
          title: `SAC on ${cfg.env} (seed ${cfg.seed})`, xLabel: 'env steps', yLabel: 'eval return',
          series: [{ name: 'SAC', points: evals.map((e) => [e.step, e.mean] as [number, number]) }],
        }));
      },
    },
  });
  try {
    await loop.run();
  } finally {
    bar.finish();
    logger.close();
    await env.close();
    await evalEnv.close();
  }
  return { dir, evals, best, seconds: (performance.now() - t0) / 1000 };
}
