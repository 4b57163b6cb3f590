/**
 * Node adapter: datasets in HDF5 files (via h5wasm; plumbing in h5-file.ts) in D4RL's layout and in
 * robomimic's (src/data/robomimic.ts has that layout, its checks and its flattening), and the dataset
 * content hash.
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
import h5wasm from 'h5wasm/node';
import {
  D4RL_KEYS, d4rlFromRawArrays, datasetHashInput, validateD4rlDataset,
  type D4rlDataset, type D4rlExpectation, type D4rlMetadata, type RawArray,
} from './d4rl.ts';
import {
  childGroup, closeQuietly, guarded, isDataset, isGroup, messageOf, metadataValue, openHdf5,
  readAttrs, readKeyGroup, readNumericArray, writeHdf5Atomically, type H5Dataset, type H5Group,
} from './h5-file.ts';
import { robomimicFromRaw, validateRobomimic, type RawDemo, type RobomimicDataset } from './robomimic.ts';
import { robomimicToD4rl } from './robomimic-d4rl.ts';

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
  const file = await openHdf5(path);
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
    closeQuietly(file);
  }
}

/**
 * Write a dataset as an HDF5 file with D4RL's keys, atomically: it is written to a temporary
 * file in the same folder, flushed to disk and renamed over `path`.
 */
export async function writeD4rl(path: string, dataset: D4rlDataset): Promise<void> {
  validateD4rlDataset(dataset, { source: path });
  const n = dataset.size;
  await writeHdf5Atomically(path, (file) => {
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
  });
}

/** SHA-256 (hex) over the dataset's arrays in canonical form (see datasetHashInput); metadata is not hashed. */
export function datasetHash(dataset: D4rlDataset): string {
  const hash = createHash('sha256');
  for (const chunk of datasetHashInput(dataset)) hash.update(chunk);
  return hash.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// robomimic layout (src/data/robomimic.ts has the layout, its checks and the conversion)

/** The per-demo datasets read besides obs/ and next_obs/. */
const ROBOMIMIC_ARRAYS = ['actions', 'rewards', 'dones', 'states'] as const;

/** Which layout an HDF5 file is in: 'robomimic' (a `data` group, no `observations`) or 'd4rl'. */
export async function detectHdf5Layout(path: string): Promise<'robomimic' | 'd4rl'> {
  const file = await openHdf5(path);
  try {
    const keys = guarded(path, '/', () => file.keys());
    if (keys.includes('observations')) return 'd4rl';
    if (keys.includes('data') && isGroup(guarded(path, 'data', () => file.get('data')))) return 'robomimic';
    return 'd4rl'; // its reader names the missing keys
  } finally {
    closeQuietly(file);
  }
}

/** Read a robomimic-layout file (see robomimic.ts). Errors are one line naming the file and the key. */
export async function readRobomimic(path: string): Promise<RobomimicDataset> {
  const file = await openHdf5(path);
  try {
    const keys = guarded(path, '/', () => file.keys());
    if (!keys.includes('data')) throw new Error(`${path}: missing key "data" (not a robomimic-layout file; found: ${keys.join(', ') || 'none'})`);
    const data = childGroup(path, file, 'data', 'data');
    const dataAttrs = readAttrs(path, data, 'data');
    let envArgs: Record<string, unknown> = {};
    if (dataAttrs.env_args !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(dataAttrs.env_args));
      } catch {
        throw new Error(`${path}: attribute "data.env_args" is not JSON text`);
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${path}: attribute "data.env_args" is not a JSON object`);
      envArgs = parsed as Record<string, unknown>;
    }
    let total: number | undefined;
    if (dataAttrs.total !== undefined) {
      total = Number(dataAttrs.total);
      if (!Number.isSafeInteger(total) || total < 0) throw new Error(`${path}: attribute "data.total" is ${String(dataAttrs.total).slice(0, 40)}, expected a count`);
    }
    const demos: RawDemo[] = [];
    for (const name of guarded(path, 'data', () => data.keys())) {
      const key = `data/${name}`;
      const group = childGroup(path, data, name, key);
      const members = guarded(path, key, () => group.keys());
      const demo: RawDemo = { name, obs: {}, attrs: readAttrs(path, group, key) };
      for (const array of ROBOMIMIC_ARRAYS) {
        if (members.includes(array)) demo[array] = readNumericArray(path, group, array, `${key}/${array}`);
      }
      if (!members.includes('obs')) throw new Error(`${path}: missing key "${key}/obs"`);
      demo.obs = readKeyGroup(path, group, 'obs', `${key}/obs`);
      if (members.includes('next_obs')) demo.nextObs = readKeyGroup(path, group, 'next_obs', `${key}/next_obs`);
      demos.push(demo);
    }
    const masks: Record<string, string[]> = {};
    if (keys.includes('mask')) {
      const mask = childGroup(path, file, 'mask', 'mask');
      for (const name of guarded(path, 'mask', () => mask.keys())) {
        const key = `mask/${name}`;
        masks[name] = guarded(path, key, () => {
          const entity = mask.get(name);
          if (!isDataset(entity)) throw new Error(`${path}: key "${key}" is not a dataset`);
          // An empty mask holds no names, so its dtype says nothing (writeRobomimic gives it '<B'; h5py may give another).
          if (entity.shape?.length === 1 && entity.shape[0] === 0) return [];
          const value = entity.value;
          // h5py writes demo names as fixed-length bytes; h5wasm returns them as strings.
          const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : null;
          if (list === null || !list.every((v) => typeof v === 'string')) throw new Error(`${path}: key "${key}" holds ${JSON.stringify(entity.dtype)}, expected demo names (strings)`);
          return list as string[];
        });
      }
    }
    return robomimicFromRaw({ envArgs, total, demos, masks }, path);
  } finally {
    closeQuietly(file);
  }
}

const GZIP_MIN_BYTES = 16384;

/**
 * Write a robomimic-layout file, atomically (temporary file, fsync, rename). Arrays of 16 KB or more (in practice
 * the states) are gzip-compressed, one chunk each; the rest are stored contiguously.
 */
export async function writeRobomimic(path: string, ds: RobomimicDataset): Promise<void> {
  validateRobomimic(ds, path);
  // gzip only large arrays (the states): a chunked dataset's index costs more than gzip saves on a small one
  // (measured on 60 Lift demos: everything gzipped 5.5 MB, nothing 9.0 MB, states alone 4.0 MB).
  const put = (group: H5Group, name: string, data: Float32Array | Float64Array | Uint8Array, shape: number[], dtype: string) =>
    group.create_dataset({ name, data, shape, dtype, ...(data.byteLength >= GZIP_MIN_BYTES ? { chunks: shape, compression: 'gzip' as const, compression_opts: 9 } : {}) });
  await writeHdf5Atomically(path, (file) => {
    const data = file.create_group('data');
    data.create_attribute('env_args', JSON.stringify(ds.envArgs));
    data.create_attribute('total', ds.demos.reduce((s, d) => s + d.length, 0), null, '<i');
    for (const d of ds.demos) {
      const T = d.length;
      const g = data.create_group(d.name);
      g.create_attribute('num_samples', T, null, '<i');
      for (const [name, value] of Object.entries(d.attrs)) {
        if (typeof value === 'string') g.create_attribute(name, value);
        else g.create_attribute(name, value, null, Number.isInteger(value) && Math.abs(value) < 2 ** 31 ? '<i' : '<d');
      }
      put(g, 'actions', d.actions, [T, ds.actionDim], '<f4');
      put(g, 'rewards', d.rewards, [T], '<f4');
      put(g, 'dones', d.dones, [T], '<B');
      put(g, 'states', d.states, [T, ds.stateDim], '<d');
      const obs = g.create_group('obs');
      const next = g.create_group('next_obs');
      for (const k of ds.obsKeys) {
        put(obs, k.name, d.obs[k.name], [T, k.dim], '<f4');
        put(next, k.name, d.nextObs[k.name], [T, k.dim], '<f4');
      }
    }
    const mask = file.create_group('mask');
    for (const [name, list] of Object.entries(ds.masks)) {
      // Fixed-length ASCII strings, as h5py writes numpy bytes (robomimic reads them with .decode()).
      const width = Math.max(1, ...list.map((s) => s.length));
      if (list.length > 0) mask.create_dataset({ name, data: list, shape: [list.length], dtype: `A${width}` });
      else mask.create_dataset({ name, data: new Uint8Array(0), shape: [0], dtype: '<B' });
    }
  });
}

/**
 * Read a dataset in either layout as the flat D4RL dataset `dsrl pretrain` trains on: the layout is told by the
 * file's groups (detectHdf5Layout); a robomimic file is flattened by robomimicToD4rl.
 */
export async function readDataset(path: string, options: { expect?: D4rlExpectation; filterKey?: string } = {}): Promise<D4rlDataset> {
  if ((await detectHdf5Layout(path)) === 'd4rl') {
    if (options.filterKey !== undefined) throw new Error(`${path}: a D4RL-layout file has no masks for --filter-key`);
    return readD4rl(path, { expect: options.expect });
  }
  const ds = robomimicToD4rl(await readRobomimic(path), { source: path, filterKey: options.filterKey });
  validateD4rlDataset(ds, { source: path, expect: options.expect });
  return ds;
}
