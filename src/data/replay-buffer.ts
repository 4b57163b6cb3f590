/**
 * Replay buffer on typed arrays: a fixed-capacity ring of transitions (s, a, r, s', terminated,
 * truncated) plus optional extra float fields declared at construction.
 *
 * Layout: every array is row-major, one row per slot (obs is [capacity, obsDim], ...), so a
 * sampled batch is batch-first ([B, obsDim]) and goes straight into the networks.
 *
 * Bootstrapping: the TD target (algos/losses.ts) masks by `terminated` only,
 *     y = r + gamma * (1 - terminated) * V(s'),
 * so an episode cut by a time limit (`truncated`) still bootstraps from s'. `truncated` is kept
 * separately for statistics and for n-step / episode bookkeeping, never for masking. Store in
 * `nextObs` the true final observation of the episode, not the auto-reset one.
 *
 * Randomness: the buffer owns its sampling Rng (from `seed`, or a generator handed over with
 * `rng`, e.g. `runRng.split()`), and its state is part of `toState()`, so a run resumed from a
 * checkpoint samples exactly the batches an uninterrupted run would have.
 *
 * Core module: no Node imports (it runs in the browser too); file I/O is in replay-io.ts.
 */
import { Rng } from '../core/rng.ts';
import { checkBatch, checkDim, checkFieldKeys, checkFields, checkFiniteRow, checkLength } from './replay-checks.ts';
import { checkReplayState, REPLAY_STATE_VERSION, type ReplayBufferState } from './replay-state.ts';

/** Names of extra per-transition fields and their widths, e.g. {realAction: 24}. */
export type FieldDims = Record<string, number>;

export interface ReplayBufferOptions {
  capacity: number;
  obsDim: number;
  /** Width of the agent's action (for DSRL, the flattened noise w). */
  actionDim: number;
  /** Extra float32 fields stored per transition, e.g. the executed real action chunk. */
  fields?: FieldDims;
  /** Seed of the buffer's own sampling generator. Give `seed` or `rng`. */
  seed?: number | string;
  /** A generator the buffer takes ownership of (do not draw from it elsewhere). */
  rng?: Rng;
}

export interface Transition {
  obs: ArrayLike<number>;
  action: ArrayLike<number>;
  reward: number;
  nextObs: ArrayLike<number>;
  terminated: boolean | number;
  truncated: boolean | number;
  fields?: Record<string, ArrayLike<number>>;
}

/** n transitions at once (one vector-env step), row-major: obs is [n, obsDim], rewards is [n]. */
export interface TransitionBatch {
  obs: ArrayLike<number>;
  actions: ArrayLike<number>;
  rewards: ArrayLike<number>;
  nextObs: ArrayLike<number>;
  terminated: ArrayLike<boolean | number>;
  truncated: ArrayLike<boolean | number>;
  fields?: Record<string, ArrayLike<number>>;
  /** Rows with false/0 are not stored (e.g. the step right after an env's auto-reset). */
  valid?: ArrayLike<boolean | number>;
}

/** Output arrays for `sample`, allocated once by `createBatch` and reused every step. */
export interface SampledBatch {
  readonly batchSize: number;
  /** Slot each row came from. */
  readonly indices: Int32Array;
  readonly obs: Float32Array;
  readonly actions: Float32Array;
  readonly rewards: Float32Array;
  readonly nextObs: Float32Array;
  readonly terminated: Uint8Array;
  readonly truncated: Uint8Array;
  readonly fields: Readonly<Record<string, Float32Array>>;
}

function flag(value: boolean | number): number {
  return value ? 1 : 0;
}

function copyValues(dst: Float32Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  for (let j = 0; j < n; j++) dst[dstOff + j] = src[srcOff + j];
}

function copyRow(dst: Float32Array, dstRow: number, src: Float32Array, srcRow: number, dim: number): void {
  const d = dstRow * dim;
  const s = srcRow * dim;
  for (let j = 0; j < dim; j++) dst[d + j] = src[s + j];
}

export class ReplayBuffer {
  readonly capacity: number;
  readonly obsDim: number;
  readonly actionDim: number;
  readonly fieldDims: Readonly<FieldDims>;

  private readonly obs: Float32Array;
  private readonly actions: Float32Array;
  private readonly rewards: Float32Array;
  private readonly nextObs: Float32Array;
  private readonly terminated: Uint8Array;
  private readonly truncated: Uint8Array;
  private readonly fieldData: Record<string, Float32Array>;
  private readonly fieldNames: string[];
  private rng: Rng;
  private count = 0;
  private next = 0;
  private added = 0;

  constructor(options: ReplayBufferOptions) {
    const { capacity, obsDim, actionDim } = options;
    checkDim('capacity', capacity, 1);
    checkDim('obsDim', obsDim, 1);
    checkDim('actionDim', actionDim, 1);
    const fields = { ...(options.fields ?? {}) };
    checkFields(fields);
    if ((options.seed === undefined) === (options.rng === undefined)) {
      throw new Error('ReplayBuffer: give exactly one of `seed` or `rng` for sampling');
    }
    this.capacity = capacity;
    this.obsDim = obsDim;
    this.actionDim = actionDim;
    this.fieldDims = Object.freeze(fields);
    this.fieldNames = Object.keys(fields);
    this.obs = new Float32Array(capacity * obsDim);
    this.actions = new Float32Array(capacity * actionDim);
    this.rewards = new Float32Array(capacity);
    this.nextObs = new Float32Array(capacity * obsDim);
    this.terminated = new Uint8Array(capacity);
    this.truncated = new Uint8Array(capacity);
    this.fieldData = {};
    for (const name of this.fieldNames) this.fieldData[name] = new Float32Array(capacity * fields[name]);
    this.rng = options.rng ?? Rng.fromSeed(options.seed as number | string);
  }

  /** Number of stored transitions (at most capacity). */
  get size(): number {
    return this.count;
  }

  get isFull(): boolean {
    return this.count === this.capacity;
  }

  /** Transitions ever added, overwritten ones included. */
  get totalAdded(): number {
    return this.added;
  }

  /** Store one transition, overwriting the oldest when full; returns its slot. */
  add(t: Transition): number {
    checkLength('obs', t.obs, this.obsDim);
    checkLength('action', t.action, this.actionDim);
    checkLength('nextObs', t.nextObs, this.obsDim);
    const fields = t.fields ?? {};
    checkFieldKeys(this, fields, 1);
    // Validate everything before writing so a bad transition leaves the buffer untouched.
    checkFiniteRow('obs', t.obs, 0, this.obsDim);
    checkFiniteRow('action', t.action, 0, this.actionDim);
    checkFiniteRow('nextObs', t.nextObs, 0, this.obsDim);
    checkFiniteRow('reward', [t.reward], 0, 1);
    for (const name of this.fieldNames) checkFiniteRow(`fields.${name}`, fields[name], 0, this.fieldDims[name]);
    const slot = this.next;
    this.writeRow(slot, t.obs, 0, t.action, 0, t.reward, t.nextObs, 0, t.terminated, t.truncated, fields, 0);
    this.advance();
    return slot;
  }

  /**
   * Store the n transitions of one vector-env step (n = rewards.length); row i of each array is
   * env i. Rows whose `valid` flag is 0 are skipped. Returns the number stored.
   */
  addBatch(batch: TransitionBatch): number {
    const n = batch.rewards.length;
    checkLength('obs', batch.obs, n * this.obsDim, n);
    checkLength('actions', batch.actions, n * this.actionDim, n);
    checkLength('nextObs', batch.nextObs, n * this.obsDim, n);
    checkLength('terminated', batch.terminated, n, n);
    checkLength('truncated', batch.truncated, n, n);
    if (batch.valid !== undefined) checkLength('valid', batch.valid, n, n);
    const fields = batch.fields ?? {};
    checkFieldKeys(this, fields, n);
    // Validate all rows first so a bad row cannot leave a half-written step behind. A non-finite
    // value is refused because one NaN in replay poisons every later update.
    for (let i = 0; i < n; i++) {
      if (batch.valid !== undefined && !batch.valid[i]) continue;
      checkFiniteRow('obs', batch.obs, i, this.obsDim);
      checkFiniteRow('actions', batch.actions, i, this.actionDim);
      checkFiniteRow('nextObs', batch.nextObs, i, this.obsDim);
      checkFiniteRow('rewards', batch.rewards, i, 1);
      for (const name of this.fieldNames) checkFiniteRow(`fields.${name}`, fields[name], i, this.fieldDims[name]);
    }
    let stored = 0;
    for (let i = 0; i < n; i++) {
      if (batch.valid !== undefined && !batch.valid[i]) continue;
      this.writeRow(
        this.next, batch.obs, i * this.obsDim, batch.actions, i * this.actionDim, batch.rewards[i],
        batch.nextObs, i * this.obsDim, batch.terminated[i], batch.truncated[i], fields, i,
      );
      this.advance();
      stored++;
    }
    return stored;
  }

  /** Output arrays for `sample` / `gather`; allocate once, reuse every update. */
  createBatch(batchSize: number): SampledBatch {
    checkDim('batchSize', batchSize, 1);
    const fields: Record<string, Float32Array> = {};
    for (const name of this.fieldNames) fields[name] = new Float32Array(batchSize * this.fieldDims[name]);
    return {
      batchSize,
      indices: new Int32Array(batchSize),
      obs: new Float32Array(batchSize * this.obsDim),
      actions: new Float32Array(batchSize * this.actionDim),
      rewards: new Float32Array(batchSize),
      nextObs: new Float32Array(batchSize * this.obsDim),
      terminated: new Uint8Array(batchSize),
      truncated: new Uint8Array(batchSize),
      fields,
    };
  }

  /** Fill `out` with out.batchSize transitions drawn uniformly with replacement from the buffer's Rng. */
  sample(out: SampledBatch): SampledBatch {
    if (this.count === 0) throw new Error('ReplayBuffer.sample: the buffer is empty');
    checkBatch(this, out);
    for (let b = 0; b < out.batchSize; b++) out.indices[b] = this.rng.int(this.count);
    this.gatherRows(out);
    return out;
  }

  /** Fill `out` with the given slots (each in [0, size)); out.indices receives them. */
  gather(indices: ArrayLike<number>, out: SampledBatch): SampledBatch {
    checkBatch(this, out);
    if (indices.length !== out.batchSize) throw new Error(`ReplayBuffer.gather: ${indices.length} indices for a batch of ${out.batchSize}`);
    for (let b = 0; b < indices.length; b++) {
      const i = indices[b];
      if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new Error(`ReplayBuffer.gather: index ${i} outside [0, ${this.count})`);
      out.indices[b] = i;
    }
    this.gatherRows(out);
    return out;
  }

  /** Forget all transitions (the sampling Rng keeps its stream). */
  clear(): void {
    this.count = 0;
    this.next = 0;
    this.added = 0;
    this.obs.fill(0);
    this.actions.fill(0);
    this.rewards.fill(0);
    this.nextObs.fill(0);
    this.terminated.fill(0);
    this.truncated.fill(0);
    for (const name of this.fieldNames) this.fieldData[name].fill(0);
  }

  /** A snapshot (copies) of the filled slots, counters and the sampling Rng state. */
  toState(): ReplayBufferState {
    const n = this.count;
    const fieldData: Record<string, Float32Array> = {};
    for (const name of this.fieldNames) fieldData[name] = this.fieldData[name].slice(0, n * this.fieldDims[name]);
    return {
      version: REPLAY_STATE_VERSION,
      capacity: this.capacity,
      obsDim: this.obsDim,
      actionDim: this.actionDim,
      fields: { ...this.fieldDims },
      size: n,
      next: this.next,
      totalAdded: this.added,
      rng: this.rng.state(),
      obs: this.obs.slice(0, n * this.obsDim),
      actions: this.actions.slice(0, n * this.actionDim),
      rewards: this.rewards.slice(0, n),
      nextObs: this.nextObs.slice(0, n * this.obsDim),
      terminated: this.terminated.slice(0, n),
      truncated: this.truncated.slice(0, n),
      fieldData,
    };
  }

  /** Rebuild a buffer from `toState()`; it continues (adds and samples) exactly where the original was. */
  static fromState(state: ReplayBufferState): ReplayBuffer {
    if (!state || typeof state !== 'object') throw new Error('ReplayBuffer.fromState: state must be an object');
    if (state.version !== REPLAY_STATE_VERSION) {
      throw new Error(`ReplayBuffer.fromState: unsupported state version ${state.version} (expected ${REPLAY_STATE_VERSION})`);
    }
    const buffer = new ReplayBuffer({
      capacity: state.capacity,
      obsDim: state.obsDim,
      actionDim: state.actionDim,
      fields: state.fields,
      rng: Rng.fromState(state.rng),
    });
    checkReplayState(state);
    buffer.obs.set(state.obs);
    buffer.actions.set(state.actions);
    buffer.rewards.set(state.rewards);
    buffer.nextObs.set(state.nextObs);
    buffer.terminated.set(state.terminated);
    buffer.truncated.set(state.truncated);
    for (const name of buffer.fieldNames) buffer.fieldData[name].set(state.fieldData[name]);
    const { size, next, totalAdded } = state;
    buffer.count = size;
    buffer.next = next;
    buffer.added = totalAdded;
    return buffer;
  }

  private advance(): void {
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.added++;
  }

  private writeRow(
    slot: number, obs: ArrayLike<number>, obsOff: number, action: ArrayLike<number>, actOff: number, reward: number,
    nextObs: ArrayLike<number>, nextOff: number, terminated: boolean | number, truncated: boolean | number,
    fields: Record<string, ArrayLike<number>>, row: number,
  ): void {
    // Callers validated the row (finite values), so a failure can never leave a half-written slot.
    copyValues(this.obs, slot * this.obsDim, obs, obsOff, this.obsDim);
    copyValues(this.actions, slot * this.actionDim, action, actOff, this.actionDim);
    copyValues(this.nextObs, slot * this.obsDim, nextObs, nextOff, this.obsDim);
    this.rewards[slot] = reward;
    this.terminated[slot] = flag(terminated);
    this.truncated[slot] = flag(truncated);
    for (const name of this.fieldNames) {
      const dim = this.fieldDims[name];
      copyValues(this.fieldData[name], slot * dim, fields[name], row * dim, dim);
    }
  }

  private gatherRows(out: SampledBatch): void {
    for (let b = 0; b < out.batchSize; b++) {
      const i = out.indices[b];
      copyRow(out.obs, b, this.obs, i, this.obsDim);
      copyRow(out.actions, b, this.actions, i, this.actionDim);
      copyRow(out.nextObs, b, this.nextObs, i, this.obsDim);
      out.rewards[b] = this.rewards[i];
      out.terminated[b] = this.terminated[i];
      out.truncated[b] = this.truncated[i];
      for (const name of this.fieldNames) copyRow(out.fields[name], b, this.fieldData[name], i, this.fieldDims[name]);
    }
  }
}
