/**
 * `dsrl eval --run` and `dsrl eval --policy` through the one evaluation protocol (evaluate.ts):
 * a run folder's saved agent (a steer run's noise actor on its base policy, or a `dsrl sac` run's SAC
 * agent), or a base policy alone with w ~ N(0, I). With seed 10000 they give what a run's training
 * evaluations (and steer's base-policy line) gave, for the same episode count.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NoiseActionVectorEnv } from '../algos/dsrl/noise-action-env.ts';
import { STEER_ALGOS } from '../algos/registry.ts';
import { makeChunkedVectorEnv } from '../envs/registry.ts';
import { SyncVectorEnv, type VectorEnv } from '../envs/vector.ts';
import { readSafetensors } from '../node/safetensors-io.ts';
import { loadModelTensors } from '../nn/safetensors.ts';
import type { NoisePolicy } from '../policies/policy.ts';
import { metricsOf } from '../web/run-metrics.ts';
import { evaluateRecording } from './episode-record.ts';
import {
  deterministicActor,
  evaluate,
  gaussianNoiseActor,
  stochasticActor,
  zeroNoiseActor,
  type BaseNoise,
  type EpisodeStats,
  type EvalActor,
} from './evaluate.ts';

import { readConfigFile } from './run-config.ts';
import { loadSacCheckpoint } from './sac-checkpoint.ts';
import { buildSteerParts, legacySteerConfig, parseSteerConfig, steerHyper } from './steer.ts';
import { parseSacConfig, readSacConfig } from './train-sac.ts';

export interface EvaluateRunInput {
  /** The run folder (what `dsrl steer` or `dsrl sac` made). */
  run: string;
  /** Which saved agent: the best evaluation so far or the latest one. */
  agent: 'best' | 'last';
  episodes: number;
  /** Seeds the episodes (evaluate.ts); training evaluations use 10000. */
  seed: number;
  /** Episodes run side by side (the result does not depend on it). */
  parallel: number;
  /** Also record the first episode into this file for the viewer (episode-record.ts). */
  recordEpisodes?: string;
  /** Sample the agent's actions from its distribution instead of taking its mean (deterministic, the default). */
  stochastic?: boolean;
}

export interface EvaluateRunResult extends EpisodeStats {
  run: string;
  agent: 'best' | 'last';
  /** The run's algorithm: a steer algo, or 'scratch' for a `dsrl sac` run. */
  algo: string;
  env: string;
  /** Env steps the agent had trained for, and its return in that training evaluation (from the file). */
  trainedSteps: number | null;
  trainedEval: number | null;
  /** Its success rate in that evaluation, where the env reports success (from the run's summary.json). */
  trainedSuccessRate: number | null;
}

/** The success rate of a run's training evaluation at `step`, from its summary.json; null if it has none. */
function trainedSuccessRate(run: string, step: number | null): number | null {
  const file = join(run, 'summary.json');
  if (step === null || !existsSync(file)) return null;
  let summary: Record<string, unknown>;
  try {
    summary = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null; // a damaged summary only loses this annotation, not the evaluation
  }
  return metricsOf(summary).evals.find((e) => e.step === step)?.successRate ?? null;
}

/** Loads the base policy a run names: its env id and the `policy` of its config.json (if any). */
export type RunPolicyLoader = (envId: string, spec: string | undefined) => Promise<NoisePolicy>;

function checkInput(input: EvaluateRunInput): void {
  if (!Number.isInteger(input.episodes) || input.episodes < 1) throw new Error(`episodes must be a positive integer, got ${input.episodes}`);
  if (!Number.isInteger(input.parallel) || input.parallel < 1) throw new Error(`parallel must be a positive integer, got ${input.parallel}`);
}

/** Whether a run folder is a `dsrl sac` run (it saves whole SAC agents, agent.json) rather than a steer run. */
export function isSacRun(run: string): boolean {
  return ['best', 'last'].some((which) => existsSync(join(run, which, 'agent.json')));
}

/** Builds `n` copies of an env, each wrapped in ActionChunk(chunk) when a chunk is given (steer runs). */
export type RunEnvMaker = (envId: string, n: number, chunk?: number) => Promise<VectorEnv>;

const defaultEnvs: RunEnvMaker = (envId, n, chunk) => (chunk === undefined ? SyncVectorEnv.create(envId, n) : makeChunkedVectorEnv(envId, n, chunk));

/** evaluate(), recording the first episode into `file` when one is given (an env that cannot be recorded is an error). */
function evaluateMaybeRecording(
  actor: EvalActor,
  env: VectorEnv,
  opts: { episodes: number; seed: number },
  file: string | undefined,
  meta: { env: string; label: string; trainedSteps: number | null },
): Promise<EpisodeStats> {
  return file === undefined ? evaluate(actor, env, opts) : evaluateRecording(actor, env, opts, file, meta, true);
}

/**
 * Evaluates a run's saved agent on fresh episodes. `base`: the base policy of a steer run, or a loader
 * for the one its config names (a policy loaded here is closed here).
 */
export async function evaluateRun(
  input: EvaluateRunInput,
  base: NoisePolicy | RunPolicyLoader,
  makeEnvs: RunEnvMaker = defaultEnvs,
): Promise<EvaluateRunResult> {
  const { run } = input;
  const stored = readConfigFile(run);
  checkInput(input);
  const n = Math.min(input.parallel, input.episodes);
  if (isSacRun(run)) {
    const cfg = parseSacConfig(readSacConfig(run), join(run, 'config.json'));
    const dir = join(run, input.agent);
    if (!existsSync(join(dir, 'agent.json'))) throw new Error(`${run}: no ${input.agent}/agent.json yet (a run saves its agent at each evaluation)`);
    const env = await makeEnvs(cfg.env, n);
    try {
      const { sac, manifest } = loadSacCheckpoint(dir, { obsDim: env.singleObservationSpace.size, actDim: env.singleActionSpace.size });
      const meta = { env: cfg.env, label: 'SAC', trainedSteps: manifest.step };
      const actor = input.stochastic ? stochasticActor(sac, env.singleActionSpace.size) : deterministicActor(sac);
      const res = await evaluateMaybeRecording(actor, env, input, input.recordEpisodes, meta);
      return {
        ...res,
        run,
        agent: input.agent,
        algo: 'scratch',
        env: cfg.env,
        trainedSteps: manifest.step,
        trainedEval: manifest.evalReturn,
        trainedSuccessRate: trainedSuccessRate(run, manifest.step),
      };
    } finally {
      await env.close();
    }
  }
  if (typeof stored.env !== 'string') throw new Error(`${join(run, 'config.json')} names no env`);
  const policy = typeof base === 'function' ? await base(stored.env, typeof stored.policy === 'string' ? stored.policy : undefined) : base;
  try {
    const cfg = parseSteerConfig(legacySteerConfig(stored, policy), join(run, 'config.json'));
    const spec = STEER_ALGOS[cfg.algo as keyof typeof STEER_ALGOS];
    if (!spec.build) throw new Error(`${run}: a ${spec.label} run has no agent to evaluate (dsrl eval --policy evaluates the base policy)`);
    const file = join(run, input.agent, 'actor.safetensors');
    if (!existsSync(file)) throw new Error(`${run}: no ${input.agent}/actor.safetensors yet (a run saves its agent at each evaluation)`);
    const inner = await makeEnvs(cfg.env, n, policy.chunk);
    try {
      const parts = buildSteerParts({ ...cfg, normalizeObs: steerHyper(cfg, policy).normalizeObs }, policy, null, inner, input.seed)!;
      const { tensors, metadata } = readSafetensors(file);
      loadModelTensors(parts.agent.actor, tensors, file);
      const num = (v: string | undefined) => (v === undefined || !Number.isFinite(Number(v)) ? null : Number(v));
      const meta = { env: cfg.env, label: spec.label, trainedSteps: num(metadata.step) };
      const agent = parts.agent;
      const actor = input.stochastic ? stochasticActor(agent, parts.evalEnv.singleActionSpace.size) : deterministicActor(agent);
      const res = await evaluateMaybeRecording(actor, parts.evalEnv, input, input.recordEpisodes, meta);
      return {
        ...res,
        run,
        agent: input.agent,
        algo: cfg.algo,
        env: cfg.env,
        trainedSteps: num(metadata.step),
        trainedEval: num(metadata.eval_return),
        trainedSuccessRate: trainedSuccessRate(run, num(metadata.step)),
      };
    } finally {
      await inner.close();
    }
  } finally {
    if (typeof base === 'function') await policy.close?.();
  }
}

/** A base policy alone with w ~ N(0, I) (`dsrl eval --policy`; steer's base-policy line is this with seed 10000). */
export async function evaluateBasePolicy(
  policy: NoisePolicy,
  envId: string,
  opts: { episodes: number; seed: number; parallel: number; recordEpisodes?: string; noise?: BaseNoise },
): Promise<EpisodeStats> {
  if (!Number.isInteger(opts.parallel) || opts.parallel < 1) throw new Error(`parallel must be a positive integer, got ${opts.parallel}`);
  if (!Number.isInteger(opts.episodes) || opts.episodes < 1) throw new Error(`episodes must be a positive integer, got ${opts.episodes}`);
  const inner = await makeChunkedVectorEnv(envId, Math.min(opts.parallel, opts.episodes), policy.chunk);
  try {
    // M only bounds the declared noise space; N(0, I) draws are passed through unclipped, as in steer's base line.
    const noiseDim = policy.chunk * policy.actDim;
    const zero = opts.noise === 'zero';
    const actor = zero ? zeroNoiseActor(noiseDim) : gaussianNoiseActor(noiseDim);
    const meta = { env: envId, label: zero ? 'base policy, zero noise' : 'base policy', trainedSteps: null };
    return await evaluateMaybeRecording(actor, new NoiseActionVectorEnv(inner, policy, 1), opts, opts.recordEpisodes, meta);
  } finally {
    await inner.close();
  }
}
