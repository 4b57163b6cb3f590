/**
 * Noise schedules for the diffusion policy: DDPM's cosine schedule (training) and the DDIM step plan
 * (sampling), both as in DPPO's `model/diffusion/diffusion.py`, which the DSRL reference code builds on.
 * Everything is computed in float64 once; the sampler reads the coefficients per step.
 */

/** DPPO cosine_beta_schedule defaults (Nichol & Dhariwal 2021): offset s = 0.008, betas clipped at 0.999. */
export const COSINE_S = 0.008;
export const MAX_BETA = 0.999;

export interface NoiseSchedule {
  /** T: number of DDPM steps; timesteps are 0..T-1 (t = 0 is the least noisy). */
  readonly steps: number;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  /** alphaBar[t] = prod_{i <= t} (1 - beta_i). */
  readonly alphasCumprod: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
}

/**
 * Cosine schedule: f(i) = cos^2(((i/T + s) / (1 + s)) * pi/2), beta_i = 1 - f(i+1)/f(i), clipped to
 * [0, maxBeta]; alphaBar is then the running product of (1 - beta) (so clipping is reflected in it).
 */
export function cosineSchedule(steps: number, s = COSINE_S, maxBeta = MAX_BETA): NoiseSchedule {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`cosineSchedule: T must be a positive integer, got ${steps}`);
  const f = (i: number) => Math.cos(((i / steps + s) / (1 + s)) * Math.PI * 0.5) ** 2;
  const betas = new Float64Array(steps);
  const alphas = new Float64Array(steps);
  const alphasCumprod = new Float64Array(steps);
  const sqrtAlphasCumprod = new Float64Array(steps);
  const sqrtOneMinusAlphasCumprod = new Float64Array(steps);
  let prod = 1;
  for (let i = 0; i < steps; i++) {
    betas[i] = Math.min(maxBeta, Math.max(0, 1 - f(i + 1) / f(i)));
    alphas[i] = 1 - betas[i];
    prod *= alphas[i];
    alphasCumprod[i] = prod;
    sqrtAlphasCumprod[i] = Math.sqrt(prod);
    sqrtOneMinusAlphasCumprod[i] = Math.sqrt(1 - prod);
  }
  return { steps, betas, alphas, alphasCumprod, sqrtAlphasCumprod, sqrtOneMinusAlphasCumprod };
}

/** Coefficients of a deterministic (eta = 0) DDIM pass, in the order the steps run. */
export interface DdimPlan {
  /** Timesteps visited, descending: (S-1)*r, ..., r, 0 with r = floor(T / S) (DPPO's "uniform", HF "leading"). */
  readonly timesteps: Int32Array;
  readonly sqrtAlpha: Float64Array;
  readonly sqrtOneMinusAlpha: Float64Array;
  /** alphaBar of the timestep the step moves to; 1 for the last step (t = 0 -> clean sample). */
  readonly sqrtAlphaPrev: Float64Array;
  readonly sqrtOneMinusAlphaPrev: Float64Array;
}

export function ddimPlan(schedule: NoiseSchedule, ddimSteps: number): DdimPlan {
  const T = schedule.steps;
  if (!Number.isInteger(ddimSteps) || ddimSteps < 1 || ddimSteps > T) {
    throw new Error(`ddimPlan: DDIM steps must be an integer in [1, T=${T}], got ${ddimSteps}`);
  }
  const ratio = Math.floor(T / ddimSteps);
  const S = ddimSteps;
  const timesteps = new Int32Array(S);
  const sqrtAlpha = new Float64Array(S);
  const sqrtOneMinusAlpha = new Float64Array(S);
  const sqrtAlphaPrev = new Float64Array(S);
  const sqrtOneMinusAlphaPrev = new Float64Array(S);
  for (let k = 0; k < S; k++) {
    const level = S - 1 - k; // k-th step runs at t = level * ratio
    const t = level * ratio;
    const a = schedule.alphasCumprod[t];
    const aPrev = level === 0 ? 1 : schedule.alphasCumprod[(level - 1) * ratio];
    timesteps[k] = t;
    sqrtAlpha[k] = Math.sqrt(a);
    sqrtOneMinusAlpha[k] = Math.sqrt(1 - a);
    sqrtAlphaPrev[k] = Math.sqrt(aPrev);
    sqrtOneMinusAlphaPrev[k] = Math.sqrt(1 - aPrev);
  }
  return { timesteps, sqrtAlpha, sqrtOneMinusAlpha, sqrtAlphaPrev, sqrtOneMinusAlphaPrev };
}
