/**
 * A scripted expert for PickPlaceCan-v0 that reads only the 23-dim observation (and the fixed compartment of
 * the scene, as a person knows where the can goes): line up above the can with the hand pointing down, descend,
 * close, lift clear of the bin walls, carry the can over its compartment (servoing the can's observed position,
 * not the hand's), lower it, let go, and rise. Deterministic; its options make the imprecise grasps and placements
 * of the multi-human demonstrator (pick-place-can-mh.ts).
 */
import { BIN_FLOOR_Z, BIN_WALL_TOP_Z, CAN_COMPARTMENT, CAN_HALF_HEIGHT } from '../models/pick-place.ts';
import { angleBetween, eefPose, handDown, poseAction, yawOf } from './common.ts';

export type PickPlaceCanExpertPhase = 'approach' | 'descend' | 'close' | 'lift' | 'carry' | 'lower' | 'release' | 'retreat';

/**
 * Grasp height above the can's centre (m): the palm sits 4.5 cm above the fingertip centre (models/panda.ts),
 * so grasping 2 cm above the centre of the 10 cm can leaves 1.5 cm between the palm and the can's top.
 */
const GRASP_ABOVE_CENTRE = 0.02;
/** Line-up height above the grasp point (m): the pads' lower edge 6.5 cm clear of the can's top. */
const APPROACH_HEIGHT = 0.08;
/** Carry height of the can's bottom above the bin walls (m). */
const CARRY_CLEARANCE = 0.07;
/** Where the can is let go: its bottom this far above bin 2's floor (m). */
const DROP_HEIGHT = 0.01;
/** Tolerances: lined up within 1 cm and 0.05 rad; descent ends within 5 mm; the can over its target within 1.5 cm. */
const ALIGN_XY = 0.01;
const ALIGN_Z = 0.02;
const ALIGN_ANGLE = 0.05;
const REACH_TOL = 0.005;
const OVER_TARGET_XY = 0.015;
/** Control steps the gripper closes (0.3 s, as the Lift expert) and opens before rising. */
const CLOSE_STEPS = 6;
const RELEASE_STEPS = 4;
/** The compartment's centre. */
const TARGET_XY = [(CAN_COMPARTMENT.xLow + CAN_COMPARTMENT.xHigh) / 2, (CAN_COMPARTMENT.yLow + CAN_COMPARTMENT.yHigh) / 2] as const;

export interface PickPlaceCanExpertOptions {
  /** Offset (m, world) of the grasp point from the default one, 2 cm above the can's centre. Default none. */
  graspOffset?: readonly [number, number, number];
  /** Offset (rad) of the hand's yaw from the one it starts with. Default 0. */
  yawOffset?: number;
  /** Control steps the gripper closes before lifting. Default 6. */
  closeSteps?: number;
  /** Carry height of the can's bottom above the bin walls (m). Default 0.07. */
  carryClearance?: number;
  /** Where in its compartment the can goes: offset (m, x y) from the compartment's centre. Default none. */
  placeOffset?: readonly [number, number];
  /** Height of the can's bottom above bin 2's floor where it is let go (m). Default 0.01. */
  dropHeight?: number;
}

export class PickPlaceCanExpert {
  phase: PickPlaceCanExpertPhase = 'approach';
  private counter = 0;
  private yaw: number | null = null;
  private readonly graspOffset: readonly [number, number, number];
  private readonly yawOffset: number;
  private readonly closeSteps: number;
  private readonly carryClearance: number;
  private readonly target: readonly [number, number];
  private readonly dropHeight: number;

  constructor(options: PickPlaceCanExpertOptions = {}) {
    this.graspOffset = options.graspOffset ?? [0, 0, 0];
    this.yawOffset = options.yawOffset ?? 0;
    this.closeSteps = options.closeSteps ?? CLOSE_STEPS;
    this.carryClearance = options.carryClearance ?? CARRY_CLEARANCE;
    const place = options.placeOffset ?? [0, 0];
    this.target = [TARGET_XY[0] + place[0], TARGET_XY[1] + place[1]];
    this.dropHeight = options.dropHeight ?? DROP_HEIGHT;
  }

  /** Call at every env reset. */
  reset(): void {
    this.phase = 'approach';
    this.counter = 0;
    this.yaw = null;
  }

  act(obs: ArrayLike<number>): Float32Array {
    const { pos: eef, mat: eefMat } = eefPose(obs);
    const can = [obs[9], obs[10], obs[11]];
    // The can is round: any hand yaw grasps it, so keep the one the arm starts with (no wrist turn needed).
    this.yaw ??= yawOf(eefMat) + this.yawOffset;
    const down = handDown(this.yaw);
    const o = this.graspOffset;
    const above = GRASP_ABOVE_CENTRE + o[2];
    const grasp = [can[0] + o[0], can[1] + o[1], can[2] + above];
    // Fingertip height that puts the can's bottom at height h (as grasped at the planned height).
    const tcpFor = (h: number): number => h + CAN_HALF_HEIGHT + above;
    if (this.phase === 'approach') {
      const target = [grasp[0], grasp[1], grasp[2] + APPROACH_HEIGHT];
      const xy = Math.hypot(eef[0] - target[0], eef[1] - target[1]);
      if (xy < ALIGN_XY && Math.abs(eef[2] - target[2]) < ALIGN_Z && angleBetween(down, eefMat) < ALIGN_ANGLE) this.phase = 'descend';
      else return poseAction(eef, eefMat, target, down, -1);
    }
    if (this.phase === 'descend') {
      if (Math.hypot(eef[0] - grasp[0], eef[1] - grasp[1], eef[2] - grasp[2]) < REACH_TOL) this.phase = 'close';
      else return poseAction(eef, eefMat, grasp, down, -1);
    }
    if (this.phase === 'close') {
      if (++this.counter < this.closeSteps) return poseAction(eef, eefMat, eef, down, 1);
      this.phase = 'lift';
      this.counter = 0;
    }
    const carryZ = tcpFor(BIN_WALL_TOP_Z + this.carryClearance);
    if (this.phase === 'lift') {
      if (eef[2] < carryZ - ALIGN_Z) return poseAction(eef, eefMat, [eef[0], eef[1], carryZ], down, 1);
      this.phase = 'carry';
    }
    // Move the hand by the can's offset from the target, so a can held off-centre still lands on it.
    const toTarget = [this.target[0] - can[0], this.target[1] - can[1]];
    if (this.phase === 'carry') {
      if (Math.hypot(toTarget[0], toTarget[1]) > OVER_TARGET_XY)
        return poseAction(eef, eefMat, [eef[0] + toTarget[0], eef[1] + toTarget[1], carryZ], down, 1);
      this.phase = 'lower';
    }
    const dropZ = tcpFor(BIN_FLOOR_Z + this.dropHeight);
    if (this.phase === 'lower') {
      if (eef[2] > dropZ + REACH_TOL) return poseAction(eef, eefMat, [eef[0] + toTarget[0], eef[1] + toTarget[1], dropZ], down, 1);
      this.phase = 'release';
    }
    if (this.phase === 'release') {
      if (++this.counter < RELEASE_STEPS) return poseAction(eef, eefMat, eef, down, -1);
      this.phase = 'retreat';
    }
    return poseAction(eef, eefMat, [eef[0], eef[1], carryZ], down, -1);
  }
}
