/**
 * PickPlaceCan-v0: pick a can out of one bin and put it in its compartment of another (robosuite's
 * PickPlaceCan as DSRL runs it; facts in shared/reference/manipulation.md). Scene in models/pick-place.ts.
 *
 * - Action: as Lift-v0 (manipulation-env.ts): 7 values in [-1, 1] for the 20 Hz pose controller, dt 0.05 s.
 * - Observation (23, float32), robosuite's low-dim order: eef position (3), eef quaternion (4, x y z w), finger
 *   joints (2), can position (3), can quaternion (4, x y z w), can position and quaternion in the eef frame
 *   (3 + 4, robosuite's `Can_to_robot0_eef_pos/quat`).
 * - Reset: arm at the rest pose plus N(0, jointNoise) per joint, gripper open; the can upright on bin 1's floor,
 *   its centre uniform within +-CAN_PLACEMENT_HALF of the bin's centre, uniform yaw.
 * - Success, robosuite's test for the can (`_check_success` with `not_in_bin(pos, 3)`): the can's centre inside
 *   its compartment's xy rectangle and less than 0.1 m above the bin's base, with the gripper away from it
 *   (reach term 1 - tanh(10 d) < 0.6, d > 4.2 cm); and, ours, the pads not both touching it, so a can held low
 *   in the compartment does not count: it must have been let go.
 * - Reward `sparse` (default): -1 per step, 0 on the success step. `dense`: robosuite's staged PickPlace reward
 *   (max of reach 0.1 (1 - tanh(10 d)), grasp 0.35, lift 0.35 + 0.15 (1 - tanh(15 dz)) toward 0.25 m above the
 *   bin's base while grasped, hover 0.5 + 0.2 (1 - tanh(10 dxy)) over the compartment (r_lift + 0.2 (...)
 *   elsewhere); 1 on success), shifted by -1: in [-1, 0], 0 exactly on success.
 * - Terminates on success (terminateOnSuccess); `info.success` always present. Registered with 300 steps (DSRL).
 */
import type { Rng } from '../../core/rng.ts';
import { Box } from '../spaces.ts';
import { loadMujoco, type MujocoModule } from './loader.ts';
import {
  AWAY_DISTANCE,
  MANIPULATION_OPTION_KEYS,
  ManipulationEnv,
  OBJECT_QPOS,
  placeFreeObject,
  ROBOT_OBS_DIM,
  type ManipulationOptions,
} from './manipulation-env.ts';
import { TABLE_TOP_Z } from './models/panda.ts';
import {
  BIN1_XY,
  BIN_FLOOR_Z,
  BIN_HALF,
  CAN_COMPARTMENT,
  CAN_HALF_HEIGHT,
  CAN_IN_BIN_HEIGHT,
  CAN_PLACEMENT_HALF,
  PICK_PLACE_CAN_XML,
} from './models/pick-place.ts';

export type PickPlaceCanOptions = ManipulationOptions;

/** qpos of the can's free joint. */
const CAN_QPOS = OBJECT_QPOS;
/** The compartment's centre: robosuite's `target_bin_placements` for the can. */
const TARGET_XY = [(CAN_COMPARTMENT.xLow + CAN_COMPARTMENT.xHigh) / 2, (CAN_COMPARTMENT.yLow + CAN_COMPARTMENT.yHigh) / 2] as const;
/** robosuite's staged-reward multipliers (PickPlace.staged_rewards) and lift target 0.25 m above the bin base. */
const REACH_MULT = 0.1;
const GRASP_MULT = 0.35;
const LIFT_MULT = 0.5;
const HOVER_MULT = 0.7;
const LIFT_TARGET_Z = TABLE_TOP_Z + 0.25;

export class PickPlaceCanEnv extends ManipulationEnv {
  readonly observationSpace: Box = new Box(-Infinity, Infinity, [23]);
  private readonly canGeom: number;

  constructor(mj: MujocoModule, options: PickPlaceCanOptions = {}) {
    super(mj, PICK_PLACE_CAN_XML, 'PickPlaceCan-v0', options, MANIPULATION_OPTION_KEYS);
    this.canGeom = this.geomId('can');
  }

  protected resetModel(rng: Rng, qpos: Float64Array, qvel: Float64Array): void {
    this.resetArm(rng, qpos);
    const x = BIN1_XY[0] + rng.uniformRange(-CAN_PLACEMENT_HALF[0], CAN_PLACEMENT_HALF[0]);
    const y = BIN1_XY[1] + rng.uniformRange(-CAN_PLACEMENT_HALF[1], CAN_PLACEMENT_HALF[1]);
    placeFreeObject(qpos, CAN_QPOS, x, y, BIN_FLOOR_Z + CAN_HALF_HEIGHT, rng.uniformRange(0, 2 * Math.PI));
    qvel.fill(0);
  }

  /** The can's centre (world, m). */
  canPos(): [number, number, number] {
    this.ensureViews();
    return [this.qpos[CAN_QPOS], this.qpos[CAN_QPOS + 1], this.qpos[CAN_QPOS + 2]];
  }

  /** The can's centre inside its compartment's box (robosuite's `not in bin`, negated). */
  canInCompartment(): boolean {
    const [x, y, z] = this.canPos();
    const c = CAN_COMPARTMENT;
    return c.xLow < x && x < c.xHigh && c.yLow < y && y < c.yHigh && TABLE_TOP_Z < z && z < TABLE_TOP_Z + CAN_IN_BIN_HEIGHT;
  }

  /** Both finger pads touch the can. */
  isGrasping(): boolean {
    return this.padsTouch([this.canGeom]);
  }

  isSuccess(): boolean {
    return this.canInCompartment() && this.eefDistanceTo(CAN_QPOS) > AWAY_DISTANCE && !this.isGrasping();
  }

  protected observation(): Float32Array {
    this.ensureViews();
    const obs = new Float32Array(23);
    this.robotObservation(obs);
    this.objectPoseObservation(obs, ROBOT_OBS_DIM, CAN_QPOS);
    return obs;
  }

  /** robosuite's staged PickPlace reward for one object (max of the stages; 1 on success). */
  protected shapedReward(success: boolean): number {
    if (success) return 1;
    const [x, y, z] = this.canPos();
    const reach = (1 - Math.tanh(10 * this.eefDistanceTo(CAN_QPOS))) * REACH_MULT;
    const grasped = this.isGrasping();
    const grasp = grasped ? GRASP_MULT : 0;
    const lift = grasped ? GRASP_MULT + (1 - Math.tanh(15 * Math.max(LIFT_TARGET_Z - z, 0))) * (LIFT_MULT - GRASP_MULT) : 0;
    const dxy = Math.hypot(x - TARGET_XY[0], y - TARGET_XY[1]);
    const above = Math.abs(x - TARGET_XY[0]) < BIN_HALF[0] / 2 && Math.abs(y - TARGET_XY[1]) < BIN_HALF[1] / 2;
    const hover = (above ? LIFT_MULT : lift) + (1 - Math.tanh(10 * dxy)) * (HOVER_MULT - LIFT_MULT);
    return Math.max(reach, grasp, lift, hover);
  }
}

export async function createPickPlaceCan(options: PickPlaceCanOptions = {}): Promise<PickPlaceCanEnv> {
  return new PickPlaceCanEnv(await loadMujoco(), options);
}
