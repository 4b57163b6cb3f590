/**
 * Base class for MuJoCo envs, after Gymnasium v5 `MujocoEnv` (gymnasium/envs/mujoco/mujoco_env.py):
 * reset = mj_resetData, then the task's noisy qpos/qvel, then mj_forward; step = write ctrl (unclipped:
 * the actuators are ctrllimited, so MuJoCo clamps when it computes forces), then mj_step frame_skip times.
 * Gymnasium then calls mj_rnePostConstraint, which only fills cacc/cfrc_*; no task here reads them, so
 * it is skipped.
 *
 * State stays float64 in MuJoCo; observations are float32 copies. The hot path creates no wasm views:
 * qpos/qvel/ctrl views are taken once and again only after wasm memory grew (a grown memory detaches
 * every view, which then reads as length 0).
 *
 * getState()/setState() capture MuJoCo's full integration state (mj_getState with mjSTATE_INTEGRATION:
 * time, qpos, qvel, act, history, the solver's qacc_warmstart, ctrl, applied forces, ...), plus the reset
 * generator, so a restored env steps bit-identically to the original.
 */
import { Rng } from '../../core/rng.ts';
import {
  expectStateType,
  restoreRng,
  stateNumber,
  type Env,
  type EnvSpec,
  type EnvState,
  type Info,
  type ResetOptions,
  type ResetResult,
  type StepResult,
} from '../env.ts';
import { Box } from '../spaces.ts';
import type { MujocoModule } from './loader.ts';

type MjModel = InstanceType<MujocoModule['MjModel']>;
type MjData = InstanceType<MujocoModule['MjData']>;

/**
 * mjDSBL_ISLAND. Island discovery (on by default since MuJoCo 3.3) only pays off for models with several
 * independent kinematic trees; each of these tasks is one tree, so it is pure overhead (~8% of a step
 * here). Disabling it leaves every trajectory bit-identical to Gymnasium's (checked against the recorded
 * trajectories in test/mujoco-envs.test.ts).
 */
const DISABLE_ISLAND_BIT = 1 << 18;

export abstract class MujocoEnv implements Env {
  readonly spec: EnvSpec | null = null;
  readonly actionSpace: Box;
  abstract readonly observationSpace: Box;
  readonly frameSkip: number;
  /** Seconds of simulated time per env step: timestep * frameSkip (Gymnasium `dt`). */
  readonly dt: number;
  readonly nq: number;
  readonly nv: number;
  readonly nu: number;
  /** qpos0 and zero velocity, as Gymnasium's init_qpos / init_qvel. */
  readonly initQpos: Float64Array;
  readonly initQvel: Float64Array;

  protected readonly mj: MujocoModule;
  protected readonly model: MjModel;
  protected readonly data: MjData;
  protected rng: Rng;
  /** Live float64 views into MjData; refreshed by refreshViews() when wasm memory grew. */
  protected qpos!: Float64Array;
  protected qvel!: Float64Array;
  private ctrl!: Float64Array;
  private closed = false;
  private readonly envLabel: string;
  /** Steps since the last reset, for error messages. */
  protected stepsSinceReset = 0;

  protected constructor(mj: MujocoModule, xml: string, frameSkip: number, label: string) {
    if (!Number.isInteger(frameSkip) || frameSkip < 1) throw new Error(`${label}: frameSkip must be a positive integer, got ${frameSkip}`);
    this.mj = mj;
    this.envLabel = label;
    this.frameSkip = frameSkip;
    let model: MjModel;
    try {
      model = mj.MjModel.from_xml_string(xml);
    } catch (err) {
      throw new Error(`${label}: MuJoCo could not compile the model XML: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.model = model;
    try {
      const opt = model.opt;
      opt.disableflags = opt.disableflags | DISABLE_ISLAND_BIT;
      this.dt = opt.timestep * frameSkip;
      opt.delete(); // releases the JS handle only; the option struct belongs to the model
      this.data = new mj.MjData(model);
    } catch (err) {
      model.delete();
      throw err;
    }
    this.nq = model.nq;
    this.nv = model.nv;
    this.nu = model.nu;
    this.refreshViews();
    this.initQpos = Float64Array.from(model.qpos0 as Float64Array);
    this.initQvel = new Float64Array(this.nv);
    const ctrlRange = model.actuator_ctrlrange as Float64Array;
    const low = new Float32Array(this.nu);
    const high = new Float32Array(this.nu);
    for (let i = 0; i < this.nu; i++) {
      low[i] = ctrlRange[2 * i];
      high[i] = ctrlRange[2 * i + 1];
    }
    // Gymnasium: Box(low=ctrlrange[:, 0], high=ctrlrange[:, 1], dtype=float32).
    this.actionSpace = new Box(low, high);
    // Unseeded envs are deterministic (seed 0) instead of drawing OS entropy as Gymnasium does.
    this.rng = Rng.fromSeed(0);
  }

  get unwrapped(): Env {
    return this;
  }

  /** Simulated time of the current state in seconds. */
  get time(): number {
    this.assertOpen('time');
    return this.data.time;
  }

  private refreshViews(): void {
    this.qpos = this.data.qpos as Float64Array;
    this.qvel = this.data.qvel as Float64Array;
    this.ctrl = this.data.ctrl as Float64Array;
  }

  /** Re-take the views if a wasm memory growth detached them (cheap check, once per call). */
  protected ensureViews(): void {
    if (this.qpos.length !== this.nq) this.refreshViews();
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new Error(`${this.envLabel}: ${what}() called after close()`);
  }

  reset(options: ResetOptions = {}): ResetResult {
    this.assertOpen('reset');
    if (options.seed !== undefined) this.rng = Rng.fromSeed(options.seed);
    this.mj.mj_resetData(this.model, this.data);
    this.ensureViews();
    this.resetModel(this.rng, this.qpos, this.qvel);
    this.mj.mj_forward(this.model, this.data);
    this.stepsSinceReset = 0;
    return { obs: this.observation(), info: this.resetInfo() };
  }

  step(action: ArrayLike<number>): StepResult {
    this.assertOpen('step');
    const nu = this.nu;
    if (action.length !== nu) throw new Error(`${this.envLabel}: action has ${action.length} values, expected ${nu}`);
    this.ensureViews();
    const ctrl = this.ctrl;
    for (let i = 0; i < nu; i++) {
      const a = action[i];
      // MuJoCo would answer a NaN control by silently resetting the simulation (mjWARN_BADQACC); fail loudly.
      if (!Number.isFinite(a)) throw new Error(`${this.envLabel}: action[${i}] is ${a} at step ${this.stepsSinceReset + 1} after reset`);
      ctrl[i] = a;
    }
    const xBefore = this.qpos[0];
    for (let k = 0; k < this.frameSkip; k++) this.mj.mj_step(this.model, this.data);
    this.stepsSinceReset++;
    return this.stepResult(action, xBefore);
  }

  /** Writes the reset state into qpos/qvel (they hold qpos0 and zeros on entry). */
  protected abstract resetModel(rng: Rng, qpos: Float64Array, qvel: Float64Array): void;
  protected abstract observation(): Float32Array;
  protected abstract resetInfo(): Info;
  /** Reward, termination and info for the state after the step. */
  protected abstract stepResult(action: ArrayLike<number>, xBefore: number): StepResult;

  /**
   * Sets qpos/qvel and runs mj_forward, as Gymnasium's set_state (for tests and replaying recorded states).
   * Not a full restore: the rest of the integration state stays as it was; use setState(getState()) for that.
   */
  setQposQvel(qpos: ArrayLike<number>, qvel: ArrayLike<number>): void {
    this.assertOpen('setQposQvel');
    if (qpos.length !== this.nq || qvel.length !== this.nv) {
      throw new Error(`${this.envLabel}: setQposQvel needs ${this.nq} qpos and ${this.nv} qvel values, got ${qpos.length} and ${qvel.length}`);
    }
    this.ensureViews();
    for (let i = 0; i < this.nq; i++) this.qpos[i] = qpos[i];
    for (let i = 0; i < this.nv; i++) this.qvel[i] = qvel[i];
    this.mj.mj_forward(this.model, this.data);
  }

  /** Copies of the current qpos and qvel (float64). */
  getQposQvel(): { qpos: Float64Array; qvel: Float64Array } {
    this.assertOpen('getQposQvel');
    this.ensureViews();
    return { qpos: Float64Array.from(this.qpos), qvel: Float64Array.from(this.qvel) };
  }

  private get integrationSpec(): number {
    return this.mj.mjtState.mjSTATE_INTEGRATION.value;
  }

  /** Everything that affects future steps: MuJoCo's integration state, the reset generator, the step counter. */
  getState(): EnvState {
    this.assertOpen('getState');
    const spec = this.integrationSpec;
    const buffer = new this.mj.DoubleBuffer(this.mj.mj_stateSize(this.model, spec));
    try {
      this.mj.mj_getState(this.model, this.data, buffer, spec);
      // Copy out of wasm memory: the view dies with the buffer (and with any memory growth).
      const integration = Float64Array.from(buffer.GetView() as Float64Array);
      return { type: this.envLabel, integration, rng: this.rng.state(), stepsSinceReset: this.stepsSinceReset };
    } finally {
      buffer.delete();
    }
  }

  /** Continues from getState() of the same task: restores the integration state, then mj_forward for derived quantities. */
  setState(state: EnvState): void {
    this.assertOpen('setState');
    const label = this.envLabel;
    const s = expectStateType(state, label, label);
    const spec = this.integrationSpec;
    const size = this.mj.mj_stateSize(this.model, spec);
    const integration = s.integration;
    const isNumbers = integration instanceof Float64Array || (Array.isArray(integration) && integration.every((v) => typeof v === 'number'));
    if (!isNumbers) throw new Error(`${label}: saved state field 'integration' must be a Float64Array`);
    const values = integration as ArrayLike<number>;
    if (values.length !== size) {
      throw new Error(
        `${label}: saved integration state has ${values.length} values, this model's has ${size} (a different model or MuJoCo version?)`,
      );
    }
    const stepsSinceReset = stateNumber(s, 'stepsSinceReset', label, { integer: true, min: 0 });
    const rng = restoreRng(s.rng, label);
    // The binding copies a JS array or typed array into wasm memory; its .d.ts only names number[].
    this.mj.mj_setState(this.model, this.data, Float64Array.from(values) as unknown as number[], spec);
    this.mj.mj_forward(this.model, this.data);
    this.ensureViews();
    this.rng = rng;
    this.stepsSinceReset = stepsSinceReset;
  }

  /** Bodies of the model, the world (body 0) included. */
  get nbody(): number {
    return this.model.nbody;
  }

  /**
   * World position (x, y, z) and orientation quaternion (w, x, y, z) of every body as of the last reset or
   * step, [nbody * 7] (MuJoCo's xpos / xquat), for recording episodes to replay. Read-only.
   */
  bodyPoses(out: Float32Array = new Float32Array(this.model.nbody * 7)): Float32Array {
    this.assertOpen('bodyPoses');
    const n = this.model.nbody;
    if (out.length !== n * 7) throw new Error(`${this.envLabel}: bodyPoses needs an array of ${n * 7} values, got ${out.length}`);
    // Views are taken per call: they are cheap next to a step and die when wasm memory grows.
    const xpos = this.data.xpos as Float64Array;
    const xquat = this.data.xquat as Float64Array;
    for (let b = 0; b < n; b++) {
      for (let j = 0; j < 3; j++) out[b * 7 + j] = xpos[b * 3 + j];
      for (let j = 0; j < 4; j++) out[b * 7 + 3 + j] = xquat[b * 4 + j];
    }
    return out;
  }

  /** The model's geoms in their bodies' frames (static: only the bodies move), for drawing the scene. */
  geoms(): SceneGeom[] {
    this.assertOpen('geoms');
    const m = this.model;
    const type = m.geom_type as Int32Array;
    const body = m.geom_bodyid as Int32Array;
    const size = m.geom_size as Float64Array;
    const pos = m.geom_pos as Float64Array;
    const quat = m.geom_quat as Float64Array;
    const rgba = m.geom_rgba as Float32Array;
    const matid = m.geom_matid as Int32Array;
    const matRgba = m.mat_rgba as Float32Array;
    const round = (v: number) => Number(v.toPrecision(6));
    const out: SceneGeom[] = [];
    for (let g = 0; g < m.ngeom; g++) {
      let color = Array.from(rgba.subarray(g * 4, g * 4 + 4), round);
      // MuJoCo draws a geom with a material in the material's colour unless the geom set its own rgba.
      const isDefault = color[0] === 0.5 && color[1] === 0.5 && color[2] === 0.5 && color[3] === 1;
      if (matid[g] >= 0 && isDefault) color = Array.from(matRgba.subarray(matid[g] * 4, matid[g] * 4 + 4), round);
      out.push({
        body: body[g],
        type: GEOM_TYPES[type[g]] ?? 'unknown',
        size: Array.from(size.subarray(g * 3, g * 3 + 3), round),
        pos: Array.from(pos.subarray(g * 3, g * 3 + 3), round),
        quat: Array.from(quat.subarray(g * 4, g * 4 + 4), round),
        rgba: color,
      });
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.data.delete();
    this.model.delete();
  }
}

/** mjtGeom, by value. */
const GEOM_TYPES = ['plane', 'hfield', 'sphere', 'capsule', 'ellipsoid', 'cylinder', 'box', 'mesh', 'sdf'] as const;

/** One MuJoCo geom as a viewer draws it: MuJoCo's own size convention, pose relative to its body (quaternion w, x, y, z). */
export interface SceneGeom {
  body: number;
  type: (typeof GEOM_TYPES)[number] | 'unknown';
  size: number[];
  pos: number[];
  quat: number[];
  rgba: number[];
}

/** Σ a², in float64 on the raw (unclipped) action, as Gymnasium's control_cost. */
export function sumOfSquares(action: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < action.length; i++) s += action[i] * action[i];
  return s;
}

/** Reads option keys, rejecting unknown ones so a typo does not silently fall back to a default. */
export function checkOptionKeys(label: string, options: object, allowed: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) throw new Error(`${label}: unknown option '${key}' (known: ${allowed.join(', ')})`);
  }
}
