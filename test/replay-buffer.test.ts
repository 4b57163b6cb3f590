import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { ReplayBuffer, type Transition } from '../src/data/replay-buffer.ts';
import { tdTargets } from '../src/algos/losses.ts';
import { decodeReplayState, encodeReplayState, loadReplayBuffer, saveReplayBuffer } from '../src/data/replay-io.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsrl-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Transition number `id`: every value encodes id so a stored row can be traced back. */
function transition(id: number, obsDim = 3, actionDim = 2, extra?: Record<string, number>): Transition {
  const fields: Record<string, number[]> = {};
  for (const [name, dim] of Object.entries(extra ?? {})) fields[name] = Array.from({ length: dim }, (_, j) => -id - j / 10);
  return {
    obs: Array.from({ length: obsDim }, (_, j) => id + j / 100),
    action: Array.from({ length: actionDim }, (_, j) => id * 10 + j),
    reward: id * 0.5,
    nextObs: Array.from({ length: obsDim }, (_, j) => id + 1 + j / 100),
    terminated: id % 7 === 3,
    truncated: id % 5 === 4,
    fields: extra ? fields : undefined,
  };
}

function filled(capacity: number, count: number, seed = 1, extra?: Record<string, number>): ReplayBuffer {
  const buffer = new ReplayBuffer({ capacity, obsDim: 3, actionDim: 2, fields: extra, seed });
  for (let id = 0; id < count; id++) buffer.add(transition(id, 3, 2, extra));
  return buffer;
}

/** The transition id held in each slot, read back through gather. */
function idsBySlot(buffer: ReplayBuffer): number[] {
  const out = buffer.createBatch(buffer.size);
  buffer.gather(
    Array.from({ length: buffer.size }, (_, i) => i),
    out,
  );
  return Array.from({ length: buffer.size }, (_, b) => Math.round(out.obs[b * buffer.obsDim]));
}

describe('ReplayBuffer construction', () => {
  it('rejects bad dimensions, reserved or malformed field names, and ambiguous RNG sources', () => {
    expect(() => new ReplayBuffer({ capacity: 0, obsDim: 3, actionDim: 2, seed: 1 })).toThrow(/capacity/);
    expect(() => new ReplayBuffer({ capacity: 4, obsDim: 2.5, actionDim: 2, seed: 1 })).toThrow(/obsDim/);
    expect(() => new ReplayBuffer({ capacity: 4, obsDim: 3, actionDim: 2, fields: { obs: 2 }, seed: 1 })).toThrow(/reserved/);
    expect(() => new ReplayBuffer({ capacity: 4, obsDim: 3, actionDim: 2, fields: { 'a-b': 2 }, seed: 1 })).toThrow(/field name/);
    expect(() => new ReplayBuffer({ capacity: 4, obsDim: 3, actionDim: 2, fields: { w: 0 }, seed: 1 })).toThrow(/fields\.w/);
    expect(() => new ReplayBuffer({ capacity: 4, obsDim: 3, actionDim: 2 })).toThrow(/seed/);
    expect(() => new ReplayBuffer({ capacity: 4, obsDim: 3, actionDim: 2, seed: 1, rng: Rng.fromSeed(1) })).toThrow(/seed/);
  });
});

describe('ReplayBuffer add and circular overwrite', () => {
  it('stores exact values and reports size', () => {
    const buffer = filled(10, 3, 1, { realAction: 4 });
    expect(buffer.size).toBe(3);
    expect(buffer.isFull).toBe(false);
    const out = buffer.createBatch(1);
    buffer.gather([2], out);
    const t = transition(2, 3, 2, { realAction: 4 });
    expect(Array.from(out.obs)).toEqual(Array.from(new Float32Array(t.obs as number[])));
    expect(Array.from(out.actions)).toEqual([20, 21]);
    expect(out.rewards[0]).toBe(1);
    expect(Array.from(out.nextObs)).toEqual(Array.from(new Float32Array(t.nextObs as number[])));
    expect(Array.from(out.fields.realAction)).toEqual(Array.from(new Float32Array([-2, -2.1, -2.2, -2.3])));
    expect(out.indices[0]).toBe(2);
  });

  it('overwrites the oldest transitions once full', () => {
    const buffer = filled(5, 8);
    expect(buffer.size).toBe(5);
    expect(buffer.isFull).toBe(true);
    expect(buffer.totalAdded).toBe(8);
    // Slots 0..2 were overwritten by transitions 5..7; slots 3, 4 still hold 3, 4.
    expect(idsBySlot(buffer)).toEqual([5, 6, 7, 3, 4]);
    buffer.add(transition(8));
    expect(idsBySlot(buffer)).toEqual([5, 6, 7, 8, 4]);
  });

  it('clear empties the buffer and sampling an empty buffer throws', () => {
    const buffer = filled(5, 8);
    buffer.clear();
    expect(buffer.size).toBe(0);
    expect(buffer.totalAdded).toBe(0);
    expect(() => buffer.sample(buffer.createBatch(4))).toThrow(/empty/);
    buffer.add(transition(42));
    expect(idsBySlot(buffer)).toEqual([42]);
  });

  it('refuses wrong lengths, unknown or missing fields and non-finite values without writing anything', () => {
    const buffer = filled(4, 2, 1, { w: 2 });
    expect(() => buffer.add({ ...transition(9, 3, 2, { w: 2 }), obs: [1, 2] })).toThrow(/obs has 2 values, expected 3/);
    expect(() => buffer.add({ ...transition(9), fields: {} })).toThrow(/fields\.w is missing/);
    expect(() => buffer.add({ ...transition(9, 3, 2, { w: 2 }), fields: { w: [0, 0], z: [1] } })).toThrow(/unknown field "z"/);
    expect(() => buffer.add({ ...transition(9, 3, 2, { w: 2 }), reward: Number.NaN })).toThrow(/reward.* NaN/);
    expect(() => buffer.add({ ...transition(9, 3, 2, { w: 2 }), nextObs: [0, Infinity, 0] })).toThrow(/nextObs\[0, 1\] is Infinity/);
    // Finite as a double but Infinity once stored as float32.
    expect(() => buffer.add({ ...transition(9, 3, 2, { w: 2 }), action: [1e39, 0] })).toThrow(/action/);
    expect(buffer.size).toBe(2);
    expect(buffer.totalAdded).toBe(2);
    expect(idsBySlot(buffer)).toEqual([0, 1]);
  });
});

describe('ReplayBuffer addBatch', () => {
  it('stores one row per env in order, honours the valid mask and wraps around', () => {
    const buffer = new ReplayBuffer({ capacity: 5, obsDim: 2, actionDim: 1, fields: { w: 3 }, seed: 3 });
    const step = (base: number, valid?: number[]) => ({
      obs: new Float32Array([base, 0, base + 1, 0, base + 2, 0]),
      actions: new Float32Array([base, base + 1, base + 2]),
      rewards: new Float32Array([base, base + 1, base + 2]),
      nextObs: new Float32Array([base, 1, base + 1, 1, base + 2, 1]),
      terminated: new Uint8Array([1, 0, 0]),
      truncated: [false, true, false],
      fields: { w: new Float32Array([base, base, base, base + 1, base + 1, base + 1, base + 2, base + 2, base + 2]) },
      valid,
    });
    expect(buffer.addBatch(step(10))).toBe(3);
    expect(buffer.addBatch(step(20, [0, 1, 1]))).toBe(2);
    expect(buffer.size).toBe(5);
    expect(buffer.addBatch(step(30, [1, 0, 0]))).toBe(1);
    const out = buffer.createBatch(5);
    buffer.gather([0, 1, 2, 3, 4], out);
    expect(Array.from(out.obs.filter((_, k) => k % 2 === 0))).toEqual([30, 11, 12, 21, 22]);
    expect(Array.from(out.actions)).toEqual([30, 11, 12, 21, 22]);
    expect(Array.from(out.rewards)).toEqual([30, 11, 12, 21, 22]);
    expect(Array.from(out.terminated)).toEqual([1, 0, 0, 0, 0]);
    expect(Array.from(out.truncated)).toEqual([0, 1, 0, 1, 0]);
    expect(Array.from(out.fields.w)).toEqual([30, 30, 30, 11, 11, 11, 12, 12, 12, 21, 21, 21, 22, 22, 22]);
    expect(Array.from(out.nextObs.filter((_, k) => k % 2 === 1))).toEqual([1, 1, 1, 1, 1]);
  });

  it('checks every row before writing any', () => {
    const buffer = new ReplayBuffer({ capacity: 8, obsDim: 1, actionDim: 1, seed: 3 });
    const good = { obs: [1, 2], actions: [1, 2], rewards: [0, 0], nextObs: [1, 2], terminated: [0, 0], truncated: [0, 0] };
    expect(() => buffer.addBatch({ ...good, actions: [1] })).toThrow(/actions has 1 values, expected 2 rows/);
    expect(() => buffer.addBatch({ ...good, rewards: [0, Number.NaN] })).toThrow(/rewards\[1\] is NaN/);
    expect(buffer.size).toBe(0);
    // A NaN in a row that is not valid is never stored, so it is allowed.
    expect(buffer.addBatch({ ...good, rewards: [0, Number.NaN], valid: [1, 0] })).toBe(1);
  });
});

describe('ReplayBuffer sampling', () => {
  it('is reproducible from the seed and differs across seeds', () => {
    const a = filled(50, 50, 7);
    const b = filled(50, 50, 7);
    const c = filled(50, 50, 8);
    const outA = a.createBatch(32);
    const outB = b.createBatch(32);
    const outC = c.createBatch(32);
    for (let round = 0; round < 3; round++) {
      a.sample(outA);
      b.sample(outB);
      c.sample(outC);
      expect(Array.from(outA.indices)).toEqual(Array.from(outB.indices));
      expect(Array.from(outA.obs)).toEqual(Array.from(outB.obs));
    }
    expect(Array.from(outA.indices)).not.toEqual(Array.from(outC.indices));
  });

  it('fills the caller-provided arrays in place, each row matching its slot', () => {
    const buffer = filled(20, 33, 5, { w: 2 });
    const out = buffer.createBatch(16);
    const obsArray = out.obs;
    expect(buffer.sample(out)).toBe(out);
    expect(out.obs).toBe(obsArray);
    const slotIds = idsBySlot(buffer);
    for (let b = 0; b < 16; b++) {
      const id = slotIds[out.indices[b]];
      expect(out.obs[b * 3]).toBe(id);
      expect(out.actions[b * 2 + 1]).toBe(id * 10 + 1);
      expect(out.rewards[b]).toBe(id * 0.5);
      expect(out.terminated[b]).toBe(id % 7 === 3 ? 1 : 0);
      expect(out.truncated[b]).toBe(id % 5 === 4 ? 1 : 0);
      expect(out.fields.w[b * 2]).toBe(-id);
    }
    expect(() => buffer.sample(filled(20, 1, 1).createBatch(16))).toThrow(/createBatch/);
  });

  it('draws only filled slots, roughly uniformly', () => {
    const buffer = filled(100, 10, 11);
    const out = buffer.createBatch(1000);
    const counts = new Array(10).fill(0);
    for (let round = 0; round < 20; round++) {
      buffer.sample(out);
      for (const i of out.indices) counts[i]++;
    }
    // Any draw outside [0, 10) would be lost from counts and break the total.
    expect(counts.reduce((a, b) => a + b, 0)).toBe(20000);
    // Chi-square with 9 degrees of freedom: 27.9 is the 0.999 quantile.
    const expected = 20000 / 10;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(27.9);
  });
});

describe('terminated vs truncated', () => {
  it('are stored separately and only terminated masks the bootstrap', () => {
    const buffer = new ReplayBuffer({ capacity: 4, obsDim: 1, actionDim: 1, seed: 0 });
    // 0: ordinary step, 1: true terminal, 2: time-limit end, 3: both flags (terminal wins).
    const flags = [
      [0, 0],
      [1, 0],
      [0, 1],
      [1, 1],
    ];
    flags.forEach(([term, trunc], i) => buffer.add({ obs: [i], action: [0], reward: 1, nextObs: [i + 1], terminated: term, truncated: trunc }));
    const out = buffer.createBatch(4);
    buffer.gather([0, 1, 2, 3], out);
    expect(Array.from(out.terminated)).toEqual([0, 1, 0, 1]);
    expect(Array.from(out.truncated)).toEqual([0, 0, 1, 1]);
    const nextValue = new Float32Array([10, 10, 10, 10]);
    const targets = tdTargets(out.rewards, out.terminated, nextValue, 0.9, new Float32Array(4));
    // The truncated transition bootstraps exactly like an ordinary one.
    expect(Array.from(targets)).toEqual([10, 1, 10, 1]);
    expect(() => tdTargets(out.rewards, out.terminated, nextValue, 0.9, new Float32Array(3))).toThrow(/lengths/);
  });
});

describe('state and file round trips', () => {
  it('fromState(toState()) continues adding and sampling exactly like the original', () => {
    const original = filled(16, 21, 9, { realAction: 3 });
    const warm = original.createBatch(8);
    original.sample(warm); // advance the Rng so its mid-stream state is what gets saved
    const restored = ReplayBuffer.fromState(original.toState());
    expect(restored.size).toBe(original.size);
    expect(restored.totalAdded).toBe(21);
    for (const buffer of [original, restored]) buffer.add(transition(100, 3, 2, { realAction: 3 }));
    const outA = original.createBatch(64);
    const outB = restored.createBatch(64);
    original.sample(outA);
    restored.sample(outB);
    expect(Array.from(outB.indices)).toEqual(Array.from(outA.indices));
    expect(Array.from(outB.obs)).toEqual(Array.from(outA.obs));
    expect(Array.from(outB.fields.realAction)).toEqual(Array.from(outA.fields.realAction));
    expect(idsBySlot(restored)).toEqual(idsBySlot(original));
  });

  it('toState is a snapshot, and fromState rejects inconsistent states', () => {
    const buffer = filled(8, 3, 2);
    const state = buffer.toState();
    buffer.add(transition(50));
    expect(state.size).toBe(3);
    expect(state.obs.length).toBe(9);
    expect(() => ReplayBuffer.fromState({ ...state, next: 1 })).toThrow(/next slot/);
    expect(() => ReplayBuffer.fromState({ ...state, size: 9 })).toThrow(/size/);
    expect(() => ReplayBuffer.fromState({ ...state, obs: state.obs.slice(1) })).toThrow(/obs has 8 values/);
    expect(() => ReplayBuffer.fromState({ ...state, terminated: new Uint8Array([0, 2, 0]) })).toThrow(/0\/1/);
    expect(() => ReplayBuffer.fromState({ ...state, fieldData: { w: new Float32Array(3) } })).toThrow(/undeclared field/);
    expect(() => ReplayBuffer.fromState({ ...state, version: 2 as 1 })).toThrow(/version/);
  });

  it('saves and loads a wrapped buffer exactly, atomically, as a safetensors file', () => {
    const path = join(dir, 'replay.safetensors');
    const original = filled(12, 30, 4, { w: 4, realAction: 2 });
    original.sample(original.createBatch(5));
    saveReplayBuffer(path, original);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const loaded = loadReplayBuffer(path, { obsDim: 3, actionDim: 2, capacity: 12, fields: { realAction: 2, w: 4 } });
    const a = original.toState();
    const b = loaded.toState();
    expect(b.next).toBe(a.next);
    expect(b.totalAdded).toBe(30);
    // Rng.state() may give a word as signed or unsigned int32; compare the bits.
    expect(b.rng.s.map((v) => v >>> 0)).toEqual(a.rng.s.map((v) => v >>> 0));
    expect(b.rng.spare).toBe(a.rng.spare);
    for (const key of ['obs', 'actions', 'rewards', 'nextObs', 'terminated', 'truncated'] as const) {
      expect(Buffer.from(b[key].buffer).equals(Buffer.from(a[key].buffer))).toBe(true);
    }
    expect(Array.from(b.fieldData.w)).toEqual(Array.from(a.fieldData.w));
    const outA = original.sample(original.createBatch(40));
    const outB = loaded.sample(loaded.createBatch(40));
    expect(Array.from(outB.indices)).toEqual(Array.from(outA.indices));

    // A safetensors reader only needs the header length, the JSON header and the offsets.
    const bytes = readFileSync(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect((8 + headerLength) % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
    expect(header.obs).toEqual({ dtype: 'F32', shape: [12, 3], data_offsets: [0, 144] });
    expect(header['field.w'].shape).toEqual([12, 4]);
    expect(header.terminated.dtype).toBe('U8');
    expect(Object.values(header.__metadata__).every((v) => typeof v === 'string')).toBe(true);
    const start = 8 + headerLength;
    const obs = new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + 144));
    expect(Array.from(obs)).toEqual(Array.from(a.obs));
  });

  it('round-trips an empty buffer', () => {
    const empty = new ReplayBuffer({ capacity: 3, obsDim: 2, actionDim: 1, seed: 'x' });
    const back = ReplayBuffer.fromState(decodeReplayState(encodeReplayState(empty.toState())));
    expect(back.size).toBe(0);
    back.add({ obs: [1, 2], action: [3], reward: 0, nextObs: [1, 2], terminated: 0, truncated: 0 });
    expect(back.size).toBe(1);
  });
});

describe('replay file errors', () => {
  const path = join(dir, 'good.safetensors');
  const bad = join(dir, 'bad.safetensors');
  saveReplayBuffer(path, filled(6, 9, 1, { w: 2 }));
  const good = readFileSync(path);

  it('names the file and the reason for a truncated file', () => {
    writeFileSync(bad, good.subarray(0, good.length - 5));
    expect(() => loadReplayBuffer(bad)).toThrow(new RegExp(`${bad}.*truncated`));
    writeFileSync(bad, good.subarray(0, 20));
    expect(() => loadReplayBuffer(bad)).toThrow(/header claims .*\(truncated\?\)/);
    writeFileSync(bad, good.subarray(0, 3));
    expect(() => loadReplayBuffer(bad)).toThrow(/too short/);
  });

  it('detects flipped data bytes, a broken header and trailing garbage', () => {
    const flipped = Buffer.from(good);
    flipped[flipped.length - 20] ^= 0x40;
    writeFileSync(bad, flipped);
    expect(() => loadReplayBuffer(bad)).toThrow(/checksum/);
    const brokenHeader = Buffer.from(good);
    brokenHeader[9] = 0x7b; // '{' where a '"' was
    writeFileSync(bad, brokenHeader);
    expect(() => loadReplayBuffer(bad)).toThrow(/not valid JSON/);
    writeFileSync(bad, Buffer.concat([good, Buffer.from([1, 2, 3, 4])]));
    expect(() => loadReplayBuffer(bad)).toThrow(/tensors cover/);
    writeFileSync(bad, Buffer.from('not a replay buffer at all'));
    expect(() => loadReplayBuffer(bad)).toThrow(new RegExp(bad));
  });

  it('refuses dims that differ from the run, and a missing file', () => {
    expect(() => loadReplayBuffer(path, { obsDim: 4 })).toThrow(/obsDim is 3 but the run expects 4/);
    expect(() => loadReplayBuffer(path, { actionDim: 7 })).toThrow(/actionDim is 2/);
    expect(() => loadReplayBuffer(path, { fields: { w: 3 } })).toThrow(/fields/);
    expect(() => loadReplayBuffer(path, { fields: {} })).toThrow(/fields/);
    expect(loadReplayBuffer(path, { obsDim: 3, actionDim: 2, fields: { w: 2 } }).size).toBe(6);
    const missing = join(dir, 'nope.safetensors');
    expect(existsSync(missing)).toBe(false);
    expect(() => loadReplayBuffer(missing)).toThrow(/nope\.safetensors: cannot read/);
  });
});
