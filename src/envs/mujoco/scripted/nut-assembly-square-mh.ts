/**
 * "Multi-human" NutAssemblySquare demonstrations (multi-human.ts) on NutAssemblySquareExpert: per grasp a grasp
 * point along and across the handle and above its centre, a skew of the hand, a closing time, a carry height and
 * how fast the wrist turns, besides the shared approach path, speed, pauses (also while carrying), re-grasps and
 * noise. The wrist turns a share of its error per step whatever the operator's speed: the expert's full-speed turn
 * is over in 2-3 steps of a demo, too few for a policy cloned from the demos to learn which way to turn the hand
 * to the handle (docs/envs.md).
 */
import { NutAssemblySquareExpert } from './nut-assembly-square.ts';
import { MultiHumanDemonstrator, operator as op, type Operator } from './multi-human.ts';

/**
 * Six operators as robomimic's MH (2 better, 2 okay, 2 worse), like Can's (pick-place-can-mh.ts), with grasp
 * offsets and hand skews sized to the handle: a pad has ~7 mm of room along it before its edge rides on the
 * ring, and a skew of psi moves the pads 4 cm * sin(psi) along it (0.24 rad put a pad on the ring in a trial).
 * Chosen, not measured from people; the outcome is in data/README.md.
 */
export const SQUARE_OPERATORS: readonly Operator[] = [
  op(0, 'better', [0.55, 0.8], 0.01, 0.01, 0.05, 0.08, 0.002, 0.04),
  op(1, 'better', [0.5, 0.7], 0.015, 0.015, 0.08, 0.1, 0.0025, 0.05),
  op(2, 'okay', [0.4, 0.6], 0.02, 0.02, 0.12, 0.12, 0.003, 0.07),
  op(3, 'okay', [0.35, 0.55], 0.025, 0.02, 0.15, 0.14, 0.0035, 0.08),
  op(4, 'worse', [0.28, 0.42], 0.04, 0.03, 0.25, 0.16, 0.004, 0.1),
  op(5, 'worse', [0.22, 0.38], 0.045, 0.03, 0.3, 0.18, 0.005, 0.12),
];

export interface SquareGrasp {
  /** Grasp point offset (m): along the handle +-graspSpread, across it +-graspSpread / 2, up to graspSpread higher. */
  graspOffset: [number, number, number];
  yawOffset: number;
  closeSteps: number;
  /** Carry height of the nut's underside above the peg's top (m): 2-6 cm. */
  carryClearance: number;
  /** Fraction of the wrist's error turned per step: 0.15-0.3. */
  turnGain: number;
}

export class NutAssemblySquareMultiHuman extends MultiHumanDemonstrator<NutAssemblySquareExpert, SquareGrasp> {
  /** A descent from 8 cm takes the slowest operator ~30 steps; after 60 something blocks it. */
  protected override readonly descendLimit = 60;
  protected override readonly noticesMisses = true;
  protected override readonly slowTurns = false;

  protected objectPosition(obs: ArrayLike<number>): number[] {
    return [obs[9], obs[10], obs[11]];
  }

  protected drawGrasp(): SquareGrasp {
    const g = this.operator.graspSpread;
    const r = this.rng;
    return {
      graspOffset: [r.uniformRange(-g, g), r.uniformRange(-g / 2, g / 2), r.uniformRange(0, g)],
      yawOffset: r.uniformRange(-this.operator.yawSpread, this.operator.yawSpread),
      closeSteps: 4 + r.int(7),
      carryClearance: r.uniformRange(0.02, 0.06),
      turnGain: r.uniformRange(0.15, 0.3),
    };
  }

  protected newExpert(): NutAssemblySquareExpert {
    return new NutAssemblySquareExpert(this.plan);
  }

  /** Pauses on the way to the nut and while carrying it, not while grasping, lifting, lowering it onto the peg or letting go. */
  protected pauseAllowed(phase: string): boolean {
    return phase === 'approach' || phase === 'descend' || phase === 'carry';
  }
}
