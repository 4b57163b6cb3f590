/**
 * "Multi-human" PickPlaceCan demonstrations (multi-human.ts) on PickPlaceCanExpert: per grasp a grasp point off the
 * can's axis and height, a wrist turn, a closing time, and where the can goes: a carry height, a spot in the
 * compartment and a drop height, besides the shared approach path, speed, pauses (also while carrying),
 * re-grasps and noise. A finger that lands on the can's rim blocks the descent; the operator then backs off and
 * tries again.
 */
import { PickPlaceCanExpert } from './pick-place-can.ts';
import { MultiHumanDemonstrator, operator as op, type Operator } from './multi-human.ts';

/**
 * Six operators as robomimic's MH (2 better, 2 okay, 2 worse), Lift's table (lift-mh.ts) with faster worse
 * operators (the task is ~2.5x the expert's steps of Lift's in the same 300-step horizon) and grasp offsets
 * sized to the can: the open fingers clear it by 7 mm on each side, so the worse operators' offsets up to 1 cm
 * put a finger on the rim now and then. Chosen, not measured from people; the outcome is in data/README.md.
 */
export const CAN_OPERATORS: readonly Operator[] = [
  op(0, 'better', [0.55, 0.8], 0.01, 0.01, 0.05, 0.08, 0.003, 0.15),
  op(1, 'better', [0.5, 0.7], 0.015, 0.015, 0.08, 0.1, 0.004, 0.2),
  op(2, 'okay', [0.4, 0.6], 0.025, 0.02, 0.12, 0.12, 0.006, 0.3),
  op(3, 'okay', [0.35, 0.55], 0.03, 0.02, 0.15, 0.14, 0.007, 0.35),
  op(4, 'worse', [0.3, 0.45], 0.04, 0.03, 0.25, 0.16, 0.009, 0.45),
  op(5, 'worse', [0.25, 0.4], 0.045, 0.03, 0.3, 0.18, 0.01, 0.5),
];

/** Where in the compartment (0.14 x 0.18 m) a person sets the can down: within +-3 cm (x) and +-4 cm (y) of its centre. */
const PLACE_SPREAD = [0.03, 0.04] as const;

export interface CanGrasp {
  /** Grasp point offset (m): +-graspSpread on x and y, -2 to +0.5 graspSpread in height. */
  graspOffset: [number, number, number];
  yawOffset: number;
  closeSteps: number;
  /** Carry height of the can's bottom above the walls (m): 4-10 cm. */
  carryClearance: number;
  placeOffset: [number, number];
  /** The can's bottom above bin 2's floor when let go (m): 0.5-3 cm. */
  dropHeight: number;
}

export class PickPlaceCanMultiHuman extends MultiHumanDemonstrator<PickPlaceCanExpert, CanGrasp> {
  /** Via-points 10-20 cm above the can's centre: the pads' lower edge at least 5 cm over its top. */
  protected override readonly waypointHeight = [0.1, 0.2] as const;
  /** A descent from 8 cm takes the slowest operator ~30 steps; after 60 something blocks it. */
  protected override readonly descendLimit = 60;
  protected override readonly noticesMisses = true;

  protected objectPosition(obs: ArrayLike<number>): number[] {
    return [obs[9], obs[10], obs[11]];
  }

  protected drawGrasp(): CanGrasp {
    const g = this.operator.graspSpread;
    const r = this.rng;
    return {
      graspOffset: [r.uniformRange(-g, g), r.uniformRange(-g, g), r.uniformRange(-2 * g, 0.5 * g)],
      yawOffset: r.uniformRange(-this.operator.yawSpread, this.operator.yawSpread),
      closeSteps: 4 + r.int(7),
      carryClearance: r.uniformRange(0.04, 0.1),
      placeOffset: [r.uniformRange(-PLACE_SPREAD[0], PLACE_SPREAD[0]), r.uniformRange(-PLACE_SPREAD[1], PLACE_SPREAD[1])],
      dropHeight: r.uniformRange(0.005, 0.03),
    };
  }

  protected newExpert(): PickPlaceCanExpert {
    return new PickPlaceCanExpert(this.plan);
  }

  /** Pauses on the way to the can and while carrying it, not while grasping, lifting or letting go. */
  protected pauseAllowed(phase: string): boolean {
    return phase === 'approach' || phase === 'descend' || phase === 'carry';
  }
}
