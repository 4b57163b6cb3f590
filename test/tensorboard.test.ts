import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TensorBoardWriter } from '../src/run/tensorboard.ts';
import { crc32c, encodeScalarsEvent, frameRecord, maskCrc } from '../src/run/tfevents.ts';

// --- An independent minimal reader: bitwise CRC (no table), hand-rolled protobuf walk. ---

function crc32cBitwise(bytes: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

function masked(crc: number): number {
  const rotated = ((crc >>> 15) | (crc << 17)) >>> 0;
  return (rotated + 0xa282ead8) % 2 ** 32;
}

interface Field {
  field: number;
  wire: number;
  varint?: bigint;
  bytes?: Uint8Array;
}

function readFields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(readVarint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, varint: readVarint() });
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      out.push({ field, wire, bytes: buf.slice(pos, pos + n) });
      pos += n;
    } else if (wire === 2) {
      const n = Number(readVarint());
      out.push({ field, wire, bytes: buf.slice(pos, pos + n) });
      pos += n;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  if (pos !== buf.length) throw new Error('message overran its bytes');
  return out;
}

interface DecodedEvent {
  wallTime: number;
  step: bigint;
  fileVersion?: string;
  sessionStatus?: bigint;
  values: { tag: string; value: number }[];
}

function decodeEvent(payload: Uint8Array): DecodedEvent {
  const ev: DecodedEvent = { wallTime: NaN, step: 0n, values: [] };
  const text = new TextDecoder();
  for (const f of readFields(payload)) {
    if (f.field === 1 && f.wire === 1) ev.wallTime = Buffer.from(f.bytes!).readDoubleLE(0);
    else if (f.field === 2 && f.wire === 0) ev.step = BigInt.asIntN(64, f.varint!);
    else if (f.field === 3 && f.wire === 2) ev.fileVersion = text.decode(f.bytes!);
    else if (f.field === 6 && f.wire === 2) ev.sessionStatus = readFields(f.bytes!).find((g) => g.field === 1)!.varint;
    else if (f.field === 5 && f.wire === 2) {
      for (const v of readFields(f.bytes!)) {
        expect(v.field).toBe(1);
        let tag = '';
        let value = NaN;
        for (const g of readFields(v.bytes!)) {
          if (g.field === 1 && g.wire === 2) tag = text.decode(g.bytes!);
          else if (g.field === 2 && g.wire === 5) value = Buffer.from(g.bytes!).readFloatLE(0);
          else throw new Error(`unexpected Value field ${g.field}/${g.wire}`);
        }
        ev.values.push({ tag, value });
      }
    } else throw new Error(`unexpected Event field ${f.field}/${f.wire}`);
  }
  return ev;
}

function readRecords(file: Uint8Array): Uint8Array[] {
  const buf = Buffer.from(file);
  const records: Uint8Array[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) throw new Error('truncated header');
    const len = Number(buf.readBigUInt64LE(pos));
    expect(buf.readUInt32LE(pos + 8)).toBe(masked(crc32cBitwise(buf.subarray(pos, pos + 8))));
    const payload = buf.subarray(pos + 12, pos + 12 + len);
    expect(payload.length).toBe(len);
    expect(buf.readUInt32LE(pos + 12 + len)).toBe(masked(crc32cBitwise(payload)));
    records.push(new Uint8Array(payload));
    pos += 12 + len + 4;
  }
  return records;
}

const ascii = (s: string) => new TextEncoder().encode(s);

describe('crc32c', () => {
  it('matches published test vectors', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    // RFC 3720 appendix B.4.
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('agrees with a bitwise implementation on varied input', () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) & 0xff);
    for (const n of [1, 2, 7, 63, 999, 1000]) expect(crc32c(data.subarray(0, n))).toBe(crc32cBitwise(data.subarray(0, n)));
  });

  it('masks like TFRecord', () => {
    for (const c of [0, 1, 0xe3069283, 0xffffffff]) expect(maskCrc(c)).toBe(masked(c));
    expect(maskCrc(0)).toBe(0xa282ead8);
  });
});

describe('tfevents encoding', () => {
  it('frames and encodes a scalar event that decodes back', () => {
    const payload = encodeScalarsEvent(1700000000.25, 300, [
      ['losses/qf_loss', 0.5],
      ['charts/episodic_return', -12.75],
    ]);
    const [rec] = readRecords(frameRecord(payload));
    const ev = decodeEvent(rec);
    expect(ev.wallTime).toBe(1700000000.25);
    expect(ev.step).toBe(300n);
    expect(ev.values).toEqual([
      { tag: 'losses/qf_loss', value: 0.5 },
      { tag: 'charts/episodic_return', value: -12.75 },
    ]);
  });

  it('encodes large and negative steps as int64 varints', () => {
    for (const step of [0, 127, 128, 2 ** 40 + 3, -1, Number.MAX_SAFE_INTEGER]) {
      expect(decodeEvent(encodeScalarsEvent(0, step, [['a', 1]])).step).toBe(BigInt(step));
    }
    expect(() => encodeScalarsEvent(0, 1.5, [])).toThrow(/integer/);
  });

  it('keeps non-ASCII tags and non-finite values', () => {
    const ev = decodeEvent(
      encodeScalarsEvent(0, 1, [
        ['eval/ρ', NaN],
        ['x', Infinity],
      ]),
    );
    expect(ev.values[0].tag).toBe('eval/ρ');
    expect(ev.values[0].value).toBeNaN();
    expect(ev.values[1].value).toBe(Infinity);
  });
});

describe('TensorBoardWriter', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'dsrl-tb-'));
    dirs.push(d);
    return d;
  };

  it('writes a file TensorBoard can read: version record first, then scalars', () => {
    const dir = tempDir();
    let t = 1_700_000_000_000;
    const w = new TensorBoardWriter(dir, { now: () => t, host: 'box.local' });
    expect(w.path).toBe(join(dir, 'events.out.tfevents.1700000000.box.local'));
    for (let step = 0; step < 50; step++) {
      t += 10;
      w.addScalars(step * 100, { 'charts/episodic_return': step * 0.5, 'losses/qf_loss': 1 / (step + 1) });
    }
    w.addScalar('eval/return', 42, 5000);
    w.close();

    const events = readRecords(readFileSync(w.path)).map(decodeEvent);
    expect(events).toHaveLength(52);
    expect(events[0].fileVersion).toBe('brain.Event:2');
    expect(events[0].wallTime).toBe(1_700_000_000);
    for (let i = 0; i < 50; i++) {
      const ev = events[i + 1];
      expect(ev.step).toBe(BigInt(i * 100));
      expect(ev.values.map((v) => v.tag)).toEqual(['charts/episodic_return', 'losses/qf_loss']);
      expect(ev.values[0].value).toBe(i * 0.5);
      expect(ev.values[1].value).toBeCloseTo(1 / (i + 1), 6);
    }
    expect(events[51]).toMatchObject({ step: 5000n, values: [{ tag: 'eval/return', value: 42 }] });
    expect(events[51].wallTime).toBeCloseTo(1_700_000_000.5, 6);
  });

  it('buffers, then flushes once the flush interval has passed', () => {
    const dir = tempDir();
    let t = 0;
    const w = new TensorBoardWriter(dir, { now: () => t, host: 'h', flushEveryMs: 1000 });
    w.addScalar('a', 1, 1);
    expect(readFileSync(w.path).length).toBe(0);
    t = 999;
    w.addScalar('a', 2, 2);
    expect(readFileSync(w.path).length).toBe(0);
    t = 1000;
    w.addScalar('a', 3, 3);
    expect(readRecords(readFileSync(w.path))).toHaveLength(4);
    w.addScalar('a', 4, 4);
    w.flush();
    expect(readRecords(readFileSync(w.path))).toHaveLength(5);
    w.close();
    expect(() => w.addScalar('a', 5, 5)).toThrow(/after close/);
  });

  it('writes a purge marker on resume and never reuses a file name', () => {
    const dir = tempDir();
    const now = () => 5_000;
    const first = new TensorBoardWriter(dir, { now, host: 'h' });
    first.close();
    const resumed = new TensorBoardWriter(dir, { now, host: 'h', purgeStep: 1001 });
    resumed.addScalar('a', 1, 1001);
    resumed.close();
    expect(readdirSync(dir).sort()).toEqual(['events.out.tfevents.5.h', 'events.out.tfevents.5.h.1']);
    const events = readRecords(readFileSync(resumed.path)).map(decodeEvent);
    expect(events[0]).toMatchObject({ fileVersion: 'brain.Event:2', step: 1001n });
    expect(events[1]).toMatchObject({ sessionStatus: 1n, step: 1001n });
    expect(events[2].values).toEqual([{ tag: 'a', value: 1 }]);
  });
});
