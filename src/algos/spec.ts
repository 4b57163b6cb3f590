/**
 * What an entry of the algorithm table (registry.ts) is: how one way of improving a base policy builds its
 * agent and envs from the run's options. The run harness (run/harness.ts) does the rest, the same for all.
 */
import type { Rng } from '../core/rng.ts';
import type { VectorEnv } from '../envs/vector.ts';
import type { Model } from '../nn/module.ts';
import type { NoisePolicy } from '../policies/policy.ts';
import type { FieldDims } from '../data/replay-buffer.ts';
import type { SampledBatch } from '../data/replay-buffer.ts';
import type { Info } from './losses.ts';
import type { ActorInit } from './tanh-gaussian.ts';

/** The algorithm options of `dsrl steer` (see run/steer.ts's schema for each one's meaning and default). */
export interface SteerHyper {
  actionMagnitude: number;
  /** On w / M in [-1, 1]^C, the reference's convention (see noiseTargetEntropy). */
  targetEntropy: number;
  /** Initial entropy temperature alpha. */
  initTemperature: number;
  /** How the actor starts (tanh-gaussian.ts); default 'random'. */
  actorInit?: ActorInit;
  residualScale: number;
  utd: number;
  distillSteps: number;
  actorHidden: number[];
  criticHidden: number[];
  actorLayerNorm: boolean;
  /** Resolved: whether the agent sees the base policy's normalized observations. */
  normalizeObs: boolean;
  lr: number;
  gamma: number;
}

export interface SteerContext {
  hp: SteerHyper;
  /** The base policy (raw observations in, env-unit chunks out). */
  policy: NoisePolicy;
  /** ActionChunk(Ta)-wrapped task envs: for training (null when only evaluating) and for evaluation. */
  trainInner: VectorEnv | null;
  evalInner: VectorEnv;
  /** The run's root stream: entries take named children of it (`derive`), never `split`. */
  rng: Rng;
  /** Rows the agent's buffers hold: a batch, or one observation per sub-env. */
  maxRows: number;
}

/** An agent the harness can train, checkpoint and evaluate, with the actor it saves. */
export interface SteerAgent {
  /** Actions for rows of observations; sampled ones draw from `rng` when given (in row order), else the agent's own stream. */
  act(obs: Float32Array, rows: number, deterministic: boolean, rng?: Pick<Rng, 'normal'>): Float32Array | Promise<Float32Array>;
  update(batch: SampledBatch): Info | Promise<Info>;
  state(): unknown;
  load(state: unknown): void;
  readonly actor: Model;
}

export interface SteerParts {
  agent: SteerAgent;
  /** The env the agent acts in (null when only evaluating). */
  trainEnv: VectorEnv | null;
  evalEnv: VectorEnv;
  /** The agent's observation size (may differ from the task's) and extra replay fields. */
  obsDim: number;
  fields: FieldDims;
  warmupActions(rng: Rng, out: Float32Array): void;
  transitionFields?(): Record<string, Float32Array>;
  /** Metadata saved with the actor (what it needs to be used again). */
  actorMetadata: Record<string, string>;
}

export interface AlgoSpec {
  /** Legend label, e.g. 'DSRL-NA'. */
  label: string;
  /** Run-folder prefix and checkpoint kind, e.g. 'dsrl-na'. */
  kind: string;
  /** true when it learns from offline (s, a, r, s') data; else why it cannot. */
  offline: true | string;
  /** Whether it can show its agent the base policy's normalized observations. */
  normalizeObs: boolean;
  /** null: nothing to train (the base policy alone). */
  build: ((ctx: SteerContext) => SteerParts) | null;
}

/** The temperature target on the raw noise w in [-M, M]^C for a target on w / M (SB3 squashes to [-1, 1] and scales outside the log-density). */
export function noiseTargetEntropy(targetEntropy: number, chunkDim: number, M: number): number {
  return targetEntropy + chunkDim * Math.log(M);
}

/** DSRL's warm-up: the base policy itself, with N(0, I) noise clipped to the agent's range [-M, M]. */
export function gaussianNoiseWarmup(M: number): (rng: Rng, out: Float32Array) => void {
  return (rng, out) => {
    for (let i = 0; i < out.length; i++) out[i] = Math.max(-M, Math.min(M, rng.normal()));
  };
}
