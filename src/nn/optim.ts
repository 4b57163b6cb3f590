/** Optimisation helpers over a Model's flat buffers: Adam, gradient-norm clipping, Polyak averaging, EMA. */
import { getBackend } from './backend.ts';
import type { Model } from './module.ts';

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (AdamW); 0 = plain Adam. */
  weightDecay?: number;
}

export interface AdamState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/** Bias-corrected Adam (Kingma & Ba 2015) with torch.optim.Adam's defaults and update formula. */
export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  step = 0;
  readonly m: Float32Array;
  readonly v: Float32Array;

  /** `target` is a Model or any flat parameter/gradient pair (e.g. SAC's log-temperature). */
  constructor(
    private readonly target: { values: Float32Array; grads: Float32Array },
    opts: AdamOptions,
  ) {
    if (!(opts.lr > 0)) throw new Error(`Adam: lr must be > 0, got ${opts.lr}`);
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.m = new Float32Array(target.values.length);
    this.v = new Float32Array(target.values.length);
  }

  /** Apply one update from the current gradients. */
  update(): void {
    this.step += 1;
    getBackend().adam(this.target.values, this.target.grads, this.m, this.v, this.lr, this.beta1, this.beta2, this.eps, this.step, this.weightDecay);
  }

  state(): AdamState {
    return { step: this.step, m: this.m.slice(), v: this.v.slice() };
  }

  load(state: AdamState): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw new Error(`Adam state has ${state.m.length} moments, optimizer has ${this.m.length}`);
    }
    this.step = state.step;
    this.m.set(state.m);
    this.v.set(state.v);
  }
}

/** Global L2 norm of the gradients. */
export function gradNorm(model: { grads: Float32Array }): number {
  return Math.sqrt(getBackend().sumSquares(model.grads));
}

/** Scale gradients so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping. */
export function clipGradNorm(model: { grads: Float32Array }, maxNorm: number): number {
  const norm = gradNorm(model);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) getBackend().axpby(model.grads, model.grads, 0, coef);
  return norm;
}

/** target <- tau * source + (1 - tau) * target (soft target update). */
export function polyak(target: Model, source: Model, tau: number): void {
  if (target.values.length !== source.values.length) throw new Error('polyak: models differ in size');
  getBackend().axpby(target.values, source.values, tau, 1 - tau);
}

/** ema <- decay * ema + (1 - decay) * model (EMA of parameters, as diffusion policies keep). */
export function emaUpdate(ema: Model, model: Model, decay: number): void {
  if (ema.values.length !== model.values.length) throw new Error('emaUpdate: models differ in size');
  getBackend().axpby(ema.values, model.values, 1 - decay, decay);
}
