/**
 * BimodalChoice: a one-step task for testing steering. The observation is a context c ~ U(-1, 1);
 * the agent outputs a 2-D action; reward 1 when the action lies in the "rewarded" half-plane
 * a0 + a1 > 0, else 0, and the episode terminates. A base policy cloned from demonstrations split
 * evenly between (+0.6, +0.6) and (-0.6, -0.6) succeeds about half the time; steering its noise
 * toward the rewarded mode should succeed nearly always.
 */
import { Rng } from '../../core/rng.ts';
import { createD4rlDataset, type D4rlDataset } from '../../data/d4rl.ts';
import { expectStateType, restoreRng, stateNumber, type Env, type EnvState, type ResetOptions, type ResetResult, type StepResult } from '../env.ts';
import { Box } from '../spaces.ts';

export class BimodalChoice implements Env {
  readonly observationSpace = new Box(-1, 1, [1]);
  readonly actionSpace = new Box(-1, 1, [2]);
  readonly spec = null;
  private rng = Rng.fromSeed(0);
  private context = 0;

  get unwrapped(): Env {
    return this;
  }

  reset(options: ResetOptions = {}): ResetResult {
    if (options.seed !== undefined) this.rng = Rng.fromSeed(options.seed);
    this.context = this.rng.uniformRange(-1, 1);
    return { obs: new Float32Array([this.context]), info: {} };
  }

  step(action: ArrayLike<number>): StepResult {
    const success = Number(action[0]) + Number(action[1]) > 0;
    return { obs: new Float32Array([this.context]), reward: success ? 1 : 0, terminated: true, truncated: false, info: { success } };
  }

  close(): void {}

  getState(): EnvState {
    return { type: 'BimodalChoice', context: this.context, rng: this.rng.state() };
  }

  setState(state: EnvState): void {
    const s = expectStateType(state, 'BimodalChoice', 'BimodalChoice');
    const context = stateNumber(s, 'context', 'BimodalChoice');
    this.rng = restoreRng(s.rng, 'BimodalChoice');
    this.context = context;
  }
}

/**
 * Demonstrations for BimodalChoice: n one-step episodes with a random context, acting (+0.6, +0.6)
 * or (-0.6, -0.6) with equal probability, so a policy cloned from them succeeds about half the time.
 */
export function bimodalDemonstrations(n: number, rng: Rng): D4rlDataset {
  const obs = rng.fillUniform(new Float32Array(n), -1, 1);
  const actions = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) actions.fill(rng.uniform() < 0.5 ? 0.6 : -0.6, 2 * i, 2 * i + 2);
  return createD4rlDataset({
    obsDim: 1,
    actionDim: 2,
    observations: obs,
    actions,
    rewards: new Float32Array(n),
    nextObservations: obs,
    terminals: new Uint8Array(n).fill(1),
    timeouts: new Uint8Array(n),
  });
}
