import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { mlp } from '../src/nn/mlp.ts';
import { decodeSafetensors, encodeSafetensors, modelTensors } from '../src/nn/safetensors.ts';
import { loadModel, saveSafetensors } from '../src/node/safetensors-io.ts';

const spec = { in: 5, hidden: [8, 8], out: 3, layerNorm: true };
const dir = mkdtempSync(join(tmpdir(), 'dsrl-st-'));

describe('safetensors', () => {
  it('round-trips a model with metadata', () => {
    const a = mlp(spec, Rng.fromSeed(1));
    const path = join(dir, 'a.safetensors');
    saveSafetensors(path, modelTensors(a), { arch: 'mlp' });
    const b = mlp(spec, Rng.fromSeed(2));
    expect(Array.from(b.values)).not.toEqual(Array.from(a.values));
    expect(loadModel(path, b)).toEqual({ arch: 'mlp' });
    expect(Array.from(b.values)).toEqual(Array.from(a.values));
  });

  it('writes the standard layout (header length, JSON header, F32 data)', () => {
    const bytes = encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.w).toEqual({ dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
    expect((8 + n) % 8).toBe(0);
    expect(Array.from(new Float32Array(bytes.slice(8 + n).buffer))).toEqual([1, 2, 3, 4]);
  });

  it('rejects a truncated file', () => {
    const path = join(dir, 'b.safetensors');
    saveSafetensors(path, modelTensors(mlp(spec, Rng.fromSeed(1))));
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - 10));
    expect(() => loadModel(path, mlp(spec, Rng.fromSeed(1)))).toThrow(/b\.safetensors.*truncated/);
  });

  it('rejects garbage and a bad header', () => {
    expect(() => decodeSafetensors(new Uint8Array([1, 2, 3]), 'x.st')).toThrow(/x\.st: not a valid safetensors file/);
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setBigUint64(0, 8n, true);
    bad.set(new TextEncoder().encode('{nope!!}'), 8);
    expect(() => decodeSafetensors(bad, 'y.st')).toThrow(/header is not JSON/);
    const f64 = encodeSafetensors({ w: { shape: [1], data: new Float32Array([1]) } });
    const text = new TextDecoder().decode(f64).replace('"F32"', '"F64"');
    expect(() => decodeSafetensors(new TextEncoder().encode(text), 'z.st')).toThrow(/dtype "F64"/);
  });

  it('refuses a tensor or metadata key named __proto__ instead of dropping it silently (issue 16, defect 12)', () => {
    const withHeader = (header: string, data = new Uint8Array(4)) => {
      const json = new TextEncoder().encode(header);
      const out = new Uint8Array(8 + json.length + data.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      out.set(data, 8 + json.length);
      return out;
    };
    expect(() => decodeSafetensors(withHeader('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), 'evil.safetensors')).toThrow(
      /^evil\.safetensors: not a valid safetensors file: a tensor is named "__proto__", which is not allowed$/,
    );
    expect(() =>
      decodeSafetensors(withHeader('{"__metadata__":{"__proto__":"x"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), 'evil.safetensors'),
    ).toThrow(/__metadata__ has a key "__proto__"/);
    // An ordinary name still loads.
    expect(Object.keys(decodeSafetensors(withHeader('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')).tensors)).toEqual(['w']);
  });

  it('names missing, unexpected and mis-shaped parameters', () => {
    const path = join(dir, 'c.safetensors');
    saveSafetensors(path, modelTensors(mlp(spec, Rng.fromSeed(1))));
    expect(() => loadModel(path, mlp({ ...spec, layerNorm: false }, Rng.fromSeed(1)))).toThrow(/unexpected 0\.ln\.bias/);
    expect(() => loadModel(path, mlp({ ...spec, hidden: [8, 8, 8] }, Rng.fromSeed(1)))).toThrow(/missing .*3\.bias/);
    expect(() => loadModel(path, mlp({ ...spec, hidden: [8, 9] }, Rng.fromSeed(1)))).toThrow(
      /"1\.weight" has shape \[8,8\] but the model expects \[9,8\]/,
    );
    expect(() => loadModel(join(dir, 'nope.safetensors'), mlp(spec, Rng.fromSeed(1)))).toThrow(/cannot read .*ENOENT/);
  });
});
