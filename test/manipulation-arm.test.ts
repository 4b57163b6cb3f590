import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { LiftEnv } from '../src/envs/mujoco/lift.ts';
import { loadMujoco } from '../src/envs/mujoco/loader.ts';
import { ARM_BASE_POS, TABLE_TOP_Z } from '../src/envs/mujoco/models/panda.ts';
import { JOINT_LIMIT_MARGIN, MAX_POS_DELTA, MAX_ROT_DELTA, WORKSPACE } from '../src/envs/mujoco/panda-controller.ts';
import { rotationError } from '../src/envs/mujoco/rotations.ts';
import { LiftExpert } from '../src/envs/mujoco/scripted/lift.ts';

const opened: LiftEnv[] = [];
afterAll(() => {
  for (const env of opened) env.close();
});
async function lift(options: ConstructorParameters<typeof LiftEnv>[1] = {}): Promise<LiftEnv> {
  const env = new LiftEnv(await loadMujoco(), options);
  opened.push(env);
  return env;
}

// Franka's published modified-DH table and limits, typed in again here (manipulation.md) so that a typo in the
// model's constants or in how the MJCF is built from them shows up as a disagreement.
const DH = [
  [0, 0.333, 0],
  [0, 0, -Math.PI / 2],
  [0, 0.316, Math.PI / 2],
  [0.0825, 0, Math.PI / 2],
  [-0.0825, 0.384, -Math.PI / 2],
  [0, 0, Math.PI / 2],
  [0.088, 0, Math.PI / 2],
] as const;
const LIMITS = [
  [-2.8973, 2.8973],
  [-1.7628, 1.7628],
  [-2.8973, 2.8973],
  [-3.0718, -0.0698],
  [-2.8973, 2.8973],
  [-0.0175, 3.7525],
  [-2.8973, 2.8973],
];

type Mat4 = number[];
const mul4 = (a: Mat4, b: Mat4): Mat4 => {
  const r = new Array<number>(16).fill(0);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 4; k++) r[4 * i + j] += a[4 * i + k] * b[4 * k + j];
  return r;
};
const rotX = (t: number): Mat4 => [1, 0, 0, 0, 0, Math.cos(t), -Math.sin(t), 0, 0, Math.sin(t), Math.cos(t), 0, 0, 0, 0, 1];
const rotZ = (t: number): Mat4 => [Math.cos(t), -Math.sin(t), 0, 0, Math.sin(t), Math.cos(t), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
const trans = (x: number, y: number, z: number): Mat4 => [1, 0, 0, x, 0, 1, 0, y, 0, 0, 1, z, 0, 0, 0, 1];

/** Fingertip-centre pose by the DH chain: base, 7 joints, flange (0.107), hand turned -45 deg, TCP 0.1034 below. */
function dhForward(q: ArrayLike<number>): Mat4 {
  let T = trans(ARM_BASE_POS[0], ARM_BASE_POS[1], ARM_BASE_POS[2]);
  for (let i = 0; i < 7; i++) {
    const [a, d, alpha] = DH[i];
    T = mul4(T, mul4(mul4(mul4(rotX(alpha), trans(a, 0, 0)), trans(0, 0, d)), rotZ(q[i])));
  }
  return mul4(mul4(mul4(T, trans(0, 0, 0.107)), rotZ(-Math.PI / 4)), trans(0, 0, 0.1034));
}

function setArm(env: LiftEnv, q: ArrayLike<number>): void {
  const { qpos, qvel } = env.getQposQvel();
  for (let i = 0; i < 7; i++) qpos[i] = q[i];
  env.setQposQvel(qpos, qvel.fill(0));
}

const sub = (a: readonly number[], b: readonly number[]): number[] => a.map((v, i) => v - b[i]);
const norm = (a: readonly number[]): number => Math.hypot(...a);
const cosine = (a: readonly number[], b: readonly number[]): number => a.reduce((s, v, i) => s + v * b[i], 0) / (norm(a) * norm(b));

describe('Panda model', () => {
  it('matches the published modified-DH kinematics and joint limits', async () => {
    const env = await lift();
    env.reset({ seed: 0 });
    // At q = 0 the flange sits 0.088 m forward and 0.333 + 0.316 + 0.384 - 0.107 = 0.926 m up from the base.
    const zero = dhForward([0, 0, 0, 0, 0, 0, 0]);
    expect(zero[3] - ARM_BASE_POS[0]).toBeCloseTo(0.088, 12);
    expect(zero[11] - ARM_BASE_POS[2]).toBeCloseTo(0.926 - 0.1034, 12);
    const rng = Rng.fromSeed(7);
    let worstPos = 0;
    let worstRot = 0;
    for (let trial = 0; trial < 20; trial++) {
      const q = LIMITS.map(([lo, hi]) => rng.uniformRange(lo, hi));
      setArm(env, q);
      const T = dhForward(q);
      worstPos = Math.max(worstPos, norm(sub(env.controller.eefPos(), [T[3], T[7], T[11]])));
      const R = [T[0], T[1], T[2], T[4], T[5], T[6], T[8], T[9], T[10]];
      worstRot = Math.max(worstRot, norm(rotationError(R, env.controller.eefMat())));
    }
    expect(worstPos).toBeLessThan(1e-9);
    expect(worstRot).toBeLessThan(1e-9);
  });
});

describe('grasp stability', () => {
  // 100 seeded trials: cube placement and yaw from the env's seeded reset, and an imprecise grasp (offsets up to
  // 5 mm sideways and in height, 0.1 rad of yaw) from a second seeded stream. The expert lines up, descends,
  // closes and lifts at full speed until the fingertip centre is 30 cm higher, then holds for 0.5 s.
  it('a scripted grasp holds the cube through a 30 cm lift in 100 of 100 trials', async () => {
    const env = await lift({ terminateOnSuccess: false });
    const failures: string[] = [];
    let worstSlip = 0;
    for (let trial = 0; trial < 100; trial++) {
      const rng = Rng.fromSeed(1000 + trial);
      const expert = new LiftExpert({
        liftHeight: 0.3,
        graspOffset: [rng.uniformRange(-0.005, 0.005), rng.uniformRange(-0.005, 0.005), rng.uniformRange(-0.005, 0.005)],
        yawOffset: rng.uniformRange(-0.1, 0.1),
      });
      let { obs } = env.reset({ seed: trial });
      let offsetAtLiftStart: number[] | null = null;
      let steps = 0;
      while (steps < 100 && !(expert.phase === 'lift' && obs[2] > TABLE_TOP_Z + 0.02 + 0.3 - 0.003)) {
        obs = env.step(expert.act(obs)).obs;
        steps++;
        if (expert.phase === 'lift' && !offsetAtLiftStart) offsetAtLiftStart = [obs[16], obs[17], obs[18]];
      }
      for (let k = 0; k < 10; k++) obs = env.step(expert.act(obs)).obs;
      const height = env.cubeHeight();
      const slip = offsetAtLiftStart ? norm(sub([obs[16], obs[17], obs[18]], offsetAtLiftStart)) : Infinity;
      worstSlip = Math.max(worstSlip, slip);
      // The cube rests at 0.02; lifted 30 cm it is at 0.32. It must also not have slid in the fingers.
      if (!(height > 0.31 && slip < 0.01))
        failures.push(`trial ${trial}: height ${height.toFixed(3)}, slip ${slip.toFixed(4)}, phase ${expert.phase}`);
    }
    expect(failures).toEqual([]);
    expect(worstSlip).toBeLessThan(0.01);
  });
});

describe('OSC-like pose controller', () => {
  const hold = [0, 0, 0, 0, 0, 0, -1];

  it.each([
    ['+x', [0.5, 0, 0]],
    ['-x', [-0.5, 0, 0]],
    ['+y', [0, 0.5, 0]],
    ['-y', [0, -0.5, 0]],
    ['+z', [0, 0, 0.5]],
    ['-z', [0, 0, -0.5]],
  ] as const)('a %s position delta moves the hand that way', async (_name, delta) => {
    const env = await lift({ jointNoise: 0 });
    env.reset({ seed: 3 });
    const p0 = env.controller.eefPos();
    const m0 = env.controller.eefMat();
    for (let k = 0; k < 4; k++) env.step([...delta, 0, 0, 0, -1]);
    for (let k = 0; k < 4; k++) env.step(hold);
    const moved = sub(env.controller.eefPos(), p0);
    const commanded = delta.map((v) => v * MAX_POS_DELTA * 4);
    // The hand covers part of the commanded 10 cm (the goal is re-based on the current pose each step, as in
    // robosuite, and the servos lag), along the commanded line.
    // Measured: cosine >= 0.996 (x, y: 0.9997), 67-71% of the distance, orientation drift <= 0.046 rad.
    expect(cosine(moved, commanded)).toBeGreaterThan(0.99);
    expect(norm(moved) / norm(commanded)).toBeGreaterThan(0.5);
    expect(norm(moved) / norm(commanded)).toBeLessThan(1.05);
    expect(norm(rotationError(env.controller.eefMat(), m0))).toBeLessThan(0.1);
  });

  it.each([
    ['+yaw (z)', [0, 0, 1]],
    ['-yaw (z)', [0, 0, -1]],
    ['+pitch (y)', [0, 0.5, 0]],
    ['-pitch (y)', [0, -0.5, 0]],
  ] as const)('a %s rotation delta turns the hand about that world axis', async (_name, delta) => {
    const env = await lift({ jointNoise: 0 });
    env.reset({ seed: 3 });
    const p0 = env.controller.eefPos();
    const m0 = env.controller.eefMat();
    for (let k = 0; k < 2; k++) env.step([0, 0, 0, ...delta, -1]);
    for (let k = 0; k < 4; k++) env.step(hold);
    const turned = rotationError(env.controller.eefMat(), m0);
    const commanded = delta.map((v) => v * MAX_ROT_DELTA * 2);
    expect(cosine(turned, commanded)).toBeGreaterThan(0.99);
    // Measured: cosine >= 0.999; 29% of the commanded yaw, 49% of the pitch (the servos and the wrist torque
    // limits bound the turn rate well below 0.5 rad per step); the fingertip centre drifts 1.7 mm (yaw) to
    // 13.5 mm (pitch: turning about the fingertips swings the whole wrist, and the arm lags).
    expect(norm(turned) / norm(commanded)).toBeGreaterThan(0.15);
    expect(norm(turned) / norm(commanded)).toBeLessThan(1.05);
    expect(norm(sub(env.controller.eefPos(), p0))).toBeLessThan(0.025);
  });

  it('keeps joints inside their limits and the hand inside the workspace under random actions', async () => {
    const env = await lift();
    const rng = Rng.fromSeed(11);
    let worstMargin = Infinity;
    let lowestZ = Infinity;
    let closestToBase = Infinity;
    env.reset({ seed: 5 });
    let action: number[] = [];
    for (let t = 0; t < 300; t++) {
      // Runs of one random action (5 steps each) push the arm toward its limits harder than white noise.
      if (t % 5 === 0) action = Array.from({ length: 7 }, () => rng.uniformRange(-1, 1));
      env.step(action);
      const q = env.controller.armQpos();
      for (let i = 0; i < 7; i++) worstMargin = Math.min(worstMargin, q[i] - LIMITS[i][0], LIMITS[i][1] - q[i]);
      const p = env.controller.eefPos();
      lowestZ = Math.min(lowestZ, p[2]);
      closestToBase = Math.min(closestToBase, Math.hypot(p[0] - ARM_BASE_POS[0], p[1] - ARM_BASE_POS[1]));
      expect(q.every(Number.isFinite)).toBe(true);
    }
    expect(worstMargin).toBeGreaterThan(0);
    expect(lowestZ).toBeGreaterThan(TABLE_TOP_Z);
    expect(closestToBase).toBeGreaterThan(WORKSPACE.minRadius - 0.05);
  });

  it('keeps the hand out of the upper arm and base under random actions (they collide)', async () => {
    const env = await lift();
    const mj = await loadMujoco();
    const { model, data } = env as unknown as { model: Parameters<typeof mj.mj_geomDistance>[0]; data: Parameters<typeof mj.mj_geomDistance>[1] };
    const geom = (name: string): number => mj.mj_name2id(model, mj.mjtObj.mjOBJ_GEOM.value, name);
    const hand = ['hand_geom', 'left_finger_link', 'right_finger_link', 'left_pad', 'right_pad'].map(geom);
    const upper = ['link0_geom', 'link1_geom', 'link2_geom', 'link3_geom', 'link4_geom'].map(geom);
    const fromto = new mj.DoubleBuffer(6);
    let closest = Infinity;
    try {
      for (let episode = 0; episode < 3; episode++) {
        const rng = Rng.fromSeed(20 + episode);
        env.reset({ seed: episode });
        let action: number[] = [];
        for (let t = 0; t < 200; t++) {
          if (t % 5 === 0) action = Array.from({ length: 7 }, () => rng.uniformRange(-1, 1));
          env.step(action);
          for (const h of hand) for (const u of upper) closest = Math.min(closest, mj.mj_geomDistance(model, data, h, u, 1, fromto));
        }
      }
    } finally {
      fromto.delete();
    }
    // Contacts are soft, so a hand driven into a link sinks a few mm (measured -5.4 mm over 5 such episodes);
    // without hand-arm collisions it went 3.3 cm deep.
    expect(closest).toBeGreaterThan(-0.01);
  });

  it('clamps joint targets inside the limits when a command drives a joint into one', async () => {
    const env = await lift({ jointNoise: 0 });
    env.reset({ seed: 0 });
    // Yaw the hand the same way for 40 steps (20 rad commanded): joint 7 runs into its limit and stays inside.
    for (let k = 0; k < 40; k++) env.step([0, 0, 0, 0, 0, 1, -1]);
    const q = env.controller.armQpos();
    for (let i = 0; i < 7; i++) {
      expect(q[i]).toBeGreaterThan(LIMITS[i][0]);
      expect(q[i]).toBeLessThan(LIMITS[i][1]);
    }
    expect(Math.min(LIMITS[6][1] - q[6], q[6] - LIMITS[6][0])).toBeLessThan(JOINT_LIMIT_MARGIN + 0.02);
  });

  it('opens and closes the gripper symmetrically', async () => {
    const env = await lift({ jointNoise: 0 });
    let { obs } = env.reset({ seed: 0 });
    expect([obs[7], obs[8]]).toEqual([Math.fround(0.04), Math.fround(-0.04)]);
    for (let k = 0; k < 6; k++) obs = env.step([0, 0, 0, 0, 0, 0, 1]).obs;
    expect(obs[7]).toBeLessThan(0.002);
    expect(obs[7] + obs[8]).toBeCloseTo(0, 3);
    for (let k = 0; k < 6; k++) obs = env.step([0, 0, 0, 0, 0, 0, -1]).obs;
    expect(obs[7]).toBeGreaterThan(0.038);
    expect(obs[8]).toBeLessThan(-0.038);
    // 0 is half open: 2 cm per finger.
    for (let k = 0; k < 6; k++) obs = env.step([0, 0, 0, 0, 0, 0, 0]).obs;
    expect(obs[7]).toBeCloseTo(0.02, 3);
  });
});
