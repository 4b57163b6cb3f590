/**
 * `dsrl steer`: improve a base policy (any NoisePolicy) with RL, or evaluate it, through the shared
 * off-policy loop, with a run folder (config.json, metrics csv/jsonl/TensorBoard, curve.svg with the base
 * policy's return as a reference line, best/last agent weights, summary.json).
 *
 * Algorithms (`algo`):
 * - 'na'       DSRL-NA: noise aliasing, Q learned on real action chunks (dsrl/dsrl-na.ts);
 * - 'sac'      DSRL-SAC: plain SAC on the latent-noise MDP (dsrl/noise-action-env.ts);
 * - 'residual' residual SAC: SAC on bounded corrections to the base policy's chunks (algos/residual-sac.ts);
 * - 'base'     the base policy alone with w ~ N(0, I): one evaluation, the line the others have to beat.
 * SAC from scratch is `dsrl sac` (train-sac.ts); its run folder logs the same metrics (env steps,
 * charts/eval_return_mean) under the same evaluation protocol (evaluate(): `evalEpisodes` episodes on
 * min(evalEpisodes, 5) sub-envs reset with seed 10000, deterministic actor).
 *
 * Offline data (DSRL-NA only): `offline` loads a D4RL-layout HDF5 file into the replay buffer before online
 * training, chunked with the policy's Ta (`realActions` = the Ta executed actions, reward = their sum). The
 * noise column (`actions`) of those rows holds 0, the mean of N(0, I): the data has no noise, and DSRL-NA never
 * reads that column (Q_A trains on realActions, Q_W on fresh noise). DSRL-SAC and residual SAC learn Q on their
 * own actions, which offline data lacks, so they refuse it. `offlineOnly: N` runs N updates on the data with no
 * env interaction (evaluating every `evalEvery` updates and at the end; the metrics' step axis is then updates).
 *
 * Resume: with `checkpointEvery` the whole training state is saved under `train-state/` (checkpoint.ts);
 * `resume: true` continues the run folder `out` from its latest checkpoint with the folder's config.json
 * and ends exactly where an uninterrupted run would (same weights, buffer and metrics; only 'charts/SPS',
 * being wall-clock, differs). The caller hands the same base policy again (the CLI reloads `policy` from
 * config.json); the checkpoint's dims are checked against it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { DsrlNA, dsrlNaDefaults } from '../algos/dsrl/dsrl-na.ts';
import { NoiseActionVectorEnv, onNormalizedObs } from '../algos/dsrl/noise-action-env.ts';
import { DEFAULT_RESIDUAL_SCALE, ResidualActionVectorEnv, residualSacConfig } from '../algos/residual-sac.ts';
import { SAC, sacDefaults } from '../algos/sac.ts';
import { Rng } from '../core/rng.ts';
import { loadIntoReplayBuffer } from '../data/d4rl.ts';
import { readD4rl } from '../data/hdf5.ts';
import { ReplayBuffer, type FieldDims } from '../data/replay-buffer.ts';
import { makeEnv } from '../envs/registry.ts';
import { SyncVectorEnv, type VectorEnv } from '../envs/vector.ts';
import { ActionChunk } from '../envs/wrappers.ts';
import { writeFileAtomic } from '../node/fs.ts';
import { readSafetensors, saveSafetensors } from '../node/safetensors-io.ts';
import type { Model } from '../nn/module.ts';
import { loadModelTensors, modelTensors } from '../nn/safetensors.ts';
import { ObsNormalizer, type ObsStats } from '../policies/diffusion/normalization.ts';
import type { NoisePolicy } from '../policies/policy.ts';
import { latestCheckpoint, restoreCheckpoint, saveCheckpoint, TRAIN_STATE_DIR, type StatefulAgent } from './checkpoint.ts';
import { curveSvg } from './curve.ts';
import { MetricsLogger } from './metrics.ts';
import { createOffPolicyLoop, evaluate, type EvalResult, type Info, type LoopCheckpoint, type OffPolicyAgent } from './offpolicy.ts';
import { ProgressBar } from './progress.ts';
import { resumedConfig, runControlShape } from './run-config.ts';
import { openRunForEvaluation, type EvaluateRunInput, type EvaluateRunResult } from './evaluate-run.ts';
import { createRunDir } from './run-dir.ts';

export const STEER_ALGOS = ['na', 'sac', 'residual', 'base'] as const;
export type SteerAlgo = (typeof STEER_ALGOS)[number];

/** Defaults: the DSRL reference's Gym settings (shared/reference/dsrl.md) unless noted. */
export const steerSchema = z.object({
  env: z.string(),
  algo: z.enum(STEER_ALGOS).default('na'),
  /** Env steps to train for (chunk steps counted). Required unless algo 'base' or offlineOnly. */
  steps: z.number().int().positive().optional(),
  /** Where the base policy came from (checkpoint folder, .onnx, ws:// URL); the CLI reloads it on resume. Provenance only for steer(). */
  policy: z.string().optional(),
  seed: z.number().int().nonnegative().default(1),
  numEnvs: z.number().int().positive().default(4),
  /** M: noise bound (reference: Hopper 1.5, Walker2d 2.5, HalfCheetah 1.5). */
  actionMagnitude: z.number().positive().default(1.5),
  /**
   * DSRL's temperature target: entropy of the noise policy measured on the normalized noise w / M in [-1, 1]^C,
   * as in the reference (stable-baselines3 squashes to [-1, 1] and scales outside the log-density). The agents
   * work on w itself, whose entropy is higher by C ln M, so they get targetEntropy + C ln M. Reference: 0.
   * Runs started before this option existed targeted 0 on w (= -C ln M here); resuming them keeps that.
   */
  targetEntropy: z.number().default(0),
  /** Residual SAC's beta: corrections up to this fraction of each action dimension's range. */
  residualScale: z.number().positive().default(DEFAULT_RESIDUAL_SCALE),
  /** Gradient updates per vector step (reference: 20). */
  utd: z.number().int().positive().default(20),
  distillSteps: z.number().int().nonnegative().default(10),
  /** Env steps of the base policy with N(0, I) noise before learning (chunk length counted). */
  learningStarts: z.number().int().nonnegative().default(4000),
  batchSize: z.number().int().positive().default(256),
  actorHidden: z.array(z.number().int().positive()).default([128, 128, 128]),
  criticHidden: z.array(z.number().int().positive()).default([128, 128, 128]),
  /** LayerNorm in the actor (the critics always have it). The DSRL reference configs use it in both; our runs before it existed did not. */
  actorLayerNorm: z.boolean().default(false),
  /**
   * DSRL (na, sac): the agent sees observations normalized with the base policy's own statistics, as in the
   * reference (its env wrapper gives SAC the policy's [-1, 1] observations). Default (unset): on whenever the
   * policy declares statistics (NoisePolicy.obsStats: diffusion checkpoints, ONNX manifests with obsMin/obsMax),
   * else raw observations; config.json stores the resolved value. Runs saved before it existed used raw ones.
   */
  normalizeObs: z.boolean().optional(),
  lr: z.number().positive().default(3e-4),
  gamma: z.number().min(0).max(1).default(0.99),
  evalEvery: z.number().int().nonnegative().default(5000),
  evalEpisodes: z.number().int().positive().default(10),
  logEvery: z.number().int().positive().default(1000),
  /** D4RL-layout HDF5 file loaded into the replay buffer before training (DSRL-NA only). */
  offline: z.string().optional(),
  /** Train DSRL-NA for this many updates on the `offline` data alone, with no env interaction, then evaluate. */
  offlineOnly: z.number().int().positive().optional(),
  out: z.string().optional(),
  quiet: z.boolean().default(false),
  ...runControlShape,
}).strict();

export type SteerConfig = z.infer<typeof steerSchema>;

/** A fresh run's options, or a resume: the run folder plus any options that may change (see RESUME_OVERRIDABLE). */
export type SteerInput = z.input<typeof steerSchema> | (Partial<z.input<typeof steerSchema>> & { resume: true; out: string });

/** Options a resumed run may change; every other option must equal the run's config.json. */
const RESUME_OVERRIDABLE = new Set(['steps', 'checkpointEvery', 'stopAfter', 'quiet', 'out', 'resume', 'policy']);
/** Per-invocation options, not written to config.json. */
const NOT_IN_CONFIG = ['resume', 'stopAfter', 'quiet'] as const;

export interface SteerResult {
  dir: string;
  algo: SteerAlgo;
  /** The base policy alone with N(0, I) noise (for 'base', the run's result). */
  base: Omit<EvalResult, 'step'>;
  evals: EvalResult[];
  best: EvalResult | null;
  seconds: number;
  /** Env steps done when the run returned (less than `steps` after a stopAfter; 0 for 'base' and offlineOnly). */
  step: number;
  /** Gradient updates done. */
  updates: number;
  /** The checkpoint step this invocation resumed from, or null for a fresh run. */
  resumedFrom: number | null;
  /** Transitions loaded from the offline file (0 without one). */
  offlineTransitions: number;
}

/** What steer keeps in a checkpoint besides agent, buffer, env and loop. */
interface SteerCheckpointExtra {
  base: Omit<EvalResult, 'step'>;
  evals: EvalResult[];
  bestIndex: number;
  offlineTransitions: number;
  /** Buffer slots reserved for the offline data (its step count), so a raised `steps` sizes the buffer as a fresh run would. */
  offlineRows: number;
}

/** A vector env of ActionChunk(Ta)-wrapped copies of a registered env. */
export async function chunkedVectorEnv(id: string, n: number, chunk: number): Promise<VectorEnv> {
  const envs = [];
  for (let i = 0; i < n; i++) envs.push(new ActionChunk(await makeEnv(id), chunk));
  return new SyncVectorEnv(envs);
}

function formatIssue(issue: z.core.$ZodIssue, what: string): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ');
    return `${what}: unknown option${issue.keys.length > 1 ? 's' : ''} ${keys} (known options: ${Object.keys(steerSchema.shape).join(', ')})`;
  }
  return `${what}: ${issue.path.join('.') || '(root)'}: ${issue.message}`;
}

/** Parse and cross-check a steer config; every error names the option. */
export function parseSteerConfig(input: unknown, what = 'steer config'): SteerConfig {
  const parsed = steerSchema.safeParse(input);
  if (!parsed.success) throw new Error(formatIssue(parsed.error.issues[0], what));
  const cfg = parsed.data;
  const fail = (why: string): never => {
    throw new Error(`${what}: ${why}`);
  };
  if (cfg.offlineOnly !== undefined) {
    if (cfg.offline === undefined) fail('offlineOnly needs offline data (option "offline": a D4RL-layout .h5 file)');
    if (cfg.checkpointEvery > 0 || cfg.resume || cfg.stopAfter !== undefined) fail('offlineOnly runs are not checkpointed: checkpointEvery, resume and stopAfter do not apply');
    if (cfg.steps !== undefined) fail('offlineOnly runs take no env steps: give either steps (online) or offlineOnly (updates), not both');
  } else if (cfg.algo !== 'base' && cfg.steps === undefined) {
    fail(`steps is required for algo "${cfg.algo}" (env steps to train for)`);
  }
  if (cfg.normalizeObs && cfg.algo !== 'na' && cfg.algo !== 'sac') fail(`normalizeObs is for the DSRL agents (algo "na" or "sac"), not algo "${cfg.algo}"`);
  if (cfg.offline !== undefined && cfg.algo !== 'na') {
    const why: Record<Exclude<SteerAlgo, 'na'>, string> = {
      sac: 'DSRL-SAC learns Q(s, w) on the noise it chose itself, and offline data has real actions, not noise; use algo "na" (DSRL-NA learns Q on real actions)',
      residual: 'residual SAC learns Q on its own corrections, which offline data does not have; use algo "na"',
      base: 'the base policy is only evaluated; offline data would not be used',
    };
    fail(`offline data cannot be used with algo "${cfg.algo}": ${why[cfg.algo]}`);
  }
  if (cfg.algo === 'base' && (cfg.checkpointEvery > 0 || cfg.resume)) fail('algo "base" is a single evaluation: there is nothing to checkpoint or resume');
  return cfg;
}


/** Throws a clear error when the base policy's dims do not fit the (chunked) env. */
export function checkPolicyFitsEnv(policy: NoisePolicy, inner: VectorEnv, envId: string): void {
  const obsDim = inner.singleObservationSpace.size;
  const chunkDim = inner.singleActionSpace.size;
  const envActDim = chunkDim / policy.chunk;
  if (obsDim !== policy.obsDim || chunkDim !== policy.chunk * policy.actDim) {
    throw new Error(
      `base policy does not fit ${envId}: the policy takes observations of dim ${policy.obsDim} and returns chunks of ${policy.chunk} x ${policy.actDim} actions; ` +
        `${envId} has observations of dim ${obsDim} and actions of dim ${Number.isInteger(envActDim) ? envActDim : `${chunkDim}/${policy.chunk}`} (was the policy trained on another task?)`,
    );
  }
}

/**
 * A saved config in today's terms. Runs saved before `targetEntropy` existed aimed at entropy 0 on w; runs
 * saved before `normalizeObs` existed showed the agent raw observations.
 */
function legacyConfig(stored: unknown, policy: NoisePolicy): unknown {
  if (typeof stored !== 'object' || stored === null) return stored;
  let config = stored as Record<string, unknown>;
  const M = config.actionMagnitude;
  if (!('targetEntropy' in config) && typeof M === 'number' && M > 0) config = { ...config, targetEntropy: -policy.chunk * policy.actDim * Math.log(M) };
  if (!('normalizeObs' in config)) config = { ...config, normalizeObs: false };
  return config;
}

/** normalizeObs when unset: the reference's normalized view, for the DSRL agents, when the policy allows it. */
function resolveNormalizeObs(cfg: SteerConfig, policy: NoisePolicy): SteerConfig {
  if (cfg.normalizeObs !== undefined) return cfg;
  return { ...cfg, normalizeObs: (cfg.algo === 'na' || cfg.algo === 'sac') && policy.obsStats !== undefined };
}

/** The observation statistics the policy declares; normalizeObs needs them. */
function policyObsStats(policy: NoisePolicy): ObsStats {
  if (!policy.obsStats) {
    throw new Error(
      'normalizeObs needs the base policy\'s observation statistics, and this policy declares none ' +
        '(diffusion checkpoints carry them; an ONNX policy does when its manifest has obsMin/obsMax; remote policies do not)',
    );
  }
  return policy.obsStats;
}

/** The temperature target on the raw noise w in [-M, M]^C for a target on w / M (see steerSchema.targetEntropy). */
export function noiseTargetEntropy(targetEntropy: number, chunkDim: number, M: number): number {
  return targetEntropy + chunkDim * Math.log(M);
}

export async function steer(
  input: SteerInput, policy: NoisePolicy,
  makeInner?: (n: number, chunk: number) => Promise<VectorEnv>,
): Promise<SteerResult> {
  let cfg: SteerConfig;
  let dir: string | null = null;
  if (input.resume) {
    // Only the folder is needed to resume; env, steps etc. come from its config.json.
    const reopened = createRunDir({ algo: 'steer', env: input.env ?? '', seed: 0, config: null, out: input.out, resume: true });
    dir = reopened.dir;
    cfg = resumedConfig(input as Record<string, unknown>, legacyConfig(reopened.config, policy), dir, RESUME_OVERRIDABLE, parseSteerConfig, 'steer config', ['policy']);
  } else {
    cfg = resolveNormalizeObs(parseSteerConfig(input), policy);
  }
  const make = makeInner ?? ((n: number, chunk: number) => chunkedVectorEnv(cfg.env, n, chunk));
  const trainInner = cfg.algo === 'base' || cfg.offlineOnly !== undefined ? null : await make(cfg.numEnvs, policy.chunk);
  const evalInner = await make(Math.min(cfg.evalEpisodes, 5), policy.chunk);
  try {
    checkPolicyFitsEnv(policy, evalInner, cfg.env);
    if (trainInner) checkPolicyFitsEnv(policy, trainInner, cfg.env);
    if (cfg.normalizeObs) policyObsStats(policy); // refused before a run folder exists
    if (dir === null) {
      const stored: Record<string, unknown> = { ...cfg };
      for (const key of NOT_IN_CONFIG) delete stored[key];
      // Absolute paths, so a resume from another working directory finds the same files.
      if (cfg.offline !== undefined) stored.offline = resolve(cfg.offline);
      if (cfg.policy !== undefined && !/^[a-z][a-z0-9+.-]*:\/\//i.test(cfg.policy)) stored.policy = resolve(cfg.policy);
      dir = createRunDir({ algo: runName(cfg.algo), env: cfg.env, seed: cfg.seed, config: stored, out: cfg.out }).dir;
    }
    return await runSteer(cfg, dir, policy, trainInner, evalInner);
  } finally {
    await trainInner?.close();
    await evalInner.close();
  }
}

/**
 * Evaluate a steer run's saved agent (`best/` or `last/actor.safetensors`) on the base policy for
 * `episodes` fresh episodes: the deterministic actor, as the training evaluations, but on starts of one's
 * choosing and as many as wanted (training evaluates the same `evalEpisodes` starts each time).
 */
/** Loads the base policy a run names: its env id and the `policy` of its config.json (if any). */
export type RunPolicyLoader = (envId: string, spec: string | undefined) => Promise<NoisePolicy>;

export async function evaluateRun(
  input: EvaluateRunInput, base: NoisePolicy | RunPolicyLoader, makeInner?: (n: number, chunk: number) => Promise<VectorEnv>,
): Promise<EvaluateRunResult> {
  const { run } = input;
  const opened = openRunForEvaluation(input);
  const configPath = opened.configPath;
  const stored = opened.stored as { env?: unknown; policy?: unknown };
  if (typeof stored.env !== 'string') throw new Error(`${configPath} names no env`);
  // A policy loaded here is closed here (a remote one holds a socket).
  const policy = typeof base === 'function' ? await base(stored.env, typeof stored.policy === 'string' ? stored.policy : undefined) : base;
  try {
    const cfg = parseSteerConfig(legacyConfig(stored, policy), configPath);
    if (cfg.algo === 'base') throw new Error(`${run}: a base-policy run has no agent to evaluate (dsrl eval --policy evaluates the base policy)`);
    const file = join(run, input.agent, 'actor.safetensors');
    if (!existsSync(file)) throw new Error(`${run}: no ${input.agent}/actor.safetensors yet (a run saves its agent at each evaluation)`);
    const make = makeInner ?? ((n: number, chunk: number) => chunkedVectorEnv(cfg.env, n, chunk));
    const inner = await make(Math.min(input.parallel, input.episodes), policy.chunk);
    try {
      checkPolicyFitsEnv(policy, inner, cfg.env);
      const normalizer = cfg.normalizeObs ? new ObsNormalizer(policyObsStats(policy)) : null;
      const agentPolicy = normalizer ? onNormalizedObs(policy, normalizer) : policy;
      const rng = Rng.fromSeed(input.seed);
      const env = cfg.algo === 'residual' ? residualEvalEnv(inner, policy, cfg, rng) : new NoiseActionVectorEnv(inner, policy, cfg.actionMagnitude, normalizer);
      const agent = createSteerAgent(cfg, policy, agentPolicy, env instanceof ResidualActionVectorEnv ? env : null, rng.split(), inner.numEnvs);
      const { tensors, metadata } = readSafetensors(file);
      loadModelTensors(agent.actor, tensors, file);
      const res = await evaluate(agent, env, input.episodes, { seed: input.seed, deterministic: true });
      const num = (v: string | undefined) => (v === undefined || !Number.isFinite(Number(v)) ? null : Number(v));
      return { ...res, run, agent: input.agent, algo: cfg.algo, env: cfg.env, trainedSteps: num(metadata.step), trainedEval: num(metadata.eval_return) };
    } finally {
      await inner.close();
    }
  } finally {
    if (typeof base === 'function') await policy.close?.();
  }
}

function runName(algo: SteerAlgo): string {
  return { na: 'dsrl-na', sac: 'dsrl-sac', residual: 'residual-sac', base: 'base-policy' }[algo];
}

const LABEL: Record<SteerAlgo, string> = { na: 'DSRL-NA', sac: 'DSRL-SAC', residual: 'residual SAC', base: 'base policy' };

type SteerAgent = OffPolicyAgent & StatefulAgent & { actor: Model };

/** Residual SAC's evaluation env: the base policy's chunks with N(0, I) noise from the run's own stream, plus the correction. */
function residualEvalEnv(inner: VectorEnv, policy: NoisePolicy, cfg: SteerConfig, runRng: Rng): ResidualActionVectorEnv {
  return new ResidualActionVectorEnv(inner, policy, cfg.residualScale, runRng.derive('residual-eval-noise'));
}

/**
 * The agent a steer config describes (not 'base'), its networks initialized from `rng`. `agentPolicy`: the
 * base policy on the observations the agent sees (DSRL-NA calls it); `residualEnv`: residual SAC's env.
 */
function createSteerAgent(
  cfg: SteerConfig, policy: NoisePolicy, agentPolicy: NoisePolicy, residualEnv: ResidualActionVectorEnv | null, rng: Rng, maxRows: number,
): SteerAgent {
  const M = cfg.actionMagnitude;
  const obsDim = policy.obsDim;
  const chunkDim = policy.chunk * policy.actDim;
  if (cfg.algo === 'na') {
    return new DsrlNA(dsrlNaDefaults(obsDim, chunkDim, {
      actionMagnitude: M, actorHidden: cfg.actorHidden, criticHidden: cfg.criticHidden, lr: cfg.lr, gamma: cfg.gamma,
      utd: cfg.utd, distillSteps: cfg.distillSteps, targetEntropy: noiseTargetEntropy(cfg.targetEntropy, chunkDim, M),
      actorLayerNorm: cfg.actorLayerNorm,
    }), agentPolicy, rng, maxRows);
  }
  if (cfg.algo === 'sac') {
    return new SAC(sacDefaults(obsDim, chunkDim, {
      actionLow: new Array(chunkDim).fill(-M), actionHigh: new Array(chunkDim).fill(M), actorHidden: cfg.actorHidden,
      criticHidden: cfg.criticHidden, criticLayerNorm: true, actorLayerNorm: cfg.actorLayerNorm, activation: 'tanh', targetEntropy: noiseTargetEntropy(cfg.targetEntropy, chunkDim, M),
      actorLr: cfg.lr, criticLr: cfg.lr, alphaLr: cfg.lr, gamma: cfg.gamma,
    }), rng, maxRows);
  }
  if (cfg.algo !== 'residual' || !residualEnv) throw new Error(`steer: no agent for algo "${cfg.algo}"`);
  return new SAC(residualSacConfig(residualEnv, {
    actorHidden: cfg.actorHidden, actorLayerNorm: cfg.actorLayerNorm, criticHidden: cfg.criticHidden, actorLr: cfg.lr, criticLr: cfg.lr, alphaLr: cfg.lr, gamma: cfg.gamma,
  }), rng, maxRows);
}

async function runSteer(
  cfg: SteerConfig, dir: string, policy: NoisePolicy, trainInner: VectorEnv | null, evalInner: VectorEnv,
): Promise<SteerResult> {
  const t0 = performance.now();
  const M = cfg.actionMagnitude;
  const chunkDim = policy.chunk * policy.actDim;
  const rng = Rng.fromSeed(cfg.seed);
  const normalizer = cfg.normalizeObs ? new ObsNormalizer(policyObsStats(policy)) : null;
  // The base policy as the agent calls it: on the observations the agent sees.
  const agentPolicy = normalizer ? onNormalizedObs(policy, normalizer) : policy;
  const baseEvalEnv = new NoiseActionVectorEnv(evalInner, policy, M, normalizer);
  // Derived before any split, so every algo with this seed evaluates the base policy on the same noise.
  const baseRng = rng.derive('base-eval');
  const evalBase = async () => {
    // The base policy alone, with N(0, I) noise: the line everything else has to beat.
    return evaluate({ act: (_o, rows) => baseRng.fillNormal(new Float32Array(rows * chunkDim)) }, baseEvalEnv, cfg.evalEpisodes, { seed: 10_000 });
  };
  const title = `${LABEL[cfg.algo]} on ${cfg.env} (seed ${cfg.seed})`;

  if (cfg.algo === 'base') {
    const base = await evalBase();
    const logger = new MetricsLogger(dir);
    const values = { 'charts/base_return_mean': base.mean, 'charts/base_return_std': base.std, 'charts/eval_return_mean': base.mean, 'charts/eval_return_std': base.std };
    logger.log(0, values);
    logger.close();
    const evals: EvalResult[] = [{ step: 0, ...base }];
    writeSummary(dir, cfg, base, evals, evals[0], 0, 0);
    writeFileAtomic(join(dir, 'curve.svg'), curveSvg({ title, xLabel: 'env steps', yLabel: 'eval return', series: [], hlines: [{ name: 'base policy', value: base.mean }] }));
    return { dir, algo: cfg.algo, base, evals, best: evals[0], seconds: (performance.now() - t0) / 1000, step: 0, updates: 0, resumedFrom: null, offlineTransitions: 0 };
  }

  // Built in the same order on resume, so every generator split happens identically; then overwritten.
  const obsDim = policy.obsDim;
  // Rows the agent's buffers hold: a training batch, or one observation per training / evaluation sub-env.
  const maxRows = Math.max(cfg.batchSize, cfg.numEnvs, evalInner.numEnvs);
  const residualEnv = cfg.algo === 'residual' ? new ResidualActionVectorEnv(trainInner!, policy, cfg.residualScale, rng.derive('residual-train-noise')) : null;
  const evalEnv = cfg.algo === 'residual' ? residualEvalEnv(evalInner, policy, cfg, rng) : baseEvalEnv;
  const agent = createSteerAgent(cfg, policy, agentPolicy, residualEnv, rng.split(), maxRows);
  const env = residualEnv ?? (trainInner ? new NoiseActionVectorEnv(trainInner, policy, M, normalizer) : null);
  const agentObsDim = cfg.algo === 'residual' ? obsDim + chunkDim : obsDim;
  const fields: FieldDims = cfg.algo === 'na' ? { realActions: chunkDim } : {};
  const steps = cfg.steps ?? 0;
  const bufferRng = rng.split();
  const makeBuffer = (offlineRows: number) => new ReplayBuffer({
    // Every stored transition ran at least one env step, and the last vector step overshoots by at most one
    // chunk per sub-env, so online data never wraps the ring (offline rows are never overwritten).
    capacity: offlineRows + steps + cfg.numEnvs, obsDim: agentObsDim, actionDim: chunkDim, fields, rng: bufferRng,
  });

  const stateRoot = join(dir, TRAIN_STATE_DIR);
  const kind = runName(cfg.algo);
  let buffer: ReplayBuffer;
  let offlineTransitions = 0;
  let offlineRows = 0;
  let base: Omit<EvalResult, 'step'>;
  const evals: EvalResult[] = [];
  let best: EvalResult | null = null;
  let resume: LoopCheckpoint | undefined;
  let resumedFrom: number | null = null;
  const loopRng = rng.split();
  if (cfg.resume) {
    const checkpointDir = latestCheckpoint(stateRoot);
    if (!checkpointDir) throw new Error(`cannot resume ${dir}: no checkpoint in ${stateRoot} (a run is resumable when started with checkpointEvery / --checkpoint-every)`);
    const restored = await restoreCheckpoint(checkpointDir, { kind, agent, env: env!, bufferFields: fields });
    const extra = restored.extra as SteerCheckpointExtra;
    offlineTransitions = extra.offlineTransitions;
    offlineRows = extra.offlineRows;
    buffer = restored.buffer;
    // Raising `steps` on resume: the capacity a run of that length has (exact, as the ring never wraps).
    const capacity = offlineRows + steps + cfg.numEnvs;
    const saved = buffer.toState();
    if (capacity > saved.capacity && saved.totalAdded === saved.size) buffer = ReplayBuffer.fromState({ ...saved, capacity, next: saved.size });
    resume = restored.loop;
    resumedFrom = restored.step;
    base = extra.base;
    evals.push(...extra.evals);
    best = extra.bestIndex >= 0 ? evals[extra.bestIndex] : null;
  } else {
    if (cfg.offline !== undefined) {
      const dataset = await readD4rl(cfg.offline, { expect: { obsDim, actionDim: policy.actDim } });
      // loadIntoReplayBuffer starts a chunk at every step, so N dataset steps give at most N transitions.
      offlineRows = dataset.size;
      if (normalizer) {
        normalizer.apply(dataset.observations, dataset.size, dataset.observations);
        normalizer.apply(dataset.nextObservations, dataset.size, dataset.nextObservations);
      }
      buffer = makeBuffer(offlineRows);
      // Real chunks go to realActions; the noise column (`actions`) is never read by DSRL-NA, and is 0 (the mean of N(0, I)) for these rows.
      offlineTransitions = loadIntoReplayBuffer(dataset, buffer, { actionChunk: policy.chunk, actionsTo: 'realActions', fill: { actions: 0 } });
    } else {
      buffer = makeBuffer(0);
    }
    base = await evalBase();
  }

  const logger = new MetricsLogger(dir, resumedFrom === null ? {} : { resumeStep: resumedFrom });
  if (resumedFrom === null) {
    logger.log(0, { 'charts/base_return_mean': base.mean, 'charts/base_return_std': base.std, ...(offlineTransitions > 0 ? { 'charts/offline_transitions': offlineTransitions } : {}) });
  }
  const saveAgent = (name: string, res: EvalResult) => {
    saveSafetensors(join(dir, name, 'actor.safetensors'), modelTensors(agent.actor), {
      algo: kind, env: cfg.env, step: String(res.step), eval_return: String(res.mean), action_magnitude: String(M),
      ...(cfg.algo === 'residual' ? { residual_scale: String(cfg.residualScale) } : {}),
      ...(normalizer ? { observations: "normalized with the base policy's observation statistics" } : {}),
    });
  };
  const onEval = (res: EvalResult, xLabel: string) => {
    evals.push(res);
    saveAgent('last', res);
    if (!best || res.mean > best.mean) {
      best = res;
      saveAgent('best', res);
    }
    writeSummary(dir, cfg, base, evals, best, res.step, offlineTransitions);
    writeFileAtomic(join(dir, 'curve.svg'), curveSvg({
      title, xLabel, yLabel: 'eval return',
      series: [{ name: LABEL[cfg.algo], points: evals.map((e) => [e.step, e.mean] as [number, number]) }],
      hlines: [{ name: 'base policy', value: base.mean }],
    }));
  };

  if (cfg.offlineOnly !== undefined) {
    try {
      const updates = await trainOffline(cfg, agent, buffer, evalEnv, logger, (res) => onEval(res, 'gradient updates'));
      return { dir, algo: cfg.algo, base, evals, best, seconds: (performance.now() - t0) / 1000, step: 0, updates, resumedFrom: null, offlineTransitions };
    } finally {
      logger.close();
    }
  }

  const trainEnv = env!;
  const bar = new ProgressBar({ total: steps, initial: resumedFrom ?? 0, label: `${kind} ${cfg.env}`, ...(cfg.quiet ? { stream: { write: () => true } } : {}) });
  const saveTrainState = async (): Promise<void> => {
    // Rows up to this step must be on disk before a checkpoint claims them: resume truncates to it.
    logger.flush();
    const extra: SteerCheckpointExtra = { base, evals, bestIndex: best ? evals.indexOf(best) : -1, offlineTransitions, offlineRows };
    await saveCheckpoint(stateRoot, { kind, agent, buffer, env: trainEnv, loop, extra });
  };

  const loop = await createOffPolicyLoop({
    agent, env: trainEnv, evalEnv, buffer, rng: loopRng, seed: cfg.seed, resume,
    config: {
      totalSteps: steps, learningStarts: cfg.learningStarts, updatesPerStep: cfg.utd, batchSize: cfg.batchSize,
      evalEvery: cfg.evalEvery, evalEpisodes: cfg.evalEpisodes, logEvery: cfg.logEvery,
      checkpointEvery: cfg.checkpointEvery, stopAfter: cfg.stopAfter,
    },
    callbacks: {
      warmupActions: cfg.algo === 'residual'
        // Warm-up is the base policy itself: no correction.
        ? (_r, out) => out.fill(0)
        // Warm-up is the base policy itself: N(0, I) noise, clipped to the agent's range.
        : (r, out) => {
          for (let i = 0; i < out.length; i++) out[i] = Math.max(-M, Math.min(M, r.normal()));
        },
      transitionFields: cfg.algo === 'na' ? () => ({ realActions: trainEnv.lastActions }) : undefined,
      log: (step, values) => logger.log(step, values),
      progress: (step, fields) => bar.update(step, { ...fields, base: Number(base.mean.toPrecision(4)) }),
      onEval: (res) => onEval(res, 'env steps'),
      saveCheckpoint: saveTrainState,
    },
  });
  try {
    await loop.run();
  } finally {
    bar.finish();
    logger.close();
  }
  return {
    dir, algo: cfg.algo, base, evals, best, seconds: (performance.now() - t0) / 1000, step: loop.state.envSteps, updates: loop.state.updates,
    resumedFrom, offlineTransitions,
  };
}

/**
 * offlineOnly: `cfg.offlineOnly` updates from the offline buffer with no env interaction, metrics averaged
 * over `logEvery` updates, an evaluation every `evalEvery` updates (0: none) and at the end. The metrics'
 * step axis is gradient updates here (there are no env steps).
 */
async function trainOffline(
  cfg: SteerConfig, agent: SteerAgent, buffer: ReplayBuffer, evalEnv: VectorEnv, logger: MetricsLogger, onEval: (res: EvalResult) => void,
): Promise<number> {
  const total = cfg.offlineOnly!;
  if (buffer.size === 0) throw new Error(`offline data ${cfg.offline} gave no transitions`);
  const bar = new ProgressBar({ total, label: `dsrl-na offline ${cfg.env}`, ...(cfg.quiet ? { stream: { write: () => true } } : {}) });
  const batch = buffer.createBatch(cfg.batchSize);
  let sums: Info = {};
  let count = 0;
  let lastEval = NaN;
  try {
    for (let u = 1; u <= total; u++) {
      const info = await agent.update(buffer.sample(batch));
      for (const key in info) sums[key] = (sums[key] ?? 0) + info[key];
      count++;
      if (u % cfg.logEvery === 0 || u === total) {
        const values: Info = { 'charts/updates': u };
        for (const key in sums) values[key] = sums[key] / count;
        logger.log(u, values);
        sums = {};
        count = 0;
      }
      if ((cfg.evalEvery > 0 && u % cfg.evalEvery === 0) || u === total) {
        const res = await evaluate(agent, evalEnv, cfg.evalEpisodes, { deterministic: true });
        lastEval = res.mean;
        logger.log(u, { 'charts/eval_return_mean': res.mean, 'charts/eval_return_std': res.std, 'charts/eval_length_mean': res.lengths.reduce((a, b) => a + b, 0) / res.lengths.length });
        onEval({ step: u, ...res });
      }
      bar.update(u, { eval: Number.isNaN(lastEval) ? '-' : Number(lastEval.toPrecision(4)) });
    }
  } finally {
    bar.finish();
  }
  return total;
}

/** summary.json: what the run is and its evaluations so far (for experiment tables). */
function writeSummary(
  dir: string, cfg: SteerConfig, base: Omit<EvalResult, 'step'>, evals: EvalResult[], best: EvalResult | null, step: number, offlineTransitions: number,
): void {
  const brief = (e: EvalResult) => ({ step: e.step, mean: e.mean, std: e.std, episodes: e.returns.length });
  writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify({
    algo: cfg.algo, env: cfg.env, seed: cfg.seed, steps: cfg.steps ?? null, offlineOnly: cfg.offlineOnly ?? null, offlineTransitions,
    xAxis: cfg.offlineOnly !== undefined ? 'gradient updates' : 'env steps', step,
    base: { mean: base.mean, std: base.std, episodes: base.returns.length },
    evals: evals.map(brief), best: best ? brief(best) : null,
  }, null, 2)}\n`);
}
