/**
 * Base class of vector-env wrappers (Gymnasium's VectorWrapper): holds the inner vector env, passes
 * `numEnvs` and the autoreset mode through, and closes the inner env only. A wrapper that calls a base
 * policy does not own it: several wrappers (training and evaluation envs, DSRL-NA's own calls) share
 * one policy, so whoever loaded the policy closes it.
 *
 * Checkpoints: `getState()` captures the wrapper's own fields (`wrapperState()`) around the inner env's
 * state; `setState()` checks the saved type, restores the inner env, then the wrapper's fields.
 */
import { expectStateType, type EnvState } from './env.ts';
import type { Box } from './spaces.ts';
import type { VectorEnv, VectorResetOptions, VectorResetResult, VectorStepResult } from './vector.ts';

export abstract class VectorWrapper implements VectorEnv {
  readonly numEnvs: number;
  readonly autoresetMode = 'next_step' as const;
  abstract readonly singleObservationSpace: Box;
  abstract readonly singleActionSpace: Box;
  abstract readonly observationSpace: Box;
  abstract readonly actionSpace: Box;

  protected constructor(
    readonly inner: VectorEnv,
    /** The `type` tag of this wrapper's saved state. */
    private readonly stateType: string,
  ) {
    this.numEnvs = inner.numEnvs;
  }

  abstract reset(options?: VectorResetOptions): Promise<VectorResetResult>;
  abstract step(actions: ArrayLike<number>): Promise<VectorStepResult>;

  /** The wrapper's own mutable fields, for a checkpoint. */
  protected abstract wrapperState(): Record<string, unknown>;
  /** Restores what wrapperState() captured (checked by the subclass); the inner env is already restored. */
  protected abstract loadWrapperState(saved: Record<string, unknown>): void;

  async getState(): Promise<EnvState> {
    if (typeof this.inner.getState !== 'function') {
      throw new Error(`${this.stateType}: the inner vector env does not implement getState(), so it cannot be checkpointed`);
    }
    return { type: this.stateType, ...this.wrapperState(), inner: await this.inner.getState() };
  }

  async setState(state: EnvState): Promise<void> {
    const saved = expectStateType(state, this.stateType, this.stateType);
    if (typeof this.inner.setState !== 'function') {
      throw new Error(`${this.stateType}: the inner vector env does not implement setState(), so it cannot be restored`);
    }
    // Check the wrapper's fields on a dry run first, so a bad state changes nothing.
    this.checkWrapperState(saved);
    await this.inner.setState(saved.inner as EnvState);
    this.loadWrapperState(saved);
  }

  /** Throws when saved fields do not fit this wrapper (called before anything is restored). */
  protected abstract checkWrapperState(saved: Record<string, unknown>): void;

  /** Closes the inner env; never a base policy (see the module comment). */
  async close(): Promise<void> {
    await this.inner.close();
  }
}
