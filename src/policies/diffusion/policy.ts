/**
 * DiffusionPolicy: the NoisePolicy that DSRL steers. act(obs, w) runs S deterministic DDIM steps
 * (eta = 0) from the initial noise w to an action chunk, as DPPO samples with use_ddim:
 * at each step predict x0 from eps, clamp it to [-1, 1], recompute eps from the clamped x0, move to
 * the previous DDIM timestep. The result, in [-1, 1], is mapped to the env's action bounds.
 *
 * Core module: no Node imports (runs in a browser). Checkpoint files: checkpoint-io.ts.
 */
import { Rng } from '../../core/rng.ts';
import { ACT_CODE, getBackend, type Backend } from '../../nn/backend.ts';
import type { Linear } from '../../nn/layers.ts';
import { Model, Scratch } from '../../nn/module.ts';
import { Bf16Backend, PackedWeightsBackend } from '../../nn/bf16.ts';
import { checkPolicyInputs, type NoisePolicy, type Precision } from '../policy.ts';
import { DiffusionMlp, type DiffusionMlpSpec, type PreActResidualBlock } from './network.ts';
import { checkActionBounds, ObsNormalizer, type ObsStats } from './normalization.ts';
import { cosineSchedule, ddimPlan, type DdimPlan, type NoiseSchedule } from './schedule.ts';

/** Everything that fixes the policy's shape and sampler (saved in the manifest). */
export interface DiffusionPolicySpec {
  obsDim: number;
  actDim: number;
  /** Ta: actions per chunk. */
  chunk: number;
  /** T: DDPM steps the network was trained with. */
  denoisingSteps: number;
  /** S: DDIM steps at sampling time. */
  ddimSteps: number;
  timeDim: number;
  width: number;
  /** Residual blocks. */
  depth: number;
}

/**
 * Defaults from the DSRL reference for Gym tasks (Ta 4, T 20, S 5) and DPPO's time_dim 16. The
 * network is "3 x 512" as DPPO's Gym configs mean it: mlp_dims [512, 512, 512] with residual_style,
 * which DPPO's ResidualMLP builds as an input Linear, ONE two-layer residual block and an output
 * Linear, i.e. depth 1 here.
 */
export const DIFFUSION_SPEC_DEFAULTS = {
  chunk: 4,
  denoisingSteps: 20,
  ddimSteps: 5,
  timeDim: 16,
  width: 512,
  depth: 1,
} as const satisfies Partial<DiffusionPolicySpec>;

export function checkDiffusionPolicySpec(spec: DiffusionPolicySpec): void {
  for (const name of ['obsDim', 'actDim', 'chunk', 'denoisingSteps', 'ddimSteps'] as const) {
    if (!Number.isInteger(spec[name]) || spec[name] < 1) throw new Error(`diffusion policy: ${name} must be a positive integer, got ${spec[name]}`);
  }
  if (spec.ddimSteps > spec.denoisingSteps) {
    throw new Error(`diffusion policy: ddimSteps (${spec.ddimSteps}) must not exceed denoisingSteps (${spec.denoisingSteps})`);
  }
  networkSpec(spec); // validates width, depth, timeDim
}

export function networkSpec(spec: DiffusionPolicySpec): DiffusionMlpSpec {
  const net = { xDim: spec.chunk * spec.actDim, obsDim: spec.obsDim, timeDim: spec.timeDim, width: spec.width, depth: spec.depth };
  new DiffusionMlp(net); // constructor validates
  return net;
}

/** A fresh noise-prediction network for a spec (initialised from rng, PyTorch's default Linear init). */
export function createDiffusionNetwork(spec: DiffusionPolicySpec, rng: Rng): Model {
  return new Model(new DiffusionMlp(networkSpec(spec)), rng);
}

export interface DiffusionPolicyInit {
  spec: DiffusionPolicySpec;
  obsStats: ObsStats;
  actionLow: ArrayLike<number>;
  actionHigh: ArrayLike<number>;
  /** Network parameters (the EMA weights) in the network's flat order; copied. */
  weights: Float32Array;
}

const ACT_IDENTITY = ACT_CODE.identity;
const ACT_MISH = ACT_CODE.mish;

export class DiffusionPolicy implements NoisePolicy {
  readonly spec: DiffusionPolicySpec;
  readonly obsDim: number;
  readonly actDim: number;
  readonly chunk: number;
  readonly actionLow: Float32Array;
  readonly actionHigh: Float32Array;
  readonly obsStats: ObsStats;
  /**
   * The network holding the sampling (EMA) weights. Change them with setWeights(): writing to
   * network.values directly would leave the cached per-step time terms stale.
   */
  readonly network: Model;
  readonly schedule: NoiseSchedule;
  readonly plan: DdimPlan;
  private readonly normalizer: ObsNormalizer;
  private readonly xDim: number;
  private readonly inDim: number;
  private readonly halfRange: Float32Array;
  private readonly mid: Float32Array;
  private fast: FastWeights;
  private readonly obsNorm = new Scratch();
  private readonly obsTerm = new Scratch();
  private readonly x = new Scratch();
  private readonly h = new Scratch();
  private readonly a = new Scratch();
  private readonly z = new Scratch();
  private readonly eps = new Scratch();
  private readonly out = new Scratch();
  private readonly noise = new Scratch();

  constructor(init: DiffusionPolicyInit) {
    const spec = { ...init.spec };
    checkDiffusionPolicySpec(spec);
    this.spec = spec;
    this.obsDim = spec.obsDim;
    this.actDim = spec.actDim;
    this.chunk = spec.chunk;
    checkActionBounds(init.actionLow, init.actionHigh, spec.actDim);
    this.actionLow = Float32Array.from(init.actionLow);
    this.actionHigh = Float32Array.from(init.actionHigh);
    if (init.obsStats.min.length !== spec.obsDim || init.obsStats.max.length !== spec.obsDim) {
      throw new Error(
        `diffusion policy: observation stats have ${init.obsStats.min.length}/${init.obsStats.max.length} values, expected obsDim ${spec.obsDim}`,
      );
    }
    this.obsStats = { min: Float32Array.from(init.obsStats.min), max: Float32Array.from(init.obsStats.max) };
    this.normalizer = new ObsNormalizer(this.obsStats);
    // Initial values are overwritten right below, so any fixed seed will do.
    this.network = new Model(new DiffusionMlp(networkSpec(spec)), Rng.fromSeed(0));
    if (init.weights.length !== this.network.size) {
      throw new Error(`diffusion policy: ${init.weights.length} weights given, the network has ${this.network.size}`);
    }
    this.network.values.set(init.weights);
    this.schedule = cosineSchedule(spec.denoisingSteps);
    this.plan = ddimPlan(this.schedule, spec.ddimSteps);
    this.xDim = spec.chunk * spec.actDim;
    this.inDim = this.network.inDim;
    this.halfRange = new Float32Array(spec.actDim);
    this.mid = new Float32Array(spec.actDim);
    for (let j = 0; j < spec.actDim; j++) {
      this.halfRange[j] = 0.5 * (this.actionHigh[j] - this.actionLow[j]);
      this.mid[j] = 0.5 * (this.actionHigh[j] + this.actionLow[j]);
    }
    this.fast = this.prepare();
  }

  /** Set by usePrecision('bf16'): the network's frozen products in bf16 (fp32 sums) where the CPU has the units. */
  private bf16: Bf16Backend | null = null;

  /** fp32: the built-in SGEMM reuses the frozen weights packed once (same floats; a no-op with OpenBLAS). */
  private packed: PackedWeightsBackend | null = null;

  private get be(): Backend {
    if (this.bf16) return this.bf16;
    const base = getBackend();
    if (this.packed?.base !== base) this.packed = new PackedWeightsBackend(base, this.network.values);
    return this.packed;
  }

  /**
   * The precision of the sampler's matrix products: 'bf16' runs them on AVX512-BF16 with bf16 weights and
   * activations and fp32 sums (everything between the products stays fp32); on a CPU or backend without
   * bf16 units it stays fp32. Returns the precision now in use.
   */
  usePrecision(precision: Precision): Precision {
    if (precision === 'fp32') {
      this.bf16 = null;
      return 'fp32';
    }
    const bf16 = new Bf16Backend(getBackend(), this.network.values);
    this.bf16 = bf16.active ? bf16 : null;
    return this.bf16 ? 'bf16' : 'fp32';
  }

  /**
   * actions[B, Ta, actDim] in env units for obs[B, obsDim] (env units) and noise[B, Ta, actDim].
   * Deterministic; returns a view reused by the next call.
   */
  act(obs: Float32Array, noise: Float32Array, batch: number): Float32Array {
    checkPolicyInputs(this, obs, noise, batch);
    const x = this.denoise(obs, noise, batch);
    const out = this.out.get(batch * this.xDim);
    const da = this.actDim;
    for (let i = 0; i < out.length; i++) {
      const j = i % da;
      const v = x[i] > 1 ? 1 : x[i] < -1 ? -1 : x[i];
      out[i] = this.mid[j] + this.halfRange[j] * v;
    }
    return out;
  }

  /** act() with noise drawn from N(0, I) by rng. */
  sample(obs: Float32Array, rng: Rng, batch = 1): Float32Array {
    const noise = this.noise.get(batch * this.xDim);
    rng.fillNormal(noise);
    return this.act(obs, noise, batch);
  }

  /**
   * The DDIM pass in normalized space: returns x0 [B, xDim] in [-1, 1] (a view reused by the next call).
   * Inputs are not checked here; act() does that.
   *
   * Runs the network's layers directly rather than through Layer.forward: the first Linear on
   * [x_t, temb(t), obs] splits into W_x x_t + (W_t temb(t) + b) + W_o obs, where the time term is
   * precomputed per DDIM step and the obs term once per call, so each step multiplies only x_t
   * (Ta*da columns) and the residual blocks. At batch 1 the cost is reading the weights (memory-bound),
   * so this leaves little beyond the unavoidable gemms. Agrees with network.forward to float rounding.
   */
  denoise(obs: Float32Array, noise: Float32Array, batch: number): Float32Array {
    const { xDim, plan, fast, be } = this;
    const width = this.spec.width;
    const n = batch * width;
    const obsNorm = this.obsNorm.get(batch * this.obsDim);
    this.normalizer.apply(obs, batch, obsNorm);
    const obsTerm = this.obsTerm.get(n);
    be.gemm(false, true, batch, width, this.obsDim, 1, obsNorm, this.obsDim, fast.inObsWeight, fast.catDim, 0, obsTerm, width);
    const x = this.x.get(batch * xDim);
    x.set(noise.subarray(0, batch * xDim));
    const h = this.h.get(n);
    const a = this.a.get(n);
    const z = this.z.get(n);
    const eps = this.eps.get(batch * xDim);
    const steps = plan.timesteps.length;
    for (let k = 0; k < steps; k++) {
      h.set(obsTerm);
      be.biasAct(h, fast.timeBias[k], batch, width, ACT_IDENTITY, h); // + W_t temb(t_k) + b_in
      be.gemm(false, true, batch, width, xDim, 1, x, xDim, fast.inXWeight, fast.catDim, 1, h, width);
      for (const block of fast.blocks) {
        be.biasAct(h, null, batch, width, ACT_MISH, a);
        be.gemm(false, true, batch, width, width, 1, a, width, block.w1, width, 0, z, width);
        be.biasAct(z, block.b1, batch, width, ACT_MISH, a);
        be.gemm(false, true, batch, width, width, 1, a, width, block.w2, width, 1, h, width); // residual: h += W2 a
        be.biasAct(h, block.b2, batch, width, ACT_IDENTITY, h);
      }
      be.gemm(false, true, batch, xDim, width, 1, h, width, fast.outWeight, width, 0, eps, xDim);
      be.biasAct(eps, fast.outBias, batch, xDim, ACT_IDENTITY, eps);
      ddimUpdate(x, eps, batch * xDim, plan.sqrtAlpha[k], plan.sqrtOneMinusAlpha[k], plan.sqrtAlphaPrev[k], plan.sqrtOneMinusAlphaPrev[k]);
    }
    return x;
  }

  /**
   * The same DDIM pass through network.forward on rows [x_t, t, obs]: the straightforward form,
   * kept as the check on denoise() (tests compare the two).
   */
  denoiseWithLayers(obs: Float32Array, noise: Float32Array, batch: number): Float32Array {
    const { xDim, inDim, plan, network } = this;
    const input = new Float32Array(batch * inDim);
    this.normalizer.apply(obs, batch, input, inDim, xDim + 1);
    const x = noise.slice(0, batch * xDim);
    for (let k = 0; k < plan.timesteps.length; k++) {
      for (let r = 0; r < batch; r++) {
        input.set(x.subarray(r * xDim, (r + 1) * xDim), r * inDim);
        input[r * inDim + xDim] = plan.timesteps[k];
      }
      const eps = network.forward(input, batch);
      ddimUpdate(x, eps, batch * xDim, plan.sqrtAlpha[k], plan.sqrtOneMinusAlpha[k], plan.sqrtAlphaPrev[k], plan.sqrtOneMinusAlphaPrev[k]);
    }
    return x;
  }

  /** Replace the network's weights (e.g. a newer EMA during training) and rebuild the cached terms. */
  setWeights(weights: Float32Array): void {
    if (weights.length !== this.network.size) {
      throw new Error(`diffusion policy: ${weights.length} weights given, the network has ${this.network.size}`);
    }
    this.network.values.set(weights);
    this.bf16?.invalidate();
    this.packed?.invalidate();
    this.fast = this.prepare();
  }

  /** Views of the weights the direct pass reads, and the per-step time terms W_t temb(t_k) + b_in. */
  private prepare(): FastWeights {
    const net = this.network.root as DiffusionMlp;
    const { xDim, timeDim } = net.spec;
    const catDim = net.catDim;
    const layers = net.body.layers;
    const input = layers[0] as Linear;
    const output = layers[layers.length - 1] as Linear;
    const w = input.weight.value;
    const steps = this.plan.timesteps.length;
    const t = Float32Array.from(this.plan.timesteps);
    const temb = net.timeEmbedding.forward(t, steps);
    const timeTerms = new Float32Array(steps * this.spec.width);
    this.be.gemm(false, true, steps, this.spec.width, timeDim, 1, temb, timeDim, w.subarray(xDim), catDim, 0, timeTerms, this.spec.width);
    const timeBias: Float32Array[] = [];
    for (let k = 0; k < steps; k++) {
      const row = timeTerms.subarray(k * this.spec.width, (k + 1) * this.spec.width);
      for (let j = 0; j < row.length; j++) row[j] += input.bias.value[j];
      timeBias.push(row);
    }
    const blocks = layers.slice(1, -1).map((layer) => {
      const b = layer as PreActResidualBlock;
      return { w1: b.l1.weight.value, b1: b.l1.bias.value, w2: b.l2.weight.value, b2: b.l2.bias.value };
    });
    return {
      catDim,
      inXWeight: w,
      inObsWeight: w.subarray(xDim + timeDim),
      timeBias,
      blocks,
      outWeight: output.weight.value,
      outBias: output.bias.value,
    };
  }
}

interface FastWeights {
  catDim: number;
  /** First Linear's weight [width, catDim]; its first xDim columns multiply x_t. */
  inXWeight: Float32Array;
  /** The same weight from the obs columns on (row stride catDim). */
  inObsWeight: Float32Array;
  /** Per DDIM step: W_t temb(t_k) + b_in [width]. */
  timeBias: Float32Array[];
  blocks: { w1: Float32Array; b1: Float32Array; w2: Float32Array; b2: Float32Array }[];
  outWeight: Float32Array;
  outBias: Float32Array;
}

/**
 * One eta = 0 DDIM step in place (DPPO p_mean_var with use_ddim and denoised_clip_value = 1):
 * x0 = (x - sqrt(1-a) eps) / sqrt(a), clamped to [-1, 1]; eps = (x - sqrt(a) x0) / sqrt(1-a);
 * x <- sqrt(a_prev) x0 + sqrt(1 - a_prev) eps.
 */
export function ddimUpdate(
  x: Float32Array,
  eps: Float32Array,
  n: number,
  sqrtA: number,
  sqrtOneMinusA: number,
  sqrtAPrev: number,
  sqrtOneMinusAPrev: number,
): void {
  const invSqrtA = 1 / sqrtA;
  const invSqrtOneMinusA = 1 / sqrtOneMinusA;
  for (let i = 0; i < n; i++) {
    const xt = x[i];
    let x0 = (xt - sqrtOneMinusA * eps[i]) * invSqrtA;
    x0 = x0 > 1 ? 1 : x0 < -1 ? -1 : x0;
    const e = (xt - sqrtA * x0) * invSqrtOneMinusA;
    x[i] = sqrtAPrev * x0 + sqrtOneMinusAPrev * e;
  }
}
