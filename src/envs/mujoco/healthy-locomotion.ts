/**
 * What Hopper-v5 and Walker2d-v5 share (gymnasium/envs/mujoco/{hopper_v5,walker2d_v5}.py):
 * observation = [qpos[1:], clip(qvel, -10, 10)] (rootx dropped by default), reward =
 * forward_reward_weight * x_velocity + healthy_reward - ctrl_cost_weight * Σa², where healthy_reward is paid
 * only while the post-step state is healthy (the v5 change), terminated = unhealthy && terminate_when_unhealthy,
 * reset = qpos0 + U(±scale) and U(±scale) velocities.
 */
import type { Rng } from '../../core/rng.ts';
import type { Info, StepResult } from '../env.ts';
import { Box } from '../spaces.ts';
import type { MujocoModule } from './loader.ts';
import { MujocoEnv, sumOfSquares } from './mujoco-env.ts';

/** Gymnasium v5 hopper_v5.py / walker2d_v5.py: np.clip(qvel, -10, 10) in the observation. */
const OBS_VELOCITY_CLIP = 10;

export interface HealthyLocomotionOptions {
  /** Gymnasium `xml_file`, as an MJCF string. */
  xml?: string;
  frameSkip?: number;
  forwardRewardWeight?: number;
  ctrlCostWeight?: number;
  healthyReward?: number;
  terminateWhenUnhealthy?: boolean;
  healthyZRange?: readonly [number, number];
  healthyAngleRange?: readonly [number, number];
  resetNoiseScale?: number;
  excludeCurrentPositionsFromObservation?: boolean;
}

export const HEALTHY_LOCOMOTION_OPTION_KEYS = [
  'xml',
  'frameSkip',
  'forwardRewardWeight',
  'ctrlCostWeight',
  'healthyReward',
  'terminateWhenUnhealthy',
  'healthyZRange',
  'healthyAngleRange',
  'resetNoiseScale',
  'excludeCurrentPositionsFromObservation',
] as const;

export interface HealthyLocomotionConfig {
  xml: string;
  frameSkip: number;
  forwardRewardWeight: number;
  ctrlCostWeight: number;
  healthyReward: number;
  terminateWhenUnhealthy: boolean;
  healthyZRange: readonly [number, number];
  healthyAngleRange: readonly [number, number];
  resetNoiseScale: number;
  excludeCurrentPositionsFromObservation: boolean;
}

export abstract class HealthyLocomotionEnv extends MujocoEnv {
  readonly observationSpace: Box;
  protected readonly config: HealthyLocomotionConfig;
  private readonly positionOffset: number;

  protected constructor(mj: MujocoModule, config: HealthyLocomotionConfig, label: string) {
    super(mj, config.xml, config.frameSkip, label);
    this.config = config;
    this.positionOffset = config.excludeCurrentPositionsFromObservation ? 1 : 0;
    const obsSize = this.nq - this.positionOffset + this.nv;
    // Gymnasium: Box(-inf, inf, shape=(obs_size,)), float64 there, float32 here.
    this.observationSpace = new Box(-Infinity, Infinity, [obsSize]);
  }

  /** Gymnasium `is_healthy` on the current (post-step) state; every interval is open. */
  abstract isHealthy(): boolean;

  protected inOpenRange(value: number, range: readonly [number, number]): boolean {
    return range[0] < value && value < range[1];
  }

  protected resetModel(rng: Rng, qpos: Float64Array, qvel: Float64Array): void {
    const scale = this.config.resetNoiseScale;
    for (let i = 0; i < this.nq; i++) qpos[i] = this.initQpos[i] + rng.uniformRange(-scale, scale);
    for (let i = 0; i < this.nv; i++) qvel[i] = this.initQvel[i] + rng.uniformRange(-scale, scale);
  }

  protected observation(): Float32Array {
    const qpos = this.qpos;
    const qvel = this.qvel;
    const offset = this.positionOffset;
    const nPos = this.nq - offset;
    const obs = new Float32Array(nPos + this.nv);
    for (let i = 0; i < nPos; i++) obs[i] = qpos[i + offset];
    for (let i = 0; i < this.nv; i++) {
      const v = qvel[i];
      obs[nPos + i] = v > OBS_VELOCITY_CLIP ? OBS_VELOCITY_CLIP : v < -OBS_VELOCITY_CLIP ? -OBS_VELOCITY_CLIP : v;
    }
    return obs;
  }

  protected resetInfo(): Info {
    return { x_position: this.qpos[0], z_distance_from_origin: this.qpos[1] - this.initQpos[1] };
  }

  protected stepResult(action: ArrayLike<number>, xBefore: number): StepResult {
    const c = this.config;
    const xAfter = this.qpos[0];
    const xVelocity = (xAfter - xBefore) / this.dt;
    const healthy = this.isHealthy();
    // Same operation order as Gymnasium's _get_rew, so rewards match to the last bit.
    const forwardReward = c.forwardRewardWeight * xVelocity;
    const healthyReward = healthy ? c.healthyReward : 0;
    const ctrlCost = c.ctrlCostWeight * sumOfSquares(action);
    const reward = forwardReward + healthyReward - ctrlCost;
    return {
      obs: this.observation(),
      reward,
      terminated: !healthy && c.terminateWhenUnhealthy,
      truncated: false,
      info: {
        x_position: xAfter,
        z_distance_from_origin: this.qpos[1] - this.initQpos[1],
        x_velocity: xVelocity,
        reward_forward: forwardReward,
        reward_ctrl: -ctrlCost,
        reward_survive: healthyReward,
      },
    };
  }
}
