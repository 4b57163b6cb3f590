/**
 * TensorBoard event-record encoding, written by hand: no maintained npm package writes tfevents
 * files, and the subset TensorBoard needs for scalars is small. Pure (no Node APIs), so it also
 * runs in a browser; the file-writing side is in tensorboard.ts.
 *
 * A tfevents file is a sequence of TFRecords:
 *   uint64 length (LE) | uint32 masked_crc32c(length bytes) | payload | uint32 masked_crc32c(payload)
 * and each payload is a `tensorflow.Event` protobuf:
 *   Event      { double wall_time = 1; int64 step = 2; string file_version = 3;
 *                Summary summary = 5; SessionLog session_log = 6; }
 *   Summary    { repeated Value value = 1; }
 *   Value      { string tag = 1; float simple_value = 2; }
 *   SessionLog { SessionStatus status = 1; }   // START = 1
 */

/** Reflected Castagnoli polynomial (CRC-32C, as used by TFRecord). */
const CRC32C_POLY = 0x82f63b78;

const CRC32C_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CRC32C_POLY : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli) of `bytes`, as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC32C_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** TFRecord's masking, so a CRC stored inside CRC'd data does not look like a CRC of itself. */
export function maskCrc(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

/** Wrap a payload in TFRecord framing. */
export function frameRecord(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + payload.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(payload.length), true);
  view.setUint32(8, maskCrc(crc32c(out.subarray(0, 8))), true);
  out.set(payload, 12);
  view.setUint32(12 + payload.length, maskCrc(crc32c(payload)), true);
  return out;
}

// Protobuf wire types.
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextEncoder();

/** Growable byte buffer with the few protobuf primitives the Event message needs. */
class ProtoWriter {
  private bytes = new Uint8Array(64);
  private length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + extra));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.bytes[this.length++] = b;
  }

  /** Base-128 varint of a value taken as uint64 (negative int64 becomes its two's complement). */
  varint(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  key(field: number, wireType: number): void {
    this.varint(BigInt((field << 3) | wireType));
  }

  double(field: number, value: number): void {
    this.key(field, WIRE_FIXED64);
    this.reserve(8);
    new DataView(this.bytes.buffer).setFloat64(this.length, value, true);
    this.length += 8;
  }

  float(field: number, value: number): void {
    this.key(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.bytes.buffer).setFloat32(this.length, value, true);
    this.length += 4;
  }

  int64(field: number, value: number): void {
    this.key(field, WIRE_VARINT);
    this.varint(BigInt(value));
  }

  bytesField(field: number, data: Uint8Array): void {
    this.key(field, WIRE_LENGTH_DELIMITED);
    this.varint(BigInt(data.length));
    this.reserve(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }

  string(field: number, text: string): void {
    this.bytesField(field, utf8.encode(text));
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

/** Version string TensorBoard expects in the first record of every events file. */
export const FILE_VERSION = 'brain.Event:2';

/** SessionLog.SessionStatus.START: tells TensorBoard to drop earlier-written points at step >= this one. */
const SESSION_LOG_START = 1n;

function eventHeader(w: ProtoWriter, wallTimeSeconds: number, step: number): void {
  if (!Number.isSafeInteger(step)) throw new Error(`tfevents: step must be an integer, got ${step}`);
  w.double(1, wallTimeSeconds);
  w.int64(2, step);
}

/** Event carrying only the file version: the first record of a file. */
export function encodeFileVersionEvent(wallTimeSeconds: number, step = 0): Uint8Array {
  const w = new ProtoWriter();
  eventHeader(w, wallTimeSeconds, step);
  w.string(3, FILE_VERSION);
  return w.finish();
}

/**
 * Event with SessionLog START at `step`: on a resumed run TensorBoard then discards points at
 * steps >= `step` written before the restart (what PyTorch's SummaryWriter(purge_step) writes).
 */
export function encodeSessionStartEvent(wallTimeSeconds: number, step: number): Uint8Array {
  const sessionLog = new ProtoWriter();
  sessionLog.key(1, WIRE_VARINT);
  sessionLog.varint(SESSION_LOG_START);
  const w = new ProtoWriter();
  eventHeader(w, wallTimeSeconds, step);
  w.bytesField(6, sessionLog.finish());
  return w.finish();
}

/** Event with one Summary holding a simple_value per tag (stored as float32, as TensorBoard does). */
export function encodeScalarsEvent(wallTimeSeconds: number, step: number, values: Iterable<readonly [tag: string, value: number]>): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, value] of values) {
    const v = new ProtoWriter();
    v.string(1, tag);
    v.float(2, value);
    summary.bytesField(1, v.finish());
  }
  const w = new ProtoWriter();
  eventHeader(w, wallTimeSeconds, step);
  w.bytesField(5, summary.finish());
  return w.finish();
}
