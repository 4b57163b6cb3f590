/**
 * Node adapter: a replay buffer on disk, for run checkpoints.
 *
 * The file is a valid safetensors file (so Python tools can open it): an 8-byte little-endian
 * header length, a JSON header, then the raw little-endian arrays back to back. The header's
 * `__metadata__` (string values only, as safetensors requires) carries the format name, the
 * buffer's counters and Rng state as JSON, and a SHA-256 of the data bytes, so a truncated or
 * corrupted file is refused with a clear error instead of resuming from garbage.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { writeFileAtomic } from '../node/fs.ts';
import { ReplayBuffer, type FieldDims } from './replay-buffer.ts';
import { REPLAY_STATE_VERSION, type ReplayBufferState } from './replay-state.ts';

export const REPLAY_FILE_FORMAT = 'dsrl-replay-buffer';

type TensorDtype = 'F32' | 'U8';

interface TensorEntry {
  dtype: TensorDtype;
  shape: number[];
  data_offsets: [number, number];
}

/** The scalar part of the state (counters and RNG), stored as JSON in the header; `version` is read before it is checked. */
type StoredCounters = Omit<ReplayBufferState, 'version' | 'obs' | 'actions' | 'rewards' | 'nextObs' | 'terminated' | 'truncated' | 'fieldData'> & {
  version: number;
};

/** What the caller's run expects; a file that disagrees is refused. */
export interface ReplayExpectation {
  obsDim?: number;
  actionDim?: number;
  capacity?: number;
  /** Exact set of extra fields and their widths. */
  fields?: FieldDims;
}

const FIELD_PREFIX = 'field.';

function assertLittleEndianHost(): void {
  // The arrays are written as raw host memory; every platform Node runs on today is little-endian.
  if (endianness() !== 'LE') throw new Error('replay-io: big-endian hosts are not supported');
}

function tensorList(state: ReplayBufferState): Array<{ name: string; dtype: TensorDtype; shape: number[]; data: Float32Array | Uint8Array }> {
  const n = state.size;
  // Float32 tensors first and bytes last keep every float32 array 4-byte aligned in the file.
  const list: Array<{ name: string; dtype: TensorDtype; shape: number[]; data: Float32Array | Uint8Array }> = [
    { name: 'obs', dtype: 'F32', shape: [n, state.obsDim], data: state.obs },
    { name: 'actions', dtype: 'F32', shape: [n, state.actionDim], data: state.actions },
    { name: 'rewards', dtype: 'F32', shape: [n], data: state.rewards },
    { name: 'nextObs', dtype: 'F32', shape: [n, state.obsDim], data: state.nextObs },
  ];
  for (const [name, dim] of Object.entries(state.fields)) {
    list.push({ name: FIELD_PREFIX + name, dtype: 'F32', shape: [n, dim], data: state.fieldData[name] });
  }
  list.push({ name: 'terminated', dtype: 'U8', shape: [n], data: state.terminated });
  list.push({ name: 'truncated', dtype: 'U8', shape: [n], data: state.truncated });
  return list;
}

/** Serialize a buffer state to safetensors bytes. */
export function encodeReplayState(state: ReplayBufferState): Uint8Array {
  assertLittleEndianHost();
  const tensors = tensorList(state);
  let dataLength = 0;
  const entries: Record<string, TensorEntry> = {};
  for (const t of tensors) {
    const expected = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== expected) throw new Error(`encodeReplayState: ${t.name} has ${t.data.length} values, expected ${expected}`);
    entries[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [dataLength, dataLength + t.data.byteLength] };
    dataLength += t.data.byteLength;
  }
  const data = new Uint8Array(dataLength);
  for (const t of tensors) data.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), entries[t.name].data_offsets[0]);
  const counters: StoredCounters = {
    version: state.version,
    capacity: state.capacity,
    obsDim: state.obsDim,
    actionDim: state.actionDim,
    fields: state.fields,
    size: state.size,
    next: state.next,
    totalAdded: state.totalAdded,
    rng: state.rng,
  };
  const header = {
    __metadata__: {
      format: REPLAY_FILE_FORMAT,
      state: JSON.stringify(counters),
      sha256: createHash('sha256').update(data).digest('hex'),
    },
    ...entries,
  };
  let headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad with spaces (allowed by safetensors) so the data starts 8-byte aligned.
  const padded = Math.ceil(headerBytes.length / 8) * 8;
  if (padded !== headerBytes.length) headerBytes = Buffer.concat([headerBytes, Buffer.alloc(padded - headerBytes.length, 0x20)]);
  const out = new Uint8Array(8 + headerBytes.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

/** Parse safetensors bytes back into a buffer state; `source` names the file in errors. */
export function decodeReplayState(bytes: Uint8Array, source = 'replay buffer'): ReplayBufferState {
  assertLittleEndianHost();
  const fail = (why: string): never => {
    throw new Error(`${source}: not a valid replay buffer file: ${why}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for a header (truncated?)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) fail(`header claims ${headerLength} bytes but the file has only ${bytes.length - 8} after the length (truncated?)`);
  const dataStart = 8 + Number(headerLength);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, Number(headerLength)).toString('utf8'));
  } catch (err) {
    return fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const meta = header.__metadata__ as Record<string, unknown> | undefined;
  if (!meta || meta.format !== REPLAY_FILE_FORMAT) fail(`__metadata__.format is not "${REPLAY_FILE_FORMAT}"`);
  let counters: StoredCounters;
  try {
    counters = JSON.parse(String(meta!.state));
  } catch {
    return fail('__metadata__.state is not valid JSON');
  }
  if (counters.version !== REPLAY_STATE_VERSION) fail(`state version ${counters.version}, this build reads version ${REPLAY_STATE_VERSION}`);
  const data = bytes.subarray(dataStart);
  const digest = createHash('sha256').update(data).digest('hex');

  const fields: FieldDims = counters.fields ?? {};
  const expected: Record<string, { dtype: TensorDtype; shape: number[] }> = {};
  const n = counters.size;
  expected.obs = { dtype: 'F32', shape: [n, counters.obsDim] };
  expected.actions = { dtype: 'F32', shape: [n, counters.actionDim] };
  expected.rewards = { dtype: 'F32', shape: [n] };
  expected.nextObs = { dtype: 'F32', shape: [n, counters.obsDim] };
  for (const [name, dim] of Object.entries(fields)) expected[FIELD_PREFIX + name] = { dtype: 'F32', shape: [n, dim] };
  expected.terminated = { dtype: 'U8', shape: [n] };
  expected.truncated = { dtype: 'U8', shape: [n] };

  for (const name of Object.keys(header)) {
    if (name !== '__metadata__' && !(name in expected)) fail(`unexpected tensor "${name}"`);
  }
  const arrays: Record<string, Float32Array | Uint8Array> = {};
  let covered = 0;
  for (const [name, want] of Object.entries(expected)) {
    const entry = header[name] as TensorEntry | undefined;
    if (!entry) fail(`tensor "${name}" is missing`);
    if (entry!.dtype !== want.dtype) fail(`tensor "${name}" has dtype ${entry!.dtype}, expected ${want.dtype}`);
    if (JSON.stringify(entry!.shape) !== JSON.stringify(want.shape)) {
      fail(`tensor "${name}" has shape [${entry!.shape}], expected [${want.shape}] from the stored counters`);
    }
    const [begin, end] = entry!.data_offsets ?? [];
    const width = want.dtype === 'F32' ? 4 : 1;
    const byteLength = want.shape.reduce((a, b) => a * b, 1) * width;
    if (!Number.isSafeInteger(begin) || end - begin !== byteLength) fail(`tensor "${name}" has data_offsets [${begin}, ${end}] for ${byteLength} bytes`);
    if (end > data.length) fail(`tensor "${name}" ends at byte ${end} but the data section has ${data.length} bytes (truncated?)`);
    // Copy into a fresh, aligned ArrayBuffer (Buffer#slice would share the pooled file buffer).
    const raw = new Uint8Array(byteLength);
    raw.set(data.subarray(begin, end));
    arrays[name] = want.dtype === 'F32' ? new Float32Array(raw.buffer) : raw;
    covered += byteLength;
  }
  if (covered !== data.length) fail(`data section has ${data.length} bytes but the tensors cover ${covered}`);
  if (digest !== meta!.sha256) fail('data checksum (sha256) does not match the header: the file is corrupted');

  const fieldData: Record<string, Float32Array> = {};
  for (const name of Object.keys(fields)) fieldData[name] = arrays[FIELD_PREFIX + name] as Float32Array;
  return {
    version: REPLAY_STATE_VERSION,
    capacity: counters.capacity,
    obsDim: counters.obsDim,
    actionDim: counters.actionDim,
    fields,
    size: counters.size,
    next: counters.next,
    totalAdded: counters.totalAdded,
    rng: counters.rng,
    obs: arrays.obs as Float32Array,
    actions: arrays.actions as Float32Array,
    rewards: arrays.rewards as Float32Array,
    nextObs: arrays.nextObs as Float32Array,
    terminated: arrays.terminated as Uint8Array,
    truncated: arrays.truncated as Uint8Array,
    fieldData,
  };
}

/** Write the buffer (contents, counters, sampling Rng) atomically: a crash leaves the old file intact. */
export function saveReplayBuffer(path: string, buffer: ReplayBuffer): void {
  writeFileAtomic(path, encodeReplayState(buffer.toState()));
}

/** Read a buffer saved by saveReplayBuffer; with `expect`, refuse one whose dims differ from the run's. */
export function loadReplayBuffer(path: string, expect: ReplayExpectation = {}): ReplayBuffer {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`${path}: cannot read replay buffer (${(err as Error).message})`);
  }
  const state = decodeReplayState(bytes, path);
  const mismatch = (what: string, file: unknown, want: unknown): never => {
    throw new Error(`${path}: replay buffer ${what} is ${file} but the run expects ${want}`);
  };
  if (expect.obsDim !== undefined && state.obsDim !== expect.obsDim) mismatch('obsDim', state.obsDim, expect.obsDim);
  if (expect.actionDim !== undefined && state.actionDim !== expect.actionDim) mismatch('actionDim', state.actionDim, expect.actionDim);
  if (expect.capacity !== undefined && state.capacity !== expect.capacity) mismatch('capacity', state.capacity, expect.capacity);
  if (expect.fields !== undefined) {
    const describe = (f: FieldDims): string => JSON.stringify(Object.fromEntries(Object.entries(f).sort(([a], [b]) => a.localeCompare(b))));
    if (describe(state.fields) !== describe(expect.fields)) mismatch('fields', describe(state.fields), describe(expect.fields));
  }
  try {
    return ReplayBuffer.fromState(state);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}
