/**
 * Seeded, bounded fuzzing of every loader this side owns: safetensors, the diffusion checkpoint
 * manifest, the ONNX manifest, D4RL HDF5 files and remote-protocol frames. Each case mutates a valid
 * input (bit flips, truncation, inserted bytes, JSON fields set to extreme or wrong-typed values) and
 * asserts that the loader either loads it or throws one clear line: naming the input, without a stack
 * trace, quickly, and without the process's memory running away. Seeds are fixed (explicit Rng), so a
 * failure replays exactly; the case number is in the assertion message.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.ts';
import { fuzz, mutateBytes, mutateJson } from './fuzz.ts';
import { createD4rlDataset } from '../../src/data/d4rl.ts';
import { readD4rl, writeD4rl } from '../../src/data/hdf5.ts';
import { encodeSafetensors, decodeSafetensors } from '../../src/nn/safetensors.ts';
import { loadDiffusionPolicy, saveDiffusionCheckpoint } from '../../src/policies/diffusion/checkpoint-io.ts';
import { createDiffusionNetwork, DiffusionPolicy, type DiffusionPolicySpec } from '../../src/policies/diffusion/policy.ts';
import { parseOnnxManifest, buildOnnxManifest } from '../../src/policies/onnx-manifest.ts';
import { decodeActRequest, decodeServerMessage, encodeActRequest, encodeHello, ProtocolError } from '../../src/policies/remote-protocol.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsrl-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fuzz: safetensors', () => {
  it('decodeSafetensors: 400 damaged files load or give one clear line naming the file', async () => {
    const rng = Rng.fromSeed('fuzz-safetensors');
    const tensors = { 'a.weight': { shape: [3, 4], data: new Float32Array(12).fill(0.5) }, 'a.bias': { shape: [3], data: new Float32Array(3) } };
    const base = encodeSafetensors(tensors, { format: 'x' });
    const header = JSON.parse(new TextDecoder().decode(base.subarray(8, 8 + Number(new DataView(base.buffer).getBigUint64(0, true)))));
    const withHeader = (h: unknown) => {
      const json = new TextEncoder().encode(JSON.stringify(h));
      const out = new Uint8Array(8 + json.length + 60);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      return out;
    };
    const r = await fuzz(
      400,
      () => 'fuzz.safetensors',
      (i) => decodeSafetensors(i % 2 === 0 ? mutateBytes(base, rng) : withHeader(mutateJson(header, rng)), 'fuzz.safetensors'),
    );
    expect(r.refused).toBeGreaterThan(200);
  });
});

describe('fuzz: diffusion checkpoint manifest', () => {
  it('loadDiffusionPolicy: 150 edited manifests load or give one clear line naming the file, before allocating', async () => {
    const spec: DiffusionPolicySpec = { obsDim: 3, actDim: 2, chunk: 2, denoisingSteps: 10, ddimSteps: 3, timeDim: 8, width: 16, depth: 1 };
    const weights = createDiffusionNetwork(spec, Rng.fromSeed(1)).values;
    const policy = new DiffusionPolicy({
      spec,
      obsStats: { min: new Float32Array(3).fill(-1), max: new Float32Array(3).fill(1) },
      actionLow: [-1, -1],
      actionHigh: [1, 1],
      weights,
    });
    const ckpt = join(dir, 'ckpt');
    saveDiffusionCheckpoint(ckpt, policy, { envId: 'Toy-v0' });
    const manifestPath = join(ckpt, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    const rng = Rng.fromSeed('fuzz-diffusion-manifest');
    const r = await fuzz(
      150,
      () => ckpt,
      (i) => {
        const text =
          i % 5 === 0
            ? new TextDecoder().decode(mutateBytes(new TextEncoder().encode(JSON.stringify(manifest)), rng))
            : JSON.stringify(mutateJson(manifest, rng));
        writeFileSync(manifestPath, text);
        return loadDiffusionPolicy(ckpt);
      },
    );
    expect(r.refused).toBeGreaterThan(100);
  });
});

describe('fuzz: ONNX manifest', () => {
  it('parseOnnxManifest: 400 edited manifests parse or give one clear line naming the file', async () => {
    const manifest = buildOnnxManifest(
      {
        obsDim: 11,
        actDim: 3,
        chunk: 4,
        actionLow: [-1, -1, -1],
        actionHigh: [1, 1, 1],
        obsStats: { min: new Array(11).fill(-1), max: new Array(11).fill(1) },
      },
      { envId: 'Hopper-v5' },
    );
    const rng = Rng.fromSeed('fuzz-onnx-manifest');
    const r = await fuzz(
      400,
      () => 'fuzz.json',
      (i) =>
        parseOnnxManifest(
          i % 4 === 0
            ? new TextDecoder().decode(mutateBytes(new TextEncoder().encode(JSON.stringify(manifest)), rng))
            : JSON.stringify(mutateJson(manifest, rng)),
          'fuzz.json',
        ),
    );
    expect(r.refused).toBeGreaterThan(100);
  });
});

describe('fuzz: D4RL HDF5', () => {
  it('readD4rl: 60 damaged files load or give one clear line naming the file', async () => {
    const n = 20;
    const rng0 = Rng.fromSeed(3);
    const fill = (k: number) => Float32Array.from({ length: k }, () => rng0.normal());
    const ds = createD4rlDataset({
      obsDim: 3,
      actionDim: 2,
      observations: fill(n * 3),
      actions: fill(n * 2),
      rewards: fill(n),
      nextObservations: fill(n * 3),
      terminals: new Uint8Array(n),
      timeouts: Uint8Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : 0)),
      metadata: { env: 'Toy-v0' },
    });
    const good = join(dir, 'good.h5');
    await writeD4rl(good, ds);
    const base = new Uint8Array(readFileSync(good));
    const rng = Rng.fromSeed('fuzz-hdf5');
    const path = (i: number) => join(dir, `fuzz-${i}.h5`);
    const r = await fuzz(60, path, async (i) => {
      // Damage past the signature mostly (a file without one is refused at once, which is covered too).
      const bytes = mutateBytes(base, rng);
      writeFileSync(path(i), bytes);
      return readD4rl(path(i));
    });
    expect(r.refused).toBeGreaterThan(10);
  });
});

describe('fuzz: remote-protocol frames', () => {
  it('decodeActRequest / decodeServerMessage: 2000 damaged frames decode or give one ProtocolError line', async () => {
    const dims = { obsDim: 11, actDim: 3, chunk: 4 };
    const act = encodeActRequest(7, new Float32Array(22).fill(0.25), new Float32Array(24).fill(-0.5), 2, dims);
    const hello = encodeHello({ ...dims, actionLow: [-1, -1, -1], actionHigh: [1, 1, 1], maxBatch: 64, maxQueued: 8 });
    const headerOf = (frame: Uint8Array) =>
      JSON.parse(new TextDecoder().decode(frame.subarray(12, 12 + new DataView(frame.buffer).getUint32(8, true))));
    const rebuild = (frame: Uint8Array, header: unknown) => {
      const json = new TextEncoder().encode(JSON.stringify(header));
      const h = Math.ceil(json.length / 4) * 4;
      const body = frame.subarray(12 + new DataView(frame.buffer).getUint32(8, true));
      const out = new Uint8Array(12 + h + body.length).fill(0x20);
      out.set(frame.subarray(0, 12));
      new DataView(out.buffer).setUint32(8, h, true);
      out.set(json, 12);
      out.set(body, 12 + h);
      return out;
    };
    const rng = Rng.fromSeed('fuzz-frames');
    // Frames have no file name: the message must still be one line; ProtocolError carries the code.
    const r = await fuzz(
      2000,
      () => '',
      (i) => {
        const base = i % 2 === 0 ? act : hello;
        const frame = i % 3 === 0 ? rebuild(base, mutateJson(headerOf(base), rng)) : mutateBytes(base, rng);
        return i % 2 === 0 ? decodeActRequest(frame, dims, 64) : decodeServerMessage(frame);
      },
      (err) => expect(err).toBeInstanceOf(ProtocolError),
    );
    expect(r.refused).toBeGreaterThan(1000);
  });
});
