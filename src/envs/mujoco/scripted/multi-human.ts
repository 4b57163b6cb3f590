/**
 * The "multi-human" demonstrator the tasks share, in the spirit of robomimic's MH data (six operators of mixed
 * skill): it drives a task's scripted expert and varies what a person varies. Per demo it draws an approach path
 * (0-2 via-points around and above the object), a speed and the task's grasp (and placement) variation; along
 * the way it pauses now and then, and sometimes re-grasps (opens, backs off upwards, and tries again with a new
 * grasp draw), also when a descent is blocked. Its motion commands carry smooth (OU) noise whose size is the
 * operator's clumsiness. A task supplies its operators, its expert (built from the drawn grasp), and where its
 * object is (lift-mh.ts, pick-place-can-mh.ts, nut-assembly-square-mh.ts).
 *
 * Every random draw comes from the Rng handed to `reset` (one stream per demo), so a demo is a function of the
 * env's reset seed and that stream. Reads only the observation, like the experts.
 */
import type { Rng } from '../../../core/rng.ts';
import { MAX_POS_DELTA } from '../panda-controller.ts';

export type OperatorSkill = 'better' | 'okay' | 'worse';

export interface Operator {
  id: number;
  skill: OperatorSkill;
  /** Range of the per-demo speed: the expert's motion command is scaled by it (1 = the expert's pace). */
  speed: readonly [number, number];
  /** Std of the OU noise on the six motion commands (action units; 1 = 5 cm or 0.5 rad per step). */
  noise: number;
  /** Chance per step (in the phases the task allows) to stop and hold still, and how long (steps). */
  pauseChance: number;
  pauseSteps: readonly [number, number];
  /** Chance, at each grasp, to open, back off and grasp again (at most twice per demo). */
  regraspChance: number;
  /** Via-points: lateral distance from the object (m) up to this. */
  waypointSpread: number;
  /** Grasp point offset: how the task reads it is the task's (lift-mh.ts: +-this on x and y, up to this above). */
  graspSpread: number;
  /** Yaw offset of the hand: uniform in +-this (rad). */
  yawSpread: number;
}

/** An operator from its table row (pauses last 3-12 steps for everyone). */
export function operator(
  id: number,
  skill: OperatorSkill,
  speed: [number, number],
  noise: number,
  pauseChance: number,
  regraspChance: number,
  waypointSpread: number,
  graspSpread: number,
  yawSpread: number,
): Operator {
  return { id, skill, speed, noise, pauseChance, pauseSteps: [3, 12], regraspChance, waypointSpread, graspSpread, yawSpread };
}

/** What the demonstrator needs of a task's scripted expert: a phase name and an action per observation. */
export interface PhasedExpert {
  phase: string;
  act(obs: ArrayLike<number>): Float32Array;
  reset(): void;
}

/** What every demo draws; a task adds its grasp draw (G). */
export interface DemoPlan {
  operator: number;
  speed: number;
  waypoints: number[][];
}

/** Via-points count as reached within this distance (m). */
const WAYPOINT_TOL = 0.02;
/** OU noise: mean reversion per step (0.3: correlated over ~3 steps, a hand's tremor rather than white noise). */
const OU_THETA = 0.3;
/** Re-grasp: steps the gripper opens while the hand holds, and the back-off height range (m). */
const REGRASP_OPEN_STEPS = 4;
const REGRASP_BACKOFF: readonly [number, number] = [0.04, 0.08];
const MAX_REGRASPS = 2;
/** Finger opening (m, each finger's slide: observation 7 and -8) under which the gripper holds nothing; the thinnest thing grasped, the nut's handle, leaves ~1.6 cm. */
const MISSED_GRIP = 0.004;
/** The back-off gives up on its target after this many steps (a noisy hand may circle it). */
const BACKOFF_STEPS = 30;

type Mode = 'waypoint' | 'expert' | 'pause' | 'regrasp-open' | 'regrasp-back';

export abstract class MultiHumanDemonstrator<E extends PhasedExpert, G extends object> {
  readonly operator: Operator;
  plan!: DemoPlan & G;
  /** Counters over the current demo. */
  pauses = 0;
  regrasps = 0;
  protected rng!: Rng;
  protected expert!: E;
  private mode: Mode = 'expert';
  private waypoint = 0;
  private pauseLeft = 0;
  private holdGripper = -1;
  private openLeft = 0;
  private backTarget: number[] = [0, 0, 0];
  private backSteps = 0;
  private descendSteps = 0;
  private readonly ou = new Float64Array(6);

  constructor(operator: Operator) {
    this.operator = operator;
  }

  /** The object's position in the observation (the via-points are drawn around it). */
  protected abstract objectPosition(obs: ArrayLike<number>): number[];
  /** The per-grasp draw from `this.rng` (again at each re-grasp). */
  protected abstract drawGrasp(): G;
  /** The task's expert for the current plan. */
  protected abstract newExpert(): E;
  /** Whether the operator may pause in this expert phase (not while closing on or lifting the object, say). */
  protected abstract pauseAllowed(phase: string): boolean;
  /** Via-points' height range above the object (m). */
  protected readonly waypointHeight: readonly [number, number] = [0.06, 0.2];
  /**
   * Steps the expert may stay in its descent before the operator gives up on that grasp and re-grasps (a finger
   * resting on the object blocks the descent). Infinity: never.
   */
  protected readonly descendLimit: number = Infinity;
  /**
   * Whether the operator notices a gripper closed on nothing once the expert has grasped (a missed grasp or a
   * dropped object: both fingers within MISSED_GRIP of closed) and grasps again.
   */
  protected readonly noticesMisses: boolean = false;
  /**
   * Whether the operator's speed scales the turn commands too (false: the wrist turns at the expert's pace).
   */
  protected readonly slowTurns: boolean = true;

  /** Start a demo: draw its plan from `rng` (which the demonstrator keeps drawing from) and the first observation. */
  reset(obs: ArrayLike<number>, rng: Rng): void {
    this.rng = rng;
    const o = this.operator;
    const object = this.objectPosition(obs);
    const [lo, hi] = this.waypointHeight;
    const waypoints: number[][] = [];
    const count = rng.int(3);
    for (let i = 0; i < count; i++) {
      const angle = rng.uniformRange(0, 2 * Math.PI);
      const radius = rng.uniformRange(0.3, 1) * o.waypointSpread;
      waypoints.push([object[0] + radius * Math.cos(angle), object[1] + radius * Math.sin(angle), object[2] + rng.uniformRange(lo, hi)]);
    }
    const speed = rng.uniformRange(o.speed[0], o.speed[1]);
    this.plan = { operator: o.id, speed, waypoints, ...this.drawGrasp() };
    this.expert = this.newExpert();
    this.mode = waypoints.length > 0 ? 'waypoint' : 'expert';
    this.waypoint = 0;
    this.pauses = 0;
    this.regrasps = 0;
    this.descendSteps = 0;
    this.holdGripper = -1;
    this.ou.fill(0);
  }

  /** The expert's current phase (for tests and notes). */
  get phase(): string {
    return this.expert.phase;
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
    if (this.mode === 'pause') {
      if (--this.pauseLeft <= 0) this.mode = this.waypoint < this.plan.waypoints.length ? 'waypoint' : 'expert';
      return hold(this.holdGripper);
    }
    if (
      this.pauseAllowed(this.expert.phase) &&
      (this.mode === 'waypoint' || this.mode === 'expert') &&
      this.rng.uniform() < this.operator.pauseChance
    ) {
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
      if (distance(eef, this.backTarget) < WAYPOINT_TOL || ++this.backSteps > BACKOFF_STEPS) {
        // Try again with a new grasp (a person corrects, but not perfectly).
        Object.assign(this.plan, this.drawGrasp());
        this.expert = this.newExpert();
        this.mode = 'expert';
        this.descendSteps = 0;
      }
      return a;
    }
    if (this.mode === 'waypoint') {
      const target = this.plan.waypoints[this.waypoint];
      // The expert gives the hand's orientation on the way (it stays in its approach phase far from the object).
      const a = this.expert.act(obs);
      const p = toward(eef, target, speed);
      for (let i = 0; i < 3; i++) a[i] = p[i];
      if (this.slowTurns) for (let i = 3; i < 6; i++) a[i] *= speed;
      a[6] = -1;
      if (distance(eef, target) < WAYPOINT_TOL && ++this.waypoint >= this.plan.waypoints.length) {
        this.mode = 'expert';
        this.expert.reset();
      }
      return a;
    }
    const before = this.expert.phase;
    const a = this.expert.act(obs);
    const blocked = this.expert.phase === 'descend' && ++this.descendSteps > this.descendLimit;
    const grasped = before === 'close' && this.expert.phase !== 'close';
    const missed = this.noticesMisses && before !== 'close' && a[6] > 0 && obs[7] < MISSED_GRIP && -obs[8] < MISSED_GRIP;
    if (this.regrasps < MAX_REGRASPS && (blocked || missed || (grasped && this.rng.uniform() < this.operator.regraspChance))) {
      this.regrasps++;
      this.mode = 'regrasp-open';
      this.openLeft = REGRASP_OPEN_STEPS;
      this.backSteps = 0;
      this.backTarget = [eef[0], eef[1], eef[2] + this.rng.uniformRange(REGRASP_BACKOFF[0], REGRASP_BACKOFF[1])];
      this.holdGripper = -1;
      return hold(-1);
    }
    // Slower than the expert: its motion commands scaled (the gripper command as is).
    for (let i = 0; i < (this.slowTurns ? 6 : 3); i++) a[i] *= speed;
    this.holdGripper = a[6];
    return a;
  }
}

/** A still hand with this gripper command. */
function hold(gripper: number): Float32Array {
  const a = new Float32Array(7);
  a[6] = gripper;
  return a;
}

function distance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** Proportional move toward a point at `speed` of the controller's full step, clipped to [-1, 1], gripper open. */
function toward(eef: number[], target: number[], speed: number): Float32Array {
  const a = new Float32Array(7);
  for (let i = 0; i < 3; i++) a[i] = Math.min(1, Math.max(-1, (target[i] - eef[i]) / MAX_POS_DELTA)) * speed;
  a[6] = -1;
  return a;
}
