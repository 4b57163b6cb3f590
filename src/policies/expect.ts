/**
 * What the env expects of a base policy (dims, chunk length, action bounds), and the check every loader
 * (ONNX, remote, native checkpoint) runs against it, so a policy for the wrong task is refused at load
 * with an error naming both sides rather than failing mid-rollout. Browser-safe.
 */
import type { Env } from '../envs/env.ts';
import type { NoisePolicy } from './policy.ts';

export interface PolicyExpectation {
  /** For messages, and to compare with the env id a policy was exported for. */
  envId?: string;
  obsDim?: number;
  actDim?: number;
  /** Ta: the chunk length the caller will execute. */
  chunk?: number;
  /** The env's action bounds: used when a policy file carries none. */
  actionLow?: ArrayLike<number>;
  actionHigh?: ArrayLike<number>;
}

/** The expectation an env sets: its dims and action bounds (chunk is the caller's choice). */
export function expectationFromEnv(env: Env, chunk?: number): PolicyExpectation {
  const obs = env.observationSpace;
  const act = env.actionSpace;
  const id = env.spec?.id ?? env.unwrapped.spec?.id;
  return {
    ...(id ? { envId: id } : {}),
    obsDim: obs.size,
    actDim: act.size,
    ...(chunk !== undefined ? { chunk } : {}),
    ...(act.isBounded() ? { actionLow: act.low, actionHigh: act.high } : {}),
  };
}

type Dims = Pick<NoisePolicy, 'obsDim' | 'actDim' | 'chunk'> & {
  /** The policy's action bounds, when it has its own (checked against the env's). */
  actionLow?: ArrayLike<number>;
  actionHigh?: ArrayLike<number>;
  /** The env the policy was made for, when it says (checked against the env's id). */
  envId?: string | null;
};

/**
 * Throws `${source}: ...` when the policy differs from what the env expects: dims, chunk, the env id
 * it was made for, and its action bounds (equal to the env's, to float32 rounding: a policy whose
 * actions span another range than the env's would be clipped, or steer in the wrong units).
 */
export function checkPolicyMatches(policy: Dims, expect: PolicyExpectation | undefined, source: string, boundsSource = source): void {
  if (!expect) return;
  if (policy.envId && expect.envId && policy.envId !== expect.envId) {
    throw new Error(`${source}: the policy was made for ${policy.envId} but the env is ${expect.envId}`);
  }
  const env = expect.envId ? `the env ${expect.envId}` : 'the env';
  if (expect.obsDim !== undefined && policy.obsDim !== expect.obsDim) {
    throw new Error(`${source}: the policy takes observations of dim ${policy.obsDim} but ${env} gives dim ${expect.obsDim}`);
  }
  if (expect.actDim !== undefined && policy.actDim !== expect.actDim) {
    throw new Error(`${source}: the policy outputs actions of dim ${policy.actDim} but ${env} expects dim ${expect.actDim}`);
  }
  if (expect.chunk !== undefined && policy.chunk !== expect.chunk) {
    throw new Error(`${source}: the policy outputs chunks of ${policy.chunk} actions but ${expect.chunk} were asked for`);
  }
  const [low, high, envLow, envHigh] = [policy.actionLow, policy.actionHigh, expect.actionLow, expect.actionHigh];
  if (low && high && envLow && envHigh && low.length === envLow.length && high.length === envHigh.length) {
    for (let j = 0; j < low.length; j++) {
      if (Math.fround(low[j]) !== Math.fround(envLow[j]) || Math.fround(high[j]) !== Math.fround(envHigh[j])) {
        throw new Error(
          `${boundsSource}: the policy's actions on dimension ${j} span [${low[j]}, ${high[j]}] but ${env}'s action space is [${envLow[j]}, ${envHigh[j]}]; ` +
            "the policy must be made for the env's action bounds",
        );
      }
    }
  }
}

/** Checks a pair of action bounds (finite, low < high, actDim values each). */
export function checkBounds(low: ArrayLike<number>, high: ArrayLike<number>, actDim: number, source: string): void {
  if (low.length !== actDim || high.length !== actDim) {
    throw new Error(`${source}: action bounds have ${low.length}/${high.length} values, expected actDim ${actDim}`);
  }
  for (let j = 0; j < actDim; j++) {
    if (!Number.isFinite(low[j]) || !Number.isFinite(high[j]) || !(low[j] < high[j])) {
      throw new Error(`${source}: action dimension ${j} has low=${low[j]} high=${high[j]}; need finite bounds with low < high`);
    }
  }
}
