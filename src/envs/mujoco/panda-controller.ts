/**
 * A 20 Hz end-effector pose controller in the spirit of robosuite's OSC_POSE (delta inputs), built on the
 * model's site Jacobian and joint-space position servos.
 *
 * Action (7 values in [-1, 1], clipped): [dx, dy, dz] scaled to at most MAX_POS_DELTA m, [drx, dry, drz] an
 * axis-angle rotation in the world frame scaled to at most MAX_ROT_DELTA rad, and a gripper command
 * (-1 open, +1 closed). As in robosuite, each step's goal is the *current* end-effector pose moved by the
 * delta (goal orientation = R(delta) · R_current), so a zero action holds the arm where it is.
 *
 * Per control step:
 * 1. goal = current grip-site pose + delta; the goal position is kept inside a workspace (above the table,
 *    out of the base column, short of full extension): the self-collision and table care. Arm links do not
 *    collide with each other in the model (so a bad command cannot lock them together); keeping the hand in
 *    this workspace with the elbow held up by the posture term keeps them apart.
 * 2. One damped-least-squares step on the 6x7 site Jacobian (mj_jacSite):
 *      dq = Jᵀ (J Jᵀ + λ² I)⁻¹ e  +  (I - J⁺ J) k_null (q_rest - q),
 *    e = [position error; rotation error]. λ = DLS_DAMPING keeps the step bounded near singularities; the
 *    nullspace term pulls the redundant DoF toward robosuite's rest pose (elbow up, wrist centred).
 * 3. q_target = q + dq, clamped JOINT_LIMIT_MARGIN inside the joint limits, is written to the joint
 *    position servos (gains in models/panda.ts: critically damped, torque-limited, gravity compensated),
 *    which track it during the 25 physics steps of the control step.
 * 4. Gripper: finger target = 0.04 (1 - a) / 2 per finger, so -1 opens fully and +1 closes (the force limit
 *    bounds the squeeze).
 *
 * The controller keeps no state of its own: everything it reads is MuJoCo state, and what it writes is ctrl,
 * which mj_getState's integration state includes. So env getState()/setState() need nothing extra.
 */
import type { MujocoModule } from './loader.ts';
import { ARM_BASE_POS, FINGER_RANGE, PANDA_JOINT_LIMITS, PANDA_REST_QPOS, TABLE_TOP_Z } from './models/panda.ts';
import { axisAngle2mat, matMul, rotationError } from './rotations.ts';

type MjModel = InstanceType<MujocoModule['MjModel']>;
type MjData = InstanceType<MujocoModule['MjData']>;
type DoubleBuffer = InstanceType<MujocoModule['DoubleBuffer']>;

/** robosuite OSC_POSE's output limits (manipulation.md): 0.05 m and 0.5 rad per step at |action| = 1. */
export const MAX_POS_DELTA = 0.05;
export const MAX_ROT_DELTA = 0.5;
/** DLS damping λ (m or rad): small next to a 5 cm step, large enough to bound dq near singular poses. */
export const DLS_DAMPING = 0.02;
/**
 * Nullspace posture pull toward the rest pose, per re-aim (tuned): 2% of each joint's offset, at most 0.01 rad.
 * The damped pseudo-inverse's nullspace is not exact, so a large pull leaks into the hand's motion (with 10%
 * uncapped, a far-off arm swung the hand by decimetres).
 */
export const NULLSPACE_GAIN = 0.02;
export const NULLSPACE_MAX_STEP = 0.01;
/** Largest joint move (rad) per re-aim; larger steps are scaled down as a whole (tuned: ~joint speeds of a few rad/s). */
export const MAX_JOINT_STEP = 0.3;
/** Joint targets stay this far (rad) inside each limit, so the servos never push into a limit stop (tuned: covers the overshoot of a joint braking from speed). */
export const JOINT_LIMIT_MARGIN = 0.1;
/**
 * Workspace of the goal position (tuned): at least 1 cm above the table top (the pads then graze it),
 * at most 0.6 m above it; at least 0.25 m (horizontally) from the base axis, so the hand stays clear of
 * the base column and lower links; at most 0.8 m from the shoulder (joint 2), short of the Panda's
 * ~0.855 m + hand full extension where the Jacobian turns singular.
 */
export const WORKSPACE = {
  minZ: TABLE_TOP_Z + 0.01,
  maxZ: TABLE_TOP_Z + 0.6,
  minRadius: 0.25,
  maxShoulderDistance: 0.8,
} as const;
/**
 * Servo natural frequency (rad/s, tuned): high enough that a joint target is mostly reached within the 50 ms
 * control step, low enough that the torque limits are not hit by small moves.
 */
export const SERVO_OMEGA = 40;
/** Physics steps between re-aims of the servos at the goal (tuned): every 10 ms, 5 times per control step. */
export const RETARGET_EVERY = 5;
const SHOULDER = [ARM_BASE_POS[0], ARM_BASE_POS[1], ARM_BASE_POS[2] + 0.333] as const;

const ARM_DOF = 7;

export class PandaOscController {
  readonly siteId: number;
  private readonly mj: MujocoModule;
  private readonly model: MjModel;
  private readonly data: MjData;
  private readonly nv: number;
  private readonly qposAdr: Int32Array;
  private readonly dofAdr: Int32Array;
  private readonly jacp: DoubleBuffer;
  private readonly jacr: DoubleBuffer;
  private deleted = false;
  private goalPos: [number, number, number] = [0, 0, 0];
  private goalMat: Float64Array = Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);

  constructor(mj: MujocoModule, model: MjModel, data: MjData) {
    this.mj = mj;
    this.model = model;
    this.data = data;
    this.nv = model.nv;
    this.siteId = mj.mj_name2id(model, mj.mjtObj.mjOBJ_SITE.value, 'grip_site');
    if (this.siteId < 0) throw new Error('PandaOscController: the model has no site "grip_site"');
    this.qposAdr = new Int32Array(ARM_DOF);
    this.dofAdr = new Int32Array(ARM_DOF);
    const jntQposAdr = model.jnt_qposadr as Int32Array;
    const jntDofAdr = model.jnt_dofadr as Int32Array;
    for (let i = 0; i < ARM_DOF; i++) {
      const j = mj.mj_name2id(model, mj.mjtObj.mjOBJ_JOINT.value, `joint${i + 1}`);
      if (j < 0) throw new Error(`PandaOscController: the model has no joint "joint${i + 1}"`);
      this.qposAdr[i] = jntQposAdr[j];
      this.dofAdr[i] = jntDofAdr[j];
    }
    this.jacp = new mj.DoubleBuffer(3 * this.nv);
    try {
      this.jacr = new mj.DoubleBuffer(3 * this.nv);
    } catch (err) {
      this.jacp.delete();
      throw err;
    }
  }

  /** Grip-site position (world, m). */
  eefPos(): [number, number, number] {
    const p = this.data.site_xpos as Float64Array;
    const s = 3 * this.siteId;
    return [p[s], p[s + 1], p[s + 2]];
  }

  /** Grip-site orientation as a row-major 3x3 matrix (world). */
  eefMat(): Float64Array {
    const m = this.data.site_xmat as Float64Array;
    return m.slice(9 * this.siteId, 9 * this.siteId + 9);
  }

  /** Current arm joint positions. */
  armQpos(): Float64Array {
    const qpos = this.data.qpos as Float64Array;
    const q = new Float64Array(ARM_DOF);
    for (let i = 0; i < ARM_DOF; i++) q[i] = qpos[this.qposAdr[i]];
    return q;
  }

  /** Clamps a goal position into WORKSPACE (in place). */
  static clampToWorkspace(p: [number, number, number]): void {
    p[2] = Math.min(WORKSPACE.maxZ, Math.max(WORKSPACE.minZ, p[2]));
    let dx = p[0] - ARM_BASE_POS[0];
    let dy = p[1] - ARM_BASE_POS[1];
    const r = Math.hypot(dx, dy);
    if (r < WORKSPACE.minRadius) {
      // Push radially outward; straight ahead (+x) if the goal is on the base axis.
      if (r < 1e-9) {
        dx = 1;
        dy = 0;
      } else {
        dx /= r;
        dy /= r;
      }
      p[0] = ARM_BASE_POS[0] + dx * WORKSPACE.minRadius;
      p[1] = ARM_BASE_POS[1] + dy * WORKSPACE.minRadius;
    }
    const sx = p[0] - SHOULDER[0],
      sy = p[1] - SHOULDER[1],
      sz = p[2] - SHOULDER[2];
    const d = Math.hypot(sx, sy, sz);
    if (d > WORKSPACE.maxShoulderDistance) {
      const k = WORKSPACE.maxShoulderDistance / d;
      p[0] = SHOULDER[0] + sx * k;
      p[1] = SHOULDER[1] + sy * k;
      p[2] = SHOULDER[2] + sz * k;
    }
  }

  /**
   * Starts a control step: sets the goal pose from the current grip-site pose and a 7-dim action, the gripper
   * target, and the first servo targets. Needs the kinematics of the current state (after mj_forward).
   */
  setGoal(action: ArrayLike<number>): void {
    if (this.deleted) throw new Error('PandaOscController: setGoal() after delete()');
    const a = new Float64Array(7);
    for (let i = 0; i < 7; i++) a[i] = Math.min(1, Math.max(-1, action[i]));
    const p = this.eefPos();
    const goal: [number, number, number] = [p[0] + a[0] * MAX_POS_DELTA, p[1] + a[1] * MAX_POS_DELTA, p[2] + a[2] * MAX_POS_DELTA];
    PandaOscController.clampToWorkspace(goal);
    this.goalPos = goal;
    this.goalMat = matMul(axisAngle2mat(a[3] * MAX_ROT_DELTA, a[4] * MAX_ROT_DELTA, a[5] * MAX_ROT_DELTA), this.eefMat());
    const ctrl = this.data.ctrl as Float64Array;
    ctrl[ARM_DOF] = (FINGER_RANGE * (1 - a[6])) / 2;
    this.track();
  }

  /**
   * Re-aims the joint servos at the goal from the current pose: one DLS step on the current Jacobian, clamped
   * inside the joint limits. Called every RETARGET_EVERY physics steps, so errors from the servos' uneven
   * responses (and torque limits) are corrected within the control step, as robosuite's OSC recomputes its
   * torques toward a fixed goal at every physics step.
   */
  track(): void {
    const p = this.eefPos();
    const goal = this.goalPos;
    const rot = rotationError(this.goalMat, this.eefMat());
    const e = [goal[0] - p[0], goal[1] - p[1], goal[2] - p[2], rot[0], rot[1], rot[2]];
    const q = this.armQpos();
    const dq = this.dlsStep(e, q);
    const ctrl = this.data.ctrl as Float64Array;
    for (let i = 0; i < ARM_DOF; i++) {
      const [lo, hi] = PANDA_JOINT_LIMITS[i];
      ctrl[i] = Math.min(hi - JOINT_LIMIT_MARGIN, Math.max(lo + JOINT_LIMIT_MARGIN, q[i] + dq[i]));
    }
  }

  /**
   * Runs one control step: setGoal(action), then `substeps` physics steps, re-aiming every RETARGET_EVERY.
   * Leaves the kinematics of the final state computed (mj_forward).
   */
  step(action: ArrayLike<number>, substeps: number): void {
    this.setGoal(action);
    for (let k = 0; k < substeps; k++) {
      if (k > 0 && k % RETARGET_EVERY === 0) this.track();
      this.mj.mj_step(this.model, this.data);
    }
    this.mj.mj_forward(this.model, this.data);
  }

  /**
   * Sets the arm servos' gains so every joint responds as a critically damped second-order system with the
   * same natural frequency SERVO_OMEGA: kp_i = w^2 M_ii, kv_i = 2 w M_ii, with M_ii the joint-space inertia
   * (armature included) at the rest pose. Equal bandwidths make the joints move in proportion, so the hand
   * follows the straight path the DLS step plans; with equal stiffness the light wrist would lead the heavy
   * shoulder and the hand would swerve (measured: a 5 cm downward command moved it 8 mm sideways).
   * Changes model parameters; leaves data at the rest pose with its kinematics computed.
   */
  static tuneServos(mj: MujocoModule, model: MjModel, data: MjData): void {
    const qpos = data.qpos as Float64Array;
    const jntQposAdr = model.jnt_qposadr as Int32Array;
    const jntDofAdr = model.jnt_dofadr as Int32Array;
    for (let i = 0; i < ARM_DOF; i++) qpos[jntQposAdr[mj.mj_name2id(model, mj.mjtObj.mjOBJ_JOINT.value, `joint${i + 1}`)]] = PANDA_REST_QPOS[i];
    mj.mj_forward(model, data);
    const nv = model.nv;
    const buffer = new mj.DoubleBuffer(nv * nv);
    try {
      mj.mj_fullM(model, data, buffer);
      const M = buffer.GetView() as Float64Array;
      const gain = model.actuator_gainprm as Float64Array;
      const bias = model.actuator_biasprm as Float64Array;
      const stride = gain.length / model.nu;
      const w = SERVO_OMEGA;
      for (let i = 0; i < ARM_DOF; i++) {
        const act = mj.mj_name2id(model, mj.mjtObj.mjOBJ_ACTUATOR.value, `act${i + 1}`);
        const dof = jntDofAdr[mj.mj_name2id(model, mj.mjtObj.mjOBJ_JOINT.value, `joint${i + 1}`)];
        const inertia = M[dof * nv + dof];
        gain[act * stride] = w * w * inertia;
        bias[act * stride + 1] = -w * w * inertia;
        bias[act * stride + 2] = -2 * w * inertia;
      }
    } finally {
      buffer.delete();
    }
  }

  /** 6x7 Jacobian of the grip site for the arm joints, row-major ([linear 3 rows; angular 3 rows]). */
  jacobian(): Float64Array {
    this.mj.mj_jacSite(this.model, this.data, this.jacp, this.jacr, this.siteId);
    // Views are taken after the call: a wasm memory growth would have detached older ones.
    const jp = this.jacp.GetView() as Float64Array;
    const jr = this.jacr.GetView() as Float64Array;
    const nv = this.nv;
    const J = new Float64Array(6 * ARM_DOF);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < ARM_DOF; c++) {
        J[r * ARM_DOF + c] = jp[r * nv + this.dofAdr[c]];
        J[(r + 3) * ARM_DOF + c] = jr[r * nv + this.dofAdr[c]];
      }
    }
    return J;
  }

  /**
   * dq = J⁺ e + (I - J⁺ J) z, J⁺ = Jᵀ (J Jᵀ + λ² I)⁻¹, z = k (q_rest - q) capped at NULLSPACE_MAX_STEP per
   * joint. Joint-limit care: a joint whose target would pass its limit (less JOINT_LIMIT_MARGIN) is held at
   * the limit and its Jacobian column removed, and the others solve again for the rest of the error (up to
   * 7 rounds, one joint at least each), so the remaining joints make up for it instead of the hand swerving.
   * Finally dq is scaled down as a whole if a joint would move more than MAX_JOINT_STEP (direction kept).
   */
  private dlsStep(e: readonly number[], q: Float64Array): Float64Array {
    const J = this.jacobian();
    const free = new Array<boolean>(ARM_DOF).fill(true);
    const dq = new Float64Array(ARM_DOF);
    const z = new Float64Array(ARM_DOF);
    for (let k = 0; k < ARM_DOF; k++) {
      z[k] = Math.max(-NULLSPACE_MAX_STEP, Math.min(NULLSPACE_MAX_STEP, NULLSPACE_GAIN * (PANDA_REST_QPOS[k] - q[k])));
    }
    for (let round = 0; round < ARM_DOF; round++) {
      // Error left for the free joints once the held joints' moves are accounted for.
      const residual = Float64Array.from(e);
      for (let k = 0; k < ARM_DOF; k++) {
        if (free[k]) continue;
        for (let i = 0; i < 6; i++) residual[i] -= J[i * ARM_DOF + k] * dq[k];
      }
      const solution = dampedSolve(J, free, residual, z);
      let clamped = false;
      for (let k = 0; k < ARM_DOF; k++) {
        if (!free[k]) continue;
        const [lo, hi] = PANDA_JOINT_LIMITS[k];
        const target = q[k] + solution[k];
        if (target > hi - JOINT_LIMIT_MARGIN || target < lo + JOINT_LIMIT_MARGIN) {
          free[k] = false;
          clamped = true;
          dq[k] = Math.min(hi - JOINT_LIMIT_MARGIN, Math.max(lo + JOINT_LIMIT_MARGIN, target)) - q[k];
        }
      }
      if (!clamped) {
        for (let k = 0; k < ARM_DOF; k++) if (free[k]) dq[k] = solution[k];
        break;
      }
    }
    let largest = 0;
    for (let k = 0; k < ARM_DOF; k++) largest = Math.max(largest, Math.abs(dq[k]));
    if (largest > MAX_JOINT_STEP) for (let k = 0; k < ARM_DOF; k++) dq[k] *= MAX_JOINT_STEP / largest;
    return dq;
  }

  /** Frees the Jacobian buffers; the model and data belong to the caller. */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    this.jacp.delete();
    this.jacr.delete();
  }
}

/**
 * DLS on the free columns of J (6x7 row-major): x = J_f⁺ r + (I - J_f⁺ J_f) z_f, zero for held joints.
 */
function dampedSolve(J: Float64Array, free: readonly boolean[], r: ArrayLike<number>, z: Float64Array): Float64Array {
  const A = new Float64Array(36);
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 6; j++) {
      let s = 0;
      for (let k = 0; k < ARM_DOF; k++) if (free[k]) s += J[i * ARM_DOF + k] * J[j * ARM_DOF + k];
      A[i * 6 + j] = s + (i === j ? DLS_DAMPING * DLS_DAMPING : 0);
    }
  }
  const pinv = (v: ArrayLike<number>): Float64Array => {
    const y = solveSpd6(A, v);
    const out = new Float64Array(ARM_DOF);
    for (let k = 0; k < ARM_DOF; k++) {
      if (!free[k]) continue;
      let s = 0;
      for (let i = 0; i < 6; i++) s += J[i * ARM_DOF + k] * y[i];
      out[k] = s;
    }
    return out;
  };
  const x = pinv(r);
  const Jz = new Float64Array(6);
  for (let i = 0; i < 6; i++) {
    let s = 0;
    for (let k = 0; k < ARM_DOF; k++) if (free[k]) s += J[i * ARM_DOF + k] * z[k];
    Jz[i] = s;
  }
  const back = pinv(Jz);
  for (let k = 0; k < ARM_DOF; k++) if (free[k]) x[k] += z[k] - back[k];
  return x;
}

/** Solves A x = b for a symmetric positive definite 6x6 A (row-major) by Cholesky. */
function solveSpd6(A: Float64Array, b: ArrayLike<number>): Float64Array {
  const n = 6;
  const L = new Float64Array(36);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = i === j ? Math.sqrt(s) : s / L[j * n + j];
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * y[k];
    y[i] = s / L[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return x;
}
