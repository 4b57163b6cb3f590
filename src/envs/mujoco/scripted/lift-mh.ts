/**
 * "Multi-human" Lift demonstrations, in the spirit of robomimic's MH data (six operators of mixed skill): a
 * demonstrator built on LiftExpert that varies what a person varies. Per demo it draws an approach path (0-2
 * via-points around and above the cube), a grasp point and a yaw offset (the hand's skew about the cube's
 * face), a speed and a gripper closing time; along the way it pauses now and then, and sometimes re-grasps
 * (opens, backs off upwards, and tries again with a new grasp). Its motion commands carry smooth (OU) noise
 * whose size is the operator's clumsiness. Operators differ in all of these: "better" ones are quick and
 * precise, "worse" ones slow, shaky and imprecise (wider grasp offsets, which make some grasps fail).
 *
 * Every random draw comes from the Rng handed to `reset` (one stream per demo), so a demo is a function of
 * the env's reset seed and that stream. Reads only the observation, like LiftExpert.
 */
import type { Rng } from '../../../core/rng.ts';
import { MAX_POS_DELTA } from '../panda-controller.ts';
import { LiftExpert } from './lift.ts';

export type OperatorSkill = 'better' | 'okay' | 'worse';

export interface LiftOperator {
  id: number;
  skill: OperatorSkill;
  /** Range of the per-demo speed: the expert's motion command is scaled by it (1 = the expert's pace). */
  speed: readonly [number, number];
  /** Std of the OU noise on the six motion commands (action units; 1 = 5 cm or 0.5 rad per step). */
  noise: number;
  /** Chance per step (before the grasp) to stop and hold still, and how long (steps). */
  pauseChance: number;
  pauseSteps: readonly [number, number];
  /** Chance, at each grasp, to open, back off and grasp again (at most twice per demo). */
  regraspChance: number;
  /** Via-points: lateral distance from the cube (m) up to this. */
  waypointSpread: number;
  /** Grasp point offset from the cube's centre: uniform in +-this (m) on x and y, and up to this above. */
  graspSpread: number;
  /** Yaw offset of the hand: uniform in +-this (rad). */
  yawSpread: number;
}

/**
 * Six operators as robomimic's MH (2 better, 2 okay, 2 worse). The numbers are chosen, not measured from
 * people: "better" finishes in ~40-60 steps, "worse" in ~100-200 and fails some grasps (grasp offsets up to
 * 1.4 cm on a 2 cm half-size cube, 0.45 rad skew). The measured outcome is in data/README.md.
 */
export const LIFT_OPERATORS: readonly LiftOperator[] = [
  op(0, 'better', [0.45, 0.7], 0.01, 0.01, 0.05, 0.08, 0.004, 0.12),
  op(1, 'better', [0.4, 0.6], 0.015, 0.015, 0.08, 0.1, 0.005, 0.15),
  op(2, 'okay', [0.3, 0.5], 0.025, 0.03, 0.15, 0.12, 0.008, 0.25),
  op(3, 'okay', [0.25, 0.45], 0.03, 0.03, 0.2, 0.14, 0.009, 0.3),
  op(4, 'worse', [0.2, 0.35], 0.045, 0.04, 0.3, 0.16, 0.012, 0.4),
  op(5, 'worse', [0.15, 0.3], 0.05, 0.04, 0.35, 0.18, 0.013, 0.45),
];

function op(
  id: number,
  skill: OperatorSkill,
  speed: [number, number],
  noise: number,
  pauseChance: number,
  regraspChance: number,
  waypointSpread: number,
  graspSpread: number,
  yawSpread: number,
): LiftOperator {
  return { id, skill, speed, noise, pauseChance, pauseSteps: [3, 12], regraspChance, waypointSpread, graspSpread, yawSpread };
}

/** Via-points count as reached within this distance (m). */
const WAYPOINT_TOL = 0.02;
/** OU noise: mean reversion per step (0.3: correlated over ~3 steps, a hand's tremor rather than white noise). */
const OU_THETA = 0.3;
/** Re-grasp: steps the gripper opens while the hand holds, and the back-off height range (m). */
const REGRASP_OPEN_STEPS = 4;
const REGRASP_BACKOFF: readonly [number, number] = [0.04, 0.08];
const MAX_REGRASPS = 2;

type Mode = 'waypoint' | 'expert' | 'pause' | 'regrasp-open' | 'regrasp-back';

/** What one demo drew, for the file's per-demo notes and the tests. */
export interface LiftDemoPlan {
  operator: number;
  speed: number;
  waypoints: number[][];
  graspOffset: [number, number, number];
  yawOffset: number;
  closeSteps: number;
}

export class LiftMultiHuman {
  readonly operator: LiftOperator;
  plan!: LiftDemoPlan;
  /** Counters over the current demo. */
  pauses = 0;
  regrasps = 0;
  private rng!: Rng;
  private expert!: LiftExpert;
  private mode: Mode = 'expert';
  private waypoint = 0;
  private pauseLeft = 0;
  private holdGripper = -1;
  private openLeft = 0;
  private backTarget: number[] = [0, 0, 0];
  private backSteps = 0;
  private readonly ou = new Float64Array(6);

  constructor(operator: LiftOperator) {
    this.operator = operator;
  }

  /** Start a demo: draw its plan from `rng` (which the demonstrator keeps drawing from) and the first observation. */
  reset(obs: ArrayLike<number>, rng: Rng): void {
    this.rng = rng;
    const o = this.operator;
    const cube = [obs[9], obs[10], obs[11]];
    const waypoints: number[][] = [];
    const count = rng.int(3);
    for (let i = 0; i < count; i++) {
      const angle = rng.uniformRange(0, 2 * Math.PI);
      const radius = rng.uniformRange(0.3, 1) * o.waypointSpread;
      waypoints.push([cube[0] + radius * Math.cos(angle), cube[1] + radius * Math.sin(angle), cube[2] + rng.uniformRange(0.06, 0.2)]);
    }
    this.plan = {
      operator: o.id,
      speed: rng.uniformRange(o.speed[0], o.speed[1]),
      waypoints,
      ...this.drawGrasp(),
    };
    this.expert = this.newExpert();
    this.mode = waypoints.length > 0 ? 'waypoint' : 'expert';
    this.waypoint = 0;
    this.pauses = 0;
    this.regrasps = 0;
    this.holdGripper = -1;
    this.ou.fill(0);
  }

  private drawGrasp(): Pick<LiftDemoPlan, 'graspOffset' | 'yawOffset' | 'closeSteps'> {
    const o = this.operator;
    const r = this.rng;
    return {
      graspOffset: [r.uniformRange(-o.graspSpread, o.graspSpread), r.uniformRange(-o.graspSpread, o.graspSpread), r.uniformRange(0, o.graspSpread)],
      yawOffset: r.uniformRange(-o.yawSpread, o.yawSpread),
      closeSteps: 4 + r.int(7),
    };
  }

  private newExpert(): LiftExpert {
    const p = this.plan;
    return new LiftExpert({ graspOffset: p.graspOffset, yawOffset: p.yawOffset, closeSteps: p.closeSteps });
  }

  act(obs: ArrayLike<number>): Float32Array {
    const action = this.command(obs);
    // Smooth noise on the motion commands; the gripper command stays a clean open/close.
    const sigma = this.operator.noise;
    for (let i = 0; i < 6; i++) {
      this.ou[i] += -OU_THETA * this.ou[i] + sigma * Math.sqrt(2 * OU_THETA) * this.rng.normal();
      action[i] = Math.min(1, Math.max(-1, action[i] + this.ou[i]));
    }
    return action;
  }

  private command(obs: ArrayLike<number>): Float32Array {
    const eef = [obs[0], obs[1], obs[2]];
    const speed = this.plan.speed;
    const grasping = this.expert.phase === 'close' || this.expert.phase === 'lift';
    if (this.mode === 'pause') {
      if (--this.pauseLeft <= 0) this.mode = this.waypoint < this.plan.waypoints.length ? 'waypoint' : 'expert';
      return hold(this.holdGripper);
    }
    if (!grasping && (this.mode === 'waypoint' || this.mode === 'expert') && this.rng.uniform() < this.operator.pauseChance) {
      const [lo, hi] = this.operator.pauseSteps;
      this.mode = 'pause';
      this.pauseLeft = lo + this.rng.int(hi - lo + 1);
      this.pauses++;
      return hold(this.holdGripper);
    }
    if (this.mode === 'regrasp-open') {
      if (--this.openLeft <= 0) this.mode = 'regrasp-back';
      return hold(-1);
    }
    if (this.mode === 'regrasp-back') {
      const a = toward(eef, this.backTarget, speed);
      if (Math.hypot(...eef.map((v, i) => v - this.backTarget[i])) < WAYPOINT_TOL || ++this.backSteps > 30) {
        // Try again with a new grasp (a person corrects, but not perfectly).
        Object.assign(this.plan, this.drawGrasp());
        this.expert = this.newExpert();
        this.mode = 'expert';
      }
      return a;
    }
    if (this.mode === 'waypoint') {
      const target = this.plan.waypoints[this.waypoint];
      // The expert gives the hand's orientation on the way (it stays in its approach phase far from the cube).
      const a = this.expert.act(obs);
      const p = toward(eef, target, speed);
      for (let i = 0; i < 3; i++) a[i] = p[i];
      for (let i = 3; i < 6; i++) a[i] *= speed;
      a[6] = -1;
      if (Math.hypot(...eef.map((v, i) => v - target[i])) < WAYPOINT_TOL && ++this.waypoint >= this.plan.waypoints.length) {
        this.mode = 'expert';
        this.expert.reset();
      }
      return a;
    }
    const before = this.expert.phase;
    const a = this.expert.act(obs);
    if (before === 'close' && this.expert.phase === 'lift' && this.regrasps < MAX_REGRASPS && this.rng.uniform() < this.operator.regraspChance) {
      this.regrasps++;
      this.mode = 'regrasp-open';
      this.openLeft = REGRASP_OPEN_STEPS;
      this.backSteps = 0;
      this.backTarget = [eef[0], eef[1], eef[2] + this.rng.uniformRange(REGRASP_BACKOFF[0], REGRASP_BACKOFF[1])];
      this.holdGripper = -1;
      return hold(-1);
    }
    // Slower than the expert: its motion commands scaled (the gripper command as is).
    for (let i = 0; i < 6; i++) a[i] *= speed;
    this.holdGripper = a[6];
    return a;
  }
}

function hold(gripper: number): Float32Array {
  const a = new Float32Array(7);
  a[6] = gripper;
  return a;
}

/** Proportional move toward a point at `speed` of the controller's full step, clipped to [-1, 1]. */
function toward(eef: number[], target: number[], speed: number): Float32Array {
  const a = new Float32Array(7);
  for (let i = 0; i < 3; i++) a[i] = Math.min(1, Math.max(-1, (target[i] - eef[i]) / MAX_POS_DELTA)) * speed;
  a[6] = -1;
  return a;
}
