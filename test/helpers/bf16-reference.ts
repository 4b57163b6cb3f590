/**
 * The bf16 product's reference check, shared by test/nn-bf16.test.ts and experiments/bf16-kernel-check.ts (which
 * runs it on a machine without the test tools, e.g. to check the AMX kernel where the CPU has it).
 */
import { Rng } from '../../src/core/rng.ts';
import type { NativeAddon } from '../../src/nn/native-loader.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** fp32 -> bf16 -> fp32, round to nearest even (the hardware conversion for normal numbers). */
export function bf16Round(x: number): number {
  f32[0] = x;
  u32[0] = ((u32[0] + 0x7fff + ((u32[0] >>> 16) & 1)) >>> 16) << 16;
  return f32[0];
}

/**
 * C = 1.5 A W^T + beta C through gemmBf16 with padded leading dimensions, for beta 0 (C must not be read: it
 * holds NaN) and 0.5, against a float64 product of the bf16-rounded inputs. Returns the first failure, or null.
 */
export function checkBf16Product(k: Pick<NativeAddon, 'packBf16' | 'gemmBf16'>, M: number, N: number, K: number): string | null {
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
    const Ar = Float64Array.from(A, bf16Round);
    const Wr = Float64Array.from(W, bf16Round);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < ldc; j++) {
        const got = C[i * ldc + j];
        if (j >= N) {
          if (!Object.is(got, C0[i * ldc + j])) return `M=${M} N=${N} K=${K} beta=${beta}: C[${i},${j}] past N was written`;
          continue;
        }
        let ref = 0;
        let mag = 0;
        for (let q = 0; q < K; q++) {
          const p = Ar[i * lda + q] * Wr[j * ldw + q];
          ref += p;
          mag += Math.abs(p);
        }
        const c0 = beta === 0 ? 0 : C0[i * ldc + j];
        ref = 1.5 * ref + beta * c0;
        const bound = gamma * (1.5 * mag + Math.abs(beta * c0)) + 1e-30;
        if (!(Math.abs(got - ref) <= bound)) return `M=${M} N=${N} K=${K} beta=${beta}: C[${i},${j}] = ${got}, reference ${ref}, bound ${bound}`;
      }
    }
  }
  return null;
}
