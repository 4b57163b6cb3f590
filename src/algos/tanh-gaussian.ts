/**
 * Tanh-squashed Gaussian policy head (SAC's): samples bounded actions and their log-probabilities from
 * an actor's raw output [mean, log_std_raw], and backpropagates a loss on them (reparameterized).
 */
import type { Rng } from '../core/rng.ts';
import type { Model } from '../nn/module.ts';

/** How a tanh-Gaussian actor starts: 'random' (the usual initialization) or 'zero-mean' (see zeroMeanOutput). */
export type ActorInit = 'random' | 'zero-mean';

/**
 * Zero the mean half of an actor's output layer (its raw output is [mean, log_std_raw], d each), so the mean is
 * 0, the middle of the action bounds, whatever the observation; the spread and the hidden layers keep their
 * random start, and gradients reach the zeroed weights from the first update. For a DSRL noise actor that is
 * w = 0: the base policy's most likely chunk, which a base policy may do far better with than with a random
 * state-dependent w (models/lift: 97% success with w = 0, 40% with N(0, I), 0% with any fixed random w).
 */
export function zeroMeanOutput(actor: Model, d: number): void {
  const [weight, bias] = actor.params.slice(-2).map(([, p]) => p);
  if (!weight || !bias || weight.shape.length !== 2 || weight.shape[0] !== 2 * d || bias.shape[0] !== 2 * d)
    throw new Error(`zeroMeanOutput: the actor's last layer is not a [${2 * d}, in] Linear with a bias`);
  weight.value.fill(0, 0, d * weight.shape[1]);
  bias.value.fill(0, 0, d);
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const LN2 = Math.LN2;

function softplus(x: number): number {
  return x > 20 ? x : x < -20 ? Math.exp(x) : Math.log1p(Math.exp(x));
}

/**
 * Tanh-squashed Gaussian policy head: samples actions and log-probabilities from the actor's raw
 * output and backpropagates a loss on them. Buffers are reused across calls.
 */
export class TanhGaussian {
  readonly action: Float32Array; // env-scaled, [B, d]
  readonly logProb: Float32Array; // [B]
  private readonly eps: Float32Array;
  private readonly tanhU: Float32Array;
  private readonly std: Float32Array;
  private readonly dLogStd: Float32Array; // d log_std / d raw
  readonly dOut: Float32Array; // gradient w.r.t. the actor output [B, 2d]
  private readonly scale: Float32Array;
  private readonly shift: Float32Array;
  private readonly logScaleSum: number;

  constructor(
    readonly maxRows: number,
    readonly d: number,
    low: number[],
    high: number[],
    readonly logStdMin: number,
    readonly logStdMax: number,
  ) {
    this.action = new Float32Array(maxRows * d);
    this.logProb = new Float32Array(maxRows);
    this.eps = new Float32Array(maxRows * d);
    this.tanhU = new Float32Array(maxRows * d);
    this.std = new Float32Array(maxRows * d);
    this.dLogStd = new Float32Array(maxRows * d);
    this.dOut = new Float32Array(maxRows * 2 * d);
    this.scale = Float32Array.from(low, (l, j) => (high[j] - l) / 2);
    this.shift = Float32Array.from(low, (l, j) => (high[j] + l) / 2);
    this.logScaleSum = Array.from(this.scale).reduce((s, v) => s + Math.log(v), 0);
  }

  /** Sample (or take the mean when rng is null) for rows of actor output `out` [rows, 2d]. */
  sample(out: Float32Array, rows: number, rng: Pick<Rng, 'normal'> | null): void {
    const { d, eps, tanhU, std, action, logProb, scale, shift } = this;
    if (rows > this.maxRows) throw new RangeError(`TanhGaussian: ${rows} rows > capacity ${this.maxRows}`);
    const half = 0.5 * (this.logStdMax - this.logStdMin);
    for (let b = 0; b < rows; b++) {
      let lp = -this.logScaleSum;
      for (let j = 0; j < d; j++) {
        const i = b * d + j;
        const t = Math.tanh(out[b * 2 * d + d + j]);
        const logStd = this.logStdMin + half * (t + 1);
        this.dLogStd[i] = half * (1 - t * t);
        const s = Math.exp(logStd);
        std[i] = s;
        const e = rng ? rng.normal() : 0;
        eps[i] = e;
        const u = out[b * 2 * d + j] + s * e;
        const a = Math.tanh(u);
        tanhU[i] = a;
        action[i] = scale[j] * a + shift[j];
        // log N(u; mean, std) - log|d tanh/du| - log scale, with log(1 - tanh(u)^2) = 2 (ln2 - u - softplus(-2u))
        lp += -0.5 * e * e - logStd - LOG_SQRT_2PI - 2 * (LN2 - u - softplus(-2 * u));
      }
      logProb[b] = lp;
    }
  }

  /**
   * Gradient of sum_b [dAction[b] . action[b] + dLogProb[b] * logProb[b]] w.r.t. the actor output,
   * into dOut (reparameterised through the last sample()).
   */
  backward(rows: number, dAction: Float32Array, dLogProb: Float32Array): Float32Array {
    const { d, eps, tanhU, std, scale, dOut } = this;
    for (let b = 0; b < rows; b++) {
      const dlp = dLogProb[b];
      for (let j = 0; j < d; j++) {
        const i = b * d + j;
        const a = tanhU[i];
        // d logp / du = 2 tanh(u); d action / du = scale (1 - tanh^2)
        const du = dAction[i] * scale[j] * (1 - a * a) + dlp * 2 * a;
        dOut[b * 2 * d + j] = du;
        // u depends on log_std through std * eps; logp also has the explicit -log_std term
        dOut[b * 2 * d + d + j] = (du * std[i] * eps[i] - dlp) * this.dLogStd[i];
      }
    }
    return dOut;
  }
}
