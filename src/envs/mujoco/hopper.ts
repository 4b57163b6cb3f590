/**
 * Hopper-v5 (gymnasium/envs/mujoco/hopper_v5.py): 11-dim observation [rootz, rooty, 3 joint angles,
 * 6 velocities clipped to ±10], 3 motors, frame_skip 4 (dt 0.008 s). Registered with a 1000-step TimeLimit.
 */
import { HEALTHY_LOCOMOTION_OPTION_KEYS, HealthyLocomotionEnv, type HealthyLocomotionOptions } from './healthy-locomotion.ts';
import { loadMujoco, type MujocoModule } from './loader.ts';
import { checkOptionKeys } from './mujoco-env.ts';
import { HOPPER_XML } from './models/hopper.ts';

export interface HopperOptions extends HealthyLocomotionOptions {
  /** Gymnasium healthy_state_range: every entry of [qpos[2:], qvel] must lie strictly inside it. */
  healthyStateRange?: readonly [number, number];
}

const HOPPER_OPTION_KEYS = [...HEALTHY_LOCOMOTION_OPTION_KEYS, 'healthyStateRange'] as const;

export class HopperEnv extends HealthyLocomotionEnv {
  private readonly healthyStateRange: readonly [number, number];

  constructor(mj: MujocoModule, options: HopperOptions = {}) {
    checkOptionKeys('Hopper-v5', options, HOPPER_OPTION_KEYS);
    // Defaults: Gymnasium v5 hopper_v5.py __init__.
    super(
      mj,
      {
        xml: options.xml ?? HOPPER_XML,
        frameSkip: options.frameSkip ?? 4,
        forwardRewardWeight: options.forwardRewardWeight ?? 1.0,
        ctrlCostWeight: options.ctrlCostWeight ?? 1e-3,
        healthyReward: options.healthyReward ?? 1.0,
        terminateWhenUnhealthy: options.terminateWhenUnhealthy ?? true,
        healthyZRange: options.healthyZRange ?? [0.7, Infinity],
        healthyAngleRange: options.healthyAngleRange ?? [-0.2, 0.2],
        resetNoiseScale: options.resetNoiseScale ?? 5e-3,
        excludeCurrentPositionsFromObservation: options.excludeCurrentPositionsFromObservation ?? true,
      },
      'Hopper-v5',
    );
    this.healthyStateRange = options.healthyStateRange ?? [-100, 100];
  }

  /**
   * hopper_v5.py is_healthy: state_vector()[2:] = [qpos[2:], qvel] inside healthy_state_range (raw, unclipped
   * velocities), rootz inside healthy_z_range, rooty inside healthy_angle_range. NaN fails every test.
   */
  isHealthy(): boolean {
    const qpos = this.qpos;
    const qvel = this.qvel;
    const state = this.healthyStateRange;
    for (let i = 2; i < this.nq; i++) if (!this.inOpenRange(qpos[i], state)) return false;
    for (let i = 0; i < this.nv; i++) if (!this.inOpenRange(qvel[i], state)) return false;
    return this.inOpenRange(qpos[1], this.config.healthyZRange) && this.inOpenRange(qpos[2], this.config.healthyAngleRange);
  }
}

export async function createHopper(options: HopperOptions = {}): Promise<HopperEnv> {
  return new HopperEnv(await loadMujoco(), options);
}
