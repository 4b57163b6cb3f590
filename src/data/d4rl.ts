/**
 * Offline datasets in D4RL's layout: flat per-step arrays (`observations` [N, obsDim],
 * `actions` [N, actDim], `rewards` [N], `terminals` [N], `timeouts` [N], `next_observations`
 * [N, obsDim]), with episodes delimited by terminals | timeouts.
 *
 * In memory every array is row-major float32 (flags uint8 0/1), whatever dtype the file used:
 * h5py writes float64 and bool (an int8 enum) freely, and those load as is.
 *
 * Core module: no Node imports. HDF5 reading/writing and hashing live in hdf5.ts.
 */

/** The keys a D4RL file must have, in the order they are written and hashed. */
export const D4RL_KEYS = ['observations', 'actions', 'rewards', 'next_observations', 'terminals', 'timeouts'] as const;
export type D4rlKey = (typeof D4RL_KEYS)[number];

/** Free-form provenance: env id, source command, policy checkpoint, ... */
export type D4rlMetadata = Record<string, string | number>;

export interface D4rlDataset {
  /** Number of steps N. */
  size: number;
  obsDim: number;
  actionDim: number;
  observations: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  nextObservations: Float32Array;
  /** 1 where the episode truly ended (no bootstrap). */
  terminals: Uint8Array;
  /** 1 where the episode was cut by a time limit (bootstrap through it). */
  timeouts: Uint8Array;
  metadata: D4rlMetadata;
}

/** Dimensions the consuming env expects; a dataset that disagrees is refused. */
export interface D4rlExpectation {
  obsDim?: number;
  actionDim?: number;
}

/** Any numeric array a file reader can hand over (h5wasm returns the file's own dtype). */
export type NumericArray = ArrayLike<number> | BigInt64Array | BigUint64Array;

/** One array as read from a file: flat values plus the stored shape. */
export interface RawArray {
  data: NumericArray | ArrayLike<boolean>;
  shape: readonly number[];
}

const VECTOR_KEYS: ReadonlySet<D4rlKey> = new Set(['rewards', 'terminals', 'timeouts']);
const FLAG_KEYS: ReadonlySet<D4rlKey> = new Set(['terminals', 'timeouts']);

function field(key: D4rlKey): keyof D4rlDataset {
  return key === 'next_observations' ? 'nextObservations' : key;
}

/**
 * Build a dataset from raw arrays of any numeric dtype (float64, int8 bool, ...), checking keys,
 * shapes, lengths, expected dims and finiteness. `source` (a file name) starts every error.
 */
export function d4rlFromRawArrays(
  raw: Partial<Record<string, RawArray>>, options: { source?: string; expect?: D4rlExpectation; metadata?: D4rlMetadata } = {},
): D4rlDataset {
  const source = options.source ?? 'dataset';
  const missing = D4RL_KEYS.filter((key) => raw[key] === undefined);
  if (missing.length > 0) {
    const found = Object.keys(raw).sort().join(', ') || 'none';
    throw new Error(`${source}: missing key${missing.length > 1 ? 's' : ''} ${missing.map((k) => `"${k}"`).join(', ')} (found: ${found})`);
  }
  const widths = {} as Record<D4rlKey, number>;
  const rows = {} as Record<D4rlKey, number>;
  for (const key of D4RL_KEYS) {
    const { data, shape } = raw[key]!;
    const count = shape.reduce((a, b) => a * b, 1);
    if (data.length !== count) throw new Error(`${source}: key "${key}" holds ${data.length} values but its shape [${shape}] needs ${count}`);
    if (VECTOR_KEYS.has(key)) {
      // [N] or the column vector [N, 1] some writers produce.
      if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
        throw new Error(`${source}: key "${key}" has shape [${shape}], expected [N] or [N, 1]`);
      }
      widths[key] = 1;
    } else {
      if (shape.length !== 2) throw new Error(`${source}: key "${key}" has shape [${shape}], expected [N, dim]`);
      widths[key] = shape[1];
    }
    rows[key] = shape[0];
  }
  const n = rows.observations;
  for (const key of D4RL_KEYS) {
    if (rows[key] !== n) throw new Error(`${source}: key "${key}" has ${rows[key]} rows but "observations" has ${n}`);
  }
  if (widths.next_observations !== widths.observations) {
    throw new Error(`${source}: key "next_observations" has dim ${widths.next_observations} but "observations" has dim ${widths.observations}`);
  }
  const parts = {} as Record<D4rlKey, Float32Array | Uint8Array>;
  for (const key of D4RL_KEYS) {
    const { data } = raw[key]!;
    parts[key] = FLAG_KEYS.has(key) ? toFlags(data, key, source) : toFloat32(data, key, source);
  }
  return createD4rlDataset(
    {
      observations: parts.observations as Float32Array,
      actions: parts.actions as Float32Array,
      rewards: parts.rewards as Float32Array,
      nextObservations: parts.next_observations as Float32Array,
      terminals: parts.terminals as Uint8Array,
      timeouts: parts.timeouts as Uint8Array,
      obsDim: widths.observations,
      actionDim: widths.actions,
      metadata: options.metadata,
    },
    { source, expect: options.expect },
  );
}

/** Assemble and validate a dataset from float32/uint8 arrays (e.g. freshly collected rollouts). */
export function createD4rlDataset(
  parts: Omit<D4rlDataset, 'size' | 'metadata'> & { metadata?: D4rlMetadata },
  options: { source?: string; expect?: D4rlExpectation } = {},
): D4rlDataset {
  const dataset: D4rlDataset = { ...parts, size: parts.rewards.length, metadata: { ...(parts.metadata ?? {}) } };
  validateD4rlDataset(dataset, options);
  return dataset;
}

/** Throw a clear error for wrong lengths, dims, non-0/1 flags or NaN/Inf values. */
export function validateD4rlDataset(dataset: D4rlDataset, options: { source?: string; expect?: D4rlExpectation } = {}): void {
  const source = options.source ?? 'dataset';
  const { size: n, obsDim, actionDim } = dataset;
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${source}: size must be a non-negative integer, got ${n}`);
  if (!Number.isSafeInteger(obsDim) || obsDim < 1) throw new Error(`${source}: obsDim must be a positive integer, got ${obsDim}`);
  if (!Number.isSafeInteger(actionDim) || actionDim < 1) throw new Error(`${source}: actionDim must be a positive integer, got ${actionDim}`);
  const expect = options.expect ?? {};
  if (expect.obsDim !== undefined && obsDim !== expect.obsDim) {
    throw new Error(`${source}: key "observations" has dim ${obsDim} but the env expects ${expect.obsDim}`);
  }
  if (expect.actionDim !== undefined && actionDim !== expect.actionDim) {
    throw new Error(`${source}: key "actions" has dim ${actionDim} but the env expects ${expect.actionDim}`);
  }
  const dims: Record<D4rlKey, number> = {
    observations: obsDim, actions: actionDim, rewards: 1, next_observations: obsDim, terminals: 1, timeouts: 1,
  };
  for (const key of D4RL_KEYS) {
    const array = dataset[field(key)] as Float32Array | Uint8Array;
    const wantType = FLAG_KEYS.has(key) ? Uint8Array : Float32Array;
    if (!(array instanceof wantType)) throw new Error(`${source}: key "${key}" must be a ${wantType.name} in memory`);
    if (array.length !== n * dims[key]) {
      const rows = array.length / dims[key];
      const what = Number.isInteger(rows) ? `${rows} rows` : `${array.length} values (not a multiple of dim ${dims[key]})`;
      throw new Error(`${source}: key "${key}" has ${what} but the dataset has ${n} rows`);
    }
    if (FLAG_KEYS.has(key)) {
      for (let i = 0; i < n; i++) {
        if (array[i] > 1) throw new Error(`${source}: key "${key}" has value ${array[i]} at row ${i}; expected 0/1`);
      }
    } else {
      const bad = firstNonFinite(array as Float32Array, dims[key]);
      if (bad) {
        const where = dims[key] === 1 ? `row ${bad.row}` : `row ${bad.row}, column ${bad.column}`;
        throw new Error(`${source}: key "${key}" has ${bad.value} at ${where} (first non-finite value)`);
      }
    }
  }
  for (const [name, value] of Object.entries(dataset.metadata ?? {})) {
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
      throw new Error(`${source}: metadata "${name}" must be a string or a finite number`);
    }
  }
}

/** The first NaN/Inf in a row-major [rows, dim] array, or null. */
export function firstNonFinite(values: ArrayLike<number>, dim: number): { row: number; column: number; value: number } | null {
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    if (!Number.isFinite(v)) return { row: Math.floor(k / dim), column: k % dim, value: v };
  }
  return null;
}

function toFloat32(data: RawArray['data'], key: string, source: string): Float32Array {
  if (data instanceof Float32Array) return data;
  const out = new Float32Array(data.length);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  } else if (isBooleanArray(data)) {
    throw new Error(`${source}: key "${key}" holds booleans, expected numbers`);
  } else {
    // A finite double beyond float32's range becomes Infinity here, and is then reported as such.
    out.set(data as ArrayLike<number>);
  }
  return out;
}

function isBooleanArray(data: RawArray['data']): data is ArrayLike<boolean> {
  return data.length > 0 && typeof (data as ArrayLike<unknown>)[0] === 'boolean';
}

/** Bool / int / float flags to uint8 0/1; anything else means a wrong or corrupt key. */
export function toFlags(data: RawArray['data'], key: string, source: string): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = (data as ArrayLike<number | bigint | boolean>)[i];
    if (v === true || v === 1 || v === 1n) out[i] = 1;
    else if (v === false || v === 0 || v === 0n) out[i] = 0;
    else throw new Error(`${source}: key "${key}" has value ${String(v)} at row ${i}; expected 0/1 or bool`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Episodes

export type EpisodeEnd = 'terminal' | 'timeout' | 'discontinuity' | 'unfinished';

export interface Episode {
  /** First step (inclusive). */
  start: number;
  /** One past the last step. */
  end: number;
  length: number;
  /** Undiscounted sum of rewards. */
  return: number;
  /** Why it ended: a terminal, a time limit, a jump between next_observations and the next row, or the data ran out. */
  endReason: EpisodeEnd;
}

export interface SplitOptions {
  /**
   * Also end an episode where next_observations[i] differs from observations[i + 1] by more than
   * `tolerance` (old D4RL v0 files cut episodes without setting timeouts). Off by default.
   */
  splitOnDiscontinuity?: boolean;
  tolerance?: number;
}

/** Episodes in order; a trailing run of steps without a final flag is returned as 'unfinished'. */
export function splitEpisodes(dataset: D4rlDataset, options: SplitOptions = {}): Episode[] {
  const { size: n, obsDim, terminals, timeouts, rewards, observations, nextObservations } = dataset;
  const tolerance = options.tolerance ?? 1e-6;
  const episodes: Episode[] = [];
  let start = 0;
  let ret = 0;
  for (let i = 0; i < n; i++) {
    ret += rewards[i];
    let reason: EpisodeEnd | null = null;
    if (terminals[i]) reason = 'terminal';
    else if (timeouts[i]) reason = 'timeout';
    else if (options.splitOnDiscontinuity && i + 1 < n) {
      for (let j = 0; j < obsDim; j++) {
        if (Math.abs(nextObservations[i * obsDim + j] - observations[(i + 1) * obsDim + j]) > tolerance) {
          reason = 'discontinuity';
          break;
        }
      }
    }
    if (reason !== null) {
      episodes.push({ start, end: i + 1, length: i + 1 - start, return: ret, endReason: reason });
      start = i + 1;
      ret = 0;
    }
  }
  if (start < n) episodes.push({ start, end: n, length: n - start, return: ret, endReason: 'unfinished' });
  return episodes;
}

export interface ReturnStats {
  count: number;
  /** NaN when count is 0. */
  mean: number;
  /** Population standard deviation. */
  std: number;
  min: number;
  max: number;
  meanLength: number;
}

/** Return statistics over finished episodes (or all of them with includeUnfinished). */
export function episodeReturnStats(episodes: readonly Episode[], options: { includeUnfinished?: boolean } = {}): ReturnStats {
  const used = options.includeUnfinished ? episodes : episodes.filter((e) => e.endReason !== 'unfinished');
  const count = used.length;
  if (count === 0) return { count, mean: NaN, std: NaN, min: NaN, max: NaN, meanLength: NaN };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let lengthSum = 0;
  for (const e of used) {
    sum += e.return;
    min = Math.min(min, e.return);
    max = Math.max(max, e.return);
    lengthSum += e.length;
  }
  const mean = sum / count;
  let sq = 0;
  for (const e of used) sq += (e.return - mean) ** 2;
  return { count, mean, std: Math.sqrt(sq / count), min, max, meanLength: lengthSum / count };
}

// ---------------------------------------------------------------------------------------------
// Hashing

/**
 * The canonical byte stream a dataset hash is computed over: a version tag with N and the dims,
 * then every array (float32 / uint8, little-endian) in D4RL_KEYS order. Metadata is left out,
 * so the same data with a different provenance note hashes the same, and a float64 file and its
 * float32 rewrite hash the same when the values survive the conversion.
 */
export function datasetHashInput(dataset: D4rlDataset): Uint8Array[] {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('datasetHashInput: big-endian hosts are not supported');
  const tag = `dsrl-d4rl-v1 n=${dataset.size} obs=${dataset.obsDim} act=${dataset.actionDim}\n`;
  const chunks: Uint8Array[] = [new TextEncoder().encode(tag)];
  for (const key of D4RL_KEYS) {
    const array = dataset[field(key)] as Float32Array | Uint8Array;
    chunks.push(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  }
  return chunks;
}
