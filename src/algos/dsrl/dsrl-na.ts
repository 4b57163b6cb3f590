/**
 * DSRL-NA (noise aliasing), Wagenmaker et al. 2025, section "DSRL-NA"; see shared/reference/dsrl.md.
 *
 * - Q_A(s, a): an ensemble on real action chunks, TD target
 *   r + gamma (1 - terminated) [min_i Qbar_A_i(s', pi_dp(s', w')) - alpha log pi_w(w'|s')], w' ~ pi_w(s').
 * - Q_W(s, w): distilled from Q_A on fresh noise: w ~ N(0, I), regress Q_W_i(s, w) onto stopgrad
 *   Q_A_i(s, pi_dp(s, w)), member i onto member i; no target network.
 * - pi_w: tanh-Gaussian noise actor bounded to [-M, M] (unlike the reference code, M is respected),
 *   maximising min_i Q_W_i(s, w) - alpha log pi_w(w|s); learned temperature.
 * Replay stores real actions (field `realActions`), so offline data (s, a, r, s') works as is.
 * Schedule as the reference: every `utd` updates of Q_A / actor / alpha, `distillSteps` steps of Q_W.
 */
import type { Rng, RngState } from '../../core/rng.ts';
import type { SampledBatch } from '../../data/replay-buffer.ts';
import type { Activation } from '../../nn/backend.ts';
import { mlp } from '../../nn/mlp.ts';
import type { Model } from '../../nn/module.ts';
import { Adam, polyak, type AdamState } from '../../nn/optim.ts';
import type { NoisePolicy } from '../../policies/policy.ts';
import { concatRows } from '../common.ts';
import { softBellmanTarget, type Info } from '../losses.ts';
import { actorTemperatureStep, forwardEach, regressCritics, type ActorStepParts } from '../sac-steps.ts';
import { gaussianNoiseWarmup, noiseTargetEntropy, type AlgoSpec } from '../spec.ts';
import { TanhGaussian, zeroMeanOutput, type ActorInit } from '../tanh-gaussian.ts';
import { agentView, NoiseActionVectorEnv } from './noise-action-env.ts';

export interface DsrlNaConfig {
  obsDim: number;
  /** Flattened chunk: Ta * da (noise and real actions have this size). */
  chunkDim: number;
  /** M: the noise actor's bound (reference: 1.5 Hopper/HalfCheetah, 2.5 Walker2d). */
  actionMagnitude: number;
  actorHidden: number[];
  criticHidden: number[];
  activation: Activation;
  criticLayerNorm: boolean;
  /** LayerNorm in the noise actor too (the reference configs have it; our default runs predate it: off). */
  actorLayerNorm: boolean;
  numCritics: number;
  lr: number;
  gamma: number;
  tau: number;
  initAlpha: number;
  /** Reference configs: 0. */
  targetEntropy: number;
  /** Q_W distillation steps after every `utd` updates. */
  distillSteps: number;
  utd: number;
  logStdMin: number;
  logStdMax: number;
  actorInit: ActorInit;
}

/** Reference DSRL-NA hyperparameters for Gym tasks (shared/reference/dsrl.md), critic width per task. */
export function dsrlNaDefaults(obsDim: number, chunkDim: number, overrides: Partial<DsrlNaConfig> = {}): DsrlNaConfig {
  return {
    obsDim,
    chunkDim,
    actionMagnitude: 1.5,
    actorHidden: [128, 128, 128],
    criticHidden: [128, 128, 128],
    activation: 'tanh',
    criticLayerNorm: true,
    actorLayerNorm: false,
    numCritics: 2,
    lr: 3e-4,
    gamma: 0.99,
    tau: 0.005,
    initAlpha: 1.0,
    targetEntropy: 0,
    distillSteps: 10,
    utd: 20,
    logStdMin: -5,
    logStdMax: 2,
    actorInit: 'random',
    ...overrides,
  };
}

export interface DsrlNaState {
  actor: Float32Array;
  qa: Float32Array[];
  qaTargets: Float32Array[];
  qw: Float32Array[];
  logAlpha: number;
  opts: AdamState[];
  rng: RngState;
  updates: number;
}

export class DsrlNA {
  readonly actor: Model;
  readonly qa: Model[];
  readonly qaTargets: Model[];
  readonly qw: Model[];
  readonly logAlpha = { values: new Float32Array(1), grads: new Float32Array(1) };
  private readonly actorOpt: Adam;
  private readonly qaOpts: Adam[];
  private readonly qwOpts: Adam[];
  private readonly alphaOpt: Adam;
  updates = 0;
  noiseSource: Pick<Rng, 'normal'>;
  private readonly head: TanhGaussian;
  private readonly actHead: TanhGaussian;
  private readonly actorStep: ActorStepParts;
  private readonly x: Float32Array; // [B, obs + chunk] critic input
  private readonly y: Float32Array; // [B] TD target
  private readonly q: Float32Array[]; // per critic [B]
  private readonly dq: Float32Array[]; // per critic [B]
  private distillScratch: { obs: Float32Array; noise: Float32Array; x: Float32Array; targets: Float32Array[] } | null = null;

  constructor(
    readonly cfg: DsrlNaConfig,
    readonly basePolicy: NoisePolicy,
    readonly rng: Rng,
    readonly maxBatch = 256,
  ) {
    const { obsDim, chunkDim: C, actionMagnitude: M } = cfg;
    if (basePolicy.obsDim !== obsDim || basePolicy.chunk * basePolicy.actDim !== C) {
      throw new Error(
        `DSRL-NA: base policy is obs ${basePolicy.obsDim} -> ${basePolicy.chunk} x ${basePolicy.actDim}, config says obs ${obsDim} -> ${C}`,
      );
    }
    if (!(M > 0)) throw new Error(`DSRL-NA: actionMagnitude must be > 0, got ${M}`);
    this.noiseSource = rng;
    // A named stream: the weights do not depend on how many draws the agent's own stream has made.
    const init = rng.derive('init');
    const act = cfg.activation;
    this.actor = mlp({ in: obsDim, hidden: cfg.actorHidden, out: 2 * C, activation: act, layerNorm: cfg.actorLayerNorm }, init);
    if (cfg.actorInit === 'zero-mean') zeroMeanOutput(this.actor, C);
    const critic = () => mlp({ in: obsDim + C, hidden: cfg.criticHidden, out: 1, activation: act, layerNorm: cfg.criticLayerNorm }, init);
    this.qa = Array.from({ length: cfg.numCritics }, critic);
    this.qaTargets = this.qa.map((q) => {
      const t = critic();
      t.copyFrom(q);
      return t;
    });
    this.qw = Array.from({ length: cfg.numCritics }, critic);
    this.logAlpha.values[0] = Math.log(cfg.initAlpha);
    this.actorOpt = new Adam(this.actor, { lr: cfg.lr });
    this.qaOpts = this.qa.map((q) => new Adam(q, { lr: cfg.lr }));
    this.qwOpts = this.qw.map((q) => new Adam(q, { lr: cfg.lr }));
    this.alphaOpt = new Adam(this.logAlpha, { lr: cfg.lr });
    const B = maxBatch;
    const bounds = [new Array(C).fill(-M), new Array(C).fill(M)];
    this.head = new TanhGaussian(B, C, bounds[0], bounds[1], cfg.logStdMin, cfg.logStdMax);
    this.actHead = new TanhGaussian(B, C, bounds[0], bounds[1], cfg.logStdMin, cfg.logStdMax);
    this.x = new Float32Array(B * (obsDim + C));
    this.y = new Float32Array(B);
    this.q = this.qa.map(() => new Float32Array(B));
    this.dq = this.qa.map(() => new Float32Array(B));
    // The actor climbs Q_W (noise space), not Q_A.
    this.actorStep = {
      actor: this.actor,
      actorOpt: this.actorOpt,
      head: this.head,
      critics: this.qw,
      reduce: 'min',
      logAlpha: this.logAlpha,
      alphaOpt: this.alphaOpt,
      targetEntropy: cfg.targetEntropy,
      x: this.x,
      q: this.q,
      dq: this.qa.map(() => new Float32Array(B)),
      dAction: new Float32Array(B * C),
      dLogProb: new Float32Array(B),
    };
  }

  get alpha(): number {
    return Math.exp(this.logAlpha.values[0]);
  }

  /** Noise for rows of observations: sampled from pi_w, or its mean when deterministic. */
  act(obs: Float32Array, rows: number, deterministic: boolean, rng: Pick<Rng, 'normal'> = this.noiseSource): Float32Array {
    this.actHead.sample(this.actor.forward(obs, rows), rows, deterministic ? null : rng);
    return this.actHead.action.subarray(0, rows * this.cfg.chunkDim);
  }

  async update(batch: SampledBatch): Promise<Info> {
    const real = batch.fields.realActions;
    if (!real) throw new Error('DSRL-NA: the replay buffer must store the executed chunks in field "realActions"');
    const info = await this.updateQA(batch, real);
    Object.assign(info, actorTemperatureStep(this.actorStep, batch.obs, this.cfg.obsDim, batch.batchSize, this.noiseSource));
    for (let i = 0; i < this.qa.length; i++) polyak(this.qaTargets[i], this.qa[i], this.cfg.tau);
    this.updates++;
    if (this.updates % this.cfg.utd === 0) {
      if (this.cfg.distillSteps > 0) info['losses/qw_loss'] = await this.distill(batch.obs, batch.batchSize);
    }
    return info;
  }

  /** Q_A regression onto the soft TD target through the base policy at (s', w'), w' ~ pi_w(s'). */
  private async updateQA(batch: SampledBatch, real: Float32Array): Promise<Info> {
    const B = batch.batchSize;
    const { obsDim, chunkDim: C, gamma } = this.cfg;
    this.head.sample(this.actor.forward(batch.nextObs, B), B, this.noiseSource);
    const nextActions = await this.basePolicy.act(batch.nextObs, this.head.action.subarray(0, B * C), B);
    const xNext = concatRows(batch.nextObs, obsDim, nextActions, C, B, this.x);
    forwardEach(this.qaTargets, xNext, B, this.q);
    const y = softBellmanTarget(
      {
        rewards: batch.rewards,
        terminated: batch.terminated,
        discount: gamma,
        nextQ: this.q,
        nextLogProb: this.head.logProb,
        alpha: this.alpha,
        reduce: 'min',
      },
      B,
      this.y,
    );
    const x = concatRows(batch.obs, obsDim, real, C, B, this.x);
    const { loss, qMean } = regressCritics(this.qa, this.qaOpts, x, y, B, this.dq);
    return { 'losses/qa_loss': loss, 'losses/qa_values': qMean };
  }

  /**
   * `distillSteps` Q_W steps on fresh N(0, I) noise, member i of Q_W onto member i of Q_A; returns the last loss.
   * The targets Q_A(s, pi_dp(s, w)) do not change during these steps (Q_A is not updated), so the base policy
   * and Q_A run once on all steps' rows together (one batch of steps x B), then Q_W takes its steps.
   */
  private async distill(obs: Float32Array, B: number): Promise<number> {
    const { obsDim, chunkDim: C, distillSteps: K } = this.cfg;
    const rows = K * B;
    const d = this.distillBuffers(rows);
    const w = d.noise.subarray(0, rows * C);
    const rng = this.noiseSource;
    for (let i = 0; i < w.length; i++) w[i] = rng.normal();
    const s = d.obs.subarray(0, rows * obsDim);
    for (let k = 0; k < K; k++) s.set(obs.subarray(0, B * obsDim), k * B * obsDim);
    const actions = await this.basePolicy.act(s, w, rows);
    const xa = concatRows(s, obsDim, actions, C, rows, d.x);
    // Stop-gradient: Q_A's values are plain numbers here.
    forwardEach(this.qa, xa, rows, d.targets);
    const xw = concatRows(s, obsDim, w, C, rows, d.x);
    const width = obsDim + C;
    let loss = NaN;
    for (let k = 0; k < K; k++) {
      const targets = d.targets.map((t) => t.subarray(k * B, (k + 1) * B));
      loss = regressCritics(this.qw, this.qwOpts, xw.subarray(k * B * width, (k + 1) * B * width), targets, B, this.dq).loss;
    }
    return loss;
  }

  /** Buffers for a distillation block of `rows` rows, grown on first use (and when the batch grows). */
  private distillBuffers(rows: number): { obs: Float32Array; noise: Float32Array; x: Float32Array; targets: Float32Array[] } {
    const { obsDim, chunkDim: C } = this.cfg;
    if (!this.distillScratch || this.distillScratch.targets[0].length < rows) {
      this.distillScratch = {
        obs: new Float32Array(rows * obsDim),
        noise: new Float32Array(rows * C),
        x: new Float32Array(rows * (obsDim + C)),
        targets: this.qa.map(() => new Float32Array(rows)),
      };
    }
    return this.distillScratch;
  }

  state(): DsrlNaState {
    return {
      actor: this.actor.values.slice(),
      qa: this.qa.map((m) => m.values.slice()),
      qaTargets: this.qaTargets.map((m) => m.values.slice()),
      qw: this.qw.map((m) => m.values.slice()),
      logAlpha: this.logAlpha.values[0],
      opts: [this.actorOpt, ...this.qaOpts, ...this.qwOpts, this.alphaOpt].map((o) => o.state()),
      rng: this.rng.state(),
      updates: this.updates,
    };
  }

  load(s: DsrlNaState): void {
    const models = [this.actor, ...this.qa, ...this.qaTargets, ...this.qw];
    const values = [s.actor, ...s.qa, ...s.qaTargets, ...s.qw];
    if (values.length !== models.length) throw new Error(`DSRL-NA checkpoint has ${values.length} networks, this agent has ${models.length}`);
    models.forEach((m, i) => {
      if (values[i].length !== m.size) throw new Error(`DSRL-NA checkpoint: network ${i} has ${values[i].length} parameters, expected ${m.size}`);
    });
    models.forEach((m, i) => m.values.set(values[i]));
    this.logAlpha.values[0] = s.logAlpha;
    [this.actorOpt, ...this.qaOpts, ...this.qwOpts, this.alphaOpt].forEach((o, i) => o.load(s.opts[i]));
    this.rng.setState(s.rng);
    this.updates = s.updates;
  }
}

/**
 * The algorithm-table entry: the noise-action wrapper collects real chunks (kept in the replay field
 * `realActions`), and DSRL-NA learns Q_A on them, Q_W by distillation and the noise actor on Q_W.
 */
export const dsrlNa: AlgoSpec = {
  label: 'DSRL-NA',
  kind: 'dsrl-na',
  offline: true,
  normalizeObs: true,
  build({ hp, policy, trainInner, evalInner, rng, maxRows }) {
    const M = hp.actionMagnitude;
    const chunkDim = policy.chunk * policy.actDim;
    const { normalizer, agentPolicy } = agentView(policy, hp.normalizeObs);
    const trainEnv = trainInner ? new NoiseActionVectorEnv(trainInner, policy, M, normalizer) : null;
    const evalEnv = new NoiseActionVectorEnv(evalInner, policy, M, normalizer);
    const agent = new DsrlNA(
      dsrlNaDefaults(policy.obsDim, chunkDim, {
        actionMagnitude: M,
        actorHidden: hp.actorHidden,
        criticHidden: hp.criticHidden,
        lr: hp.lr,
        gamma: hp.gamma,
        utd: hp.utd,
        distillSteps: hp.distillSteps,
        targetEntropy: noiseTargetEntropy(hp.targetEntropy, chunkDim, M),
        initAlpha: hp.initTemperature,
        actorInit: hp.actorInit ?? 'random',
        actorLayerNorm: hp.actorLayerNorm,
      }),
      agentPolicy,
      rng.derive('agent'),
      maxRows,
    );
    return {
      agent,
      trainEnv,
      evalEnv,
      obsDim: policy.obsDim,
      fields: { realActions: chunkDim },
      warmupActions: gaussianNoiseWarmup(M),
      transitionFields: trainEnv ? () => ({ realActions: trainEnv.lastActions }) : undefined,
      actorMetadata: {
        action_magnitude: String(M),
        ...(normalizer ? { observations: "normalized with the base policy's observation statistics" } : {}),
      },
    };
  },
};
