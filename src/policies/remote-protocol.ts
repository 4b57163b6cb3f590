/**
 * The remote-policy wire protocol (version 1), documented in docs/remote-protocol.md: one binary
 * WebSocket message per request or reply, laid out as
 *
 *   0   4 bytes  magic "DSRP"
 *   4   u16 LE   protocol version
 *   6   u16 LE   reserved, 0
 *   8   u32 LE   header length H (a multiple of 4; the JSON is padded with spaces)
 *   12  H bytes  header: UTF-8 JSON, {"type": ..., "id": ..., "bodies": [[name, shape], ...], ...}
 *   12+H         bodies: raw little-endian float32, in the order the header lists them
 *
 * JSON keeps the header readable and extensible; raw float32 keeps the payload compact and exact (what
 * the server's policy returned arrives bit for bit). Padding H to 4 keeps the bodies 4-byte aligned.
 *
 * Browser-safe: no Node imports (TextEncoder/TextDecoder and DataView only).
 */
import { z } from 'zod';

export const PROTOCOL_MAGIC = 'DSRP';
export const PROTOCOL_VERSION = 1;
const FIXED_HEADER_BYTES = 12;
/** Headers are small JSON objects; a larger one is malformed rather than worth parsing. */
export const MAX_HEADER_BYTES = 1 << 16;

export type ErrorCode = 'bad-request' | 'bad-shape' | 'unsupported-version' | 'too-large' | 'busy' | 'policy-error';

/** A message that does not follow the protocol; `code` is what a server answers with. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The request id, when the header got far enough to have one. */
    readonly id: number | null = null,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export interface Body {
  shape: number[];
  data: Float32Array;
}

export interface DecodedFrame {
  version: number;
  header: Record<string, unknown>;
  bodies: Map<string, Body>;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Build one frame: the fixed header, the padded JSON header (with `bodies` added), then the float32 bodies. */
export function encodeFrame(
  header: Record<string, unknown>,
  bodies: [name: string, shape: number[], data: Float32Array][] = [],
  version = PROTOCOL_VERSION,
): Uint8Array {
  for (const [name, shape, data] of bodies) {
    if (data.length < product(shape))
      throw new Error(`encodeFrame: body "${name}" has ${data.length} values, shape [${shape.join(', ')}] needs ${product(shape)}`);
  }
  const json = encoder.encode(JSON.stringify({ ...header, bodies: bodies.map(([name, shape]) => [name, shape]) }));
  const headerBytes = Math.ceil(json.length / 4) * 4;
  const bodyBytes = bodies.reduce((n, [, shape]) => n + 4 * product(shape), 0);
  const out = new Uint8Array(FIXED_HEADER_BYTES + headerBytes + bodyBytes);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = PROTOCOL_MAGIC.charCodeAt(i);
  view.setUint16(4, version, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, headerBytes, true);
  out.set(json, FIXED_HEADER_BYTES);
  out.fill(0x20, FIXED_HEADER_BYTES + json.length, FIXED_HEADER_BYTES + headerBytes);
  let off = FIXED_HEADER_BYTES + headerBytes;
  for (const [, shape, data] of bodies) {
    const n = product(shape);
    if (LITTLE_ENDIAN_HOST)
      out.set(new Uint8Array(data.buffer, data.byteOffset, 4 * n), off); // exact bits
    else for (let i = 0; i < n; i++) view.setFloat32(off + 4 * i, data[i], true);
    off += 4 * n;
  }
  return out;
}

const shapeSchema = z.array(z.number().int().nonnegative()).max(8);
const bodiesSchema = z.array(z.tuple([z.string(), shapeSchema])).max(16);

/** Parse a frame; throws ProtocolError naming what is wrong. Body data is copied out (aligned, owned). */
export function decodeFrame(bytes: Uint8Array): DecodedFrame {
  if (bytes.length < FIXED_HEADER_BYTES)
    throw new ProtocolError('bad-request', `message of ${bytes.length} bytes is shorter than the ${FIXED_HEADER_BYTES}-byte frame header`);
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== PROTOCOL_MAGIC.charCodeAt(i))
      throw new ProtocolError('bad-request', `message does not start with "${PROTOCOL_MAGIC}" (not a dsrl remote-policy frame)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== PROTOCOL_VERSION)
    throw new ProtocolError('unsupported-version', `protocol version ${version} is not supported (this side speaks ${PROTOCOL_VERSION})`);
  const headerBytes = view.getUint32(8, true);
  if (headerBytes > MAX_HEADER_BYTES || FIXED_HEADER_BYTES + headerBytes > bytes.length) {
    throw new ProtocolError('bad-request', `header length ${headerBytes} does not fit in a message of ${bytes.length} bytes`);
  }
  let header: unknown;
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + headerBytes)));
  } catch (err) {
    throw new ProtocolError('bad-request', `header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new ProtocolError('bad-request', 'header is not a JSON object');
  const h = header as Record<string, unknown>;
  const id = typeof h.id === 'number' && Number.isSafeInteger(h.id) ? h.id : null;
  const listed = bodiesSchema.safeParse(h.bodies ?? []);
  if (!listed.success)
    throw new ProtocolError('bad-request', 'header.bodies must be a list of [name, shape] pairs with non-negative integer dims', id);
  let off = FIXED_HEADER_BYTES + headerBytes;
  const need = listed.data.reduce((n, [, shape]) => n + 4 * product(shape), 0);
  if (off + need !== bytes.length) {
    throw new ProtocolError('bad-shape', `the header lists ${need} bytes of float32 bodies but the message carries ${bytes.length - off}`, id);
  }
  const bodies = new Map<string, Body>();
  for (const [name, shape] of listed.data) {
    if (bodies.has(name)) throw new ProtocolError('bad-request', `body "${name}" is listed twice`, id);
    const n = product(shape);
    const data = new Float32Array(n);
    if (LITTLE_ENDIAN_HOST) new Uint8Array(data.buffer).set(bytes.subarray(off, off + 4 * n));
    else for (let i = 0; i < n; i++) data[i] = view.getFloat32(off + 4 * i, true);
    bodies.set(name, { shape, data });
    off += 4 * n;
  }
  return { version, header: h, bodies };
}

// ---------------------------------------------------------------------------------------------
// Messages

/** What a server announces on connect. */
export interface PolicyInfo {
  obsDim: number;
  actDim: number;
  chunk: number;
  actionLow: number[];
  actionHigh: number[];
  /** Largest batch the server accepts in one request. */
  maxBatch: number;
  /** Requests one connection may have waiting or running; more are refused with `busy` (absent: no limit announced). */
  maxQueued?: number;
  /** Free-form description (producer, env id, model file). */
  info?: Record<string, unknown>;
}

const posInt = z.number().int().positive();
export const helloSchema = z.object({
  type: z.literal('hello'),
  obsDim: posInt,
  actDim: posInt,
  chunk: posInt,
  actionLow: z.array(z.number()),
  actionHigh: z.array(z.number()),
  maxBatch: posInt,
  maxQueued: posInt.optional(),
  info: z.record(z.string(), z.unknown()).optional(),
});

export function encodeHello(p: PolicyInfo): Uint8Array {
  return encodeFrame({ type: 'hello', ...p });
}

export function encodeActRequest(
  id: number,
  obs: Float32Array,
  noise: Float32Array,
  batch: number,
  dims: { obsDim: number; actDim: number; chunk: number },
): Uint8Array {
  return encodeFrame({ type: 'act', id }, [
    ['obs', [batch, dims.obsDim], obs],
    ['noise', [batch, dims.chunk, dims.actDim], noise],
  ]);
}

export function encodeActionsReply(id: number, actions: Float32Array, batch: number, chunk: number, actDim: number): Uint8Array {
  return encodeFrame({ type: 'actions', id }, [['actions', [batch, chunk, actDim], actions]]);
}

export function encodeErrorReply(id: number | null, code: ErrorCode, message: string): Uint8Array {
  return encodeFrame({ type: 'error', id, code, message });
}

export type ServerMessage =
  | { type: 'hello'; hello: PolicyInfo }
  | { type: 'actions'; id: number; actions: Body }
  | { type: 'error'; id: number | null; code: string; message: string };

/** Decode what a server sent (client side); throws ProtocolError for anything else. */
export function decodeServerMessage(bytes: Uint8Array): ServerMessage {
  const { header, bodies } = decodeFrame(bytes);
  switch (header.type) {
    case 'hello': {
      const res = helloSchema.safeParse(header);
      if (!res.success)
        throw new ProtocolError('bad-request', `invalid hello: ${res.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      const { type: _type, ...hello } = res.data;
      return { type: 'hello', hello };
    }
    case 'actions': {
      const actions = bodies.get('actions');
      if (typeof header.id !== 'number' || !actions)
        throw new ProtocolError('bad-request', 'an "actions" reply needs a numeric id and an "actions" body');
      return { type: 'actions', id: header.id, actions };
    }
    case 'error':
      return {
        type: 'error',
        id: typeof header.id === 'number' ? header.id : null,
        code: String(header.code ?? 'unknown'),
        message: String(header.message ?? '(no message)'),
      };
    default:
      throw new ProtocolError('bad-request', `unknown message type ${JSON.stringify(header.type)} from the server`);
  }
}

export interface ActRequest {
  id: number;
  batch: number;
  obs: Float32Array;
  noise: Float32Array;
}

/** Decode and check a request (server side) against the served policy's dims; throws ProtocolError. */
export function decodeActRequest(bytes: Uint8Array, dims: { obsDim: number; actDim: number; chunk: number }, maxBatch: number): ActRequest {
  const { header, bodies } = decodeFrame(bytes);
  const id = header.id;
  if (header.type !== 'act')
    throw new ProtocolError(
      'bad-request',
      `expected a request of type "act", got ${JSON.stringify(header.type)}`,
      typeof id === 'number' ? id : null,
    );
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new ProtocolError('bad-request', 'an "act" request needs an integer id');
  const obs = bodies.get('obs');
  const noise = bodies.get('noise');
  if (!obs || !noise)
    throw new ProtocolError(
      'bad-request',
      `an "act" request needs bodies "obs" and "noise", got ${[...bodies.keys()].map((k) => `"${k}"`).join(', ') || 'none'}`,
      id,
    );
  const batch = obs.shape[0];
  const fmt = (s: number[]) => `[${s.join(', ')}]`;
  if (obs.shape.length !== 2 || obs.shape[1] !== dims.obsDim || !(batch >= 1)) {
    throw new ProtocolError('bad-shape', `obs has shape ${fmt(obs.shape)}, expected [B, ${dims.obsDim}] with B >= 1`, id);
  }
  if (noise.shape.length !== 3 || noise.shape[0] !== batch || noise.shape[1] !== dims.chunk || noise.shape[2] !== dims.actDim) {
    throw new ProtocolError('bad-shape', `noise has shape ${fmt(noise.shape)}, expected [${batch}, ${dims.chunk}, ${dims.actDim}]`, id);
  }
  if (batch > maxBatch) throw new ProtocolError('too-large', `batch ${batch} exceeds the server's limit of ${maxBatch}`, id);
  // A NaN or infinite input would come back as NaN actions: refuse it where the cause is visible.
  for (const [name, body, width] of [
    ['obs', obs, dims.obsDim],
    ['noise', noise, dims.chunk * dims.actDim],
  ] as const) {
    const bad = body.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new ProtocolError(
        'bad-request',
        `${name} row ${Math.floor(bad / width)}, column ${bad % width} is ${body.data[bad]}; inputs must be finite`,
        id,
      );
    }
  }
  return { id, batch, obs: obs.data, noise: noise.data };
}
