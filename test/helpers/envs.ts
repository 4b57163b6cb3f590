/**
 * A tiny deterministic env for testing wrappers, vector envs and the checker without physics.
 * obs = [position, stepCount]; position starts at U(-0.1, 0.1) from the env's Rng and moves by action[0];
 * reward at step t is t (so sums are easy to check); terminates after `terminateAfter` steps if given.
 * Importing this module registers it as 'Toy-v0' (used by worker vector envs through preloadModules).
 */
import { Rng } from '../../src/core/rng.ts';
import type { Env, ResetOptions, ResetResult, StepResult } from '../../src/envs/env.ts';
import { registerEnv, registeredEnvIds } from '../../src/envs/registry.ts';
import { Box } from '../../src/envs/spaces.ts';

export interface ToyEnvOptions {
  terminateAfter?: number;
  /** Return NaN in the observation at this step (1-based). */
  nanAtStep?: number;
  /** Draw the start position from a generator that ignores the seed (a broken env). */
  ignoreSeed?: boolean;
  /** Return the same observation array every call (a broken env). */
  reuseObservation?: boolean;
}

export class ToyEnv implements Env {
  readonly observationSpace = new Box(-Infinity, Infinity, [2]);
  readonly actionSpace = new Box(-1, 1, [1]);
  readonly spec = null;
  /** Every action this env actually stepped, across episodes. */
  readonly actionsTaken: number[] = [];
  resets = 0;
  closed = false;
  private rng = Rng.fromSeed(0);
  private brokenRngCalls = 0;
  private position = 0;
  private t = 0;
  private readonly sharedObs = new Float32Array(2);

  constructor(readonly options: ToyEnvOptions = {}) {}

  get unwrapped(): Env {
    return this;
  }

  private observation(): Float32Array {
    const obs = this.options.reuseObservation ? this.sharedObs : new Float32Array(2);
    obs[0] = this.position;
    obs[1] = this.t;
    if (this.options.nanAtStep === this.t) obs[0] = NaN;
    return obs;
  }

  reset(options: ResetOptions = {}): ResetResult {
    if (options.seed !== undefined) this.rng = Rng.fromSeed(options.seed);
    this.position = this.options.ignoreSeed ? Rng.fromSeed(++this.brokenRngCalls).uniformRange(-0.1, 0.1) : this.rng.uniformRange(-0.1, 0.1);
    this.t = 0;
    this.resets++;
    return { obs: this.observation(), info: { resetCount: this.resets } };
  }

  step(action: ArrayLike<number>): StepResult {
    if (this.closed) throw new Error('ToyEnv: step after close');
    this.t++;
    this.position += action[0];
    this.actionsTaken.push(action[0]);
    const terminated = this.options.terminateAfter !== undefined && this.t >= this.options.terminateAfter;
    return { obs: this.observation(), reward: this.t, terminated, truncated: false, info: { t: this.t } };
  }

  close(): void {
    this.closed = true;
  }
}

if (!registeredEnvIds().includes('Toy-v0')) {
  registerEnv({ id: 'Toy-v0', entryPoint: (options) => new ToyEnv(options as ToyEnvOptions), maxEpisodeSteps: 7 });
}

export const TOY_ENV_MODULE = new URL(import.meta.url).pathname;
