/**
 * `dsrl sac`: SAC from scratch on a registered env (the action-space baseline), through the run harness.
 * Its options' schema is the one source of their names, defaults and help text (the CLI's flags come
 * from it); the names are those of `dsrl steer` wherever the option is the same.
 */
import { z } from 'zod';
import { SAC, sacDefaults } from '../algos/sac.ts';
import { Rng } from '../core/rng.ts';
import { SyncVectorEnv, type VectorEnv } from '../envs/vector.ts';
import { checkSchedule, runTraining, type RunResult } from './harness.ts';
import { checkRunFolderPath } from './run-dir.ts';
import { parseConfig, readConfigFile, renameOptions, RESUME_OVERRIDABLE, resumedConfig, runControlShape, storedConfig } from './run-config.ts';
import { saveSacCheckpoint } from './sac-checkpoint.ts';

/** `dsrl sac` options, with CleanRL's sac_continuous_action.py defaults where it has one. */
export const sacRunSchema = z
  .object({
    env: z.string().describe('env id, e.g. Hopper-v5'),
    reward: z
      .enum(['sparse', 'dense'])
      .optional()
      .describe("manipulation tasks' reward: sparse (-1 per step, 0 on success; the default) or dense (shaped; SAC from scratch needs it to start)"),
    steps: z.number().int().positive().max(1e9).describe('env steps to train for (on resume it may raise the total)'),
    seed: z.number().int().nonnegative().default(1).describe('random seed'),
    numEnvs: z.number().int().positive().max(256).default(1).describe('parallel training envs'),
    learningStarts: z.number().int().nonnegative().default(5000).describe('env steps of uniform random actions before learning (CleanRL: 5e3)'),
    utd: z.number().int().positive().default(1).describe('gradient updates per vector step'),
    batchSize: z.number().int().positive().default(256).describe('batch size'),
    bufferSize: z.number().int().positive().default(1_000_000).describe('replay buffer capacity'),
    actorHidden: z.array(z.number().int().positive()).default([256, 256]).describe('actor widths, comma-separated'),
    criticHidden: z.array(z.number().int().positive()).default([256, 256]).describe('critic widths, comma-separated'),
    criticLayerNorm: z.boolean().default(false).describe('LayerNorm in the critics'),
    lr: z.number().positive().default(3e-4).describe('learning rate (actor, critics, temperature)'),
    gamma: z.number().min(0).max(1).default(0.99).describe('discount'),
    tau: z.number().min(0).max(1).default(0.005).describe('Polyak rate of the target critics'),
    evalEvery: z.number().int().nonnegative().default(10_000).describe('evaluate every n env steps; 0: only at the end'),
    evalEpisodes: z.number().int().positive().default(10).describe('episodes per evaluation'),
    logEvery: z.number().int().positive().default(1000).describe('log training metrics every n env steps'),
    keepSnapshots: z.boolean().default(false).describe('keep a checkpoint of every evaluation (checkpoints/step-N)'),
    ...runControlShape,
  })
  .strict();

export type SacRunConfig = z.infer<typeof sacRunSchema>;

/** A fresh run's options, or a resume: the run folder plus any options that may change. */
export type SacRunInput = z.input<typeof sacRunSchema> | (Partial<z.input<typeof sacRunSchema>> & { resume: true; out: string });

/** Options renamed since runs were first saved: `dsrl sac` now uses `dsrl steer`'s names. */
const RENAMED = { updatesPerStep: 'utd', hidden: ['actorHidden', 'criticHidden'] } as const;

export function parseSacConfig(input: unknown, what = 'sac config'): SacRunConfig {
  const cfg = parseConfig(sacRunSchema, input, what);
  checkSchedule(cfg, what);
  return cfg;
}

/** A `dsrl sac` run folder's config in today's names. */
export function readSacConfig(dir: string): Record<string, unknown> {
  return renameOptions(readConfigFile(dir), RENAMED);
}

export async function trainSac(input: SacRunInput, makeVectorEnv?: (n: number) => Promise<VectorEnv>): Promise<RunResult> {
  if (input.resume && input.out === undefined) throw new Error('sac: resuming needs the run folder (option "out")');
  const cfg = input.resume
    ? resumedConfig(
        input as Record<string, unknown>,
        readSacConfig(input.out!),
        input.out!,
        new Set([...RESUME_OVERRIDABLE, 'keepSnapshots']),
        parseSacConfig,
        'sac config',
      )
    : parseSacConfig(input);
  if (!cfg.resume && cfg.out !== undefined) checkRunFolderPath(cfg.out);
  const make = makeVectorEnv ?? ((n: number) => SyncVectorEnv.create(cfg.env, n, cfg.reward === undefined ? {} : { reward: cfg.reward }));
  const env = await make(cfg.numEnvs);
  const evalEnv = await make(Math.min(cfg.evalEpisodes, 5));
  try {
    const obsDim = env.singleObservationSpace.size;
    const actDim = env.singleActionSpace.size;
    const { low, high } = env.singleActionSpace;
    const sac = new SAC(
      sacDefaults(obsDim, actDim, {
        actionLow: Array.from(low),
        actionHigh: Array.from(high),
        actorHidden: cfg.actorHidden,
        criticHidden: cfg.criticHidden,
        criticLayerNorm: cfg.criticLayerNorm,
        actorLr: cfg.lr,
        criticLr: cfg.lr,
        alphaLr: cfg.lr,
        gamma: cfg.gamma,
        tau: cfg.tau,
      }),
      Rng.fromSeed(cfg.seed).derive('agent'),
      Math.max(cfg.batchSize, cfg.numEnvs, evalEnv.numEnvs),
    );
    const folder = cfg.resume
      ? { resume: true as const, dir: cfg.out! }
      : { resume: false as const, name: 'sac', env: cfg.env, seed: cfg.seed, config: storedConfig(cfg), out: cfg.out };
    return await runTraining(
      folder,
      cfg.seed,
      {
        kind: 'sac',
        label: 'SAC',
        agent: sac,
        trainEnv: env,
        evalEnv,
        replay: { obsDim, actionDim: actDim, fields: {} },
        warmupActions: (r, out) => {
          for (let i = 0; i < out.length; i++) out[i] = r.uniformRange(low[i % actDim], high[i % actDim]);
        },
        saveAgent: (folderPath, res) => saveSacCheckpoint(folderPath, sac, { env: cfg.env, step: res.step, evalReturn: res.mean }),
      },
      cfg,
      { algo: 'scratch', env: cfg.env, seed: cfg.seed, steps: cfg.steps },
    );
  } finally {
    await env.close();
    await evalEnv.close();
  }
}
