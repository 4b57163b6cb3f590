/**
 * Node adapter: D4RL datasets in HDF5 files (via h5wasm), and the dataset content hash.
 *
 * Reading accepts what h5py writes: any float or int dtype, bool (h5py's int8 FALSE/TRUE enum),
 * big-endian data, [N, 1] columns, extra keys (ignored). Metadata is read from a `metadata` group:
 * its attributes, and small datasets inside it (up to 16 values; D4RL's own files store e.g.
 * `metadata/algorithm` that way, next to policy weights, which are skipped), nested names joined
 * with '/'. Writing produces float32 arrays, uint8 flags (h5wasm
 * cannot create h5py's bool enum; `bool(x)` and numpy treat uint8 0/1 the same) and metadata as
 * attributes of the `metadata` group.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import h5wasm from 'h5wasm/node';
import {
  D4RL_KEYS, d4rlFromRawArrays, datasetHashInput, validateD4rlDataset,
  type D4rlDataset, type D4rlExpectation, type D4rlMetadata, type RawArray,
} from './d4rl.ts';

type H5Group = InstanceType<typeof h5wasm.Group>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** HDF5 files start with a signature at offset 0, 512, 1024, ... (after an optional user block). */
function hasHdf5Signature(path: string): boolean {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const probe = Buffer.alloc(8);
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      if (readSync(fd, probe, 0, 8, offset) === 8 && probe.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * One line for an error from h5wasm. With the throwing error handler on (see h5ready), a failed HDF5
 * call throws its whole error stack ("HDF5-DIAG: ... #000 ... #006 ...", ~40 lines) instead of printing
 * it; the innermost frame is the cause ("truncated file: eof = 100000, ..., stored_eof = 1970464").
 */
function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (!text.includes('HDF5-DIAG')) return text.split('\n')[0];
  const frames = text.split('\n').filter((l) => /^\s*#\d+:/.test(l));
  const last = frames[frames.length - 1];
  return last ? last.replace(/^.*? in [\w:]+\(\): /, '').trim() : 'HDF5 error';
}

let throwingHandler = false;
/** h5wasm, ready, with HDF5's error stack turned into exceptions rather than printed to stderr. */
async function h5ready(): Promise<void> {
  const module = (await h5wasm.ready) as unknown as { activate_throwing_error_handler?: () => void };
  if (!throwingHandler) {
    module.activate_throwing_error_handler?.();
    throwingHandler = true;
  }
}

function isGroup(entity: unknown): entity is H5Group {
  return entity instanceof h5wasm.Group;
}

function isDataset(entity: unknown): entity is H5Dataset {
  return entity instanceof h5wasm.Dataset;
}

/** A scalar or one-element metadata value as string | number; anything else as JSON text. */
function metadataValue(value: unknown): string | number {
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<unknown>).length === 1) return metadataValue((value as unknown as ArrayLike<unknown>)[0]);
  if (Array.isArray(value) && value.length === 1) return metadataValue(value[0]);
  // Short arrays become JSON text so every metadata value stays a string or a number.
  const plain = ArrayBuffer.isView(value) ? Array.from(value as unknown as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v)) : value;
  return JSON.stringify(plain);
}

const MAX_METADATA_VALUES = 16;

function readMetadata(group: H5Group, prefix: string, out: D4rlMetadata): void {
  for (const [name, attr] of Object.entries(group.attrs)) out[prefix + name] = metadataValue(attr.value);
  for (const name of group.keys()) {
    const child = group.get(name);
    if (isGroup(child)) readMetadata(child, `${prefix}${name}/`, out);
    else if (isDataset(child) && (child.shape === null || child.shape.reduce((a, b) => a * b, 1) <= MAX_METADATA_VALUES)) {
      out[prefix + name] = metadataValue(child.value);
    }
  }
}

/**
 * Read a D4RL dataset from an HDF5 file. With `expect`, a file whose obs/action dims differ from
 * the env's is refused. Errors name the file and the key.
 */
export async function readD4rl(path: string, options: { expect?: D4rlExpectation } = {}): Promise<D4rlDataset> {
  if (!existsSync(path)) throw new Error(`${path}: no such file`);
  if (!hasHdf5Signature(path)) throw new Error(`${path}: not an HDF5 file (no HDF5 signature)`);
  await h5ready();
  let file: InstanceType<typeof h5wasm.File>;
  try {
    file = new h5wasm.File(resolve(path), 'r');
  } catch (err) {
    throw new Error(`${path}: cannot open as HDF5 (truncated or corrupt?): ${messageOf(err)}`);
  }
  try {
    let keys: string[];
    try {
      keys = file.keys();
    } catch (err) {
      throw new Error(`${path}: cannot list the file's keys (truncated or corrupt?): ${messageOf(err)}`);
    }
    const raw: Partial<Record<string, RawArray>> = {};
    for (const key of D4RL_KEYS) {
      if (!keys.includes(key)) continue;
      let entity: unknown;
      let data: unknown;
      try {
        entity = file.get(key);
        if (!isDataset(entity)) throw new Error(`${path}: key "${key}" is not a dataset`);
        data = entity.value;
      } catch (err) {
        if (messageOf(err).startsWith(path)) throw err;
        throw new Error(`${path}: cannot read key "${key}" (truncated or corrupt?): ${messageOf(err)}`);
      }
      const dataset = entity as H5Dataset;
      const shape = dataset.shape ?? [];
      const numeric = ArrayBuffer.isView(data) && !(data instanceof DataView);
      if (!numeric) throw new Error(`${path}: key "${key}" has dtype ${JSON.stringify(dataset.dtype)}, expected a numeric or bool array`);
      raw[key] = { data: data as RawArray['data'], shape };
    }
    const metadata: D4rlMetadata = {};
    if (keys.includes('metadata')) {
      try {
        const group = file.get('metadata');
        if (isGroup(group)) readMetadata(group, '', metadata);
      } catch (err) {
        throw new Error(`${path}: cannot read the metadata group (truncated or corrupt?): ${messageOf(err)}`);
      }
    }
    return d4rlFromRawArrays(raw, { source: path, expect: options.expect, metadata });
  } finally {
    try {
      file.close();
    } catch {
      // a damaged file may fail to close too; the error that matters is already on its way
    }
  }
}

/**
 * Write a dataset as an HDF5 file with D4RL's keys, atomically: it is written to a temporary
 * file in the same folder, flushed to disk and renamed over `path`.
 */
export async function writeD4rl(path: string, dataset: D4rlDataset): Promise<void> {
  validateD4rlDataset(dataset, { source: path });
  await h5ready();
  const target = resolve(path);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${Date.now()}.tmp`);
  const n = dataset.size;
  try {
    const file = new h5wasm.File(tmp, 'w');
    try {
      file.create_dataset({ name: 'observations', data: dataset.observations, shape: [n, dataset.obsDim], dtype: '<f4' });
      file.create_dataset({ name: 'actions', data: dataset.actions, shape: [n, dataset.actionDim], dtype: '<f4' });
      file.create_dataset({ name: 'rewards', data: dataset.rewards, shape: [n], dtype: '<f4' });
      file.create_dataset({ name: 'next_observations', data: dataset.nextObservations, shape: [n, dataset.obsDim], dtype: '<f4' });
      file.create_dataset({ name: 'terminals', data: dataset.terminals, shape: [n], dtype: '<B' });
      file.create_dataset({ name: 'timeouts', data: dataset.timeouts, shape: [n], dtype: '<B' });
      const group = file.create_group('metadata');
      for (const [name, value] of Object.entries(dataset.metadata)) {
        if (name.length === 0) throw new Error(`${path}: metadata names must not be empty`);
        if (typeof value === 'number') group.create_attribute(name, value, null, '<d');
        else group.create_attribute(name, value);
      }
    } finally {
      file.close();
    }
    const fd = openSync(tmp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** SHA-256 (hex) over the dataset's arrays in canonical form (see datasetHashInput); metadata is not hashed. */
export function datasetHash(dataset: D4rlDataset): string {
  const hash = createHash('sha256');
  for (const chunk of datasetHashInput(dataset)) hash.update(chunk);
  return hash.digest('hex');
}
