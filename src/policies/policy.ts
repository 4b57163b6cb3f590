/**
 * The one interface DSRL needs from a base policy: a deterministic map (observation, initial noise)
 * -> action chunk. A native diffusion policy, an ONNX export and a remote policy server all
 * implement it, so they are interchangeable everywhere (steering, evaluation, export).
 */
import type { ObsStats } from './diffusion/normalization.ts';

export type Precision = 'fp32' | 'bf16';

export interface NoisePolicy {
  readonly obsDim: number;
  readonly actDim: number;
  /** Ta: actions per chunk. The noise has the same shape as the chunk: [Ta, actDim] per row. */
  readonly chunk: number;
  /** Bounds of the actions it returns (env units), per action dimension. */
  readonly actionLow: Float32Array;
  readonly actionHigh: Float32Array;
  /**
   * actions[B, Ta, actDim] (env units) for obs[B, obsDim] and noise[B, Ta, actDim]. Pure and
   * deterministic: the same inputs give the same outputs. May return a view reused by the next call.
   */
  act(obs: Float32Array, noise: Float32Array, batch: number): Promise<Float32Array> | Float32Array;
  /**
   * Per-dimension min/max of the observations the policy was trained on, when it declares them (a
   * diffusion checkpoint always does; an ONNX policy when its manifest has obsMin/obsMax). DSRL's
   * normalizeObs shows the agent observations normalized with these, as the reference does.
   */
  readonly obsStats?: ObsStats;
  /**
   * Asks for reduced-precision inference ('bf16': bf16 weights and activations, fp32 sums, where the CPU has the
   * units) or full precision; returns the precision in use. Policies without it run as they were built.
   */
  usePrecision?(precision: Precision): Precision;
  /** Release resources (sessions, sockets, workers). */
  close?(): Promise<void> | void;
}

/** Shape checks shared by every implementation, with errors that name the problem. */
export function checkPolicyInputs(p: NoisePolicy, obs: Float32Array, noise: Float32Array, batch: number): void {
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`policy.act: batch must be a positive integer, got ${batch}`);
  if (obs.length < batch * p.obsDim) throw new Error(`policy.act: obs has ${obs.length} values, expected ${batch} x ${p.obsDim}`);
  const n = batch * p.chunk * p.actDim;
  if (noise.length < n) throw new Error(`policy.act: noise has ${noise.length} values, expected ${batch} x ${p.chunk} x ${p.actDim}`);
}
