/**
 * PickPlaceCan's scene: the Panda-like arm and table of panda.ts, two open bins built from boxes, a can
 * (cylinder) on a free joint, and a visual box marking the can's compartment of the second bin.
 *
 * Layout after robosuite's PickPlace (bin 1 holds the objects, bin 2 is split into four compartments, the can's
 * is the one at bin 2's +x/+y quarter: robosuite's `not_in_bin` with bin id 3), scaled to our arm's workspace:
 * robosuite's bins (0.39 x 0.49 m, centred 0.66 m ahead of the robot) put the can's compartment ~0.86 m from
 * the base, beyond the controller's workspace (panda-controller.ts WORKSPACE: 0.8 m from the shoulder), so ours
 * are 0.28 x 0.36 m, centred 0.48 m ahead of the base and 0.22 m to either side: every can start and the
 * compartment lie 0.42-0.65 m from the base axis.
 */
import { f, NO_CONTACT, OBJECT_CONTACT, pandaSceneXml, TABLE_TOP_Z, vec, WORLD_CONTACT } from './panda.ts';

/** Outer half extents (x, y) of each bin (see the layout note above). */
export const BIN_HALF = [0.14, 0.18] as const;
/** Bin 1 (the can's start) and bin 2 (the target) centres on the table (x, y). */
export const BIN1_XY = [-0.08, -0.22] as const;
export const BIN2_XY = [-0.08, 0.22] as const;
/** Half thickness of the bins' floors and walls (1 cm boards). */
export const BIN_BOARD_HALF = 0.005;
/** Bin floor top (the bins stand on the table) and wall top heights. Walls 6 cm tall: lower than the can, so the hand never reaches between them to grasp. */
export const BIN_FLOOR_Z = TABLE_TOP_Z + 2 * BIN_BOARD_HALF;
export const BIN_WALL_TOP_Z = TABLE_TOP_Z + 0.06;

/**
 * The can: a 66 mm x 100 mm cylinder, a soda can's diameter (robosuite's can.xml: horizontal radius site at
 * (0.025, 0.025), i.e. ~0.035 m, top and bottom sites 0.1 m apart), density 100 kg/m^3 as robosuite's can.xml
 * (0.034 kg: robosuite's can is a light shell). 7 mm of clearance on each side of the open 8 cm gripper.
 */
export const CAN_RADIUS = 0.033;
export const CAN_HALF_HEIGHT = 0.05;
export const CAN_DENSITY = 100;

/**
 * Where the can starts: its centre uniform within this half-range (x, y) of bin 1's centre. 6 cm of margin
 * from the walls' inner faces, so the open fingers (4.8 cm from the can's axis) fit beside the can at any yaw.
 */
export const CAN_PLACEMENT_HALF = [BIN_HALF[0] - 2 * BIN_BOARD_HALF - 0.06, BIN_HALF[1] - 2 * BIN_BOARD_HALF - 0.06] as const;

/**
 * The can's compartment of bin 2, robosuite's bin id 3: x in [bin2.x, bin2.x + size_x / 2], y in
 * [bin2.y, bin2.y + size_y / 2] (robosuite halves the bin's full size).
 */
export const CAN_COMPARTMENT = {
  xLow: BIN2_XY[0],
  xHigh: BIN2_XY[0] + BIN_HALF[0],
  yLow: BIN2_XY[1],
  yHigh: BIN2_XY[1] + BIN_HALF[1],
} as const;

/** robosuite's height window for an object in its bin: above the bin's base and less than 0.1 m above it. */
export const CAN_IN_BIN_HEIGHT = 0.1;

function binXml(name: string, xy: readonly [number, number], rgba: string): string {
  const [hx, hy] = BIN_HALF;
  const t = BIN_BOARD_HALF;
  const wallHalf = (BIN_WALL_TOP_Z - BIN_FLOOR_Z) / 2;
  const wallZ = BIN_FLOOR_Z + wallHalf;
  const geoms = [
    `<geom name="${name}_floor" type="box" pos="0 0 ${f(TABLE_TOP_Z + t)}" size="${vec([hx, hy, t])}" ${WORLD_CONTACT} rgba="${rgba}"/>`,
    `<geom name="${name}_wall_px" type="box" pos="${vec([hx - t, 0, wallZ])}" size="${vec([t, hy, wallHalf])}" ${WORLD_CONTACT} rgba="${rgba}"/>`,
    `<geom name="${name}_wall_nx" type="box" pos="${vec([-(hx - t), 0, wallZ])}" size="${vec([t, hy, wallHalf])}" ${WORLD_CONTACT} rgba="${rgba}"/>`,
    `<geom name="${name}_wall_py" type="box" pos="${vec([0, hy - t, wallZ])}" size="${vec([hx - 2 * t, t, wallHalf])}" ${WORLD_CONTACT} rgba="${rgba}"/>`,
    `<geom name="${name}_wall_ny" type="box" pos="${vec([0, -(hy - t), wallZ])}" size="${vec([hx - 2 * t, t, wallHalf])}" ${WORLD_CONTACT} rgba="${rgba}"/>`,
  ];
  return [`    <body name="${name}" pos="${vec([xy[0], xy[1], 0])}">`, ...geoms.map((g) => `      ${g}`), '    </body>'].join('\n');
}

/** The scene: arm, table, bins, compartment marker, and the can (body "can", geom "can", free joint first after the fingers). */
export function pickPlaceCanXml(): string {
  const c = CAN_COMPARTMENT;
  const marker = `    <geom name="can_compartment" type="box" pos="${vec([(c.xLow + c.xHigh) / 2, (c.yLow + c.yHigh) / 2, BIN_FLOOR_Z + 0.0005])}" size="${vec([(c.xHigh - c.xLow) / 2 - 0.01, (c.yHigh - c.yLow) / 2 - 0.01, 0.0005])}" ${NO_CONTACT} rgba="0.9 0.1 0.1 0.4"/>`;
  const can = [
    `    <body name="can" pos="${vec([BIN1_XY[0], BIN1_XY[1], BIN_FLOOR_Z + CAN_HALF_HEIGHT])}">`,
    '      <freejoint name="can_joint"/>',
    `      <geom name="can" type="cylinder" size="${vec([CAN_RADIUS, CAN_HALF_HEIGHT])}" density="${CAN_DENSITY}" ${OBJECT_CONTACT} rgba="0.8 0.1 0.1 1"/>`,
    '    </body>',
  ].join('\n');
  const extraBodies = [can, binXml('bin1', BIN1_XY, '0.45 0.3 0.2 1'), binXml('bin2', BIN2_XY, '0.45 0.3 0.2 1'), marker].join('\n');
  return pandaSceneXml({ cube: false, extraBodies, name: 'panda_pick_place_can', multiccd: true });
}

export const PICK_PLACE_CAN_XML = pickPlaceCanXml();
