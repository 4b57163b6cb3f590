/**
 * Node adapter: the h5wasm plumbing both dataset layouts share (src/data/hdf5.ts): opening a file with
 * one-line errors, reading arrays, attributes and groups under a guard that names the file and the key,
 * and writing a file atomically.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import h5wasm from 'h5wasm/node';
import type { RawArray } from './d4rl.ts';

export type H5Group = InstanceType<typeof h5wasm.Group>;
export type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** HDF5 files start with a signature at offset 0, 512, 1024, ... (after an optional user block). */
export function hasHdf5Signature(path: string): boolean {
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
export function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (!text.includes('HDF5-DIAG')) return text.split('\n')[0];
  const frames = text.split('\n').filter((l) => /^\s*#\d+:/.test(l));
  const last = frames[frames.length - 1];
  return last ? last.replace(/^.*? in [\w:]+\(\): /, '').trim() : 'HDF5 error';
}

let throwingHandler = false;
/** h5wasm, ready, with HDF5's error stack turned into exceptions rather than printed to stderr. */
export async function h5ready(): Promise<void> {
  const module = (await h5wasm.ready) as unknown as { activate_throwing_error_handler?: () => void };
  if (!throwingHandler) {
    module.activate_throwing_error_handler?.();
    throwingHandler = true;
  }
}

export function isGroup(entity: unknown): entity is H5Group {
  return entity instanceof h5wasm.Group;
}

export function isDataset(entity: unknown): entity is H5Dataset {
  return entity instanceof h5wasm.Dataset;
}

/** A scalar or one-element metadata value as string | number; anything else as JSON text. */
export function metadataValue(value: unknown): string | number {
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<unknown>).length === 1) return metadataValue((value as unknown as ArrayLike<unknown>)[0]);
  if (Array.isArray(value) && value.length === 1) return metadataValue(value[0]);
  // Short arrays become JSON text so every metadata value stays a string or a number.
  const plain = ArrayBuffer.isView(value) ? Array.from(value as unknown as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v)) : value;
  return JSON.stringify(plain);
}

/** Open an HDF5 file for reading with the one-line errors of readD4rl. */
export async function openHdf5(path: string): Promise<InstanceType<typeof h5wasm.File>> {
  if (!existsSync(path)) throw new Error(`${path}: no such file`);
  if (!hasHdf5Signature(path)) throw new Error(`${path}: not an HDF5 file (no HDF5 signature)`);
  await h5ready();
  try {
    return new h5wasm.File(resolve(path), 'r');
  } catch (err) {
    throw new Error(`${path}: cannot open as HDF5 (truncated or corrupt?): ${messageOf(err)}`);
  }
}

/** Run `read` on an open file; any h5wasm failure becomes one line naming the file and `key`. */
export function guarded<T>(path: string, key: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof Error && err.message.startsWith(`${path}: `)) throw err;
    throw new Error(`${path}: cannot read key "${key}" (truncated or corrupt?): ${messageOf(err)}`);
  }
}

export function readNumericArray(path: string, group: H5Group, name: string, key: string): RawArray {
  return guarded(path, key, () => {
    const entity = group.get(name);
    if (!isDataset(entity)) throw new Error(`${path}: key "${key}" is not a dataset`);
    const data = entity.value;
    if (!(ArrayBuffer.isView(data) && !(data instanceof DataView))) {
      throw new Error(`${path}: key "${key}" has dtype ${JSON.stringify(entity.dtype)}, expected a numeric or bool array`);
    }
    return { data: data as RawArray['data'], shape: entity.shape ?? [] };
  });
}

export function readAttrs(path: string, group: H5Group, key: string): Record<string, string | number> {
  return guarded(path, key, () => {
    const out: Record<string, string | number> = {};
    for (const [name, attr] of Object.entries(group.attrs)) out[name] = metadataValue(attr.value);
    return out;
  });
}

export function childGroup(path: string, parent: H5Group, name: string, key: string): H5Group {
  const entity = guarded(path, key, () => parent.get(name));
  if (!isGroup(entity)) throw new Error(`${path}: key "${key}" is not a group`);
  return entity;
}

export function readKeyGroup(path: string, parent: H5Group, name: string, key: string): Record<string, RawArray> {
  const group = childGroup(path, parent, name, key);
  const out: Record<string, RawArray> = {};
  for (const k of guarded(path, key, () => group.keys())) out[k] = readNumericArray(path, group, k, `${key}/${k}`);
  return out;
}

export function closeQuietly(file: InstanceType<typeof h5wasm.File>): void {
  try {
    file.close();
  } catch {
    // a damaged file may fail to close too; the error that matters is already on its way
  }
}

/**
 * Write an HDF5 file atomically: `fill` writes it to a temporary file in the same folder, which is flushed to
 * disk and renamed over `path`; on any failure the temporary file goes and `path` is untouched.
 */
export async function writeHdf5Atomically(path: string, fill: (file: InstanceType<typeof h5wasm.File>) => void): Promise<void> {
  await h5ready();
  const target = resolve(path);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const file = new h5wasm.File(tmp, 'w');
    try {
      fill(file);
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
