/**
 * `dsrl sac`: SAC from scratch on a registered env, through the shared off-policy loop, with a run
 * folder (config.json, metrics.csv/jsonl, TensorBoard events, curve.svg, best/last checkpoints).
 *
 * Resume: with `checkpointEvery` the whole training state is saved under `train-state/` (checkpoint.ts);
 * `resume: true` continues the run folder `out` from its latest checkpoint with the folder's config.json,
 * truncating the metrics files back to the checkpoint step, and ends exactly where an uninterrupted run
 * would (same weights, buffer and metrics; only 'charts/SPS' is wall-clock).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SAC, sacDefaults } from '../algos/sac.ts';
import { Rng } from '../core/rng.ts';
import { ReplayBuffer } from '../data/replay-buffer.ts';
import { SyncVectorEnv, type VectorEnv } from '../envs/vector.ts';
import { writeFileAtomic } from '../node/fs.ts';
import { latestCheckpoint, restoreCheckpoint, saveCheckpoint, TRAIN_STATE_DIR } from './checkpoint.ts';
import { curveSvg } from './curve.ts';
import { MetricsLogger } from './metrics.ts';
import { createOffPolicyLoop, evaluate, type EvalResult, type LoopCheckpoint } from './offpolicy.ts';
import { ProgressBar } from './progress.ts';
import { resumedConfig, runControlShape } from './run-config.ts';
import { openRunForEvaluation, type EvaluateRunInput, type EvaluateRunResult } from './evaluate-run.ts';
import { createRunDir } from './run-dir.ts';
import { loadSacCheckpoint, saveSacCheckpoint } from './sac-checkpoint.ts';

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
  ...runControlShape,
}).strict();

export type SacRunConfig = z.infer<typeof sacRunSchema>;

/** Options a resumed run may change; every other option must equal the run's config.json. */
const RESUME_OVERRIDABLE = new Set(['steps', 'checkpointEvery', 'stopAfter', 'quiet', 'keepSnapshots', 'out', 'resume']);
/** Per-invocation options, not written to config.json. */
const NOT_IN_CONFIG = ['resume', 'stopAfter'] as const;

export interface SacRunResult {
  dir: string;
  evals: EvalResult[];
  best: EvalResult | null;
  seconds: number;
  /** Env steps done when the run returned (less than `steps` after a stopAfter). */
  step: number;
  /** The checkpoint step this invocation resumed from, or null for a fresh run. */
  resumedFrom: number | null;
}

/** What trainSac keeps in a checkpoint besides agent, buffer, env and loop. */
interface SacCheckpointExtra {
  evals: EvalResult[];
  bestIndex: number;
}

function parseSacConfig(input: unknown, what: string): SacRunConfig {
  const parsed = sacRunSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${what}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}


/** A fresh run's options, or a resume: the run folder plus any options that may change (see RESUME_OVERRIDABLE). */
export type SacRunInput = z.input<typeof sacRunSchema> | (Partial<z.input<typeof sacRunSchema>> & { resume: true; out: string });

export async function trainSac(input: SacRunInput, makeVectorEnv?: (n: number) => Promise<VectorEnv>): Promise<SacRunResult> {
  let cfg: SacRunConfig;
  let dir: string | null = null;
  if (input.resume) {
    // Only the folder is needed to resume; env, steps etc. come from its config.json.
    const reopened = createRunDir({ algo: 'sac', env: input.env ?? '', seed: 0, config: null, out: input.out, resume: true });
    dir = reopened.dir;
    cfg = resumedConfig(input as Record<string, unknown>, reopened.config, dir, RESUME_OVERRIDABLE, parseSacConfig, 'sac config');
  } else {
    cfg = parseSacConfig(input, 'sac config');
  }
  const make = makeVectorEnv ?? ((n: number) => SyncVectorEnv.create(cfg.env, n));
  const env = await make(cfg.numEnvs);
  const evalEnv = await make(Math.min(cfg.evalEpisodes, 5));
  try {
    if (dir === null) {
      const stored: Record<string, unknown> = { ...cfg };
      for (const key of NOT_IN_CONFIG) delete stored[key];
      dir = createRunDir({ algo: 'sac', env: cfg.env, seed: cfg.seed, config: stored, out: cfg.out }).dir;
    }
    return await runSac(cfg, dir, env, evalEnv);
  } finally {
    await env.close();
    await evalEnv.close();
  }
}

async function runSac(cfg: SacRunConfig, dir: string, env: VectorEnv, evalEnv: VectorEnv): Promise<SacRunResult> {
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
  // Built the same way on resume, so every generator split above happens identically; then overwritten.
  let buffer = new ReplayBuffer({ capacity: Math.min(cfg.bufferSize, cfg.steps), obsDim, actionDim: actDim, rng: rng.split() });
  const loopRng = rng.split();
  const evals: EvalResult[] = [];
  let best: EvalResult | null = null;
  let resume: LoopCheckpoint | undefined;
  let resumedFrom: number | null = null;
  const stateRoot = join(dir, TRAIN_STATE_DIR);
  if (cfg.resume) {
    const checkpointDir = latestCheckpoint(stateRoot);
    if (!checkpointDir) {
      throw new Error(`cannot resume ${dir}: no checkpoint in ${stateRoot} (a run is resumable when started with checkpointEvery / --checkpoint-every)`);
    }
    const restored = await restoreCheckpoint(checkpointDir, { kind: 'sac', agent: sac, env });
    buffer = restored.buffer;
    // Raising `steps` on resume: give the buffer the capacity a run of that length has, which is exact while
    // its ring has not wrapped (slots fill in order until then). Otherwise it keeps its capacity.
    const capacity = Math.min(cfg.bufferSize, cfg.steps);
    const saved = buffer.toState();
    if (capacity > saved.capacity && saved.totalAdded === saved.size) buffer = ReplayBuffer.fromState({ ...saved, capacity, next: saved.size });
    resume = restored.loop;
    resumedFrom = restored.step;
    const extra = restored.extra as SacCheckpointExtra;
    evals.push(...extra.evals);
    best = extra.bestIndex >= 0 ? evals[extra.bestIndex] : null;
  }
  const logger = new MetricsLogger(dir, resumedFrom === null ? {} : { resumeStep: resumedFrom });
  const bar = new ProgressBar({ total: cfg.steps, initial: resumedFrom ?? 0, label: `sac ${cfg.env}`, ...(cfg.quiet ? { stream: { write: () => true } } : {}) });
  const low = env.singleActionSpace.low;
  const high = env.singleActionSpace.high;
  const t0 = performance.now();

  const saveTrainState = async (): Promise<void> => {
    // Rows up to this step must be on disk before a checkpoint claims them: resume truncates to it.
    logger.flush();
    const extra: SacCheckpointExtra = { evals, bestIndex: best ? evals.indexOf(best) : -1 };
    await saveCheckpoint(stateRoot, { kind: 'sac', agent: sac, buffer, env, loop, extra });
  };

  const loop = await createOffPolicyLoop({
    agent: sac, env, evalEnv, buffer, rng: loopRng, seed: cfg.seed, resume,
    config: {
      totalSteps: cfg.steps, learningStarts: cfg.learningStarts, updatesPerStep: cfg.updatesPerStep,
      batchSize: cfg.batchSize, evalEvery: cfg.evalEvery, evalEpisodes: cfg.evalEpisodes, logEvery: cfg.logEvery,
      checkpointEvery: cfg.checkpointEvery, stopAfter: cfg.stopAfter,
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
      saveCheckpoint: saveTrainState,
    },
  });
  try {
    await loop.run();
  } finally {
    bar.finish();
    logger.close();
  }
  return { dir, evals, best, seconds: (performance.now() - t0) / 1000, step: loop.state.envSteps, resumedFrom };
}

/**
 * Evaluate a `dsrl sac` run's saved agent (`best/` or `last/`) for `episodes` fresh episodes with the
 * deterministic actor; with seed 10000 and parallel min(evalEpisodes, 5) it replays the training evaluation.
 */
export async function evaluateSacRun(input: EvaluateRunInput, makeVectorEnv?: (n: number) => Promise<VectorEnv>): Promise<EvaluateRunResult> {
  const { run } = input;
  const { configPath, stored } = openRunForEvaluation(input);
  const cfg = parseSacConfig(stored, configPath);
  const dir = join(run, input.agent);
  if (!existsSync(join(dir, 'agent.json'))) throw new Error(`${run}: no ${input.agent}/agent.json yet (a run saves its agent at each evaluation)`);
  const make = makeVectorEnv ?? ((n: number) => SyncVectorEnv.create(cfg.env, n));
  const env = await make(Math.min(input.parallel, input.episodes));
  try {
    const { sac, manifest } = loadSacCheckpoint(dir, { obsDim: env.singleObservationSpace.size, actDim: env.singleActionSpace.size });
    const res = await evaluate(sac, env, input.episodes, { seed: input.seed, deterministic: true });
    return { ...res, run, agent: input.agent, algo: 'scratch', env: cfg.env, trainedSteps: manifest.step, trainedEval: manifest.evalReturn };
  } finally {
    await env.close();
  }
}
