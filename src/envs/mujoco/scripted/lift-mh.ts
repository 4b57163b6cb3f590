/**
 * "Multi-human" Lift demonstrations (multi-human.ts) on LiftExpert: per demo a grasp point and a yaw offset (the
 * hand's skew about the cube's face) and a gripper closing time, besides the shared approach path, speed,
 * pauses, re-grasps and noise. Operators differ in all of these: "better" ones are quick and precise, "worse"
 * ones slow, shaky and imprecise (wider grasp offsets, which make some grasps fail).
 */
import { LiftExpert } from './lift.ts';
import { MultiHumanDemonstrator, operator as op, type Operator } from './multi-human.ts';

export type { OperatorSkill } from './multi-human.ts';
export type LiftOperator = Operator;

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

/** Lift's grasp draw. */
export interface LiftGrasp {
  /** Grasp point offset from the cube's centre: +-graspSpread on x and y, up to graspSpread above (m). */
  graspOffset: [number, number, number];
  yawOffset: number;
  closeSteps: number;
}

export class LiftMultiHuman extends MultiHumanDemonstrator<LiftExpert, LiftGrasp> {
  protected objectPosition(obs: ArrayLike<number>): number[] {
    return [obs[9], obs[10], obs[11]];
  }

  protected drawGrasp(): LiftGrasp {
    const o = this.operator;
    const r = this.rng;
    return {
      graspOffset: [r.uniformRange(-o.graspSpread, o.graspSpread), r.uniformRange(-o.graspSpread, o.graspSpread), r.uniformRange(0, o.graspSpread)],
      yawOffset: r.uniformRange(-o.yawSpread, o.yawSpread),
      closeSteps: 4 + r.int(7),
    };
  }

  protected newExpert(): LiftExpert {
    const p = this.plan;
    return new LiftExpert({ graspOffset: p.graspOffset, yawOffset: p.yawOffset, closeSteps: p.closeSteps });
  }

  /** No pause once the fingers close on the cube (a person lifts what they grabbed). */
  protected pauseAllowed(phase: string): boolean {
    return phase !== 'close' && phase !== 'lift';
  }
}
