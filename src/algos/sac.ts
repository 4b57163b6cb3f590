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
import { softBellmanTarget, type Info } from './losses.ts';
import { actorTemperatureStep, forwardEach, regressCritics, type ActorStepParts } from './sac-steps.ts';
import { TanhGaussian, zeroMeanOutput, type ActorInit } from './tanh-gaussian.ts';

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
  actorInit: ActorInit;
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
    actorInit: 'random',
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

export type { Info };
export { TanhGaussian };

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
  private readonly actorStep: ActorStepParts;
  private readonly qIn: Float32Array; // [B, obs + act] critic input
  private readonly qValues: Float32Array[]; // per critic [B]
  private readonly target: Float32Array; // [B]
  private readonly dq: Float32Array[]; // per critic [B]

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
    // A named stream: the weights do not depend on how many draws the agent's own stream has made.
    const init = rng.derive('init');
    this.actor = mlp({ in: obsDim, hidden: cfg.actorHidden, out: 2 * actDim, activation: cfg.activation, layerNorm: cfg.actorLayerNorm }, init);
    if (cfg.actorInit === 'zero-mean') zeroMeanOutput(this.actor, actDim);
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
    this.dq = this.critics.map(() => new Float32Array(B));
    this.actorStep = {
      actor: this.actor,
      actorOpt: this.actorOpt,
      head: this.head,
      critics: this.critics,
      reduce: cfg.actorReduce,
      logAlpha: this.logAlpha,
      alphaOpt: this.alphaOpt,
      targetEntropy: this.targetEntropy,
      x: this.qIn,
      q: this.qValues,
      dq: this.critics.map(() => new Float32Array(B)),
      dAction: new Float32Array(B * actDim),
      dLogProb: new Float32Array(B),
    };
  }

  get alpha(): number {
    return Math.exp(this.logAlpha.values[0]);
  }

  /** Actions for rows of observations: sampled, or the tanh of the mean when deterministic. Returns a reused view. */
  act(obs: Float32Array, rows: number, deterministic: boolean, rng: Pick<Rng, 'normal'> = this.rng): Float32Array {
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

  /** Critic (TD) step: every critic regresses onto the soft Bellman target from the target critics at (s', a' ~ pi(s')). */
  updateCritics(batch: SacBatch): Info {
    const B = batch.batchSize;
    const { obsDim, actDim } = this.cfg;
    this.head.sample(this.actor.forward(batch.nextObs, B), B, this.noiseSource);
    const xNext = concatRows(batch.nextObs, obsDim, this.head.action, actDim, B, this.qIn);
    forwardEach(this.targets, xNext, B, this.qValues);
    const y = softBellmanTarget(
      {
        rewards: batch.rewards,
        terminated: batch.terminated,
        discount: batch.discount ?? this.cfg.gamma,
        nextQ: this.qValues,
        nextLogProb: this.head.logProb,
        alpha: this.alpha,
        reduce: this.cfg.backup,
      },
      B,
      this.target,
    );
    const x = concatRows(batch.obs, obsDim, batch.actions, actDim, B, this.qIn);
    const { loss, qMean } = regressCritics(this.critics, this.criticOpts, x, y, B, this.dq);
    return { 'losses/qf_loss': loss, 'losses/qf_values': qMean };
  }

  /** Actor loss E[alpha log pi(a|s) - reduce_i Q_i(s, a)] and temperature loss -log(alpha) (log pi + H_target). */
  updateActorAndAlpha(obs: Float32Array, B: number): Info {
    return actorTemperatureStep(this.actorStep, obs, this.cfg.obsDim, B, this.noiseSource);
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
    if (s.critics.length !== this.critics.length)
      throw new Error(`SAC checkpoint has ${s.critics.length} critics, this agent has ${this.critics.length}`);
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
