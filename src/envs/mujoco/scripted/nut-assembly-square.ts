/**
 * A scripted expert for NutAssemblySquare-v0 that reads only the 23-dim observation (and the fixed peg's place,
 * as a person sees where it stands): line up above the nut's handle with the hand pointing down and the fingers
 * across the handle, descend, close, lift the nut above the peg, carry it until its ring is centred over the peg
 * (servoing the nut's observed centre, not the hand's), lower it down the peg, let go, and rise. Deterministic; its
 * options make the imprecise grasps of the multi-human demonstrator (nut-assembly-square-mh.ts).
 */
import { NUT_HALF_HEIGHT, NUT_HANDLE_CENTRE, NUT_HANDLE_HALF, NUT_OUTER_HALF, PEG_TOP_Z, PEG_XY } from '../models/nut-assembly.ts';
import { TABLE_TOP_Z } from '../models/panda.ts';
import { quat2mat } from '../rotations.ts';
import { angleBetween, eefPose, handDown, nearestYaw, poseAction, wxyz, yawOf } from './common.ts';

export type NutAssemblySquareExpertPhase = 'approach' | 'descend' | 'close' | 'lift' | 'carry' | 'lower' | 'release' | 'retreat';

/**
 * Grasp point along the handle, from the nut's centre (m): midway between the ring's outer face (0.04375) and
 * the handle's end (0.07925) once the pads' 1 cm half-width is counted, so neither pad edge rides on the ring.
 */
const GRASP_RADIAL = (NUT_OUTER_HALF + 0.01 + (NUT_HANDLE_CENTRE + NUT_HANDLE_HALF[0] - 0.01)) / 2;
/**
 * Fingertip height above the nut's centre when grasping (m): the 3 cm pads then reach 7 mm below the 2 cm
 * handle's centre, 3 mm above the table, and hold 1.7 cm of its height.
 */
const GRASP_ABOVE_CENTRE = 0.008;
/** Line-up height above the grasp point (m). */
const APPROACH_HEIGHT = 0.08;
/** Carry height of the nut's underside above the peg's top (m). */
const CARRY_CLEARANCE = 0.03;
/** Where the nut is let go: its centre this far above the table (m), under robosuite's 0.05 and around the peg. */
const DROP_CENTRE_HEIGHT = 0.03;
/** Tolerances: lined up within 1 cm and 0.05 rad; descent ends within 5 mm; the nut centred over the peg within 3 mm (of 6.75 mm play). */
const ALIGN_XY = 0.01;
const ALIGN_Z = 0.02;
const ALIGN_ANGLE = 0.05;
const REACH_TOL = 0.005;
const OVER_PEG_XY = 0.003;
/**
 * The ring's sides turned within this (rad) of the peg's: a turned square peg fills more of the hole,
 * 0.016 (cos a + sin a) of its 0.02275 half-width (at 45 degrees the play is gone and the ring jammed half-way).
 */
const ALIGN_YAW = 0.03;
/** The nut counts as settled over the peg once it moved less than this (m) in the last step: lowering a still-swinging nut landed it on the peg's edge. */
const SETTLED = 0.002;
/**
 * The ring is caught on the peg's top when the hand has come this much (m) closer to the nut's centre than at the
 * grasp (the nut stopped, the pads slid down the handle): lift it back to the carry height and centre it again.
 */
const JAM_SLIP = 0.006;
/**
 * Lowering speed (m per step, tuned): full-speed 5 cm steps down swerved the hand ~1 cm sideways and landed the
 * ring on the peg's top; at 2 cm the centring keeps up while the ring slides onto the peg.
 */
const LOWER_STEP = 0.02;
/** Control steps the gripper closes and opens before rising. */
const CLOSE_STEPS = 6;
const RELEASE_STEPS = 4;

export interface NutAssemblySquareExpertOptions {
  /** Offset (m) of the grasp point from the default one: along the handle, across it, and up. Default none. */
  graspOffset?: readonly [number, number, number];
  /** Offset (rad) of the hand's yaw from the handle's. Default 0. */
  yawOffset?: number;
  /** Control steps the gripper closes before lifting. Default 6. */
  closeSteps?: number;
  /** Carry height of the nut's underside above the peg's top (m). Default 0.03. */
  carryClearance?: number;
  /** Fraction of the orientation error turned per step (within the controller's 0.5 rad): a slower wrist. Default 1. */
  turnGain?: number;
}

export class NutAssemblySquareExpert {
  phase: NutAssemblySquareExpertPhase = 'approach';
  private counter = 0;
  private yaw = 0;
  /** Fingertip height over the nut's centre as grasped (measured when the fingers have closed). */
  private held = GRASP_ABOVE_CENTRE;
  private lastNut: number[] | null = null;
  private readonly graspOffset: readonly [number, number, number];
  private readonly yawOffset: number;
  private readonly closeSteps: number;
  private readonly carryClearance: number;
  private readonly turnGain: number;

  constructor(options: NutAssemblySquareExpertOptions = {}) {
    this.graspOffset = options.graspOffset ?? [0, 0, 0];
    this.yawOffset = options.yawOffset ?? 0;
    this.closeSteps = options.closeSteps ?? CLOSE_STEPS;
    this.carryClearance = options.carryClearance ?? CARRY_CLEARANCE;
    this.turnGain = options.turnGain ?? 1;
  }

  private pose(eef: number[], eefMat: Float64Array, target: readonly number[], goal: Float64Array, gripper: number): Float32Array {
    return poseAction(eef, eefMat, target, goal, gripper, 1, this.turnGain);
  }

  /** Call at every env reset. */
  reset(): void {
    this.phase = 'approach';
    this.counter = 0;
    this.held = GRASP_ABOVE_CENTRE;
    this.lastNut = null;
  }

  act(obs: ArrayLike<number>): Float32Array {
    const { pos: eef, mat: eefMat } = eefPose(obs);
    const nut = [obs[9], obs[10], obs[11]];
    const nutMat = quat2mat(wxyz(obs, 12));
    const moved = this.lastNut ? Math.hypot(nut[0] - this.lastNut[0], nut[1] - this.lastNut[1], nut[2] - this.lastNut[2]) : Infinity;
    this.lastNut = nut;
    const o = this.graspOffset;
    const tcpFor = (centreZ: number): number => centreZ + GRASP_ABOVE_CENTRE + o[2];
    if (this.phase === 'approach' || this.phase === 'descend') {
      // Hand x along the handle, fingers across it: the nut's yaw, or the opposite one if nearer the hand's.
      this.yaw = nearestYaw(yawOf(nutMat) + this.yawOffset, yawOf(eefMat), Math.PI);
    }
    const down = handDown(this.yaw);
    // Along the nut's x axis (the handle) and its y axis (across it).
    const radial = GRASP_RADIAL + o[0];
    const grasp = [nut[0] + nutMat[0] * radial + nutMat[1] * o[1], nut[1] + nutMat[3] * radial + nutMat[4] * o[1], tcpFor(nut[2])];
    if (this.phase === 'approach') {
      const target = [grasp[0], grasp[1], grasp[2] + APPROACH_HEIGHT];
      const xy = Math.hypot(eef[0] - target[0], eef[1] - target[1]);
      if (xy < ALIGN_XY && Math.abs(eef[2] - target[2]) < ALIGN_Z && angleBetween(down, eefMat) < ALIGN_ANGLE) this.phase = 'descend';
      else return this.pose(eef, eefMat, target, down, -1);
    }
    if (this.phase === 'descend') {
      if (Math.hypot(eef[0] - grasp[0], eef[1] - grasp[1], eef[2] - grasp[2]) < REACH_TOL) this.phase = 'close';
      else return this.pose(eef, eefMat, grasp, down, -1);
    }
    if (this.phase === 'close') {
      if (++this.counter < this.closeSteps) return this.pose(eef, eefMat, eef, down, 1);
      this.phase = 'lift';
      this.counter = 0;
      this.held = eef[2] - nut[2];
    }
    const held = this.held;
    // Once held, the hand turns the nut so its sides line up with the peg's (yaw 0, modulo a quarter turn).
    const nutYaw = yawOf(nutMat);
    const misalign = nutYaw - nearestYaw(0, nutYaw, Math.PI / 2);
    const carryDown = handDown(yawOf(eefMat) - misalign);
    const carryZ = PEG_TOP_Z + this.carryClearance + NUT_HALF_HEIGHT + held;
    if (this.phase === 'lift') {
      if (eef[2] < carryZ - ALIGN_Z) return this.pose(eef, eefMat, [eef[0], eef[1], carryZ], carryDown, 1);
      this.phase = 'carry';
    }
    // Move the hand by the nut's offset from the peg, so the ring, not the hand, ends up over the peg.
    const toPeg = [PEG_XY[0] - nut[0], PEG_XY[1] - nut[1]];
    if (this.phase === 'carry') {
      if (Math.hypot(toPeg[0], toPeg[1]) > OVER_PEG_XY || Math.abs(eef[2] - carryZ) > ALIGN_Z || Math.abs(misalign) > ALIGN_YAW || moved > SETTLED) {
        return this.pose(eef, eefMat, [eef[0] + toPeg[0], eef[1] + toPeg[1], carryZ], carryDown, 1);
      }
      this.phase = 'lower';
    }
    const dropZ = TABLE_TOP_Z + DROP_CENTRE_HEIGHT + held;
    if (this.phase === 'lower' && eef[2] - nut[2] < held - JAM_SLIP) {
      this.phase = 'carry';
      this.held = eef[2] - nut[2];
      return this.pose(eef, eefMat, [eef[0], eef[1], PEG_TOP_Z + this.carryClearance + NUT_HALF_HEIGHT + this.held], carryDown, 1);
    }
    if (this.phase === 'lower') {
      if (eef[2] > dropZ + REACH_TOL)
        return this.pose(eef, eefMat, [eef[0] + toPeg[0], eef[1] + toPeg[1], Math.max(dropZ, eef[2] - LOWER_STEP)], carryDown, 1);
      this.phase = 'release';
    }
    if (this.phase === 'release') {
      if (++this.counter < RELEASE_STEPS) return this.pose(eef, eefMat, eef, carryDown, -1);
      this.phase = 'retreat';
    }
    return this.pose(eef, eefMat, [eef[0], eef[1], carryZ], carryDown, -1);
  }
}
