/**
 * NutAssemblySquare's scene: the Panda-like arm and table of panda.ts, a square peg (box) fixed on the table
 * and a square nut on a free joint: a flat square ring of four boxes plus a handle box.
 *
 * The nut is robosuite's square-nut.xml in size and density (ring walls centred 0.03325 m from the nut's
 * centre, 0.021 m thick, 0.02 m tall, outer half-width 0.04375 m, a hole of half-width 0.02275 m; handle
 * 0.0505 x 0.03175 x 0.02 m centred 0.054 m out along the nut's x; density 100 kg/m^3, 0.016 kg), written as
 * our own MJCF. The body's origin is the ring's centre, the point robosuite's success test reads.
 *
 * Layout (ours): robosuite's peg stands ~0.79 m from the robot's base, beyond our controller's workspace
 * (panda-controller.ts WORKSPACE), so the peg stands 0.56 m ahead of the base and 0.15 m to its left, and the
 * nut starts on the right; every start and the peg lie within 0.66 m of the base axis.
 */
import { OBJECT_CONTACT, pandaSceneXml, TABLE_TOP_Z, vec, WORLD_CONTACT } from './panda.ts';

/** Nut geometry (robosuite's square-nut.xml). */
export const NUT_HALF_HEIGHT = 0.01;
export const NUT_WALL_CENTRE = 0.03325;
export const NUT_WALL_HALF_THICKNESS = 0.0105;
export const NUT_OUTER_HALF = NUT_WALL_CENTRE + NUT_WALL_HALF_THICKNESS;
export const NUT_HOLE_HALF = NUT_WALL_CENTRE - NUT_WALL_HALF_THICKNESS;
/** Half-length (x) of the ring's two y walls: robosuite's (they overlap the x walls' ends). */
export const NUT_SIDE_WALL_HALF_LENGTH = 0.03125;
export const NUT_HANDLE_CENTRE = 0.054;
export const NUT_HANDLE_HALF = [0.02525, 0.015875, NUT_HALF_HEIGHT] as const;
export const NUT_DENSITY = 100;

/**
 * The square peg (ours): 3.2 cm square, so 6.75 mm of play on each side in the nut's 4.55 cm hole, and 10 cm
 * tall, so the nut has to be lifted well clear of the table and threaded from above.
 */
export const PEG_HALF = [0.016, 0.016, 0.05] as const;
export const PEG_XY = [0.0, 0.15] as const;
export const PEG_TOP_Z = TABLE_TOP_Z + 2 * PEG_HALF[2];

/** Where the nut starts: its centre uniform in this box (x, y), any yaw. */
export const NUT_PLACEMENT = { xLow: -0.14, xHigh: -0.04, yLow: -0.18, yHigh: -0.08 } as const;

/** robosuite's `on_peg`: the nut's centre within 0.03 m of the peg's axis in x and y, and below the table top + 0.05 m. */
export const ON_PEG_XY = 0.03;
export const ON_PEG_HEIGHT = 0.05;

/** The scene: arm, table, peg (geom "peg"), and the nut (body "nut", geoms "nut_*", free joint first after the fingers). */
export function nutAssemblySquareXml(): string {
  const h = NUT_HALF_HEIGHT;
  const c = NUT_WALL_CENTRE;
  const t = NUT_WALL_HALF_THICKNESS;
  const geom = (name: string, pos: number[], size: readonly number[]): string =>
    `      <geom name="${name}" type="box" pos="${vec(pos)}" size="${vec(size)}" density="${NUT_DENSITY}" ${OBJECT_CONTACT} rgba="0.2 0.3 0.8 1"/>`;
  const nut = [
    `    <body name="nut" pos="${vec([NUT_PLACEMENT.xLow, NUT_PLACEMENT.yLow, TABLE_TOP_Z + h])}">`,
    '      <freejoint name="nut_joint"/>',
    geom('nut_wall_px', [c, 0, 0], [t, NUT_OUTER_HALF, h]),
    geom('nut_wall_nx', [-c, 0, 0], [t, NUT_OUTER_HALF, h]),
    geom('nut_wall_py', [0, c, 0], [NUT_SIDE_WALL_HALF_LENGTH, t, h]),
    geom('nut_wall_ny', [0, -c, 0], [NUT_SIDE_WALL_HALF_LENGTH, t, h]),
    geom('nut_handle', [NUT_HANDLE_CENTRE, 0, 0], NUT_HANDLE_HALF),
    '    </body>',
  ].join('\n');
  const peg = `    <geom name="peg" type="box" pos="${vec([PEG_XY[0], PEG_XY[1], TABLE_TOP_Z + PEG_HALF[2]])}" size="${vec(PEG_HALF)}" ${WORLD_CONTACT} rgba="0.5 0.5 0.5 1"/>`;
  return pandaSceneXml({ cube: false, extraBodies: `${nut}\n${peg}`, name: 'panda_nut_assembly_square' });
}

export const NUT_ASSEMBLY_SQUARE_XML = nutAssemblySquareXml();
