/**
 * Lift-v0: pick up a cube with a Panda-like arm (robosuite's Lift as DSRL and DPPO run it; facts in
 * shared/reference/manipulation.md). Our own MJCF (models/panda.ts) and controller (panda-controller.ts).
 *
 * - Action: 7 values in [-1, 1] for the 20 Hz end-effector pose controller (position delta, axis-angle
 *   delta, gripper -1 open / +1 closed). One env step = 25 physics steps of 2 ms (dt 0.05 s).
 * - Observation (19, float32), robosuite's low-dim order: eef position (3), eef quaternion (4, x y z w as
 *   robosuite's observations), finger joint positions (2: left in [0, 0.04], right in [-0.04, 0]),
 *   cube position (3), cube quaternion (4, x y z w), eef position - cube position (3, robosuite's
 *   `gripper_to_cube_pos`).
 * - Reset: arm at robosuite's rest pose plus N(0, jointNoise) per joint, gripper open, cube of half-size
 *   0.02 m resting on the table at a uniform offset within +-placementRange of the table centre with a
 *   uniform yaw in [0, 2 pi) (robosuite samples the rotation too).
 * - Success: cube centre more than 0.04 m above the table top (robosuite's test).
 * - Reward `sparse` (default, the DSRL reference): -1 per step, 0 on the success step. `dense`: robosuite's
 *   shaped Lift reward (reaching 1 - tanh(10 d) + 0.25 while both pads touch the cube; 2.25 on success),
 *   divided by 2.25 and shifted by -1, so it lies in [-1, 0] and is 0 exactly on success: with termination on
 *   success an unshifted positive per-step reward would pay an agent for hovering instead of lifting.
 * - Termination on success (terminateOnSuccess, default true); `info.success` is always present.
 * Registered with a 300-step TimeLimit (DSRL's horizon).
 */
import type { Rng } from '../../core/rng.ts';
import { Box } from '../spaces.ts';
import { loadMujoco, type MujocoModule } from './loader.ts';
import {
  MANIPULATION_OPTION_KEYS,
  ManipulationEnv,
  OBJECT_QPOS,
  placeFreeObject,
  type ManipulationOptions,
  type ManipulationReward,
} from './manipulation-env.ts';
import { CUBE_HALF, PANDA_LIFT_XML, TABLE_TOP_Z } from './models/panda.ts';

/** robosuite Lift: success when the cube's centre is this far above the table top (manipulation.md). */
export const LIFT_SUCCESS_HEIGHT = 0.04;
/** robosuite's shaped Lift reward: success bonus and grasp bonus, on the reaching term's [0, 1] scale. */
const DENSE_SUCCESS = 2.25;
const DENSE_GRASP = 0.25;

export type LiftReward = ManipulationReward;

export interface LiftOptions extends ManipulationOptions {
  /** Half-width (m) of the square the cube is placed in around the table centre. Default 0.03 (issue 18). */
  placementRange?: number;
  /** Draw the cube's yaw uniformly in [0, 2 pi) (default true); false places it axis-aligned. */
  randomYaw?: boolean;
}

const LIFT_OPTION_KEYS = [...MANIPULATION_OPTION_KEYS, 'placementRange', 'randomYaw'] as const;

/** qpos of the cube's free joint (3 position + 4 quaternion), after the arm and fingers. */
const CUBE_QPOS = OBJECT_QPOS;

export class LiftEnv extends ManipulationEnv {
  readonly observationSpace: Box = new Box(-Infinity, Infinity, [19]);
  readonly placementRange: number;
  readonly randomYaw: boolean;
  private readonly cubeGeom: number;

  constructor(mj: MujocoModule, options: LiftOptions = {}) {
    const placementRange = options.placementRange ?? 0.03;
    if (!(placementRange >= 0 && placementRange <= 0.2)) throw new Error(`Lift-v0: placementRange must be in [0, 0.2] m, got ${placementRange}`);
    super(mj, PANDA_LIFT_XML, 'Lift-v0', options, LIFT_OPTION_KEYS);
    this.placementRange = placementRange;
    this.randomYaw = options.randomYaw ?? true;
    this.cubeGeom = this.geomId('cube');
  }

  protected resetModel(rng: Rng, qpos: Float64Array, qvel: Float64Array): void {
    this.resetArm(rng, qpos);
    const r = this.placementRange;
    const x = rng.uniformRange(-r, r);
    const y = rng.uniformRange(-r, r);
    const yaw = this.randomYaw ? rng.uniformRange(0, 2 * Math.PI) : 0;
    placeFreeObject(qpos, CUBE_QPOS, x, y, TABLE_TOP_Z + CUBE_HALF, yaw);
    qvel.fill(0);
  }

  /** Cube centre height above the table top (m). */
  cubeHeight(): number {
    this.ensureViews();
    return this.qpos[CUBE_QPOS + 2] - TABLE_TOP_Z;
  }

  isSuccess(): boolean {
    return this.cubeHeight() > LIFT_SUCCESS_HEIGHT;
  }

  /** Both finger pads touch the cube (robosuite's grasp check, on pads). */
  isGrasping(): boolean {
    return this.padsTouch([this.cubeGeom]);
  }

  protected observation(): Float32Array {
    this.ensureViews();
    const obs = new Float32Array(19);
    this.robotObservation(obs);
    const qpos = this.qpos;
    obs[9] = qpos[CUBE_QPOS];
    obs[10] = qpos[CUBE_QPOS + 1];
    obs[11] = qpos[CUBE_QPOS + 2];
    // MuJoCo's free-joint quaternion is w x y z; robosuite reports x y z w.
    obs[12] = qpos[CUBE_QPOS + 4];
    obs[13] = qpos[CUBE_QPOS + 5];
    obs[14] = qpos[CUBE_QPOS + 6];
    obs[15] = qpos[CUBE_QPOS + 3];
    const p = this.controller.eefPos();
    obs[16] = p[0] - qpos[CUBE_QPOS];
    obs[17] = p[1] - qpos[CUBE_QPOS + 1];
    obs[18] = p[2] - qpos[CUBE_QPOS + 2];
    return obs;
  }

  /** robosuite's shaped Lift reward divided by its success value 2.25. */
  protected shapedReward(success: boolean): number {
    let shaped = DENSE_SUCCESS;
    if (!success) {
      shaped = 1 - Math.tanh(10 * this.eefDistanceTo(CUBE_QPOS));
      if (this.isGrasping()) shaped += DENSE_GRASP;
    }
    return shaped / DENSE_SUCCESS;
  }
}

export async function createLift(options: LiftOptions = {}): Promise<LiftEnv> {
  return new LiftEnv(await loadMujoco(), options);
}
