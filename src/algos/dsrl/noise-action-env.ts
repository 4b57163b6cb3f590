/**
 * The latent-noise MDP of DSRL as a vector env: the agent's action is the diffusion policy's initial
 * noise w (shape [Ta, da] per sub-env, flattened, bounded to [-M, M]); the wrapper asks the base
 * policy for the action chunk a = pi_dp(s, w) and runs it in the inner vector env, whose sub-envs
 * are ActionChunk(Ta)-wrapped (a chunk stops inside itself when the episode ends, and reports
 * info.steps). Reward = the chunk's summed reward; discounting is per chunk (the reference's choice).
 *
 * The executed real chunk of the last step stays readable in `lastActions` (DSRL-NA learns Q on
 * real actions): the chunk sent, or what the inner env reports in `info.executed_actions` (a remote
 * env's safety limits or an operator's takeover ran other actions). NEXT_STEP autoreset passes
 * through unchanged from the inner env.
 *
 * With an ObsNormalizer (the base policy's own), the agent sees normalized observations, as in the
 * reference, whose env wrapper hands SAC the policy's [-1, 1] observations; the base policy still
 * gets raw ones. Pair it with `onNormalizedObs` wherever the agent itself calls the base policy.
 *
 * State (checkpoints): the current observations (the base policy's next input), the last executed
 * chunks and the inner vector env's state. The base policy is a pure function, so it is not saved.
 */
import { ObsNormalizer } from '../../policies/diffusion/normalization.ts';
import { checkPolicyFitsEnv } from '../../policies/fits-env.ts';
import { checkPolicyInputs, type NoisePolicy } from '../../policies/policy.ts';
import { Box } from '../../envs/spaces.ts';
import { batchSpace, type VectorEnv, type VectorResetOptions, type VectorResetResult, type VectorStepResult } from '../../envs/vector.ts';
import { VectorWrapper } from '../../envs/vector-wrapper.ts';

const STATE_TYPE = 'NoiseActionVectorEnv';

export class NoiseActionVectorEnv extends VectorWrapper {
  readonly singleObservationSpace: Box;
  readonly singleActionSpace: Box;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  /** Real action chunks [numEnvs, Ta * da] (env units) executed by the last step. */
  readonly lastActions: Float32Array;
  private obs: Float32Array | null = null; // raw: the base policy's next input

  constructor(
    inner: VectorEnv,
    readonly policy: NoisePolicy,
    /** M: bound of the noise the agent may choose (DSRL's actionMagnitude). */
    readonly actionMagnitude: number,
    /** Normalizes the observations the agent sees (not the base policy's input); none: raw observations. */
    readonly obsNormalizer: ObsNormalizer | null = null,
  ) {
    super(inner, STATE_TYPE);
    const chunkDim = policy.chunk * policy.actDim;
    checkPolicyFitsEnv(policy, inner);
    if (!(actionMagnitude > 0)) throw new Error(`actionMagnitude must be > 0, got ${actionMagnitude}`);
    if (obsNormalizer) checkNormalizerFits(obsNormalizer, policy);
    this.singleObservationSpace = obsNormalizer ? normalizedBox(inner.singleObservationSpace, obsNormalizer) : inner.singleObservationSpace;
    this.singleActionSpace = new Box(-actionMagnitude, actionMagnitude, [chunkDim]);
    this.observationSpace = obsNormalizer ? batchSpace(this.singleObservationSpace, this.numEnvs) : inner.observationSpace;
    this.actionSpace = batchSpace(this.singleActionSpace, this.numEnvs);
    this.lastActions = new Float32Array(this.numEnvs * chunkDim);
  }

  async reset(options?: VectorResetOptions): Promise<VectorResetResult> {
    const r = await this.inner.reset(options);
    this.obs = r.obs;
    return { ...r, obs: this.agentObs(r.obs) };
  }

  async step(noise: ArrayLike<number>): Promise<VectorStepResult> {
    if (!this.obs) throw new Error('NoiseActionVectorEnv: call reset() before step()');
    const w = noise instanceof Float32Array ? noise : Float32Array.from(noise);
    if (w.length !== this.actionSpace.size)
      throw new Error(`noise has ${w.length} values, expected ${this.numEnvs} x ${this.singleActionSpace.size}`);
    const actions = await this.policy.act(this.obs, w, this.numEnvs);
    this.lastActions.set(actions.subarray(0, this.lastActions.length));
    const r = await this.inner.step(this.lastActions);
    const chunkDim = this.singleActionSpace.size;
    r.infos.forEach((info, i) => {
      const ran = info.executed_actions;
      if (ran instanceof Float32Array && ran.length === chunkDim) this.lastActions.set(ran, i * chunkDim);
    });
    this.obs = r.obs;
    return { ...r, obs: this.agentObs(r.obs) };
  }

  /** The observations the agent sees (a fresh array when normalized, since callers may keep it). */
  private agentObs(obs: Float32Array): Float32Array {
    if (!this.obsNormalizer) return obs;
    const out = new Float32Array(obs.length);
    this.obsNormalizer.apply(obs, this.numEnvs, out);
    return out;
  }

  protected wrapperState(): Record<string, unknown> {
    return { obs: this.obs ? this.obs.slice() : null, lastActions: this.lastActions.slice() };
  }

  protected checkWrapperState(s: Record<string, unknown>): void {
    const obsSize = this.numEnvs * this.policy.obsDim;
    if (s.obs !== null && !(s.obs instanceof Float32Array && s.obs.length === obsSize)) {
      throw new Error(`${STATE_TYPE}: saved obs must be null or a Float32Array of ${obsSize} values`);
    }
    if (!(s.lastActions instanceof Float32Array && s.lastActions.length === this.lastActions.length)) {
      throw new Error(
        `${STATE_TYPE}: saved lastActions must be a Float32Array of ${this.lastActions.length} values (chunk ${this.policy.chunk} x ${this.policy.actDim} x ${this.numEnvs} envs)`,
      );
    }
  }

  protected loadWrapperState(s: Record<string, unknown>): void {
    this.obs = s.obs === null ? null : (s.obs as Float32Array).slice();
    this.lastActions.set(s.lastActions as Float32Array);
  }
}

/**
 * The base policy on normalized observations: the view an agent that sees normalized observations
 * (NoiseActionVectorEnv with a normalizer) calls, e.g. DSRL-NA on replayed observations.
 */
export function onNormalizedObs(policy: NoisePolicy, normalizer: ObsNormalizer): NoisePolicy {
  checkNormalizerFits(normalizer, policy);
  let raw = new Float32Array(0);
  return {
    obsDim: policy.obsDim,
    actDim: policy.actDim,
    chunk: policy.chunk,
    actionLow: policy.actionLow,
    actionHigh: policy.actionHigh,
    act(obs: Float32Array, noise: Float32Array, batch: number) {
      checkPolicyInputs(policy, obs, noise, batch);
      if (raw.length < batch * policy.obsDim) raw = new Float32Array(batch * policy.obsDim);
      const view = raw.subarray(0, batch * policy.obsDim);
      normalizer.invert(obs, batch, view);
      return policy.act(view, noise, batch);
    },
    // No close(): the view does not own the policy.
  };
}

/** The space of the normalized observations: the affine map (scale > 0) moves each bound; infinite ones stay. */
function normalizedBox(raw: Box, normalizer: ObsNormalizer): Box {
  const low = new Float32Array(raw.size);
  const high = new Float32Array(raw.size);
  normalizer.apply(raw.low, 1, low);
  normalizer.apply(raw.high, 1, high);
  return new Box(low, high, raw.shape);
}

function checkNormalizerFits(normalizer: ObsNormalizer, policy: NoisePolicy): void {
  if (normalizer.dim !== policy.obsDim) throw new Error(`observation normalizer has dim ${normalizer.dim}, the base policy ${policy.obsDim}`);
}

/**
 * What a DSRL agent sees: raw observations, or (normalize) the base policy's normalized ones, with the
 * base policy as the agent calls it on them. The policy must declare its observation statistics.
 */
export function agentView(policy: NoisePolicy, normalize: boolean): { normalizer: ObsNormalizer | null; agentPolicy: NoisePolicy } {
  if (!normalize) return { normalizer: null, agentPolicy: policy };
  if (!policy.obsStats) {
    throw new Error(
      "normalizeObs needs the base policy's observation statistics, and this policy declares none " +
        '(diffusion checkpoints carry them; an ONNX policy does when its manifest has obsMin/obsMax; remote policies do not); pass --no-normalize-obs',
    );
  }
  const normalizer = new ObsNormalizer(policy.obsStats);
  return { normalizer, agentPolicy: onNormalizedObs(policy, normalizer) };
}
