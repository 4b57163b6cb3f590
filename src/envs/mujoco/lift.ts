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
import type { Info, StepResult } from '../env.ts';
import { Box } from '../spaces.ts';
import { loadMujoco, type MujocoModule } from './loader.ts';
import { checkOptionKeys, MujocoEnv } from './mujoco-env.ts';
import { CONTROL_SUBSTEPS, CUBE_HALF, FINGER_RANGE, PANDA_LIFT_XML, PANDA_REST_QPOS, TABLE_TOP_Z } from './models/panda.ts';
import { PandaOscController } from './panda-controller.ts';
import { mat2quat } from './rotations.ts';

/** robosuite Lift: success when the cube's centre is this far above the table top (manipulation.md). */
export const LIFT_SUCCESS_HEIGHT = 0.04;
/** robosuite's shaped Lift reward: success bonus and grasp bonus, on the reaching term's [0, 1] scale. */
const DENSE_SUCCESS = 2.25;
const DENSE_GRASP = 0.25;

export type LiftReward = 'sparse' | 'dense';

export interface LiftOptions {
  /** 'sparse' (default): -1 per step, 0 on success. 'dense': shaped, in [-1, 0]. */
  reward?: LiftReward;
  /** Half-width (m) of the square the cube is placed in around the table centre. Default 0.03 (issue 18). */
  placementRange?: number;
  /** Draw the cube's yaw uniformly in [0, 2 pi) (default true); false places it axis-aligned. */
  randomYaw?: boolean;
  /** Std (rad) of the Gaussian noise on each arm joint at reset. Default 0.02: a small spread of start poses. */
  jointNoise?: number;
  /** End the episode on the success step (default true, as the DSRL reference). */
  terminateOnSuccess?: boolean;
}

const LIFT_OPTION_KEYS = ['reward', 'placementRange', 'randomYaw', 'jointNoise', 'terminateOnSuccess'] as const;

/** qpos layout of the Lift scene: 7 arm joints, 2 finger joints, the cube's free joint (3 position + 4 quaternion). */
const FINGER_QPOS = 7;
const CUBE_QPOS = 9;

export class LiftEnv extends MujocoEnv {
  override readonly actionSpace: Box = new Box(-1, 1, [7]);
  readonly observationSpace: Box = new Box(-Infinity, Infinity, [19]);
  readonly reward: LiftReward;
  readonly placementRange: number;
  readonly randomYaw: boolean;
  readonly jointNoise: number;
  readonly terminateOnSuccess: boolean;
  readonly controller: PandaOscController;
  private readonly cubeGeom: number;
  private readonly leftPadGeom: number;
  private readonly rightPadGeom: number;
  private isClosed = false;

  constructor(mj: MujocoModule, options: LiftOptions = {}) {
    checkOptionKeys('Lift-v0', options, LIFT_OPTION_KEYS);
    const reward = options.reward ?? 'sparse';
    if (reward !== 'sparse' && reward !== 'dense') throw new Error(`Lift-v0: reward must be 'sparse' or 'dense', got ${String(reward)}`);
    const placementRange = options.placementRange ?? 0.03;
    if (!(placementRange >= 0 && placementRange <= 0.2)) throw new Error(`Lift-v0: placementRange must be in [0, 0.2] m, got ${placementRange}`);
    const jointNoise = options.jointNoise ?? 0.02;
    if (!(jointNoise >= 0 && jointNoise <= 0.2)) throw new Error(`Lift-v0: jointNoise must be in [0, 0.2] rad, got ${jointNoise}`);
    super(mj, PANDA_LIFT_XML, CONTROL_SUBSTEPS, 'Lift-v0');
    this.reward = reward;
    this.placementRange = placementRange;
    this.randomYaw = options.randomYaw ?? true;
    this.jointNoise = jointNoise;
    this.terminateOnSuccess = options.terminateOnSuccess ?? true;
    const geom = (name: string): number => mj.mj_name2id(this.model, mj.mjtObj.mjOBJ_GEOM.value, name);
    this.cubeGeom = geom('cube');
    this.leftPadGeom = geom('left_pad');
    this.rightPadGeom = geom('right_pad');
    PandaOscController.tuneServos(mj, this.model, this.data);
    this.controller = new PandaOscController(mj, this.model, this.data);
  }

  protected resetModel(rng: Rng, qpos: Float64Array, qvel: Float64Array): void {
    const ctrl = this.data.ctrl as Float64Array;
    for (let i = 0; i < 7; i++) {
      qpos[i] = PANDA_REST_QPOS[i] + this.jointNoise * rng.normal();
      ctrl[i] = qpos[i]; // the servos hold the start pose
    }
    qpos[FINGER_QPOS] = FINGER_RANGE;
    qpos[FINGER_QPOS + 1] = -FINGER_RANGE;
    ctrl[7] = FINGER_RANGE;
    const r = this.placementRange;
    qpos[CUBE_QPOS] = rng.uniformRange(-r, r);
    qpos[CUBE_QPOS + 1] = rng.uniformRange(-r, r);
    qpos[CUBE_QPOS + 2] = TABLE_TOP_Z + CUBE_HALF;
    const yaw = this.randomYaw ? rng.uniformRange(0, 2 * Math.PI) : 0;
    qpos[CUBE_QPOS + 3] = Math.cos(yaw / 2);
    qpos[CUBE_QPOS + 4] = 0;
    qpos[CUBE_QPOS + 5] = 0;
    qpos[CUBE_QPOS + 6] = Math.sin(yaw / 2);
    qvel.fill(0);
  }

  override step(action: ArrayLike<number>): StepResult {
    if (this.isClosed) throw new Error('Lift-v0: step() called after close()');
    if (action.length !== 7) throw new Error(`Lift-v0: action has ${action.length} values, expected 7`);
    for (let i = 0; i < 7; i++) {
      if (!Number.isFinite(action[i])) throw new Error(`Lift-v0: action[${i}] is ${action[i]} at step ${this.stepsSinceReset + 1} after reset`);
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
      if (g1 !== this.cubeGeom && g2 !== this.cubeGeom) continue;
      const other = g1 === this.cubeGeom ? g2 : g1;
      if (other === this.leftPadGeom) left = true;
      else if (other === this.rightPadGeom) right = true;
    }
    contacts.delete();
    return left && right;
  }

  private eefToCubeDistance(): number {
    const p = this.controller.eefPos();
    return Math.hypot(p[0] - this.qpos[CUBE_QPOS], p[1] - this.qpos[CUBE_QPOS + 1], p[2] - this.qpos[CUBE_QPOS + 2]);
  }

  protected observation(): Float32Array {
    this.ensureViews();
    const obs = new Float32Array(19);
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
    const qpos = this.qpos;
    obs[7] = qpos[FINGER_QPOS];
    obs[8] = qpos[FINGER_QPOS + 1];
    obs[9] = qpos[CUBE_QPOS];
    obs[10] = qpos[CUBE_QPOS + 1];
    obs[11] = qpos[CUBE_QPOS + 2];
    // MuJoCo's free-joint quaternion is w x y z; robosuite reports x y z w.
    obs[12] = qpos[CUBE_QPOS + 4];
    obs[13] = qpos[CUBE_QPOS + 5];
    obs[14] = qpos[CUBE_QPOS + 6];
    obs[15] = qpos[CUBE_QPOS + 3];
    obs[16] = p[0] - qpos[CUBE_QPOS];
    obs[17] = p[1] - qpos[CUBE_QPOS + 1];
    obs[18] = p[2] - qpos[CUBE_QPOS + 2];
    return obs;
  }

  protected resetInfo(): Info {
    return { success: this.isSuccess() };
  }

  protected stepResult(_action: ArrayLike<number>, _xBefore: number): StepResult {
    const success = this.isSuccess();
    let reward: number;
    if (this.reward === 'sparse') reward = success ? 0 : -1;
    else {
      let shaped = DENSE_SUCCESS;
      if (!success) {
        shaped = 1 - Math.tanh(10 * this.eefToCubeDistance());
        if (this.isGrasping()) shaped += DENSE_GRASP;
      }
      reward = shaped / DENSE_SUCCESS - 1;
    }
    return { obs: this.observation(), reward, terminated: success && this.terminateOnSuccess, truncated: false, info: { success } };
  }

  override close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.controller.delete();
    super.close();
  }
}

export async function createLift(options: LiftOptions = {}): Promise<LiftEnv> {
  return new LiftEnv(await loadMujoco(), options);
}
