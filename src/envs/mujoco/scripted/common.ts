/**
 * Helpers the scripted experts of the 23-dim tasks share (PickPlaceCan, NutAssemblySquare): reading poses out
 * of robosuite's observation layout, the hand-down grasp orientation, and turning a target pose into a
 * controller action by proportional control clipped to the action bounds.
 */
import { MAX_POS_DELTA, MAX_ROT_DELTA } from '../panda-controller.ts';
import { quat2mat, rotationError } from '../rotations.ts';

/** (x, y, z, w) slice of an observation -> (w, x, y, z). */
export function wxyz(obs: ArrayLike<number>, at: number): number[] {
  return [obs[at + 3], obs[at], obs[at + 1], obs[at + 2]];
}

export function clip(x: number): number {
  return Math.min(1, Math.max(-1, x));
}

/** The eef position (obs[0..3)) and orientation matrix (obs[3..7), x y z w). */
export function eefPose(obs: ArrayLike<number>): { pos: number[]; mat: Float64Array } {
  return { pos: [obs[0], obs[1], obs[2]], mat: quat2mat(wxyz(obs, 3)) };
}

/** Yaw (rad) of a rotation matrix's x axis in the world's xy plane. */
export function yawOf(mat: ArrayLike<number>): number {
  return Math.atan2(mat[3], mat[0]);
}

/** Hand pointing straight down (z along -z) with its x axis at yaw psi: Rz(psi) · diag(1, -1, -1). */
export function handDown(psi: number): Float64Array {
  const c = Math.cos(psi);
  const s = Math.sin(psi);
  return Float64Array.of(c, s, 0, s, -c, 0, 0, 0, -1);
}

/** Of the yaws psi + k * period, the one nearest `current` (a symmetric grasp's equivalent hand yaws). */
export function nearestYaw(psi: number, current: number, period: number): number {
  return psi + period * Math.round((current - psi) / period);
}

/**
 * Action toward a target position (and orientation when `goalMat` is given; none holds the current one):
 * the whole remaining error per step times `gain` (the orientation's times `turnGain`), clipped to the
 * controller's 5 cm / 0.5 rad bounds.
 */
export function poseAction(
  eef: readonly number[],
  eefMat: Float64Array,
  target: readonly number[],
  goalMat: Float64Array | null,
  gripper: number,
  gain = 1,
  turnGain = 1,
): Float32Array {
  const action = new Float32Array(7);
  for (let i = 0; i < 3; i++) action[i] = clip((gain * (target[i] - eef[i])) / MAX_POS_DELTA);
  if (goalMat) {
    const rot = rotationError(goalMat, eefMat);
    for (let i = 0; i < 3; i++) action[3 + i] = clip((turnGain * rot[i]) / MAX_ROT_DELTA);
  }
  action[6] = gripper;
  return action;
}

/** Angle (rad) between two orientations. */
export function angleBetween(a: Float64Array, b: Float64Array): number {
  const r = rotationError(a, b);
  return Math.hypot(r[0], r[1], r[2]);
}
