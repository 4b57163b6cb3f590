/**
 * Wrappers that transform observations or actions, after Gymnasium 1.x's
 * `gymnasium.wrappers.transform_observation` / `transform_action`. They have no state of their own: their
 * `getState`/`setState` pass the inner env's through (see wrappers.ts).
 */
import { envName, type Env, type ResetOptions, type ResetResult, type StepResult } from './env.ts';
import { Box } from './spaces.ts';
import { Wrapper } from './wrappers.ts';

export interface ObservationStats {
  mean: ArrayLike<number>;
  std: ArrayLike<number>;
  /** Added to std before dividing; default 1e-8. */
  epsilon?: number;
  /** Clip normalized values to [-clip, clip]; default none. */
  clip?: number;
}

/**
 * obs -> (obs - mean) / (std + epsilon) with FIXED statistics given up front (e.g. from the offline
 * dataset the policy was trained on). Unlike Gymnasium's NormalizeObservation it never updates them.
 */
export class NormalizeObservation extends Wrapper {
  private readonly mean: Float64Array;
  private readonly invScale: Float64Array;
  private readonly clip: number;
  private readonly normalizedSpace: Box;

  constructor(env: Env, stats: ObservationStats) {
    super(env);
    const n = env.observationSpace.size;
    if (stats.mean.length !== n || stats.std.length !== n) {
      throw new Error(`NormalizeObservation: stats have ${stats.mean.length}/${stats.std.length} entries, observations have ${n}`);
    }
    const epsilon = stats.epsilon ?? 1e-8;
    this.mean = Float64Array.from(stats.mean);
    this.invScale = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = stats.std[i] + epsilon;
      if (!(s > 0) || !Number.isFinite(this.mean[i]))
        throw new Error(`NormalizeObservation: invalid stats at ${i}: mean=${stats.mean[i]} std=${stats.std[i]}`);
      this.invScale[i] = 1 / s;
    }
    this.clip = stats.clip ?? Infinity;
    this.normalizedSpace = new Box(-this.clip, this.clip, env.observationSpace.shape);
  }

  override get observationSpace(): Box {
    return this.normalizedSpace;
  }

  /** Normalizes obs in place and returns it. */
  normalize(obs: Float32Array): Float32Array {
    const clip = this.clip;
    for (let i = 0; i < obs.length; i++) {
      const v = (obs[i] - this.mean[i]) * this.invScale[i];
      obs[i] = v > clip ? clip : v < -clip ? -clip : v;
    }
    return obs;
  }

  override reset(options?: ResetOptions): ResetResult {
    const result = this.env.reset(options);
    this.normalize(result.obs);
    return result;
  }

  override step(action: ArrayLike<number>): StepResult {
    const result = this.env.step(action);
    this.normalize(result.obs);
    return result;
  }
}

/**
 * The agent acts in [minAction, maxAction] (default [-1, 1]); actions are mapped affinely onto the env's
 * bounds and clipped to them, as Gymnasium 1.x RescaleAction. Needs a bounded action space.
 */
export class RescaleAction extends Wrapper {
  private readonly scaledSpace: Box;
  private readonly gradient: Float64Array;
  private readonly intercept: Float64Array;
  private readonly scratch: Float32Array;

  constructor(env: Env, minAction: number | ArrayLike<number> = -1, maxAction: number | ArrayLike<number> = 1) {
    super(env);
    const inner = env.actionSpace;
    if (!inner.isBounded()) throw new Error(`RescaleAction: ${envName(env)} has an unbounded action space ${inner}`);
    this.scaledSpace = new Box(minAction, maxAction, inner.shape);
    const n = inner.size;
    this.gradient = new Float64Array(n);
    this.intercept = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const lo = this.scaledSpace.low[i];
      const hi = this.scaledSpace.high[i];
      if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi))
        throw new Error(`RescaleAction: need finite minAction < maxAction, got ${lo}, ${hi} at ${i}`);
      this.gradient[i] = (inner.high[i] - inner.low[i]) / (hi - lo);
      this.intercept[i] = inner.low[i] - this.gradient[i] * lo;
    }
    this.scratch = new Float32Array(n);
  }

  override get actionSpace(): Box {
    return this.scaledSpace;
  }

  override step(action: ArrayLike<number>): StepResult {
    const inner = this.env.actionSpace;
    if (action.length !== this.scratch.length)
      throw new Error(`${envName(this)}: action has ${action.length} values, expected ${this.scratch.length}`);
    for (let i = 0; i < this.scratch.length; i++) {
      const v = this.intercept[i] + this.gradient[i] * action[i];
      this.scratch[i] = v > inner.high[i] ? inner.high[i] : v < inner.low[i] ? inner.low[i] : v;
    }
    return this.env.step(this.scratch);
  }
}

/** Clips actions to the env's bounds; the exposed action space is unbounded, as Gymnasium's ClipAction. */
export class ClipAction extends Wrapper {
  private readonly unboundedSpace: Box;
  private readonly scratch: Float32Array;

  constructor(env: Env) {
    super(env);
    this.unboundedSpace = new Box(-Infinity, Infinity, env.actionSpace.shape);
    this.scratch = new Float32Array(env.actionSpace.size);
  }

  override get actionSpace(): Box {
    return this.unboundedSpace;
  }

  override step(action: ArrayLike<number>): StepResult {
    const { low, high } = this.env.actionSpace;
    if (action.length !== this.scratch.length)
      throw new Error(`${envName(this)}: action has ${action.length} values, expected ${this.scratch.length}`);
    for (let i = 0; i < this.scratch.length; i++) {
      const v = action[i];
      this.scratch[i] = v > high[i] ? high[i] : v < low[i] ? low[i] : v;
    }
    return this.env.step(this.scratch);
  }
}
