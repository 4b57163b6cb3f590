/**
 * Soft Actor-Critic (Haarnoja et al. 2018, with learned temperature), written to read top to bottom
 * like CleanRL's sac_continuous_action.py, on dsrl's explicit-backward NN engine.
 *
 * - actor: MLP obs -> [mean, log_std_raw]; log_std squashed into [logStdMin, logStdMax] with tanh
 *   (CleanRL); action = tanh(mean + std * eps) scaled to the action bounds.
 * - an ensemble of N critics Q(s, a) (default 2), optional LayerNorm, each with a Polyak target copy.
 * - backup: r + discount * (1 - terminated) * (reduce_i Qtarget_i(s', a') - alpha * log pi(a'|s')),
 *   reduce = min or mean. Time-limit truncation is NOT terminal: it bootstraps.
 * - temperature: log(alpha) learned toward a target entropy ('auto' = -actDim, or a number).
 *
 * The collection loop, replay and evaluation live in run/; this file only owns the update.
 */
import type { Rng, RngState } from '../core/rng.ts';
import type { Activation } from '../nn/backend.ts';
import { mlp } from '../nn/mlp.ts';
import type { Model } from '../nn/module.ts';
import { Adam, polyak, type AdamState } from '../nn/optim.ts';
import { concatRows } from './common.ts';
import { actorLoss, softBellmanTarget, tdLoss, temperatureLoss } from './losses.ts';

export interface SacConfig {
  obsDim: number;
  actDim: number;
  /** Action bounds; the actor's tanh output is mapped onto [low, high] per dimension. */
  actionLow: number[];
  actionHigh: number[];
  actorHidden: number[];
  criticHidden: number[];
  activation: Activation;
  criticLayerNorm: boolean;
  actorLayerNorm: boolean;
  numCritics: number;
  actorLr: number;
  criticLr: number;
  alphaLr: number;
  gamma: number;
  tau: number;
  initAlpha: number;
  /** 'auto' = -actDim (SAC paper); DSRL's reference configs use 0. */
  targetEntropy: 'auto' | number;
  backup: 'min' | 'mean';
  actorReduce: 'min' | 'mean';
  logStdMin: number;
  logStdMax: number;
}

/** Defaults: CleanRL/SB3 SAC (lr 3e-4, gamma 0.99, tau 0.005, 256x256 ReLU, log_std in [-5, 2]). */
export function sacDefaults(obsDim: number, actDim: number, overrides: Partial<SacConfig> = {}): SacConfig {
  return {
    obsDim,
    actDim,
    actionLow: new Array(actDim).fill(-1),
    actionHigh: new Array(actDim).fill(1),
    actorHidden: [256, 256],
    criticHidden: [256, 256],
    activation: 'relu',
    criticLayerNorm: false,
    actorLayerNorm: false,
    numCritics: 2,
    actorLr: 3e-4,
    criticLr: 3e-4,
    alphaLr: 3e-4,
    gamma: 0.99,
    tau: 0.005,
    initAlpha: 1.0,
    targetEntropy: 'auto',
    backup: 'min',
    actorReduce: 'min',
    logStdMin: -5,
    logStdMax: 2,
    ...overrides,
  };
}

/** A training batch, batch-first. `discount` per row overrides gamma (e.g. gamma^k for a k-step chunk). */
export interface SacBatch {
  batchSize: number;
  obs: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  nextObs: Float32Array;
  terminated: Float32Array | Uint8Array;
  discount?: Float32Array;
}

export type Info = Record<string, number>;

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

export interface SacState {
  actor: Float32Array;
  critics: Float32Array[];
  targets: Float32Array[];
  logAlpha: number;
  actorOpt: AdamState;
  criticOpts: AdamState[];
  alphaOpt: AdamState;
  rng: RngState;
  updates: number;
}

export class SAC {
  readonly actor: Model;
  readonly critics: Model[];
  readonly targets: Model[];
  /** log(alpha) as a one-parameter "model" so Adam can own it. */
  readonly logAlpha = { values: new Float32Array(1), grads: new Float32Array(1) };
  readonly actorOpt: Adam;
  readonly criticOpts: Adam[];
  readonly alphaOpt: Adam;
  readonly targetEntropy: number;
  updates = 0;
  private readonly head: TanhGaussian;
  private readonly actHead: TanhGaussian;
  private readonly qIn: Float32Array; // [B, obs + act] critic input
  private readonly qValues: Float32Array[]; // per critic [B]
  private readonly target: Float32Array; // [B]
  private readonly dq: Float32Array; // [B]
  private readonly dqs: Float32Array[]; // per critic [B]
  private readonly dAction: Float32Array; // [B, d]
  private readonly dLogProb: Float32Array; // [B]

  /** Where the policy's Gaussian draws come from during updates (tests may substitute a fixed sequence). */
  noiseSource: Pick<Rng, 'normal'>;

  constructor(
    readonly cfg: SacConfig,
    readonly rng: Rng,
    readonly maxBatch = 256,
  ) {
    this.noiseSource = rng;
    const { obsDim, actDim } = cfg;
    if (cfg.actionLow.length !== actDim || cfg.actionHigh.length !== actDim) {
      throw new Error(`SAC: action bounds must have ${actDim} entries`);
    }
    if (cfg.numCritics < 1) throw new Error('SAC: numCritics must be >= 1');
    const init = rng.split();
    this.actor = mlp({ in: obsDim, hidden: cfg.actorHidden, out: 2 * actDim, activation: cfg.activation, layerNorm: cfg.actorLayerNorm }, init);
    const criticSpec = { in: obsDim + actDim, hidden: cfg.criticHidden, out: 1, activation: cfg.activation, layerNorm: cfg.criticLayerNorm };
    this.critics = Array.from({ length: cfg.numCritics }, () => mlp(criticSpec, init));
    this.targets = this.critics.map((c) => {
      const t = mlp(criticSpec, init);
      t.copyFrom(c);
      return t;
    });
    this.logAlpha.values[0] = Math.log(cfg.initAlpha);
    this.actorOpt = new Adam(this.actor, { lr: cfg.actorLr });
    this.criticOpts = this.critics.map((c) => new Adam(c, { lr: cfg.criticLr }));
    this.alphaOpt = new Adam(this.logAlpha, { lr: cfg.alphaLr });
    this.targetEntropy = cfg.targetEntropy === 'auto' ? -actDim : cfg.targetEntropy;
    const B = maxBatch;
    this.head = new TanhGaussian(B, actDim, cfg.actionLow, cfg.actionHigh, cfg.logStdMin, cfg.logStdMax);
    this.actHead = new TanhGaussian(B, actDim, cfg.actionLow, cfg.actionHigh, cfg.logStdMin, cfg.logStdMax);
    this.qIn = new Float32Array(B * (obsDim + actDim));
    this.qValues = this.critics.map(() => new Float32Array(B));
    this.target = new Float32Array(B);
    this.dq = new Float32Array(B);
    this.dqs = this.critics.map(() => new Float32Array(B));
    this.dAction = new Float32Array(B * actDim);
    this.dLogProb = new Float32Array(B);
  }

  get alpha(): number {
    return Math.exp(this.logAlpha.values[0]);
  }

  /** Actions for rows of observations: sampled, or the tanh of the mean when deterministic. Returns a reused view. */
  act(obs: Float32Array, rows: number, deterministic: boolean, rng: Rng = this.rng): Float32Array {
    const out = this.actor.forward(obs, rows);
    this.actHead.sample(out, rows, deterministic ? null : rng);
    return this.actHead.action.subarray(0, rows * this.cfg.actDim);
  }

  /** One gradient step on critics, actor and temperature, then the Polyak update. */
  update(batch: SacBatch): Info {
    const critic = this.updateCritics(batch);
    const actor = this.updateActorAndAlpha(batch.obs, batch.batchSize);
    for (let i = 0; i < this.critics.length; i++) polyak(this.targets[i], this.critics[i], this.cfg.tau);
    this.updates += 1;
    return { ...critic, ...actor };
  }

  /** Write [obs, action] rows into the critic input buffer. */
  private fillCriticInput(obs: Float32Array, actions: Float32Array, B: number): Float32Array {
    return concatRows(obs, this.cfg.obsDim, actions, this.cfg.actDim, B, this.qIn);
  }

  /** Critic (TD) loss: sum over critics of mean squared error to the soft Bellman target. */
  updateCritics(batch: SacBatch): Info {
    const B = batch.batchSize;
    // Soft target from the target critics at (s', a' ~ pi(s')).
    this.head.sample(this.actor.forward(batch.nextObs, B), B, this.noiseSource);
    const xNext = this.fillCriticInput(batch.nextObs, this.head.action, B);
    for (let i = 0; i < this.targets.length; i++) this.qValues[i].set(this.targets[i].forward(xNext, B).subarray(0, B));
    const y = softBellmanTarget({
      rewards: batch.rewards, terminated: batch.terminated, discount: batch.discount ?? this.cfg.gamma,
      nextQ: this.qValues, nextLogProb: this.head.logProb, alpha: this.alpha, reduce: this.cfg.backup,
    }, B, this.target);
    // Regress every critic onto the same target.
    const x = this.fillCriticInput(batch.obs, batch.actions, B);
    let loss = 0;
    let qMean = 0;
    for (let i = 0; i < this.critics.length; i++) {
      const c = this.critics[i];
      const res = tdLoss(c.forward(x, B), y, B, this.dq);
      loss += res.loss;
      qMean += res.info.q_mean / this.critics.length;
      c.zeroGrad();
      c.backward(this.dq.subarray(0, B), B, { inputGrad: false });
      this.criticOpts[i].update();
    }
    return { 'losses/qf_loss': loss / 2, 'losses/qf_values': qMean };
  }

  /** Actor loss E[alpha log pi(a|s) - reduce_i Q_i(s, a)] and temperature loss -log(alpha) (log pi + H_target). */
  updateActorAndAlpha(obs: Float32Array, B: number): Info {
    const { obsDim, actDim } = this.cfg;
    const alpha = this.alpha;
    const head = this.head;
    head.sample(this.actor.forward(obs, B), B, this.noiseSource);
    const x = this.fillCriticInput(obs, head.action, B);
    const n = this.critics.length;
    for (let i = 0; i < n; i++) this.qValues[i].set(this.critics[i].forward(x, B).subarray(0, B));
    const actor = actorLoss(this.qValues, head.logProb, alpha, this.cfg.actorReduce, B, this.dqs, this.dLogProb);
    // Through each critic to its action input, then through the tanh-Gaussian head into the actor.
    const dAction = this.dAction;
    dAction.fill(0);
    const w = obsDim + actDim;
    for (let i = 0; i < n; i++) {
      const dx = this.critics[i].backward(this.dqs[i].subarray(0, B), B, { inputGrad: true, paramGrad: false })!;
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < actDim; j++) dAction[b * actDim + j] += dx[b * w + obsDim + j];
      }
    }
    const dOut = head.backward(B, dAction, this.dLogProb);
    this.actor.zeroGrad();
    this.actor.backward(dOut.subarray(0, B * 2 * actDim), B, { inputGrad: false });
    this.actorOpt.update();
    const temperature = temperatureLoss(this.logAlpha.values[0], head.logProb, B, this.targetEntropy);
    this.logAlpha.grads[0] = temperature.grad;
    this.alphaOpt.update();
    return {
      'losses/actor_loss': actor.loss, 'losses/alpha': alpha, 'losses/alpha_loss': temperature.loss, 'losses/entropy': actor.info.entropy,
    };
  }

  state(): SacState {
    return {
      actor: this.actor.values.slice(),
      critics: this.critics.map((c) => c.values.slice()),
      targets: this.targets.map((t) => t.values.slice()),
      logAlpha: this.logAlpha.values[0],
      actorOpt: this.actorOpt.state(),
      criticOpts: this.criticOpts.map((o) => o.state()),
      alphaOpt: this.alphaOpt.state(),
      rng: this.rng.state(),
      updates: this.updates,
    };
  }

  load(s: SacState): void {
    const check = (what: string, got: number, want: number) => {
      if (got !== want) throw new Error(`SAC checkpoint: ${what} has ${got} parameters, this agent has ${want}`);
    };
    check('actor', s.actor.length, this.actor.size);
    if (s.critics.length !== this.critics.length) throw new Error(`SAC checkpoint has ${s.critics.length} critics, this agent has ${this.critics.length}`);
    s.critics.forEach((v, i) => check(`critic ${i}`, v.length, this.critics[i].size));
    this.actor.values.set(s.actor);
    s.critics.forEach((v, i) => this.critics[i].values.set(v));
    s.targets.forEach((v, i) => this.targets[i].values.set(v));
    this.logAlpha.values[0] = s.logAlpha;
    this.actorOpt.load(s.actorOpt);
    s.criticOpts.forEach((o, i) => this.criticOpts[i].load(o));
    this.alphaOpt.load(s.alphaOpt);
    this.rng.setState(s.rng);
    this.updates = s.updates;
  }
}
