/**
 * Prepacked frozen weights for the built-in SGEMM (native packGemmB / gemmPackedB, PackedWeightsBackend in
 * src/nn/bf16.ts): the same floats as the unpacked product, bit for bit (same tiles, same micro-kernel calls, so
 * no tolerance is needed), on each ISA this CPU runs and for 1 and 2 threads; stale packs refused.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/core/rng.ts';
import { getBackend, setBackend } from '../src/nn/backend.ts';
import { PackedWeightsBackend } from '../src/nn/bf16.ts';
import { nativeGemmInfo, nativePackedGemm, nativeThreads, setNativeGemm } from '../src/nn/native-loader.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';
import { builtinGemmIsas } from './helpers/gemm-isas.ts';

const backend = getBackend();
const info = nativeGemmInfo();
const threads0 = nativeThreads();

afterAll(() => {
  if (!info) return;
  setNativeGemm(info.impl);
  nativeThreads(threads0);
  setBackend(backend);
});

const same = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe.runIf(backend.name === 'native')('prepacked weights (built-in SGEMM)', () => {
  const k = nativePackedGemm()!;

  it.each(builtinGemmIsas())('%s: gemmPackedB equals gemm bit for bit', (isa) => {
    setNativeGemm('builtin', isa);
    const rng = Rng.fromSeed(21);
    // Layer shapes (y = x W^T) at batch 256 and odd sizes, a deep K crossing the K slices, a narrow output and
    // few rows (both run unpacked paths that read B in place), and B not transposed.
    const shapes = [
      { ta: false, tb: true, M: 256, N: 512, K: 512 },
      { ta: false, tb: true, M: 37, N: 70, K: 300, pad: 3 },
      { ta: true, tb: true, M: 29, N: 45, K: 17 },
      { ta: false, tb: false, M: 64, N: 100, K: 90 },
      { ta: false, tb: true, M: 256, N: 12, K: 512 },
      { ta: false, tb: true, M: 3, N: 512, K: 64 },
    ];
    for (const s of shapes) {
      const pad = s.pad ?? 0;
      const lda = (s.ta ? s.M : s.K) + pad;
      const ldb = (s.tb ? s.K : s.N) + pad;
      const A = rng.fillNormal(new Float32Array(lda * (s.ta ? s.K : s.M))) as Float32Array;
      const W = rng.fillNormal(new Float32Array(ldb * (s.tb ? s.N : s.K) + 5)) as Float32Array;
      const B = W.subarray(5); // a weight inside a larger buffer
      const Bp = k.packGemmB(s.tb, B, ldb, s.N, s.K);
      for (const t of [1, 2]) {
        nativeThreads(t);
        for (const beta of [0, 0.5]) {
          const C0 = rng.fillNormal(new Float32Array(s.M * s.N)) as Float32Array;
          const want = C0.slice();
          const got = C0.slice();
          backend.gemm(s.ta, s.tb, s.M, s.N, s.K, 0.8, A, lda, B, ldb, beta, want, s.N);
          k.gemmPackedB(s.ta, s.tb, s.M, s.N, s.K, 0.8, A, lda, B, ldb, Bp, beta, got, s.N);
          expect(same(got, want), `${JSON.stringify(s)} threads ${t} beta ${beta}`).toBe(true);
        }
      }
    }
  });

  it('refuses a pack made for another shape or instruction set', () => {
    setNativeGemm('builtin', 'auto');
    const A = new Float32Array(64 * 64).fill(1);
    const B = new Float32Array(64 * 64).fill(1);
    const C = new Float32Array(64 * 64);
    const Bp = k.packGemmB(true, B, 64, 64, 64);
    expect(() => k.gemmPackedB(false, true, 64, 64, 32, 1, A, 64, B, 64, Bp, 0, C, 64)).toThrow(/packGemmB result|another/);
    const vs = builtinGemmIsas();
    if (vs.length > 1) {
      setNativeGemm('builtin', vs[0]);
      const p0 = k.packGemmB(true, B, 64, 64, 64);
      setNativeGemm('builtin', vs[vs.length - 1]);
      expect(() => k.gemmPackedB(false, true, 64, 64, 64, 1, A, 64, B, 64, p0, 0, C, 64)).toThrow(/another instruction set/);
    }
  });

  it('PackedWeightsBackend: the Hopper base policy gives the same actions, and repacks after invalidate()', () => {
    setNativeGemm('builtin', 'auto');
    nativeThreads(1);
    const policy = loadDiffusionPolicy(fileURLToPath(new URL('../models/hopper', import.meta.url)));
    const packed = new PackedWeightsBackend(backend, policy.network.values);
    expect(packed.active).toBe(true);
    const rng = Rng.fromSeed(4);
    const obs = rng.fillNormal(new Float32Array(64 * policy.obsDim)) as Float32Array;
    const noise = rng.fillNormal(new Float32Array(64 * policy.chunk * policy.actDim)) as Float32Array;
    const run = (be: typeof backend) => {
      setBackend(be);
      try {
        return policy.act(obs, noise, 64).slice();
      } finally {
        setBackend(backend);
      }
    };
    expect(same(run(packed), run(backend))).toBe(true);
    expect(same(run(packed), run(backend))).toBe(true); // second call: from the cache
    // New weights: stale packs would give the old actions.
    const v = policy.network.values;
    for (let i = 0; i < v.length; i++) v[i] *= 0.9;
    packed.invalidate();
    expect(same(run(packed), run(backend))).toBe(true);
    if (info!.hasOpenblas) {
      setNativeGemm('openblas');
      expect(same(run(packed), run(backend))).toBe(true); // OpenBLAS in use: passes through
    }
  });
});
