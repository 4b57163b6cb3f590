/**
 * Behavior-cloning pretraining of the diffusion policy: DDPM with epsilon prediction on action chunks,
 * as DPPO pretrains (agent/pretrain/train_diffusion_agent.py): sample a chunk and t ~ U{0..T-1},
 * noise it, regress the network's output onto the noise (MSE), Adam, EMA of the weights for sampling.
 *
 * Core module: no Node imports.
 */
import { z } from 'zod';
import { Rng } from '../../core/rng.ts';
import { splitEpisodes, type D4rlDataset } from '../../data/d4rl.ts';
import type { Model } from '../../nn/module.ts';
import { Adam, clipGradNorm, emaUpdate } from '../../nn/optim.ts';
import { checkActionBounds, minMaxStats, normalizeActions, ObsNormalizer, type ObsStats } from './normalization.ts';
import { checkDiffusionPolicySpec, createDiffusionNetwork, DiffusionPolicy, type DiffusionPolicySpec } from './policy.ts';
import { cosineSchedule, type NoiseSchedule } from './schedule.ts';

// ---------------------------------------------------------------------------------------------
// Training chunks

/**
 * What to do with the last Ta-1 steps of an episode, where a full chunk would cross its end:
 * 'skip' starts chunks only where Ta steps remain (DPPO's StitchedSequenceDataset.make_indices);
 * 'pad' starts a chunk at every step and repeats the episode's last action to fill it.
 */
export type ChunkTail = 'skip' | 'pad';

export interface ChunkDataOptions {
  chunk: number;
  tail: ChunkTail;
  actionLow: ArrayLike<number>;
  actionHigh: ArrayLike<number>;
  /** Default: min/max over the dataset's observations. */
  obsStats?: ObsStats;
}

/** Per-step normalized arrays plus the chunk starts; a batch gathers rows from them. */
export interface ChunkData {
  obsDim: number;
  actDim: number;
  chunk: number;
  /** Normalized observations [N, obsDim]. */
  obs: Float32Array;
  /** Actions in [-1, 1] [N, actDim] (values outside the bounds clipped). */
  actions: Float32Array;
  /** First step of each training chunk. */
  starts: Int32Array;
  /** Last step of the episode each chunk belongs to (padding repeats it). */
  lastStep: Int32Array;
  obsStats: ObsStats;
  actionLow: Float32Array;
  actionHigh: Float32Array;
  /** Action values that lay outside the bounds and were clipped. */
  clippedActions: number;
  episodes: number;
}

/** Chunks never cross an episode boundary (terminals | timeouts, see splitEpisodes). */
export function buildChunkData(dataset: D4rlDataset, options: ChunkDataOptions): ChunkData {
  const { chunk, tail } = options;
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`chunk must be a positive integer, got ${chunk}`);
  if (tail !== 'skip' && tail !== 'pad') throw new Error(`tail must be "skip" or "pad", got ${JSON.stringify(tail)}`);
  const { obsDim, actionDim: actDim, size } = dataset;
  if (size < 1) throw new Error('dataset has no steps');
  checkActionBounds(options.actionLow, options.actionHigh, actDim, 'action bounds');
  const actionLow = Float32Array.from(options.actionLow);
  const actionHigh = Float32Array.from(options.actionHigh);
  const obsStats = options.obsStats ?? minMaxStats(dataset.observations, size, obsDim);
  const obs = new Float32Array(size * obsDim);
  new ObsNormalizer(obsStats).apply(dataset.observations, size, obs);
  const actions = new Float32Array(size * actDim);
  const clippedActions = normalizeActions(dataset.actions, actionLow, actionHigh, actions);
  const episodes = splitEpisodes(dataset);
  const starts: number[] = [];
  const lastStep: number[] = [];
  for (const e of episodes) {
    const lastStart = tail === 'pad' ? e.end - 1 : e.end - chunk;
    for (let t = e.start; t <= lastStart; t++) {
      starts.push(t);
      lastStep.push(e.end - 1);
    }
  }
  if (starts.length === 0) throw new Error(`no training chunks: every episode is shorter than the chunk length ${chunk} (use tail "pad")`);
  return {
    obsDim,
    actDim,
    chunk,
    obs,
    actions,
    starts: Int32Array.from(starts),
    lastStep: Int32Array.from(lastStep),
    obsStats,
    actionLow,
    actionHigh,
    clippedActions,
    episodes: episodes.length,
  };
}

/** Copy training chunk `index` (normalized actions, [chunk * actDim]) into out at offset; padding repeats the episode's last action. */
export function gatherChunk(data: ChunkData, index: number, out: Float32Array, offset = 0): void {
  const { actDim, chunk, actions } = data;
  const start = data.starts[index];
  const last = data.lastStep[index];
  for (let k = 0; k < chunk; k++) {
    const step = Math.min(start + k, last);
    out.set(actions.subarray(step * actDim, (step + 1) * actDim), offset + k * actDim);
  }
}

// ---------------------------------------------------------------------------------------------
// Trainer

export const pretrainConfigSchema = z.strictObject({
  /** Gradient steps. */
  steps: z.number().int().positive(),
  batchSize: z.number().int().positive().default(256),
  /** Adam step size (DPPO pretrains gym policies at 1e-3 decayed to 1e-4; 3e-4 constant is a middle ground). */
  lr: z.number().positive().default(3e-4),
  /** Decoupled weight decay (DPPO uses 1e-6); 0 = plain Adam. */
  weightDecay: z.number().nonnegative().default(0),
  /** Clip the global gradient norm; null = no clipping (DPPO does not clip). */
  gradClip: z.number().positive().nullable().default(null),
  seed: z.number().int().nonnegative().default(0),
  /** EMA decay per EMA update (DPPO ema.decay 0.995). */
  emaDecay: z.number().min(0).lt(1).default(0.995),
  /** Steps between EMA updates (DPPO update_ema_freq 10). */
  emaEvery: z.number().int().positive().default(10),
  /** Before this step the EMA copies the raw weights (DPPO resets it until epoch_start_ema). */
  emaStart: z.number().int().nonnegative().default(1000),
  tail: z.enum(['skip', 'pad']).default('skip'),
});

export type PretrainConfig = z.output<typeof pretrainConfigSchema>;
export type PretrainConfigInput = z.input<typeof pretrainConfigSchema>;

/** Validate and fill defaults once, at the boundary; errors name the field. */
export function resolvePretrainConfig(input: PretrainConfigInput): PretrainConfig {
  const res = pretrainConfigSchema.safeParse(input);
  if (!res.success) {
    const issues = res.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new Error(`pretrain config: ${issues.join('; ')}`);
  }
  return res.data;
}

export class DiffusionTrainer {
  readonly spec: DiffusionPolicySpec;
  readonly config: PretrainConfig;
  readonly data: ChunkData;
  readonly schedule: NoiseSchedule;
  readonly model: Model;
  readonly ema: Model;
  readonly optimizer: Adam;
  /** Gradient steps taken. */
  step = 0;
  private readonly rng: Rng;
  private readonly xDim: number;
  private readonly input: Float32Array;
  private readonly noise: Float32Array;
  private readonly dy: Float32Array;

  constructor(spec: DiffusionPolicySpec, data: ChunkData, config: PretrainConfigInput) {
    checkDiffusionPolicySpec(spec);
    if (spec.obsDim !== data.obsDim || spec.actDim !== data.actDim || spec.chunk !== data.chunk) {
      throw new Error(
        `trainer: spec (obs ${spec.obsDim}, act ${spec.actDim}, chunk ${spec.chunk}) does not match the data (obs ${data.obsDim}, act ${data.actDim}, chunk ${data.chunk})`,
      );
    }
    this.spec = { ...spec };
    this.config = resolvePretrainConfig(config);
    this.data = data;
    this.schedule = cosineSchedule(spec.denoisingSteps);
    const root = Rng.fromSeed(this.config.seed);
    this.model = createDiffusionNetwork(spec, root.derive('init'));
    this.ema = createDiffusionNetwork(spec, root.derive('init'));
    this.ema.copyFrom(this.model);
    this.rng = root.derive('batches');
    this.optimizer = new Adam(this.model, { lr: this.config.lr, weightDecay: this.config.weightDecay });
    this.xDim = spec.chunk * spec.actDim;
    const b = this.config.batchSize;
    this.input = new Float32Array(b * this.model.inDim);
    this.noise = new Float32Array(b * this.xDim);
    this.dy = new Float32Array(b * this.xDim);
  }

  /** One gradient step on a fresh batch; returns the batch's MSE noise-prediction loss. */
  trainStep(): number {
    const { data, xDim, input, noise, dy, rng, schedule } = this;
    const batch = this.config.batchSize;
    const obsDim = data.obsDim;
    const inDim = this.model.inDim;
    rng.fillNormal(noise);
    for (let r = 0; r < batch; r++) {
      const i = rng.int(data.starts.length);
      const start = data.starts[i];
      const t = rng.int(schedule.steps);
      const sa = schedule.sqrtAlphasCumprod[t];
      const s1a = schedule.sqrtOneMinusAlphasCumprod[t];
      const o = r * inDim;
      gatherChunk(data, i, input, o);
      // q_sample: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
      for (let c = 0; c < xDim; c++) input[o + c] = sa * input[o + c] + s1a * noise[r * xDim + c];
      input[o + xDim] = t;
      input.set(data.obs.subarray(start * obsDim, (start + 1) * obsDim), o + xDim + 1);
    }
    const pred = this.model.forward(input, batch);
    // F.mse_loss (mean over all elements) and its gradient.
    const n = batch * xDim;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const d = pred[i] - noise[i];
      sum += d * d;
      dy[i] = (2 * d) / n;
    }
    this.model.zeroGrad();
    this.model.backward(dy, batch, { inputGrad: false });
    if (this.config.gradClip !== null) clipGradNorm(this.model, this.config.gradClip);
    this.optimizer.update();
    this.step++;
    this.updateEma();
    return sum / n;
  }

  private updateEma(): void {
    const { emaStart, emaEvery, emaDecay } = this.config;
    if (this.step < emaStart) this.ema.copyFrom(this.model);
    else if (this.step % emaEvery === 0) emaUpdate(this.ema, this.model, emaDecay);
  }

  /** A policy sampling with the current EMA weights (a copy: later training does not change it). */
  policy(): DiffusionPolicy {
    return new DiffusionPolicy({
      spec: this.spec,
      obsStats: this.data.obsStats,
      actionLow: this.data.actionLow,
      actionHigh: this.data.actionHigh,
      weights: this.ema.values,
    });
  }
}
