/**
 * A Franka Panda-like arm on a table, as MJCF built from named constants (our own model, not a copy of any
 * published file). Kinematics are Franka's published modified-DH parameters (Craig's convention) and joint
 * limits, as restated in shared/reference/manipulation.md; the link shapes are primitive capsules and boxes
 * of roughly the real arm's size. Everything marked "tuned" was chosen here and checked by
 * test/manipulation-arm.test.ts (grasp stability, controller tracking); the reason is given beside it.
 *
 * World frame: origin on the floor under the table centre, z up. Table top at TABLE_TOP_Z; the arm's base
 * stands on a pedestal behind the table (-x), facing +x, its base frame at table-top height.
 */

/** One row of Franka's modified-DH table: frame i = RotX(alpha) TransX(a) TransZ(d) RotZ(q_i) from frame i-1. */
export interface DhRow {
  a: number;
  d: number;
  alpha: number;
}

/** Franka Panda modified DH parameters, joints 1-7 (manipulation.md, "Franka Panda kinematics"). */
export const PANDA_DH: readonly DhRow[] = [
  { a: 0, d: 0.333, alpha: 0 },
  { a: 0, d: 0, alpha: -Math.PI / 2 },
  { a: 0, d: 0.316, alpha: Math.PI / 2 },
  { a: 0.0825, d: 0, alpha: Math.PI / 2 },
  { a: -0.0825, d: 0.384, alpha: -Math.PI / 2 },
  { a: 0, d: 0, alpha: Math.PI / 2 },
  { a: 0.088, d: 0, alpha: Math.PI / 2 },
];
/** Flange row (manipulation.md): d = 0.107 along joint 7's axis. */
export const PANDA_FLANGE_D = 0.107;
/** Joint limits in rad (manipulation.md, Franka's published limits). */
export const PANDA_JOINT_LIMITS: readonly (readonly [number, number])[] = [
  [-2.8973, 2.8973],
  [-1.7628, 1.7628],
  [-2.8973, 2.8973],
  [-3.0718, -0.0698],
  [-2.8973, 2.8973],
  [-0.0175, 3.7525],
  [-2.8973, 2.8973],
];
/** Franka's published joint torque limits (N m): 87 for joints 1-4, 12 for joints 5-7 (Franka robot datasheet). */
export const PANDA_TORQUE_LIMITS = [87, 87, 87, 87, 12, 12, 12] as const;
/** robosuite's default rest pose (manipulation.md). */
export const PANDA_REST_QPOS: readonly number[] = [0, Math.PI / 16, 0, -Math.PI / 2 - Math.PI / 3, 0, Math.PI - 0.2, Math.PI / 4];

/** The hand is mounted on the flange turned -45 degrees about the flange axis, so the fingers move along the hand's y. */
export const HAND_YAW = -Math.PI / 4;
/** Flange to the fingertip centre (manipulation.md: ~0.1034 m); the end-effector site sits there. */
export const HAND_TCP_OFFSET = 0.1034;
/** Each finger opens 0 to 0.04 m (manipulation.md: 0.08 m in all). */
export const FINGER_RANGE = 0.04;
/** Where the finger slides are mounted below the flange (m): the hand body's height, as on the real hand (~5.8 cm). */
export const FINGER_MOUNT_Z = 0.0584;

/** Table: top height, half extents. Tuned: a 0.8 m table (a common lab-bench height) wide enough for the cube's range. */
export const TABLE_TOP_Z = 0.8;
export const TABLE_HALF = [0.4, 0.4] as const;
/**
 * Arm base position (tuned): 0.56 m behind the table centre puts the cube's range (table centre +-3 cm) in the
 * Panda's comfortable reach with the hand pointing down; 0.1 m above the table top (on its pedestal) puts the
 * rest pose's fingertips 0.19 m above the table, clear of the cube (at table height they were 9 cm above it).
 */
export const ARM_BASE_POS = [-0.56, 0, TABLE_TOP_Z + 0.1] as const;

/** Lift's cube: half-size 0.02 m (issue 18; robosuite draws 0.020-0.022). */
export const CUBE_HALF = 0.02;
/** Cube density (kg/m^3): 1000, so 0.064 kg; a light wooden/plastic block. */
export const CUBE_DENSITY = 1000;

/**
 * Contact parameters (tuned for grasp stability, see test/manipulation-arm.test.ts):
 * - condim 4 on pads and cube: tangential plus torsional friction, so a held cube cannot spin about the
 *   pad normal (with condim 3 a cube gripped off-centre slowly rotates out).
 * - friction 1 (sliding), 0.01 torsional (m), 1e-4 rolling: rubber-on-plastic order of magnitude.
 * - solref 0.01 1: stiffer than MuJoCo's default 0.02 (timeconst must stay >= 2 timesteps = 0.004), so a
 *   squeezed cube sinks into the pads by well under a millimetre.
 * - solimp 0.95 0.99 0.001: high impedance from the first 1 mm of penetration, for firm pads.
 */
export const PAD_FRICTION = '1 0.01 0.0001';
export const CONTACT_SOLREF = '0.01 1';
export const CONTACT_SOLIMP = '0.95 0.99 0.001';

/**
 * Simulation: 2 ms steps (robosuite's 500 Hz) and 25 steps per 20 Hz control step. implicitfast integrates
 * the servos' velocity damping implicitly, which keeps stiff joint servos stable at this step.
 */
export const SIM_TIMESTEP = 0.002;
export const CONTROL_SUBSTEPS = 25;

/**
 * Joint servos: position actuators force-limited to Franka's torque limits, gravity compensated (gravcomp on
 * every arm body) so they only track. ARM_KP (N m/rad, critically damped via dampratio) are the gains the bare
 * MJCF carries; LiftEnv replaces them with equal-bandwidth gains (PandaOscController.tuneServos, which
 * documents why).
 */
export const ARM_KP = [2000, 2000, 1500, 1500, 500, 400, 200] as const;
/**
 * Reflected rotor inertia (kg m^2) per arm joint (tuned): 0.1 on the big joints, 0.02 on the wrist, which has
 * small motors (12 N m): with 0.1 there, the torque limit capped wrist rotation at ~0.1 rad per control step.
 */
export const ARM_ARMATURE = [0.1, 0.1, 0.1, 0.1, 0.02, 0.02, 0.02] as const;
/** Joint viscous damping (N m s/rad), a little friction so free motion settles. */
export const ARM_DAMPING = 1;

/**
 * Gripper servo (tuned): one position actuator on a tendon that averages both fingers (the fingers are also
 * equality-coupled, so they move symmetrically). KP 2000 N/m reaches the 40 N force limit once the target is
 * 2 cm past contact, so a closed hand squeezes a 4 cm cube with ~20 N per finger, ~30x the cube's weight.
 */
export const GRIPPER_KP = 2000;
export const GRIPPER_FORCE_LIMIT = 40;

/** Approximate link masses (kg), a ~18 kg arm as the real one; gravity compensation makes tracking insensitive to them. */
const LINK_MASSES = [4.0, 0.7, 3.2, 3.6, 1.2, 1.7, 0.7] as const;
const HAND_MASS = 0.7;
const FINGER_MASS = 0.02;

/** Capsule per link in its own frame: [x1, y1, z1, x2, y2, z2, radius]; rough outline of each Panda link. */
const LINK_CAPSULES: readonly (readonly number[])[] = [
  [0, 0, -0.19, 0, 0, 0, 0.06],
  [0, 0, 0, 0, -0.2, 0, 0.06],
  [0, 0, -0.1, 0, 0, 0, 0.06],
  [0, 0, 0, -0.0825, 0.12, 0, 0.055],
  [0, 0, -0.26, 0, 0, 0, 0.05],
  [0, 0, 0, 0.088, 0, 0, 0.05],
  [0, 0, -0.02, 0, 0, 0.08, 0.045],
];

/** A number as MJCF text: 12 significant digits, no -0 or tiny residues. */
export const f = (x: number): string => {
  const r = Math.abs(x) < 1e-12 ? 0 : x;
  return Number(r.toPrecision(12)).toString();
};
/** Numbers as a space-separated MJCF vector. */
export const vec = (xs: readonly number[]): string => xs.map(f).join(' ');

/** Body position and quaternion (w x y z) of DH frame i in frame i-1 at q_i = 0. */
export function dhBodyPose(row: DhRow): { pos: number[]; quat: number[] } {
  const c = Math.cos(row.alpha);
  const s = Math.sin(row.alpha);
  // RotX(alpha) TransX(a) TransZ(d): position a x + RotX(alpha) (0, 0, d).
  return { pos: [row.a, -s * row.d, c * row.d], quat: [Math.cos(row.alpha / 2), Math.sin(row.alpha / 2), 0, 0] };
}

export interface PandaSceneOptions {
  /** Add Lift's cube on a free joint (body "cube", geom "cube"). Default true. */
  cube?: boolean;
  /** MJCF added to the worldbody after the arm (a task's fixtures and objects; free objects after the cube). */
  extraBodies?: string;
  /** The model's name. Default "panda_lift". */
  name?: string;
  /**
   * MuJoCo's multiccd flag: several contact points per convex-convex pair. Needed for a cylinder standing on a
   * box (one point, the default, lets it rock); box-box pairs have their own multi-point collider anyway.
   */
  multiccd?: boolean;
}

/**
 * Contact groups (bits of contype/conaffinity; two geoms touch when either's contype meets the other's
 * conaffinity):
 * - world and objects (1/1, also the finger pads): touch everything below;
 * - upper arm, links 0-4 (2/5): touch the world and the hand, not each other;
 * - wrist, links 5-7 (8/1): touch the world only: they sit against the hand and each other by construction;
 * - hand and finger links (4/3): touch the world and the upper arm. This is the self-collision care the
 *   workspace limit alone did not give: under random actions the hand went 3.3 cm into link 2.
 */
export const WORLD_CONTACT = 'contype="1" conaffinity="1"';
/** Visual-only geoms (markers): no contacts. */
export const NO_CONTACT = 'contype="0" conaffinity="0"';
/** Contact attributes of a graspable object: the pads' tuned friction and softness (see PAD_FRICTION). */
export const OBJECT_CONTACT = `${WORLD_CONTACT} condim="4" friction="${PAD_FRICTION}" solref="${CONTACT_SOLREF}" solimp="${CONTACT_SOLIMP}"`;
const UPPER_ARM_CONTACT = 'contype="2" conaffinity="5"';
const WRIST_CONTACT = 'contype="8" conaffinity="1"';
const HAND_CONTACT = 'contype="4" conaffinity="3"';

function armChain(): string {
  const lines: string[] = [];
  let indent = '    ';
  lines.push(`${indent}<body name="link0" pos="${vec(ARM_BASE_POS)}">`);
  indent += '  ';
  lines.push(`${indent}<geom name="link0_geom" type="capsule" fromto="0 0 0.03 0 0 0.12" size="0.07" mass="3" ${UPPER_ARM_CONTACT}/>`);
  for (let i = 0; i < 7; i++) {
    const { pos, quat } = dhBodyPose(PANDA_DH[i]);
    const [lo, hi] = PANDA_JOINT_LIMITS[i];
    const cap = LINK_CAPSULES[i];
    lines.push(`${indent}<body name="link${i + 1}" pos="${vec(pos)}" quat="${vec(quat)}" gravcomp="1">`);
    indent += '  ';
    lines.push(`${indent}<joint name="joint${i + 1}" type="hinge" axis="0 0 1" range="${f(lo)} ${f(hi)}" armature="${ARM_ARMATURE[i]}" damping="${ARM_DAMPING}"/>`);
    lines.push(`${indent}<geom name="link${i + 1}_geom" type="capsule" fromto="${vec(cap.slice(0, 6))}" size="${cap[6]}" mass="${LINK_MASSES[i]}" ${i < 4 ? UPPER_ARM_CONTACT : WRIST_CONTACT}/>`);
  }
  lines.push(handBody(indent));
  for (let i = 0; i < 8; i++) {
    indent = indent.slice(2);
    lines.push(`${indent}</body>`);
  }
  return lines.join('\n');
}

/** Pad geometry (tuned): 2 cm wide, 3 cm tall, 8 mm thick pads centred on the TCP height, inner faces at +-q. */
const PAD_HALF = [0.01, 0.004, 0.015] as const;

function handBody(indent: string): string {
  const padZ = HAND_TCP_OFFSET - FINGER_MOUNT_Z;
  const i2 = indent + '  ';
  const i3 = i2 + '  ';
  const finger = (side: 'left' | 'right', sign: 1 | -1): string => {
    const range = sign > 0 ? `0 ${FINGER_RANGE}` : `${-FINGER_RANGE} 0`;
    // The finger link stands 2 mm back from the pad's inner face, so only the pad touches a grasped object.
    return [
      `${i2}<body name="${side}_finger" pos="0 0 ${f(FINGER_MOUNT_Z)}" gravcomp="1">`,
      `${i3}<joint name="finger_joint_${side}" type="slide" axis="0 1 0" range="${range}" armature="0.01" damping="2"/>`,
      `${i3}<geom name="${side}_finger_link" type="box" size="0.01 0.006 0.016" pos="0 ${f(sign * 0.012)} 0.016" mass="${FINGER_MASS}" ${HAND_CONTACT}/>`,
      `${i3}<geom name="${side}_pad" type="box" size="${vec(PAD_HALF)}" pos="0 ${f(sign * PAD_HALF[1])} ${f(padZ)}" mass="0.005" ${WORLD_CONTACT} condim="4" friction="${PAD_FRICTION}" solref="${CONTACT_SOLREF}" solimp="${CONTACT_SOLIMP}"/>`,
      `${i2}</body>`,
    ].join('\n');
  };
  return [
    `${indent}<body name="hand" pos="0 0 ${f(PANDA_FLANGE_D)}" quat="${vec([Math.cos(HAND_YAW / 2), 0, 0, Math.sin(HAND_YAW / 2)])}" gravcomp="1">`,
    `${i2}<geom name="hand_geom" type="box" size="0.03 0.1 0.028" pos="0 0 0.03" mass="${HAND_MASS}" ${HAND_CONTACT}/>`,
    `${i2}<site name="grip_site" pos="0 0 ${f(HAND_TCP_OFFSET)}" size="0.005"/>`,
    finger('left', 1),
    finger('right', -1),
    `${indent}</body>`,
  ].join('\n');
}

function actuators(): string {
  const lines: string[] = [];
  for (let i = 0; i < 7; i++) {
    const [lo, hi] = PANDA_JOINT_LIMITS[i];
    const t = PANDA_TORQUE_LIMITS[i];
    lines.push(`    <position name="act${i + 1}" joint="joint${i + 1}" kp="${ARM_KP[i]}" dampratio="1" ctrlrange="${f(lo)} ${f(hi)}" forcerange="${-t} ${t}"/>`);
  }
  lines.push(`    <position name="gripper" tendon="grip" kp="${GRIPPER_KP}" dampratio="1" ctrlrange="0 ${FINGER_RANGE}" forcerange="${-GRIPPER_FORCE_LIMIT} ${GRIPPER_FORCE_LIMIT}"/>`);
  return lines.join('\n');
}

/**
 * The scene's MJCF. `<size memory>` caps each MjData's arena (scratch for contacts and the solver) at 4 MB
 * instead of MuJoCo's larger default, so many envs fit the wasm heap.
 */
export function pandaSceneXml(options: PandaSceneOptions = {}): string {
  const withCube = options.cube ?? true;
  const extra = options.extraBodies ? `\n${options.extraBodies}` : '';
  const cube = withCube
    ? `    <body name="cube" pos="0 0 ${f(TABLE_TOP_Z + CUBE_HALF)}">
      <freejoint name="cube_joint"/>
      <geom name="cube" type="box" size="${CUBE_HALF} ${CUBE_HALF} ${CUBE_HALF}" density="${CUBE_DENSITY}" ${OBJECT_CONTACT} rgba="0.8 0.1 0.1 1"/>
    </body>`
    : '';
  return `<mujoco model="${options.name ?? 'panda_lift'}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="${SIM_TIMESTEP}" integrator="implicitfast" cone="elliptic"${options.multiccd ? '>\n    <flag multiccd="enable"/>\n  </option>' : '/>'}
  <size memory="4M"/>
  <worldbody>
    <light pos="0 0 3" dir="0 0 -1" directional="true"/>
    <geom name="floor" type="plane" size="3 3 0.1" ${WORLD_CONTACT} rgba="0.8 0.9 0.8 1"/>
    <geom name="table" type="box" pos="0 0 ${f(TABLE_TOP_Z / 2)}" size="${TABLE_HALF[0]} ${TABLE_HALF[1]} ${f(TABLE_TOP_Z / 2)}" ${WORLD_CONTACT} rgba="0.6 0.5 0.4 1"/>
    <geom name="pedestal" type="cylinder" pos="${f(ARM_BASE_POS[0])} 0 ${f(ARM_BASE_POS[2] / 2)}" size="0.1 ${f(ARM_BASE_POS[2] / 2)}" contype="0" conaffinity="0" rgba="0.3 0.3 0.3 1"/>
${armChain()}
${cube}${extra}
  </worldbody>
  <tendon>
    <fixed name="grip">
      <joint joint="finger_joint_left" coef="0.5"/>
      <joint joint="finger_joint_right" coef="-0.5"/>
    </fixed>
  </tendon>
  <equality>
    <joint joint1="finger_joint_left" joint2="finger_joint_right" polycoef="0 -1 0 0 0" solref="0.005 1"/>
  </equality>
  <actuator>
${actuators()}
  </actuator>
</mujoco>
`;
}

/** Lift's scene: the arm, the table and the cube. */
export const PANDA_LIFT_XML = pandaSceneXml({ cube: true });
