/**
 * Fork: a multi-step task with two ways to go and one goal, for end-to-end tests of steering, with a
 * person in the loop or not. A point starts near x = 0; each action a in [-1, 1] moves it by 0.25 a
 * (x stays in [-1, 1]); the goal is the right end, x >= 0.75 (`info.success`). Reward is the sparse
 * manipulation convention, -1 per step and 0 on a step at the goal; the episode terminates there, or, with
 * `terminateOnSuccess: false`, goes on (a robot does not know it succeeded; a person says so).
 *
 * A policy cloned from demonstrations that go all the way right or all the way left with equal
 * probability (`forkDemonstrations`) is bimodal near 0 and follows its first move after that, so it
 * succeeds about half the time; steering its noise toward the right mode at the start should succeed
 * nearly always.
 */
import { Rng } from '../../core/rng.ts';
import { createD4rlDataset, type D4rlDataset } from '../../data/d4rl.ts';
import { expectStateType, restoreRng, stateNumber, type Env, type EnvState, type ResetOptions, type ResetResult, type StepResult } from '../env.ts';
import { Box } from '../spaces.ts';

export const FORK_SPEED = 0.25;
export const FORK_GOAL = 0.75;
/** Start positions are U(-FORK_START, FORK_START). */
export const FORK_START = 0.05;

export interface ForkOptions {
  /** End the episode on the first step at the goal (default true). */
  terminateOnSuccess?: boolean;
}

export class Fork implements Env {
  readonly observationSpace = new Box(-1, 1, [1]);
  readonly actionSpace = new Box(-1, 1, [1]);
  readonly spec = null;
  private rng = Rng.fromSeed(0);
  private x = 0;
  private readonly terminateOnSuccess: boolean;

  constructor(options: ForkOptions = {}) {
    this.terminateOnSuccess = options.terminateOnSuccess ?? true;
  }

  get unwrapped(): Env {
    return this;
  }

  reset(options: ResetOptions = {}): ResetResult {
    if (options.seed !== undefined) this.rng = Rng.fromSeed(options.seed);
    this.x = this.rng.uniformRange(-FORK_START, FORK_START);
    return { obs: new Float32Array([this.x]), info: {} };
  }

  step(action: ArrayLike<number>): StepResult {
    const a = Number(action[0]);
    if (!Number.isFinite(a)) throw new Error(`Fork: action is not finite (${action[0]})`);
    this.x = Math.max(-1, Math.min(1, this.x + FORK_SPEED * Math.max(-1, Math.min(1, a))));
    const success = this.x >= FORK_GOAL;
    return {
      obs: new Float32Array([this.x]),
      reward: success ? 0 : -1,
      terminated: success && this.terminateOnSuccess,
      truncated: false,
      info: { success },
    };
  }

  close(): void {}

  getState(): EnvState {
    return { type: 'Fork', x: this.x, rng: this.rng.state() };
  }

  setState(state: EnvState): void {
    const s = expectStateType(state, 'Fork', 'Fork');
    const x = stateNumber(s, 'x', 'Fork');
    this.rng = restoreRng(s.rng, 'Fork');
    this.x = x;
  }
}

/**
 * Demonstrations for Fork: n episodes of `steps` steps from random starts, each going right (+0.6) or left
 * (-0.6) all the way with equal probability, so a policy cloned from them succeeds about half the time.
 */
export function forkDemonstrations(n: number, steps: number, rng: Rng): D4rlDataset {
  const size = n * steps;
  const obs = new Float32Array(size);
  const next = new Float32Array(size);
  const actions = new Float32Array(size);
  const timeouts = new Uint8Array(size);
  for (let e = 0; e < n; e++) {
    let x = rng.uniformRange(-FORK_START, FORK_START);
    const a = rng.uniform() < 0.5 ? 0.6 : -0.6;
    for (let t = 0; t < steps; t++) {
      const i = e * steps + t;
      obs[i] = x;
      actions[i] = a;
      x = Math.max(-1, Math.min(1, x + FORK_SPEED * a));
      next[i] = x;
    }
    timeouts[(e + 1) * steps - 1] = 1;
  }
  return createD4rlDataset({
    obsDim: 1,
    actionDim: 1,
    observations: obs,
    actions,
    rewards: new Float32Array(size),
    nextObservations: next,
    terminals: new Uint8Array(size),
    timeouts,
  });
}
