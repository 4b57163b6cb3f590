/**
 * Walker2d-v5 (gymnasium/envs/mujoco/walker2d_v5.py): 17-dim observation [rootz, rooty, 6 joint angles,
 * 9 velocities clipped to ±10], 6 motors, frame_skip 4 (dt 0.008 s), the v5 model with friction 1.9 on
 * both feet. Registered with a 1000-step TimeLimit.
 */
import { HEALTHY_LOCOMOTION_OPTION_KEYS, HealthyLocomotionEnv, type HealthyLocomotionOptions } from './healthy-locomotion.ts';
import { loadMujoco, type MujocoModule } from './loader.ts';
import { checkOptionKeys } from './mujoco-env.ts';
import { WALKER2D_XML } from './models/walker2d.ts';

export type Walker2dOptions = HealthyLocomotionOptions;

export class Walker2dEnv extends HealthyLocomotionEnv {
  constructor(mj: MujocoModule, options: Walker2dOptions = {}) {
    checkOptionKeys('Walker2d-v5', options, HEALTHY_LOCOMOTION_OPTION_KEYS);
    // Defaults: Gymnasium v5 walker2d_v5.py __init__.
    super(
      mj,
      {
        xml: options.xml ?? WALKER2D_XML,
        frameSkip: options.frameSkip ?? 4,
        forwardRewardWeight: options.forwardRewardWeight ?? 1.0,
        ctrlCostWeight: options.ctrlCostWeight ?? 1e-3,
        healthyReward: options.healthyReward ?? 1.0,
        terminateWhenUnhealthy: options.terminateWhenUnhealthy ?? true,
        healthyZRange: options.healthyZRange ?? [0.8, 2.0],
        healthyAngleRange: options.healthyAngleRange ?? [-1, 1],
        resetNoiseScale: options.resetNoiseScale ?? 5e-3,
        excludeCurrentPositionsFromObservation: options.excludeCurrentPositionsFromObservation ?? true,
      },
      'Walker2d-v5',
    );
  }

  /** walker2d_v5.py is_healthy: rootz and rooty strictly inside their ranges; no state-range check in v5. */
  isHealthy(): boolean {
    return this.inOpenRange(this.qpos[1], this.config.healthyZRange) && this.inOpenRange(this.qpos[2], this.config.healthyAngleRange);
  }
}

export async function createWalker2d(options: Walker2dOptions = {}): Promise<Walker2dEnv> {
  return new Walker2dEnv(await loadMujoco(), options);
}
