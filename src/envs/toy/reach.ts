/**
 * Reach1D: a tiny task with a known optimum, for end-to-end tests of learning code.
 * A point at x in [-1, 1] must reach a goal g; obs = [x, g]; action a in [-1, 1] moves it by
 * 0.2 a (clipped to the interval); reward = -|x' - g|. The optimal controller is
 * a = clip((g - x) / 0.2, -1, 1), so the best achievable return is computable for any start.
 */
import { Rng } from '../../core/rng.ts';
import { expectStateType, restoreRng, stateNumber, type Env, type EnvState, type ResetOptions, type ResetResult, type StepResult } from '../env.ts';
import { Box } from '../spaces.ts';

export const REACH_SPEED = 0.2;

export class Reach1D implements Env {
  readonly observationSpace = new Box(-1, 1, [2]);
  readonly actionSpace = new Box(-1, 1, [1]);
  readonly spec = null;
  private rng = Rng.fromSeed(0);
  private x = 0;
  private goal = 0;

  get unwrapped(): Env {
    return this;
  }

  reset(options: ResetOptions = {}): ResetResult {
    if (options.seed !== undefined) this.rng = Rng.fromSeed(options.seed);
    this.x = this.rng.uniformRange(-1, 1);
    this.goal = this.rng.uniformRange(-1, 1);
    return { obs: this.observe(), info: {} };
  }

  step(action: ArrayLike<number>): StepResult {
    const a = Math.max(-1, Math.min(1, Number(action[0])));
    if (!Number.isFinite(a)) throw new Error(`Reach1D: action is not finite (${action[0]})`);
    this.x = Math.max(-1, Math.min(1, this.x + REACH_SPEED * a));
    return { obs: this.observe(), reward: -Math.abs(this.x - this.goal), terminated: false, truncated: false, info: {} };
  }

  /** The optimal action from the current state. */
  optimalAction(): number {
    return Math.max(-1, Math.min(1, (this.goal - this.x) / REACH_SPEED));
  }

  close(): void {}

  getState(): EnvState {
    return { type: 'Reach1D', x: this.x, goal: this.goal, rng: this.rng.state() };
  }

  setState(state: EnvState): void {
    const s = expectStateType(state, 'Reach1D', 'Reach1D');
    const x = stateNumber(s, 'x', 'Reach1D');
    const goal = stateNumber(s, 'goal', 'Reach1D');
    this.rng = restoreRng(s.rng, 'Reach1D');
    this.x = x;
    this.goal = goal;
  }

  private observe(): Float32Array {
    return new Float32Array([this.x, this.goal]);
  }
}
