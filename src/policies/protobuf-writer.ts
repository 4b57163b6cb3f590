/**
 * Protobuf wire encoding, the part of protobuf an ONNX writer needs (src/policies/onnx-writer.ts): each
 * field is a tag (field number << 3 | wire type) followed by a varint, a fixed32, or a length-delimited
 * payload. Hand-written for the reason onnx-writer.ts gives. Browser-safe: no Node imports.
 */
export const WIRE_VARINT = 0;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/**
 * Protobuf message under construction: a list of byte chunks, so nested messages and large tensor
 * payloads are appended without being copied until finish().
 */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private scratch: number[] = [];
  private size = 0;

  get length(): number {
    return this.size + this.scratch.length;
  }

  private flushScratch(): void {
    if (this.scratch.length > 0) {
      this.parts.push(Uint8Array.from(this.scratch));
      this.size += this.scratch.length;
      this.scratch = [];
    }
  }

  private push(bytes: Uint8Array): void {
    this.flushScratch();
    this.parts.push(bytes);
    this.size += bytes.length;
  }

  /** Unsigned varint; negative int64 values use the 10-byte two's-complement form protobuf requires. */
  varint(value: number | bigint): void {
    let v = typeof value === 'bigint' ? value : BigInt(checkedInteger(value));
    if (v < 0n) v = BigInt.asUintN(64, v);
    if (v <= 0x7fffffffn) {
      let n = Number(v);
      while (n > 0x7f) {
        this.scratch.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      this.scratch.push(n);
      return;
    }
    while (v > 0x7fn) {
      this.scratch.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.scratch.push(Number(v));
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, value: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    for (const x of b) this.scratch.push(x);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(data.length);
    this.push(data);
  }

  string(field: number, text: string): void {
    this.bytes(field, utf8.encode(text));
  }

  message(field: number, msg: ProtoWriter): void {
    this.tag(field, WIRE_LEN);
    this.varint(msg.length);
    msg.flushScratch();
    for (const p of msg.parts) this.push(p);
  }

  /** Packed repeated varints (proto3 default for repeated scalars). */
  packedInts(field: number, values: readonly (number | bigint)[]): void {
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(v);
    this.message(field, inner);
  }

  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

export const utf8 = new TextEncoder();

export function checkedInteger(value: number): number {
  if (!Number.isSafeInteger(value)) throw new Error(`onnx writer: ${value} is not an integer that protobuf can encode exactly`);
  return value;
}
