/**
 * The one check that a base policy fits a (chunked) vector env: observations of the policy's dim, and
 * actions of Ta x da per step, as ActionChunk(Ta) makes them. Every wrapper that feeds a policy from an
 * env calls it, so a policy for another task fails at construction with both sides named.
 */
import type { Box } from '../envs/spaces.ts';
import type { NoisePolicy } from './policy.ts';

export function checkPolicyFitsEnv(
  policy: Pick<NoisePolicy, 'obsDim' | 'actDim' | 'chunk'>,
  env: { singleObservationSpace: Box; singleActionSpace: Box },
  envId = 'the env',
): void {
  const obsDim = env.singleObservationSpace.size;
  const chunkDim = env.singleActionSpace.size;
  if (obsDim === policy.obsDim && chunkDim === policy.chunk * policy.actDim) return;
  const envActDim = chunkDim / policy.chunk;
  throw new Error(
    `base policy does not fit ${envId}: the policy takes observations of dim ${policy.obsDim} and returns chunks of ${policy.chunk} x ${policy.actDim} actions; ` +
      `${envId} has observations of dim ${obsDim} and actions of dim ${Number.isInteger(envActDim) ? envActDim : `${chunkDim}/${policy.chunk}`} per step ` +
      `(was the policy trained on another task? each sub-env must be wrapped in ActionChunk(${policy.chunk}))`,
  );
}
