/**
 * Vector envs, after Gymnasium 1.x `gymnasium.vector`: N copies of one env stepped together, observations
 * batched row-major into one Float32Array [N * obsDim], actions given as one flat array [N * actDim].
 *
 * Autoreset mode: Gymnasium 1.x's default NEXT_STEP. When sub-env i ends an episode (terminated or
 * truncated) on step t, step t returns that final transition as usual. On step t+1 sub-env i is reset
 * instead of stepped: its action is ignored, and it returns the reset observation with reward 0,
 * terminated=false, truncated=false, and the reset info. So a transition (obs[t], a[t], r[t+1], obs[t+1]) is
 * invalid for sub-env i when step t ended its episode; skip it when storing transitions.
 *
 * Seeding, as Gymnasium: `reset({seed: s})` seeds sub-env i with s + i; an array gives one seed per
 * sub-env; `reset()` without a seed continues every sub-env's generator. The first reset without any seed
 * uses seeds 0..N-1 (Gymnasium would draw OS entropy; dsrl stays deterministic).
 *
 * SyncVectorEnv steps its envs in the calling thread; the worker_threads version lives in the Node adapter
 * vector-worker.ts and runs this same class inside each worker, so both give the same trajectories.
 * Unlike Gymnasium, `infos` is one info object per sub-env rather than a dict of arrays.
 *
 * State: `getState()` captures every sub-env's state plus which of them have an autoreset pending, so a
 * run checkpointed mid-episode (or right after an episode ended) continues exactly. Both vector envs
 * save the same `VectorEnvState`, so a state taken with workers restores into a SyncVectorEnv and back.
 */
import { getEnvState, setEnvState, type Env, type EnvState, type Info } from './env.ts';
import { makeEnv, type MakeEnvOptions } from './registry.ts';
import { Box } from './spaces.ts';

export interface VectorResetOptions {
  seed?: number | readonly (number | undefined)[];
  options?: Record<string, unknown>;
}

export interface VectorResetResult {
  /** [numEnvs * obsDim], row i is sub-env i. */
  obs: Float32Array;
  infos: Info[];
}

export interface VectorStepResult {
  obs: Float32Array;
  rewards: Float64Array;
  terminated: boolean[];
  truncated: boolean[];
  infos: Info[];
}

/**
 * What SyncVectorEnv and WorkerVectorEnv save. (A type literal, not an interface, so it is an EnvState;
 * vector wrappers with state of their own save `{type, ..., inner: innerState}` instead.)
 */
export type VectorEnvState = {
  type: 'VectorEnv';
  numEnvs: number;
  /** reset() has run, so step() is allowed. */
  hasReset: boolean;
  /** Some reset had a seed, so an unseeded reset continues the generators instead of seeding 0..N-1. */
  seededBefore: boolean;
  /** Sub-envs whose next step is a NEXT_STEP autoreset. */
  autoresetPending: boolean[];
  /** Sub-env states, in order. */
  envs: EnvState[];
};

/** Checks a saved vector state's shape against `numEnvs`; `label` names the vector env in errors. */
export function checkVectorEnvState(state: unknown, numEnvs: number, label: string): VectorEnvState {
  const s = state as Partial<VectorEnvState> | null;
  if (!s || typeof s !== 'object' || s.type !== 'VectorEnv') throw new Error(`${label}: setState expects a VectorEnv state (from getState())`);
  if (s.numEnvs !== numEnvs) throw new Error(`${label}: the saved state has ${String(s.numEnvs)} sub-envs, this vector env has ${numEnvs}`);
  const flags = (v: unknown): boolean => Array.isArray(v) && v.length === numEnvs && v.every((x) => typeof x === 'boolean');
  if (typeof s.hasReset !== 'boolean' || typeof s.seededBefore !== 'boolean' || !flags(s.autoresetPending)) {
    throw new Error(`${label}: saved state needs boolean hasReset, seededBefore and ${numEnvs} autoresetPending flags`);
  }
  if (!Array.isArray(s.envs) || s.envs.length !== numEnvs) throw new Error(`${label}: saved state needs ${numEnvs} sub-env states`);
  return s as VectorEnvState;
}

export interface VectorEnv {
  readonly numEnvs: number;
  readonly singleObservationSpace: Box;
  readonly singleActionSpace: Box;
  /** Batched spaces, shapes [numEnvs, dim]. */
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly autoresetMode: 'next_step';
  reset(options?: VectorResetOptions): Promise<VectorResetResult>;
  /** actions: [numEnvs * actDim], row i for sub-env i. */
  step(actions: ArrayLike<number>): Promise<VectorStepResult>;
  close(): Promise<void>;
  /** Captures every sub-env and the autoreset flags (optional: without it the env cannot be checkpointed). */
  getState?(): Promise<EnvState>;
  /** Continues from a getState() snapshot of a vector env built the same way. */
  setState?(state: EnvState): Promise<void>;
}

/** The per-sub-env seeds a vector reset uses (see the module comment). */
export function vectorResetSeeds(seed: VectorResetOptions['seed'], numEnvs: number, seededBefore: boolean): (number | undefined)[] {
  if (Array.isArray(seed)) {
    if (seed.length !== numEnvs) throw new Error(`vector reset: got ${seed.length} seeds for ${numEnvs} envs`);
    return [...seed];
  }
  if (typeof seed === 'number') return Array.from({ length: numEnvs }, (_, i) => seed + i);
  return Array.from({ length: numEnvs }, (_, i) => (seededBefore ? undefined : i));
}

/** A batched Box [n, ...single.shape] with the single space's bounds tiled. */
export function batchSpace(single: Box, n: number): Box {
  const low = new Float32Array(n * single.size);
  const high = new Float32Array(n * single.size);
  for (let i = 0; i < n; i++) {
    low.set(single.low, i * single.size);
    high.set(single.high, i * single.size);
  }
  return new Box(low, high, [n, ...single.shape]);
}

export class SyncVectorEnv implements VectorEnv {
  readonly numEnvs: number;
  readonly singleObservationSpace: Box;
  readonly singleActionSpace: Box;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly autoresetMode = 'next_step' as const;
  private readonly envs: Env[];
  private readonly autoresetPending: boolean[];
  private hasReset = false;
  private seededBefore = false;
  private closed = false;

  constructor(envs: Env[]) {
    if (envs.length === 0) throw new Error('SyncVectorEnv needs at least one env');
    const first = envs[0];
    for (const env of envs) {
      if (!env.observationSpace.equals(first.observationSpace) || !env.actionSpace.equals(first.actionSpace)) {
        throw new Error('SyncVectorEnv: all sub-envs must have the same observation and action spaces');
      }
    }
    this.envs = envs;
    this.numEnvs = envs.length;
    this.singleObservationSpace = first.observationSpace;
    this.singleActionSpace = first.actionSpace;
    this.observationSpace = batchSpace(this.singleObservationSpace, this.numEnvs);
    this.actionSpace = batchSpace(this.singleActionSpace, this.numEnvs);
    this.autoresetPending = new Array<boolean>(this.numEnvs).fill(false);
  }

  /** numEnvs copies of a registered env, each made with the same options. */
  static async create(id: string, numEnvs: number, options: MakeEnvOptions = {}): Promise<SyncVectorEnv> {
    if (!Number.isInteger(numEnvs) || numEnvs < 1) throw new Error(`numEnvs must be a positive integer, got ${numEnvs}`);
    const envs: Env[] = [];
    try {
      for (let i = 0; i < numEnvs; i++) envs.push(await makeEnv(id, options));
    } catch (err) {
      for (const env of envs) env.close();
      throw err;
    }
    return new SyncVectorEnv(envs);
  }

  /** The sub-envs, for inspection (e.g. reading `unwrapped` state in tests). */
  get subEnvs(): readonly Env[] {
    return this.envs;
  }

  resetSync(options: VectorResetOptions = {}): VectorResetResult {
    this.assertOpen();
    const seeds = vectorResetSeeds(options.seed, this.numEnvs, this.seededBefore);
    if (seeds.some((s) => s !== undefined)) this.seededBefore = true;
    const obsDim = this.singleObservationSpace.size;
    const obs = new Float32Array(this.numEnvs * obsDim);
    const infos: Info[] = [];
    for (let i = 0; i < this.numEnvs; i++) {
      const result = this.envs[i].reset({ seed: seeds[i], options: options.options });
      obs.set(result.obs, i * obsDim);
      infos.push(result.info);
      this.autoresetPending[i] = false;
    }
    this.hasReset = true;
    return { obs, infos };
  }

  stepSync(actions: ArrayLike<number>): VectorStepResult {
    this.assertOpen();
    if (!this.hasReset) throw new Error('SyncVectorEnv: call reset() before step()');
    const actDim = this.singleActionSpace.size;
    const obsDim = this.singleObservationSpace.size;
    if (actions.length !== this.numEnvs * actDim) {
      throw new Error(`SyncVectorEnv: actions have ${actions.length} values, expected ${this.numEnvs} x ${actDim}`);
    }
    const obs = new Float32Array(this.numEnvs * obsDim);
    const rewards = new Float64Array(this.numEnvs);
    const terminated = new Array<boolean>(this.numEnvs).fill(false);
    const truncated = new Array<boolean>(this.numEnvs).fill(false);
    const infos: Info[] = [];
    for (let i = 0; i < this.numEnvs; i++) {
      if (this.autoresetPending[i]) {
        // NEXT_STEP autoreset: this step only resets sub-env i; its action is ignored.
        const result = this.envs[i].reset();
        obs.set(result.obs, i * obsDim);
        infos.push(result.info);
        this.autoresetPending[i] = false;
        continue;
      }
      const result = this.envs[i].step(rowOf(actions, i, actDim));
      obs.set(result.obs, i * obsDim);
      rewards[i] = result.reward;
      terminated[i] = result.terminated;
      truncated[i] = result.truncated;
      infos.push(result.info);
      this.autoresetPending[i] = result.terminated || result.truncated;
    }
    return { obs, rewards, terminated, truncated, infos };
  }

  getStateSync(): VectorEnvState {
    this.assertOpen();
    return {
      type: 'VectorEnv',
      numEnvs: this.numEnvs,
      hasReset: this.hasReset,
      seededBefore: this.seededBefore,
      autoresetPending: [...this.autoresetPending],
      envs: this.envs.map((env) => getEnvState(env)),
    };
  }

  setStateSync(state: EnvState): void {
    this.assertOpen();
    const s = checkVectorEnvState(state, this.numEnvs, 'SyncVectorEnv');
    s.envs.forEach((envState, i) => {
      try {
        setEnvState(this.envs[i], envState);
      } catch (err) {
        throw new Error(`SyncVectorEnv sub-env ${i}: ${(err as Error).message}`);
      }
    });
    this.hasReset = s.hasReset;
    this.seededBefore = s.seededBefore;
    s.autoresetPending.forEach((pending, i) => (this.autoresetPending[i] = pending));
  }

  async getState(): Promise<VectorEnvState> {
    return this.getStateSync();
  }

  async setState(state: EnvState): Promise<void> {
    this.setStateSync(state);
  }

  async reset(options?: VectorResetOptions): Promise<VectorResetResult> {
    return this.resetSync(options);
  }

  async step(actions: ArrayLike<number>): Promise<VectorStepResult> {
    return this.stepSync(actions);
  }

  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    for (const env of this.envs) env.close();
  }

  async close(): Promise<void> {
    this.closeSync();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('SyncVectorEnv: used after close()');
  }
}

function rowOf(values: ArrayLike<number>, row: number, width: number): ArrayLike<number> {
  if (values instanceof Float32Array || values instanceof Float64Array) return values.subarray(row * width, (row + 1) * width);
  return Array.prototype.slice.call(values, row * width, (row + 1) * width) as number[];
}
