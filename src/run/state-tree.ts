/**
 * Exact serialization of a state tree (what `agent.state()`, `env.getState()` or `loop.checkpoint()`
 * return: plain objects and arrays of JSON values, non-finite numbers and typed arrays) into one
 * safetensors file, so Python tools can open it too:
 *
 * - every typed array becomes a 1-D tensor (F64, F32, I32, U32, I16, U16, I8, U8), raw little-endian bytes;
 * - the rest of the tree is JSON in `__metadata__.tree`, with a typed array replaced by {"$tensor": name}
 *   and the numbers JSON cannot hold exactly by {"$number": "NaN" | "Infinity" | "-Infinity" | "-0"};
 *   `undefined` becomes {"$undefined": true}. Finite numbers round-trip exactly through JSON (shortest
 *   round-trip formatting), so the decoded tree equals the encoded one bit for bit.
 *
 * Object keys starting with '$' are reserved for these markers. Class instances, Maps, functions and
 * bigints are refused with the path of the offending value: store their `state()` instead.
 * Browser-safe (no Node imports); checksums and files live in checkpoint.ts.
 */

export const STATE_TREE_FORMAT = 'dsrl-state-tree';
export const STATE_TREE_VERSION = 1;

type TypedArray = Float64Array | Float32Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;
type TypedArrayConstructor = { new (buffer: ArrayBuffer): TypedArray; readonly BYTES_PER_ELEMENT: number; readonly name: string };

const DTYPES: ReadonlyArray<[string, TypedArrayConstructor]> = [
  ['F64', Float64Array],
  ['F32', Float32Array],
  ['I32', Int32Array],
  ['U32', Uint32Array],
  ['I16', Int16Array],
  ['U16', Uint16Array],
  ['I8', Int8Array],
  ['U8', Uint8Array],
];

function dtypeOf(value: unknown): string | null {
  for (const [dtype, ctor] of DTYPES) if (value instanceof ctor && value.constructor === ctor) return dtype;
  return null;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

interface TensorOut {
  name: string;
  dtype: string;
  data: TypedArray;
}

/** Encode a state tree into safetensors bytes. */
export function encodeStateTree(tree: unknown): Uint8Array {
  if (!littleEndian()) throw new Error('state tree: big-endian hosts are not supported');
  const tensors: TensorOut[] = [];
  const encode = (value: unknown, path: string): unknown => {
    if (value === undefined) return { $undefined: true };
    if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
    if (typeof value === 'number') {
      if (Number.isNaN(value)) return { $number: 'NaN' };
      if (value === Infinity) return { $number: 'Infinity' };
      if (value === -Infinity) return { $number: '-Infinity' };
      if (Object.is(value, -0)) return { $number: '-0' };
      return value;
    }
    if (typeof value !== 'object') throw new Error(`state tree: cannot store a ${typeof value} at ${path}`);
    const dtype = dtypeOf(value);
    if (dtype) {
      const name = `t${tensors.length}`;
      tensors.push({ name, dtype, data: value as TypedArray });
      return { $tensor: name };
    }
    if (ArrayBuffer.isView(value)) throw new Error(`state tree: unsupported typed array ${value.constructor.name} at ${path}`);
    if (Array.isArray(value)) return value.map((v, i) => encode(v, `${path}[${i}]`));
    if (!isPlainObject(value)) {
      throw new Error(`state tree: ${path} is a ${value.constructor?.name ?? 'non-plain object'}; store plain data (e.g. its state())`);
    }
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (key.startsWith('$')) throw new Error(`state tree: key "${key}" at ${path} starts with '$', which is reserved`);
      out[key] = encode(v, `${path}.${key}`);
    }
    return out;
  };
  const treeJson = JSON.stringify(encode(tree, '(root)'));

  const header: Record<string, unknown> = {
    __metadata__: { format: STATE_TREE_FORMAT, version: String(STATE_TREE_VERSION), tree: treeJson },
  };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: [t.data.length], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  let headerBytes = encoder.encode(json);
  // Pad with spaces (allowed by safetensors) so the tensor data starts 8-byte aligned.
  while ((8 + headerBytes.length) % 8 !== 0) {
    json += ' ';
    headerBytes = encoder.encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Decode bytes from encodeStateTree; `source` names the file in errors. Typed arrays come back as fresh copies. */
export function decodeStateTree(bytes: Uint8Array, source = 'state tree'): unknown {
  const fail = (why: string): never => {
    throw new Error(`${source}: not a valid ${STATE_TREE_FORMAT} file: ${why}`);
  };
  if (bytes.length < 8) fail(`only ${bytes.length} bytes (truncated?)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) fail(`header claims ${headerLength} bytes but only ${bytes.length - 8} follow (truncated?)`);
  const dataStart = 8 + Number(headerLength);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, dataStart)));
  } catch (err) {
    return fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const meta = header.__metadata__ as Record<string, unknown> | undefined;
  if (!meta || meta.format !== STATE_TREE_FORMAT) fail(`__metadata__.format is not "${STATE_TREE_FORMAT}"`);
  if (meta!.version !== String(STATE_TREE_VERSION)) fail(`version ${String(meta!.version)}, this build reads version ${STATE_TREE_VERSION}`);
  let encoded: unknown;
  try {
    encoded = JSON.parse(String(meta!.tree));
  } catch {
    return fail('__metadata__.tree is not valid JSON');
  }
  const data = bytes.subarray(dataStart);
  const tensorAt = (name: string, path: string): TypedArray => {
    const entry = header[name] as { dtype?: string; shape?: number[]; data_offsets?: [number, number] } | undefined;
    if (!entry || name === '__metadata__') return fail(`tensor "${name}" referenced at ${path} is missing`);
    const ctor = DTYPES.find(([d]) => d === entry.dtype)?.[1];
    if (!ctor) return fail(`tensor "${name}" has unsupported dtype ${String(entry.dtype)}`);
    const [begin, end] = entry.data_offsets ?? [NaN, NaN];
    const length = entry.shape?.[0] ?? NaN;
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(length) || end - begin !== length * ctor.BYTES_PER_ELEMENT) {
      return fail(`tensor "${name}" has inconsistent shape [${String(entry.shape)}] and data_offsets [${begin}, ${end}]`);
    }
    if (begin < 0 || end > data.length)
      return fail(`tensor "${name}" ends at byte ${end} but the data section has ${data.length} bytes (truncated?)`);
    // Copy into a fresh, aligned buffer: the file's bytes may sit at any offset.
    const raw = new Uint8Array(end - begin);
    raw.set(data.subarray(begin, end));
    return new ctor(raw.buffer);
  };
  const decode = (value: unknown, path: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v, i) => decode(v, `${path}[${i}]`));
    const obj = value as Record<string, unknown>;
    if ('$tensor' in obj) return tensorAt(String(obj.$tensor), path);
    if ('$undefined' in obj) return undefined;
    if ('$number' in obj) {
      const special: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };
      if (!(String(obj.$number) in special)) fail(`unknown number marker ${String(obj.$number)} at ${path}`);
      return special[String(obj.$number)];
    }
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(obj)) out[key] = decode(v, `${path}.${key}`);
    return out;
  };
  return decode(encoded, '(root)');
}

function littleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
