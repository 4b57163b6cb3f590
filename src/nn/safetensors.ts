/**
 * safetensors (huggingface/safetensors format): u64 little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, then raw
 * little-endian tensor bytes. Written by hand because the format is ~60 lines and the npm packages
 * for it target other runtimes; this one runs in Node and the browser. Only F32 is read and written
 * (all dsrl parameters are float32); loading never executes code.
 */
import type { Model } from './module.ts';

export interface TensorEntry {
  shape: number[];
  data: Float32Array;
}

const MAX_HEADER = 100 * 1024 * 1024; // the reference implementation's limit

export function encodeSafetensors(tensors: Record<string, TensorEntry>, metadata: Record<string, string> = {}): Uint8Array {
  if (!littleEndian()) throw new Error('safetensors: big-endian hosts are not supported');
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const { shape, data } = tensors[name];
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`safetensors: tensor "${name}" has ${data.length} values but shape [${shape}]`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.length * 4] };
    offset += data.length * 4;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' '; // align tensor data to 8 bytes, as the reference writer does
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  const base = 8 + headerBytes.length;
  for (const name of names) {
    const [begin] = (header[name] as { data_offsets: [number, number] }).data_offsets;
    const src = tensors[name].data;
    // Copy via bytes: the payload offset need not be 4-aligned relative to out.buffer's start.
    out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), base + begin);
  }
  return out;
}

export interface DecodedSafetensors {
  tensors: Record<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** Parse and validate a safetensors buffer. `source` names the file in error messages. */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): DecodedSafetensors {
  const fail = (why: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) fail(`only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length) fail(`header length ${headerLen} exceeds the file size ${bytes.length}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (err) {
    return fail(`header is not JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: Record<string, TensorEntry> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header)) {
    // JSON.parse makes "__proto__" an own key; assigning it below would set a prototype instead of a
    // tensor, and the file would load as if the tensor were not there.
    if (name === '__proto__') fail('a tensor is named "__proto__", which is not allowed');
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as object)) {
        if (k === '__proto__') fail('__metadata__ has a key "__proto__", which is not allowed');
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (entry?.dtype !== 'F32') fail(`tensor "${name}" has dtype ${JSON.stringify(entry?.dtype)}; only F32 is supported`);
    if (!Array.isArray(entry.shape) || !entry.shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor "${name}" has a bad shape`);
    const offs = entry.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[1] < offs[0]) {
      fail(`tensor "${name}" has bad data_offsets`);
    }
    const [begin, end] = offs as [number, number];
    const shape = entry.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * 4) fail(`tensor "${name}" has ${end - begin} bytes for shape [${shape}] (needs ${count * 4})`);
    if (end > dataLen) fail(`tensor "${name}" ends at byte ${end} but the data section has ${dataLen} bytes (truncated file?)`);
    ranges.push([begin, end, name]);
    const copy = new Uint8Array(end - begin);
    copy.set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors[name] = { shape, data: new Float32Array(copy.buffer) };
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) fail(`tensors "${ranges[i - 1][2]}" and "${ranges[i][2]}" overlap`);
  }
  return { tensors, metadata };
}

/** A model's parameters as safetensors bytes. */
export function modelToSafetensors(model: Model, metadata: Record<string, string> = {}, prefix = ''): Uint8Array {
  return encodeSafetensors(modelTensors(model, prefix), metadata);
}

export function modelTensors(model: Model, prefix = ''): Record<string, TensorEntry> {
  const out: Record<string, TensorEntry> = {};
  for (const [name, p] of model.params) out[prefix + name] = { shape: [...p.shape], data: p.value };
  return out;
}

/**
 * Copy tensors into a model, checking that names and shapes match exactly (no missing, no extra).
 * `prefix` selects one model's tensors from a file that holds several (e.g. "actor.").
 */
export function loadModelTensors(model: Model, tensors: Record<string, TensorEntry>, source = 'checkpoint', prefix = ''): void {
  const expected = new Map(model.params.map(([n, p]) => [prefix + n, p]));
  const present = Object.keys(tensors).filter((n) => n.startsWith(prefix));
  const missing = [...expected.keys()].filter((n) => !(n in tensors));
  const extra = present.filter((n) => !expected.has(n));
  if (missing.length || extra.length) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` (+${missing.length - 5} more)` : ''}`);
    if (extra.length) parts.push(`unexpected ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ` (+${extra.length - 5} more)` : ''}`);
    throw new Error(`${source}: parameters do not match the model: ${parts.join('; ')}`);
  }
  for (const [name, p] of expected) {
    const t = tensors[name];
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new Error(`${source}: parameter "${name}" has shape [${t.shape}] but the model expects [${p.shape}]`);
    }
  }
  for (const [name, p] of expected) p.value.set(tensors[name].data);
}

function littleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
