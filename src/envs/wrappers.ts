/**
 * Env wrappers, after Gymnasium 1.x `gymnasium.wrappers`: each wraps one env and changes one thing.
 * A wrapper owns the observation arrays its inner env returns (they are fresh per call), so it may
 * transform them in place. Action arrays passed down are scratch buffers the inner env must not keep.
 *
 * State (`getState`/`setState`): a wrapper without state of its own passes its inner env's state through;
 * a stateful one (OrderEnforcing, TimeLimit, RecordEpisodeStatistics) returns `{type, ...its fields, env}`.
 * The observation and action transforms are in transform-wrappers.ts.
 */
import {
  envName,
  expectStateType,
  getEnvState,
  setEnvState,
  stateNumber,
  type Env,
  type EnvSpec,
  type EnvState,
  type Info,
  type ResetOptions,
  type ResetResult,
  type StepResult,
} from './env.ts';
import { Box } from './spaces.ts';

export class Wrapper implements Env {
  readonly env: Env;
  private readonly specOverride: EnvSpec | null;

  constructor(env: Env, spec: EnvSpec | null = null) {
    this.env = env;
    this.specOverride = spec;
  }

  get observationSpace(): Box {
    return this.env.observationSpace;
  }
  get actionSpace(): Box {
    return this.env.actionSpace;
  }
  get spec(): EnvSpec | null {
    return this.specOverride ?? this.env.spec;
  }
  get unwrapped(): Env {
    return this.env.unwrapped;
  }
  reset(options?: ResetOptions): ResetResult {
    return this.env.reset(options);
  }
  step(action: ArrayLike<number>): StepResult {
    return this.env.step(action);
  }
  close(): void {
    this.env.close();
  }
  /** The inner env's state: wrappers without state of their own add nothing. */
  getState(): EnvState {
    return getEnvState(this.env);
  }
  setState(state: EnvState): void {
    setEnvState(this.env, state);
  }
}

/** A stateful wrapper's saved inner state, checked to be an object. */
function innerState(state: Record<string, unknown>, label: string): EnvState {
  const inner = state.env;
  if (!inner || typeof inner !== 'object') throw new Error(`${label}: saved state has no inner env state ('env')`);
  return inner as EnvState;
}

/** Throws on step() before the first reset(), as Gymnasium's OrderEnforcing. The registry applies it and attaches the spec here. */
export class OrderEnforcing extends Wrapper {
  private hasReset = false;

  override reset(options?: ResetOptions): ResetResult {
    this.hasReset = true;
    return this.env.reset(options);
  }

  override step(action: ArrayLike<number>): StepResult {
    if (!this.hasReset) throw new Error(`${envName(this)}: call reset() before step()`);
    return this.env.step(action);
  }

  override getState(): EnvState {
    return { type: 'OrderEnforcing', hasReset: this.hasReset, env: getEnvState(this.env) };
  }

  override setState(state: EnvState): void {
    const label = envName(this);
    const s = expectStateType(state, 'OrderEnforcing', label);
    if (typeof s.hasReset !== 'boolean') throw new Error(`${label}: saved state field 'hasReset' must be a boolean`);
    setEnvState(this.env, innerState(s, label));
    this.hasReset = s.hasReset;
  }
}

/**
 * Sets `truncated` once `maxEpisodeSteps` steps have run since reset (Gymnasium TimeLimit). `terminated`
 * passes through unchanged, so the last step can be both terminated and truncated.
 */
export class TimeLimit extends Wrapper {
  readonly maxEpisodeSteps: number;
  private elapsedSteps = 0;

  constructor(env: Env, maxEpisodeSteps: number) {
    super(env);
    if (!Number.isInteger(maxEpisodeSteps) || maxEpisodeSteps < 1) {
      throw new Error(`TimeLimit: maxEpisodeSteps must be a positive integer, got ${maxEpisodeSteps}`);
    }
    this.maxEpisodeSteps = maxEpisodeSteps;
  }

  get elapsed(): number {
    return this.elapsedSteps;
  }

  override reset(options?: ResetOptions): ResetResult {
    this.elapsedSteps = 0;
    return this.env.reset(options);
  }

  override step(action: ArrayLike<number>): StepResult {
    const result = this.env.step(action);
    this.elapsedSteps++;
    if (this.elapsedSteps >= this.maxEpisodeSteps) result.truncated = true;
    return result;
  }

  override getState(): EnvState {
    return { type: 'TimeLimit', elapsedSteps: this.elapsedSteps, env: getEnvState(this.env) };
  }

  override setState(state: EnvState): void {
    const label = envName(this);
    const s = expectStateType(state, 'TimeLimit', label);
    const elapsed = stateNumber(s, 'elapsedSteps', label, { integer: true, min: 0 });
    setEnvState(this.env, innerState(s, label));
    this.elapsedSteps = elapsed;
  }
}

/**
 * Runs a chunk of `chunkLength` actions per step: the action is the chunk flattened, [chunkLength * da].
 * Stops inside the chunk as soon as the episode terminates or truncates (the remaining actions are
 * dropped; DSRL's reference code keeps stepping a finished env, which this does not). Returns the last
 * observation, the undiscounted sum of rewards, the last step's flags and info, and `info.steps`, the
 * number of env steps that ran.
 */
export class ActionChunk extends Wrapper {
  readonly chunkLength: number;
  private readonly chunkSpace: Box;
  private readonly singleActionDim: number;

  constructor(env: Env, chunkLength: number) {
    super(env);
    if (!Number.isInteger(chunkLength) || chunkLength < 1) throw new Error(`ActionChunk: chunkLength must be a positive integer, got ${chunkLength}`);
    this.chunkLength = chunkLength;
    const single = env.actionSpace;
    this.singleActionDim = single.size;
    const low = new Float32Array(chunkLength * single.size);
    const high = new Float32Array(chunkLength * single.size);
    for (let k = 0; k < chunkLength; k++) {
      low.set(single.low, k * single.size);
      high.set(single.high, k * single.size);
    }
    this.chunkSpace = new Box(low, high);
  }

  override get actionSpace(): Box {
    return this.chunkSpace;
  }

  override step(chunk: ArrayLike<number>): StepResult {
    const da = this.singleActionDim;
    if (chunk.length !== this.chunkLength * da) {
      throw new Error(`${envName(this)}: ActionChunk expects ${this.chunkLength}x${da} = ${this.chunkLength * da} values, got ${chunk.length}`);
    }
    let rewardSum = 0;
    let last: StepResult | null = null;
    let steps = 0;
    for (let k = 0; k < this.chunkLength; k++) {
      last = this.env.step(sliceOf(chunk, k * da, (k + 1) * da));
      rewardSum += last.reward;
      steps++;
      if (last.terminated || last.truncated) break;
    }
    const result = last as StepResult;
    result.reward = rewardSum;
    result.info.steps = steps;
    return result;
  }
}

function sliceOf(values: ArrayLike<number>, start: number, end: number): ArrayLike<number> {
  if (values instanceof Float32Array || values instanceof Float64Array) return values.subarray(start, end);
  return Array.prototype.slice.call(values, start, end) as number[];
}

export interface EpisodeStatistics {
  /** Undiscounted return. */
  r: number;
  /** Length in steps of the wrapped env. */
  l: number;
  /** Wall-clock seconds since the episode's reset. */
  t: number;
}

/**
 * Adds `info.episode = {r, l, t}` on the step that ends an episode (terminated or truncated), as
 * Gymnasium 1.x RecordEpisodeStatistics, and keeps the last `bufferLength` returns and lengths.
 * Wrap it inside ActionChunk to count env steps rather than chunks.
 */
export class RecordEpisodeStatistics extends Wrapper {
  readonly returnQueue: number[] = [];
  readonly lengthQueue: number[] = [];
  readonly bufferLength: number;
  private episodeReturn = 0;
  private episodeLength = 0;
  private episodeStart = 0;

  constructor(env: Env, bufferLength = 100) {
    super(env);
    this.bufferLength = bufferLength;
  }

  override reset(options?: ResetOptions): ResetResult {
    const result = this.env.reset(options);
    this.episodeReturn = 0;
    this.episodeLength = 0;
    this.episodeStart = performance.now();
    return result;
  }

  override step(action: ArrayLike<number>): StepResult {
    const result = this.env.step(action);
    this.episodeReturn += result.reward;
    this.episodeLength++;
    if (result.terminated || result.truncated) {
      const stats: EpisodeStatistics = { r: this.episodeReturn, l: this.episodeLength, t: (performance.now() - this.episodeStart) / 1000 };
      result.info.episode = stats;
      pushCapped(this.returnQueue, stats.r, this.bufferLength);
      pushCapped(this.lengthQueue, stats.l, this.bufferLength);
    }
    return result;
  }

  /** The running sums and queues; the episode clock is stored as elapsed seconds (`t` is wall-clock anyway). */
  override getState(): EnvState {
    return {
      type: 'RecordEpisodeStatistics',
      episodeReturn: this.episodeReturn,
      episodeLength: this.episodeLength,
      episodeSeconds: (performance.now() - this.episodeStart) / 1000,
      returnQueue: [...this.returnQueue],
      lengthQueue: [...this.lengthQueue],
      env: getEnvState(this.env),
    };
  }

  override setState(state: EnvState): void {
    const label = envName(this);
    const s = expectStateType(state, 'RecordEpisodeStatistics', label);
    // A return can legitimately be NaN/Inf if the env's rewards were; only its type is checked.
    if (typeof s.episodeReturn !== 'number') throw new Error(`${label}: saved state field 'episodeReturn' must be a number`);
    const episodeLength = stateNumber(s, 'episodeLength', label, { integer: true, min: 0 });
    const episodeSeconds = stateNumber(s, 'episodeSeconds', label);
    const queues = [s.returnQueue, s.lengthQueue];
    if (!queues.every((q) => Array.isArray(q) && q.every((v) => typeof v === 'number'))) {
      throw new Error(`${label}: saved state fields 'returnQueue' and 'lengthQueue' must be arrays of numbers`);
    }
    setEnvState(this.env, innerState(s, label));
    this.episodeReturn = s.episodeReturn;
    this.episodeLength = episodeLength;
    this.episodeStart = performance.now() - episodeSeconds * 1000;
    this.returnQueue.splice(0, this.returnQueue.length, ...(s.returnQueue as number[]));
    this.lengthQueue.splice(0, this.lengthQueue.length, ...(s.lengthQueue as number[]));
  }
}

function pushCapped(queue: number[], value: number, cap: number): void {
  queue.push(value);
  if (queue.length > cap) queue.shift();
}

/** The `info.episode` statistics RecordEpisodeStatistics adds at an episode's end, if present. */
export function episodeStatistics(info: Info): EpisodeStatistics | undefined {
  const ep = info.episode as EpisodeStatistics | undefined;
  return ep && typeof ep.r === 'number' && typeof ep.l === 'number' ? ep : undefined;
}
