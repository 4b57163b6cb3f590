/**
 * What every Panda task shares (Lift-v0, PickPlaceCan-v0, NutAssemblySquare-v0): the 7-dim action of the 20 Hz
 * pose controller (panda-controller.ts), the arm's reset at robosuite's rest pose, robosuite's 9-dim robot part
 * of the observation, the pad-contact grasp check, the DSRL reward convention (sparse -1 per step and 0 on the
 * success step, or a task's shaped reward mapped to [-1, 0]), termination on success with `info.success` on
 * every reset and step, and freeing the controller on close. A task adds its objects, its reset placement, its
 * observation's object part, its success test and its shaped reward.
 */
import type { Rng } from '../../core/rng.ts';
import type { Info, StepResult } from '../env.ts';
import { Box } from '../spaces.ts';
import type { MujocoModule } from './loader.ts';
import { checkOptionKeys, MujocoEnv } from './mujoco-env.ts';
import { CONTROL_SUBSTEPS, FINGER_RANGE, PANDA_REST_QPOS } from './models/panda.ts';
import { PandaOscController } from './panda-controller.ts';
import { mat2quat, matMul, matT, quat2mat } from './rotations.ts';

export type ManipulationReward = 'sparse' | 'dense';

export interface ManipulationOptions {
  /** 'sparse' (default): -1 per step, 0 on success. 'dense': the task's shaped reward, in [-1, 0]. */
  reward?: ManipulationReward;
  /** Std (rad) of the Gaussian noise on each arm joint at reset. Default 0.02: a small spread of start poses. */
  jointNoise?: number;
  /** End the episode on the success step (default true, as the DSRL reference). */
  terminateOnSuccess?: boolean;
}

export const MANIPULATION_OPTION_KEYS = ['reward', 'jointNoise', 'terminateOnSuccess'] as const;

/** qpos layout shared by the scenes: 7 arm joints, then the 2 finger joints, then the task's free objects. */
export const FINGER_QPOS = 7;
export const OBJECT_QPOS = 9;
/** robosuite's robot part of the low-dim observation: eef position (3), eef quaternion (4), finger joints (2). */
export const ROBOT_OBS_DIM = 9;

/**
 * robosuite's PickPlace and NutAssembly success tests also ask that the gripper be away from the object:
 * reach term 1 - tanh(10 d) < 0.6, i.e. eef-to-object distance d > atanh(0.4) / 10 = 0.0424 m.
 */
export const AWAY_DISTANCE = Math.atanh(0.4) / 10;

export abstract class ManipulationEnv extends MujocoEnv {
  override readonly actionSpace: Box = new Box(-1, 1, [7]);
  readonly reward: ManipulationReward;
  readonly jointNoise: number;
  readonly terminateOnSuccess: boolean;
  readonly controller: PandaOscController;
  private readonly label: string;
  private readonly leftPadGeom: number;
  private readonly rightPadGeom: number;
  private isClosed = false;

  protected constructor(mj: MujocoModule, xml: string, label: string, options: ManipulationOptions, optionKeys: readonly string[]) {
    checkOptionKeys(label, options, optionKeys);
    const reward = options.reward ?? 'sparse';
    if (reward !== 'sparse' && reward !== 'dense') throw new Error(`${label}: reward must be 'sparse' or 'dense', got ${String(reward)}`);
    const jointNoise = options.jointNoise ?? 0.02;
    if (!(jointNoise >= 0 && jointNoise <= 0.2)) throw new Error(`${label}: jointNoise must be in [0, 0.2] rad, got ${jointNoise}`);
    super(mj, xml, CONTROL_SUBSTEPS, label);
    this.label = label;
    this.reward = reward;
    this.jointNoise = jointNoise;
    this.terminateOnSuccess = options.terminateOnSuccess ?? true;
    this.leftPadGeom = this.geomId('left_pad');
    this.rightPadGeom = this.geomId('right_pad');
    PandaOscController.tuneServos(mj, this.model, this.data);
    this.controller = new PandaOscController(mj, this.model, this.data);
  }

  /** Id of a named geom; throws if the scene has none. */
  protected geomId(name: string): number {
    const id = this.mj.mj_name2id(this.model, this.mj.mjtObj.mjOBJ_GEOM.value, name);
    if (id < 0) throw new Error(`${this.label}: the model has no geom "${name}"`);
    return id;
  }

  /** Arm at the rest pose plus N(0, jointNoise) per joint, servos holding it, gripper open. */
  protected resetArm(rng: Rng, qpos: Float64Array): void {
    const ctrl = this.data.ctrl as Float64Array;
    for (let i = 0; i < 7; i++) {
      qpos[i] = PANDA_REST_QPOS[i] + this.jointNoise * rng.normal();
      ctrl[i] = qpos[i]; // the servos hold the start pose
    }
    qpos[FINGER_QPOS] = FINGER_RANGE;
    qpos[FINGER_QPOS + 1] = -FINGER_RANGE;
    ctrl[7] = FINGER_RANGE;
  }

  override step(action: ArrayLike<number>): StepResult {
    const label = this.label;
    if (this.isClosed) throw new Error(`${label}: step() called after close()`);
    if (action.length !== 7) throw new Error(`${label}: action has ${action.length} values, expected 7`);
    for (let i = 0; i < 7; i++) {
      if (!Number.isFinite(action[i])) throw new Error(`${label}: action[${i}] is ${action[i]} at step ${this.stepsSinceReset + 1} after reset`);
    }
    this.ensureViews();
    // The controller ends with mj_forward: mj_step leaves kinematics and contacts of the state *before* its
    // last integration, and recomputing them makes observations, the next control step and the dense reward
    // functions of the current state (a state restored by setState(), which runs mj_forward, continues
    // bit-identically).
    this.controller.step(action, this.frameSkip);
    this.stepsSinceReset++;
    return this.stepResult(action, 0);
  }

  /** Writes robosuite's robot part (eef position, eef quaternion x y z w, finger joints) to obs[0..9). */
  protected robotObservation(obs: Float32Array): void {
    const p = this.controller.eefPos();
    obs[0] = p[0];
    obs[1] = p[1];
    obs[2] = p[2];
    const q = new Float64Array(4);
    mat2quat(this.data.site_xmat as Float64Array, 9 * this.controller.siteId, q);
    obs[3] = q[1];
    obs[4] = q[2];
    obs[5] = q[3];
    obs[6] = q[0];
    obs[7] = this.qpos[FINGER_QPOS];
    obs[8] = this.qpos[FINGER_QPOS + 1];
  }

  /**
   * Writes robosuite's 14-dim object part for the free object whose qpos starts at `adr` to obs[at..at+14):
   * position (3), quaternion (4, x y z w), and the object's pose in the end-effector frame (robosuite's
   * `<obj>_to_robot0_eef_pos/quat`: world_pose_in_gripper · obj_pose), position (3) and quaternion (4, x y z w).
   */
  protected objectPoseObservation(obs: Float32Array, at: number, adr: number): void {
    const qpos = this.qpos;
    const p = this.controller.eefPos();
    const eefMat = this.controller.eefMat();
    obs[at] = qpos[adr];
    obs[at + 1] = qpos[adr + 1];
    obs[at + 2] = qpos[adr + 2];
    // MuJoCo's free-joint quaternion is w x y z; robosuite reports x y z w.
    obs[at + 3] = qpos[adr + 4];
    obs[at + 4] = qpos[adr + 5];
    obs[at + 5] = qpos[adr + 6];
    obs[at + 6] = qpos[adr + 3];
    const d = [qpos[adr] - p[0], qpos[adr + 1] - p[1], qpos[adr + 2] - p[2]];
    // R_eefᵀ d: rows of R_eefᵀ are the columns of R_eef.
    for (let i = 0; i < 3; i++) obs[at + 7 + i] = eefMat[i] * d[0] + eefMat[3 + i] * d[1] + eefMat[6 + i] * d[2];
    const rel = new Float64Array(4);
    mat2quat(matMul(matT(eefMat), quat2mat(qpos, adr + 3)), 0, rel);
    obs[at + 10] = rel[1];
    obs[at + 11] = rel[2];
    obs[at + 12] = rel[3];
    obs[at + 13] = rel[0];
  }

  /** Grip-site distance (m) to the point `adr` of qpos (a free object's position). */
  protected eefDistanceTo(adr: number): number {
    const p = this.controller.eefPos();
    return Math.hypot(p[0] - this.qpos[adr], p[1] - this.qpos[adr + 1], p[2] - this.qpos[adr + 2]);
  }

  /** Both finger pads touch one of `geoms` (robosuite's grasp check, on pads). Needs the current contacts (mj_forward). */
  protected padsTouch(geoms: readonly number[]): boolean {
    let left = false;
    let right = false;
    const contacts = this.data.contact;
    const n = this.data.ncon;
    for (let i = 0; i < n && !(left && right); i++) {
      const c = contacts.get(i);
      if (!c) continue;
      const g1 = c.geom1;
      const g2 = c.geom2;
      c.delete();
      const hit1 = geoms.includes(g1);
      if (!hit1 && !geoms.includes(g2)) continue;
      const other = hit1 ? g2 : g1;
      if (other === this.leftPadGeom) left = true;
      else if (other === this.rightPadGeom) right = true;
    }
    contacts.delete();
    return left && right;
  }

  abstract isSuccess(): boolean;
  /** The task's shaped reward on a [0, 1] scale, 1 exactly on success (used by reward 'dense'). */
  protected abstract shapedReward(success: boolean): number;

  protected resetInfo(): Info {
    return { success: this.isSuccess() };
  }

  protected stepResult(_action: ArrayLike<number>, _xBefore: number): StepResult {
    const success = this.isSuccess();
    // Dense: shifted by -1 so it lies in [-1, 0] and is 0 exactly on success: with termination on success an
    // unshifted positive per-step reward would pay an agent for stalling short of success.
    const reward = this.reward === 'sparse' ? (success ? 0 : -1) : this.shapedReward(success) - 1;
    return { obs: this.observation(), reward, terminated: success && this.terminateOnSuccess, truncated: false, info: { success } };
  }

  override close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.controller.delete();
    super.close();
  }
}

/** Writes a free object's qpos: position and a pure yaw (quaternion w x y z). */
export function placeFreeObject(qpos: Float64Array, adr: number, x: number, y: number, z: number, yaw: number): void {
  qpos[adr] = x;
  qpos[adr + 1] = y;
  qpos[adr + 2] = z;
  qpos[adr + 3] = Math.cos(yaw / 2);
  qpos[adr + 4] = 0;
  qpos[adr + 5] = 0;
  qpos[adr + 6] = Math.sin(yaw / 2);
}
