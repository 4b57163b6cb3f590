/**
 * HalfCheetah-v5 (gymnasium/envs/mujoco/half_cheetah_v5.py): 17-dim observation [rootz, rooty, 6 joint
 * angles, 9 velocities, unclipped], 6 motors, frame_skip 5 (dt 0.05 s), reward =
 * forward_reward_weight * x_velocity - 0.1 * Σa², never terminates. Registered with a 1000-step TimeLimit.
 */
import type { Rng } from '../../core/rng.ts';
import type { Info, StepResult } from '../env.ts';
import { Box } from '../spaces.ts';
import { loadMujoco, type MujocoModule } from './loader.ts';
import { checkOptionKeys, MujocoEnv, sumOfSquares } from './mujoco-env.ts';
import { HALF_CHEETAH_XML } from './models/half-cheetah.ts';

export interface HalfCheetahOptions {
  /** Gymnasium `xml_file`, as an MJCF string. */
  xml?: string;
  frameSkip?: number;
  forwardRewardWeight?: number;
  ctrlCostWeight?: number;
  resetNoiseScale?: number;
  excludeCurrentPositionsFromObservation?: boolean;
}

const HALF_CHEETAH_OPTION_KEYS = [
  'xml',
  'frameSkip',
  'forwardRewardWeight',
  'ctrlCostWeight',
  'resetNoiseScale',
  'excludeCurrentPositionsFromObservation',
] as const;

export class HalfCheetahEnv extends MujocoEnv {
  readonly observationSpace: Box;
  private readonly forwardRewardWeight: number;
  private readonly ctrlCostWeight: number;
  private readonly resetNoiseScale: number;
  private readonly positionOffset: number;

  constructor(mj: MujocoModule, options: HalfCheetahOptions = {}) {
    checkOptionKeys('HalfCheetah-v5', options, HALF_CHEETAH_OPTION_KEYS);
    // Defaults: Gymnasium v5 half_cheetah_v5.py __init__.
    super(mj, options.xml ?? HALF_CHEETAH_XML, options.frameSkip ?? 5, 'HalfCheetah-v5');
    this.forwardRewardWeight = options.forwardRewardWeight ?? 1.0;
    this.ctrlCostWeight = options.ctrlCostWeight ?? 0.1;
    this.resetNoiseScale = options.resetNoiseScale ?? 0.1;
    this.positionOffset = (options.excludeCurrentPositionsFromObservation ?? true) ? 1 : 0;
    this.observationSpace = new Box(-Infinity, Infinity, [this.nq - this.positionOffset + this.nv]);
  }

  /** half_cheetah_v5.py reset_model: qpos0 + U(±scale), qvel = scale * N(0, 1) (Gaussian, unlike Hopper/Walker2d). */
  protected resetModel(rng: Rng, qpos: Float64Array, qvel: Float64Array): void {
    const scale = this.resetNoiseScale;
    for (let i = 0; i < this.nq; i++) qpos[i] = this.initQpos[i] + rng.uniformRange(-scale, scale);
    for (let i = 0; i < this.nv; i++) qvel[i] = this.initQvel[i] + scale * rng.normal();
  }

  protected observation(): Float32Array {
    const offset = this.positionOffset;
    const nPos = this.nq - offset;
    const obs = new Float32Array(nPos + this.nv);
    for (let i = 0; i < nPos; i++) obs[i] = this.qpos[i + offset];
    for (let i = 0; i < this.nv; i++) obs[nPos + i] = this.qvel[i];
    return obs;
  }

  protected resetInfo(): Info {
    return { x_position: this.qpos[0] };
  }

  protected stepResult(action: ArrayLike<number>, xBefore: number): StepResult {
    const xAfter = this.qpos[0];
    const xVelocity = (xAfter - xBefore) / this.dt;
    const forwardReward = this.forwardRewardWeight * xVelocity;
    const ctrlCost = this.ctrlCostWeight * sumOfSquares(action);
    return {
      obs: this.observation(),
      reward: forwardReward - ctrlCost,
      terminated: false,
      truncated: false,
      info: { x_position: xAfter, x_velocity: xVelocity, reward_forward: forwardReward, reward_ctrl: -ctrlCost },
    };
  }
}

export async function createHalfCheetah(options: HalfCheetahOptions = {}): Promise<HalfCheetahEnv> {
  return new HalfCheetahEnv(await loadMujoco(), options);
}
