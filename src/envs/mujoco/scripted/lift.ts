/**
 * A scripted expert for Lift-v0 that reads only the 19-dim observation: move above the cube with the hand
 * pointing down and its fingers turned to the cube's faces, descend, close, lift. Proportional control on the
 * pose errors, clipped to the action bounds. Deterministic: no randomness (variety for demonstrations is
 * later work).
 */
import { MAX_POS_DELTA, MAX_ROT_DELTA } from '../panda-controller.ts';
import { CUBE_HALF, TABLE_TOP_Z } from '../models/panda.ts';
import { quat2mat, rotationError } from '../rotations.ts';

export type LiftExpertPhase = 'approach' | 'descend' | 'close' | 'lift';

export interface LiftExpertOptions {
  /** How far above the table top the cube's centre is carried (m). Default 0.1 (success needs 0.04). */
  liftHeight?: number;
  /** Height above the cube's centre where the hand lines up before descending (m). Default 0.08. */
  approachHeight?: number;
  /** Control steps the gripper closes before lifting. Default 6 (0.3 s). */
  closeSteps?: number;
  /** Offset (m, world) of the grasp point from the cube's centre: an imprecise grasp. Default none. */
  graspOffset?: readonly [number, number, number];
  /** Offset (rad) of the hand's yaw from the cube's face-aligned yaw: a skewed grasp. Default 0. */
  yawOffset?: number;
}

/** Position gain: fraction of the remaining error commanded per step (1 = all of it, up to the 5 cm limit). */
const POS_GAIN = 1;
/** Orientation gain, likewise. */
const ROT_GAIN = 1;
/** Tolerances (m, rad) to leave the approach: lined up above the cube within 1 cm and 0.05 rad. */
const ALIGN_XY = 0.01;
const ALIGN_Z = 0.02;
const ALIGN_ANGLE = 0.05;
/** Descent ends with the fingertip centre within 5 mm of the cube's centre. */
const DESCEND_TOL = 0.005;

/** (x, y, z, w) slice of an observation -> (w, x, y, z). */
function wxyz(obs: ArrayLike<number>, at: number): number[] {
  return [obs[at + 3], obs[at], obs[at + 1], obs[at + 2]];
}

export class LiftExpert {
  readonly liftHeight: number;
  readonly approachHeight: number;
  readonly closeSteps: number;
  readonly graspOffset: readonly [number, number, number];
  readonly yawOffset: number;
  phase: LiftExpertPhase = 'approach';
  private closing = 0;
  private liftXY: [number, number] = [0, 0];

  constructor(options: LiftExpertOptions = {}) {
    this.liftHeight = options.liftHeight ?? 0.1;
    this.approachHeight = options.approachHeight ?? 0.08;
    this.closeSteps = options.closeSteps ?? 6;
    this.graspOffset = options.graspOffset ?? [0, 0, 0];
    this.yawOffset = options.yawOffset ?? 0;
  }

  /** Call at every env reset. */
  reset(): void {
    this.phase = 'approach';
    this.closing = 0;
  }

  act(obs: ArrayLike<number>): Float32Array {
    const eef = [obs[0], obs[1], obs[2]];
    const o = this.graspOffset;
    const cube = [obs[9] + o[0], obs[10] + o[1], obs[11] + o[2]];
    const eefMat = quat2mat(wxyz(obs, 3));
    const goalMat = this.graspOrientation(eefMat, wxyz(obs, 12));
    const rotErr = rotationError(goalMat, eefMat);
    const angle = Math.hypot(rotErr[0], rotErr[1], rotErr[2]);
    let target: number[];
    let gripper = -1;
    if (this.phase === 'approach') {
      target = [cube[0], cube[1], cube[2] + this.approachHeight];
      // (cube here and below: the grasp point, the cube's centre plus graspOffset)
      const xy = Math.hypot(eef[0] - target[0], eef[1] - target[1]);
      if (xy < ALIGN_XY && Math.abs(eef[2] - target[2]) < ALIGN_Z && angle < ALIGN_ANGLE) this.phase = 'descend';
    }
    if (this.phase === 'descend') {
      target = cube;
      if (Math.hypot(eef[0] - cube[0], eef[1] - cube[1], eef[2] - cube[2]) < DESCEND_TOL) {
        this.phase = 'close';
        this.closing = 0;
      }
    }
    if (this.phase === 'close') {
      target = eef;
      gripper = 1;
      if (++this.closing >= this.closeSteps) {
        this.phase = 'lift';
        this.liftXY = [eef[0], eef[1]];
      }
    } else if (this.phase === 'lift') {
      target = [this.liftXY[0], this.liftXY[1], TABLE_TOP_Z + CUBE_HALF + this.liftHeight];
      gripper = 1;
    }
    const action = new Float32Array(7);
    for (let i = 0; i < 3; i++) action[i] = clip((POS_GAIN * (target![i] - eef[i])) / MAX_POS_DELTA);
    // While closing and lifting the hand keeps its orientation (turning it would twist the cube).
    const turn = this.phase === 'approach' || this.phase === 'descend';
    for (let i = 0; i < 3; i++) action[3 + i] = turn ? clip((ROT_GAIN * rotErr[i]) / MAX_ROT_DELTA) : 0;
    action[6] = gripper;
    return action;
  }

  /**
   * Hand pointing straight down (its z axis along -z) with its finger axis (y) along one of the cube's
   * horizontal face normals: of the four yaws that do that, the one nearest the hand's current yaw.
   */
  private graspOrientation(eefMat: Float64Array, cubeQuat: number[]): Float64Array {
    const c = quat2mat(cubeQuat);
    const cubeYaw = Math.atan2(c[3], c[0]);
    const handYaw = Math.atan2(eefMat[3], eefMat[0]);
    const quarter = Math.PI / 2;
    const psi = cubeYaw + quarter * Math.round((handYaw - cubeYaw) / quarter) + this.yawOffset;
    const cs = Math.cos(psi);
    const sn = Math.sin(psi);
    // Rz(psi) · diag(1, -1, -1): x = (cos, sin, 0), y = (sin, -cos, 0), z = (0, 0, -1) as columns.
    return Float64Array.of(cs, sn, 0, sn, -cs, 0, 0, 0, -1);
  }
}

function clip(x: number): number {
  return Math.min(1, Math.max(-1, x));
}
