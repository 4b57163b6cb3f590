/**
 * NutAssemblySquare-v0: pick a square nut up by its handle and put it over a square peg (robosuite's
 * NutAssemblySquare as DSRL runs it; facts in shared/reference/manipulation.md). Scene in models/nut-assembly.ts.
 *
 * - Action: as Lift-v0 (manipulation-env.ts): 7 values in [-1, 1] for the 20 Hz pose controller, dt 0.05 s.
 * - Observation (23, float32), robosuite's low-dim order: eef position (3), eef quaternion (4, x y z w), finger
 *   joints (2), nut position (3, the ring's centre), nut quaternion (4, x y z w), nut position and quaternion in
 *   the eef frame (3 + 4, robosuite's `SquareNut_to_robot0_eef_pos/quat`).
 * - Reset: arm at the rest pose plus N(0, jointNoise) per joint, gripper open; the nut flat on the table, its
 *   centre uniform in NUT_PLACEMENT, uniform yaw. The peg is fixed (as robosuite's).
 * - Success, robosuite's test for the square nut (`_check_success` with `on_peg`): the nut's centre within
 *   0.03 m of the peg's axis in x and y and less than 0.05 m above the table top, with the gripper away from it
 *   (reach term 1 - tanh(10 d) < 0.6, d > 4.2 cm); and, ours, the pads not both touching the nut, so it must
 *   have been let go.
 * - Reward `sparse` (default): -1 per step, 0 on the success step. `dense`: robosuite's staged NutAssembly
 *   reward (max of reach 0.1 (1 - tanh(10 d)) with d the distance to the handle, grasp 0.35, lift
 *   0.35 + 0.15 (1 - tanh(15 dz)) toward 0.2 m above the table while grasped, hover r_lift + 0.2 (1 - tanh(10 dxy))
 *   toward the peg; 1 on success), shifted by -1: in [-1, 0], 0 exactly on success.
 * - Terminates on success (terminateOnSuccess); `info.success` always present. Registered with 400 steps (DSRL).
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
  NUT_ASSEMBLY_SQUARE_XML,
  NUT_HALF_HEIGHT,
  NUT_HANDLE_CENTRE,
  NUT_PLACEMENT,
  ON_PEG_HEIGHT,
  ON_PEG_XY,
  PEG_XY,
} from './models/nut-assembly.ts';
import { quat2mat } from './rotations.ts';

export type NutAssemblySquareOptions = ManipulationOptions;

/** qpos of the nut's free joint. */
const NUT_QPOS = OBJECT_QPOS;
/** robosuite's staged-reward multipliers (NutAssembly.staged_rewards) and lift target 0.2 m above the table. */
const REACH_MULT = 0.1;
const GRASP_MULT = 0.35;
const LIFT_MULT = 0.5;
const HOVER_MULT = 0.7;
const LIFT_TARGET_Z = TABLE_TOP_Z + 0.2;

export class NutAssemblySquareEnv extends ManipulationEnv {
  readonly observationSpace: Box = new Box(-Infinity, Infinity, [23]);
  private readonly nutGeoms: number[];

  constructor(mj: MujocoModule, options: NutAssemblySquareOptions = {}) {
    super(mj, NUT_ASSEMBLY_SQUARE_XML, 'NutAssemblySquare-v0', options, MANIPULATION_OPTION_KEYS);
    this.nutGeoms = ['nut_wall_px', 'nut_wall_nx', 'nut_wall_py', 'nut_wall_ny', 'nut_handle'].map((name) => this.geomId(name));
  }

  protected resetModel(rng: Rng, qpos: Float64Array, qvel: Float64Array): void {
    this.resetArm(rng, qpos);
    const p = NUT_PLACEMENT;
    const x = rng.uniformRange(p.xLow, p.xHigh);
    const y = rng.uniformRange(p.yLow, p.yHigh);
    placeFreeObject(qpos, NUT_QPOS, x, y, TABLE_TOP_Z + NUT_HALF_HEIGHT, rng.uniformRange(0, 2 * Math.PI));
    qvel.fill(0);
  }

  /** The nut's centre (world, m). */
  nutPos(): [number, number, number] {
    this.ensureViews();
    return [this.qpos[NUT_QPOS], this.qpos[NUT_QPOS + 1], this.qpos[NUT_QPOS + 2]];
  }

  /** The handle's centre (world, m). */
  handlePos(): [number, number, number] {
    const [x, y, z] = this.nutPos();
    const R = quat2mat(this.qpos, NUT_QPOS + 3);
    return [x + R[0] * NUT_HANDLE_CENTRE, y + R[3] * NUT_HANDLE_CENTRE, z + R[6] * NUT_HANDLE_CENTRE];
  }

  /** robosuite's `on_peg` for the square peg. */
  nutOnPeg(): boolean {
    const [x, y, z] = this.nutPos();
    return Math.abs(x - PEG_XY[0]) < ON_PEG_XY && Math.abs(y - PEG_XY[1]) < ON_PEG_XY && z < TABLE_TOP_Z + ON_PEG_HEIGHT;
  }

  /** Both finger pads touch the nut. */
  isGrasping(): boolean {
    return this.padsTouch(this.nutGeoms);
  }

  isSuccess(): boolean {
    return this.nutOnPeg() && this.eefDistanceTo(NUT_QPOS) > AWAY_DISTANCE && !this.isGrasping();
  }

  protected observation(): Float32Array {
    this.ensureViews();
    const obs = new Float32Array(23);
    this.robotObservation(obs);
    this.objectPoseObservation(obs, ROBOT_OBS_DIM, NUT_QPOS);
    return obs;
  }

  /** robosuite's staged NutAssembly reward for one nut (max of the stages; 1 on success). */
  protected shapedReward(success: boolean): number {
    if (success) return 1;
    const [x, y, z] = this.nutPos();
    const eef = this.controller.eefPos();
    const handle = this.handlePos();
    const reach = (1 - Math.tanh(10 * Math.hypot(eef[0] - handle[0], eef[1] - handle[1], eef[2] - handle[2]))) * REACH_MULT;
    const grasped = this.isGrasping();
    const grasp = grasped ? GRASP_MULT : 0;
    const lift = grasped ? GRASP_MULT + (1 - Math.tanh(15 * Math.max(LIFT_TARGET_Z - z, 0))) * (LIFT_MULT - GRASP_MULT) : 0;
    const hover = lift + (1 - Math.tanh(10 * Math.hypot(x - PEG_XY[0], y - PEG_XY[1]))) * (HOVER_MULT - LIFT_MULT);
    return Math.max(reach, grasp, lift, hover);
  }
}

export async function createNutAssemblySquare(options: NutAssemblySquareOptions = {}): Promise<NutAssemblySquareEnv> {
  return new NutAssemblySquareEnv(await loadMujoco(), options);
}
