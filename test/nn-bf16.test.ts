/**
 * bf16 products (native/bf16.c via src/nn/bf16.ts): exact against a float64 product of the bf16-rounded
 * inputs up to fp32 summation error, and Bf16Backend sends only products on the frozen weights to them.
 * Skipped where the CPU has no AVX512-BF16 (there Bf16Backend must be the fp32 backend unchanged).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { getBackend, setBackend } from '../src/nn/backend.ts';
import { Bf16Backend, bf16Available } from '../src/nn/bf16.ts';
import { mlp } from '../src/nn/mlp.ts';
import { nativeBf16, nativeThreads } from '../src/nn/native-loader.ts';

const fp32 = getBackend();
afterAll(() => setBackend(fp32));

/** fp32 -> bf16 -> fp32, round to nearest even (the hardware conversion for normal numbers). */
function bf16Round(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) << 16;
  return f[0];
}

describe('Bf16Backend without bf16 units', () => {
  it.runIf(!bf16Available())('is the wrapped backend unchanged', () => {
    const be = new Bf16Backend(fp32, new Float32Array(4));
    expect(be.active).toBe(false);
  });
});

describe.runIf(bf16Available())('bf16 products', () => {
  const k = nativeBf16()!;

  it.each([
    [1, 1, 1],
    [1, 67, 130],
    [3, 45, 17],
    [5, 33, 64],
    [13, 12, 512],
    [29, 65, 33],
    [256, 40, 27],
  ])('M=%i N=%i K=%i', (M, N, K) => {
    const rng = Rng.fromSeed(M * 1000 + N + K);
    const pad = 2;
    const lda = K + pad;
    const ldw = K + 1;
    const ldc = N + pad;
    const A = rng.fillNormal(new Float32Array(M * lda)) as Float32Array;
    const W = rng.fillNormal(new Float32Array(N * ldw)) as Float32Array;
    for (const beta of [0, 0.5]) {
      const C0 = rng.fillNormal(new Float32Array(M * ldc)) as Float32Array;
      if (beta === 0) C0.fill(Number.NaN); // beta = 0 never reads C
      const C = C0.slice();
      k.gemmBf16(M, N, K, 1.5, A, lda, k.packBf16(W, N, K, ldw), beta, C, ldc);
      // bf16 x bf16 products are exact in fp32 (8 + 8 significant bits <= 24), so the only error left is
      // fp32 summation: |error| <= gamma_{K+2} (sum |a b| + |beta c|) (Higham, eq. 3.5), u = 2^-24.
      const gamma = ((K + 2) * 2 ** -24) / (1 - (K + 2) * 2 ** -24);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < ldc; j++) {
          const got = C[i * ldc + j];
          if (j >= N) {
            expect(Object.is(got, C0[i * ldc + j])).toBe(true);
            continue;
          }
          let ref = 0;
          let mag = 0;
          for (let q = 0; q < K; q++) {
            const p = bf16Round(A[i * lda + q]) * bf16Round(W[j * ldw + q]);
            ref += p;
            mag += Math.abs(p);
          }
          const c0 = beta === 0 ? 0 : C0[i * ldc + j];
          ref = 1.5 * ref + beta * c0;
          const bound = gamma * (1.5 * mag + Math.abs(beta * c0)) + 1e-30;
          if (!(Math.abs(got - ref) <= bound)) expect.fail(`C[${i},${j}] = ${got}, reference ${ref}, bound ${bound}`);
        }
      }
    }
  });

  it('a product large enough for the thread pool gives the same floats for 1, 2 and 3 threads', () => {
    // 300 x 100 x 130 = 3.9 M multiply-adds, over native/gemm.h's DSRL_MT_MIN (3 M): the 4 panels of 32 columns
    // (the last one partial) are split over the pool; each is computed whole by one thread, so no tolerance.
    const [M, N, K] = [300, 100, 130];
    const rng = Rng.fromSeed(7);
    const A = rng.fillNormal(new Float32Array(M * K)) as Float32Array;
    const Wp = k.packBf16(rng.fillNormal(new Float32Array(N * K)) as Float32Array, N, K, K);
    const threads0 = nativeThreads();
    try {
      const results = [1, 2, 3].map((t) => {
        nativeThreads(t);
        const C = new Float32Array(M * N);
        k.gemmBf16(M, N, K, 1, A, K, Wp, 0, C, N);
        return C;
      });
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toEqual(results[0]);
      expect(results[0].every(Number.isFinite)).toBe(true);
    } finally {
      nativeThreads(threads0);
    }
  });

  it('rejects a packed weight of other dims', () => {
    const Wp = k.packBf16(new Float32Array(64 * 10), 64, 10, 10);
    expect(() => k.gemmBf16(2, 64, 12, 1, new Float32Array(24), 12, Wp, 0, new Float32Array(128), 64)).toThrow(/pack it with these N, K/);
  });

  it('Bf16Backend: an MLP forward in bf16 stays within bf16 rounding of fp32; other products stay fp32', () => {
    const net = mlp({ in: 17, hidden: [256, 256], out: 6, activation: 'mish' }, Rng.fromSeed(1));
    const x = Rng.fromSeed(2).fillNormal(new Float32Array(64 * 17)) as Float32Array;
    const y32 = net.forward(x, 64).slice();
    const be = new Bf16Backend(fp32, net.values);
    expect(be.active).toBe(true);
    setBackend(be);
    const y16 = net.forward(x, 64).slice();
    setBackend(fp32);
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < y32.length; i++) {
      worst = Math.max(worst, Math.abs(y32[i] - y16[i]));
      scale = Math.max(scale, Math.abs(y32[i]));
    }
    // bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2%); over three layers with sums that partly
    // cancel, 2% of the output scale is a loose bound, and > 0 shows the bf16 path really ran.
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(0.02 * scale);
    // A product on buffers outside the frozen weights (here: activations) goes to the fp32 backend.
    const A = Rng.fromSeed(3).fillNormal(new Float32Array(8 * 8)) as Float32Array;
    const c1 = new Float32Array(64);
    const c2 = new Float32Array(64);
    be.gemm(false, true, 8, 8, 8, 1, A, 8, A, 8, 0, c1, 8);
    fp32.gemm(false, true, 8, 8, 8, 1, A, 8, A, 8, 0, c2, 8);
    expect(Array.from(c1)).toEqual(Array.from(c2));
  });
});
