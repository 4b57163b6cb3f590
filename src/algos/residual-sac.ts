/**
 * Residual SAC, the action-space baseline for DSRL: plain SAC learns a bounded correction that is added to
 * the base policy's action chunk, a = clip(a_base(s, w) + delta, low, high), w ~ N(0, I) drawn fresh at
 * every chunk (residual policy learning: Silver et al. 2018, Johannink et al. 2019; with a diffusion base
 * policy as in Ankile et al. 2024, "From Imitation to Refinement", and Yuan et al. 2024, "Policy Decorator").
 *
 * Written as a vector-env wrapper, like NoiseActionVectorEnv, so SAC itself is unchanged on top:
 * - the agent's action is delta [Ta * da] in [-beta * (high - low), beta * (high - low)] per dimension
 *   (beta = `residualScale`, a fraction of each action dimension's range);
 * - the agent observes [s, a_base]: the base chunk that the correction will be added to is drawn when the
 *   observation is made, so the corrector sees what it corrects and the MDP stays Markov (the residual
 *   policies of Ankile et al. and Yuan et al. take the base action as input too);
 * - the inner vector env's sub-envs are ActionChunk(Ta)-wrapped; NEXT_STEP autoreset passes through.
 *
 * The base noise comes from the wrapper's own Rng, reseeded by every seeded reset (so each evaluation sees
 * the same base draws) and saved in getState() with the current base chunks and the inner env's state.
 */
import type { Rng } from '../core/rng.ts';
import { restoreRng } from '../envs/env.ts';
import { Box } from '../envs/spaces.ts';
import { batchSpace, type VectorEnv, type VectorResetOptions, type VectorResetResult, type VectorStepResult } from '../envs/vector.ts';
import { VectorWrapper } from '../envs/vector-wrapper.ts';
import { checkPolicyFitsEnv } from '../policies/fits-env.ts';
import type { NoisePolicy } from '../policies/policy.ts';
import { SAC, sacDefaults, type SacConfig } from './sac.ts';
import type { AlgoSpec } from './spec.ts';

const STATE_TYPE = 'ResidualActionVectorEnv';

/** Default beta: corrections up to 0.2 of each action dimension's range (the choice). */
export const DEFAULT_RESIDUAL_SCALE = 0.2;

export class ResidualActionVectorEnv extends VectorWrapper {
  /** [s, a_base]: the task's observation, then the base chunk the next correction is added to. */
  readonly singleObservationSpace: Box;
  /** The correction delta, bounded to +-beta * (high - low) per dimension. */
  readonly singleActionSpace: Box;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  /** Real action chunks [numEnvs, Ta * da] (env units) executed by the last step. */
  readonly lastActions: Float32Array;
  /** Base chunks [numEnvs, Ta * da] for the current observations. */
  private readonly baseActions: Float32Array;
  private readonly noise: Float32Array;
  private readonly low: Float32Array;
  private readonly high: Float32Array;
  private readonly taskObsDim: number;
  private readonly chunkDim: number;
  private obs: Float32Array | null = null;
  private rng: Rng;

  constructor(
    inner: VectorEnv,
    readonly policy: NoisePolicy,
    /** beta: the correction's bound as a fraction of each action dimension's range. */
    readonly residualScale: number,
    /** Source of the base policy's N(0, I) noise; replaced by a child derived from it at each seeded reset. */
    private readonly noiseRng: Rng,
  ) {
    super(inner, STATE_TYPE);
    const chunkDim = policy.chunk * policy.actDim;
    checkPolicyFitsEnv(policy, inner);
    if (!(residualScale > 0)) throw new Error(`residualScale must be > 0, got ${residualScale}`);
    this.taskObsDim = policy.obsDim;
    this.chunkDim = chunkDim;
    // Clip to the env's bounds: that is what the task accepts, whatever bounds the policy was trained with.
    this.low = inner.singleActionSpace.low.slice();
    this.high = inner.singleActionSpace.high.slice();
    if (!inner.singleActionSpace.isBounded())
      throw new Error('residual SAC needs a bounded action space (its corrections are a fraction of the range)');
    const bound = Float32Array.from(this.low, (l, j) => residualScale * (this.high[j] - l));
    this.singleActionSpace = new Box(
      Float32Array.from(bound, (b) => -b),
      bound,
    );
    const innerObs = inner.singleObservationSpace;
    const obsLow = new Float32Array(this.taskObsDim + chunkDim);
    const obsHigh = new Float32Array(this.taskObsDim + chunkDim);
    obsLow.set(innerObs.low);
    obsHigh.set(innerObs.high);
    obsLow.set(this.low, this.taskObsDim);
    obsHigh.set(this.high, this.taskObsDim);
    this.singleObservationSpace = new Box(obsLow, obsHigh);
    this.observationSpace = batchSpace(this.singleObservationSpace, this.numEnvs);
    this.actionSpace = batchSpace(this.singleActionSpace, this.numEnvs);
    this.lastActions = new Float32Array(this.numEnvs * chunkDim);
    this.baseActions = new Float32Array(this.numEnvs * chunkDim);
    this.noise = new Float32Array(this.numEnvs * chunkDim);
    this.rng = noiseRng;
  }

  async reset(options?: VectorResetOptions): Promise<VectorResetResult> {
    if (options?.seed !== undefined) this.rng = this.noiseRng.derive(`reset:${JSON.stringify(options.seed)}`);
    const r = await this.inner.reset(options);
    return { ...r, obs: await this.observe(r.obs) };
  }

  async step(correction: ArrayLike<number>): Promise<VectorStepResult> {
    if (!this.obs) throw new Error('ResidualActionVectorEnv: call reset() before step()');
    if (correction.length !== this.actionSpace.size) {
      throw new Error(`correction has ${correction.length} values, expected ${this.numEnvs} x ${this.singleActionSpace.size}`);
    }
    const { chunkDim, low, high } = this;
    for (let i = 0; i < this.lastActions.length; i++) {
      const j = i % chunkDim;
      const a = this.baseActions[i] + Number(correction[i]);
      this.lastActions[i] = a < low[j] ? low[j] : a > high[j] ? high[j] : a;
    }
    const r = await this.inner.step(this.lastActions);
    return { ...r, obs: await this.observe(r.obs) };
  }

  /** Draw the base chunks for new task observations and return [s, a_base] rows. */
  private async observe(taskObs: Float32Array): Promise<Float32Array> {
    const n = this.numEnvs;
    const d = this.taskObsDim;
    this.rng.fillNormal(this.noise);
    this.baseActions.set((await this.policy.act(taskObs, this.noise, n)).subarray(0, n * this.chunkDim));
    const obs = new Float32Array(n * (d + this.chunkDim));
    for (let i = 0; i < n; i++) {
      obs.set(taskObs.subarray(i * d, (i + 1) * d), i * (d + this.chunkDim));
      obs.set(this.baseActions.subarray(i * this.chunkDim, (i + 1) * this.chunkDim), i * (d + this.chunkDim) + d);
    }
    this.obs = obs;
    return obs;
  }

  protected wrapperState(): Record<string, unknown> {
    return {
      rng: this.rng.state(),
      obs: this.obs ? this.obs.slice() : null,
      baseActions: this.baseActions.slice(),
      lastActions: this.lastActions.slice(),
    };
  }

  protected checkWrapperState(s: Record<string, unknown>): void {
    const obsSize = this.observationSpace.size;
    if (s.obs !== null && !(s.obs instanceof Float32Array && s.obs.length === obsSize)) {
      throw new Error(`${STATE_TYPE}: saved obs must be null or a Float32Array of ${obsSize} values`);
    }
    for (const key of ['baseActions', 'lastActions'] as const) {
      const v = s[key];
      if (!(v instanceof Float32Array && v.length === this.lastActions.length)) {
        throw new Error(`${STATE_TYPE}: saved ${key} must be a Float32Array of ${this.lastActions.length} values`);
      }
    }
    restoreRng(s.rng, STATE_TYPE);
  }

  protected loadWrapperState(s: Record<string, unknown>): void {
    this.rng = restoreRng(s.rng, STATE_TYPE);
    this.obs = s.obs === null ? null : (s.obs as Float32Array).slice();
    this.baseActions.set(s.baseActions as Float32Array);
    this.lastActions.set(s.lastActions as Float32Array);
  }
}

/**
 * SAC settings for the residual baseline on a ResidualActionVectorEnv: the correction bounds of the env, and
 * the same networks as DSRL (LayerNorm critics, tanh). Target entropy stays SAC's -dim ('auto'): DSRL's 0
 * is out of reach for corrections this small (a uniform law on +-0.4 per dim has entropy 12 ln 0.8 < 0 at Hopper's
 * 12 chunk dims), so the temperature would grow without bound.
 */
export function residualSacConfig(env: ResidualActionVectorEnv, overrides: Partial<SacConfig> = {}): SacConfig {
  const space = env.singleActionSpace;
  return sacDefaults(env.singleObservationSpace.size, space.size, {
    actionLow: Array.from(space.low),
    actionHigh: Array.from(space.high),
    criticLayerNorm: true,
    activation: 'tanh',
    ...overrides,
  });
}

/** The algorithm-table entry: the residual wrapper plus a plain SAC whose actions are the corrections. */
export const residualSac: AlgoSpec = {
  label: 'residual SAC',
  kind: 'residual-sac',
  offline: 'residual SAC learns Q on its own corrections, which offline data does not have; use algo "na"',
  normalizeObs: false,
  build({ hp, policy, trainInner, evalInner, rng, maxRows }) {
    const trainEnv = trainInner ? new ResidualActionVectorEnv(trainInner, policy, hp.residualScale, rng.derive('residual-train-noise')) : null;
    const evalEnv = new ResidualActionVectorEnv(evalInner, policy, hp.residualScale, rng.derive('residual-eval-noise'));
    const agent = new SAC(
      residualSacConfig(evalEnv, {
        actorHidden: hp.actorHidden,
        actorLayerNorm: hp.actorLayerNorm,
        criticHidden: hp.criticHidden,
        actorLr: hp.lr,
        criticLr: hp.lr,
        alphaLr: hp.lr,
        initAlpha: hp.initTemperature,
        actorInit: hp.actorInit ?? 'random',
        gamma: hp.gamma,
      }),
      rng.derive('agent'),
      maxRows,
    );
    return {
      agent,
      trainEnv,
      evalEnv,
      obsDim: evalEnv.singleObservationSpace.size,
      fields: {},
      // Warm-up is the base policy itself: no correction.
      warmupActions: (_rng, out) => out.fill(0),
      actorMetadata: { residual_scale: String(hp.residualScale) },
    };
  },
};
