/**
 * The native addon's SGEMMs (built-in kernels for each instruction set this CPU runs, and OpenBLAS where the
 * build linked it) and the WebAssembly backend's against a float64 reference: every transpose combination,
 * odd sizes across the kernels' tile and block edges, padded leading dimensions, sub-array views, alpha/beta,
 * and the paths gemm.c and wasm/gemm.ts pick by shape (few rows, narrow outputs, threads for large products).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { getBackend, type Backend } from '../src/nn/backend.ts';
import { nativeGemmInfo, nativeThreads, setNativeGemm, type GemmImpl, type GemmIsa } from '../src/nn/native-loader.ts';
import { loadWasmBackend } from '../src/nn/wasm-loader.ts';
import { builtinGemmIsas } from './helpers/gemm-isas.ts';

const backend = getBackend();
const info = nativeGemmInfo();
const wasm = loadWasmBackend().backend;

/** [impl, isa] pairs this machine and build can run. */
function variants(): [GemmImpl, GemmIsa | 'auto'][] {
  if (!info) return [];
  const out: [GemmImpl, GemmIsa | 'auto'][] = [];
  for (const isa of builtinGemmIsas()) out.push(['builtin', isa]);
  if (info.hasOpenblas) out.push(['openblas', 'auto']);
  setNativeGemm(info.impl);
  return out;
}

afterAll(() => {
  if (info) setNativeGemm(info.impl);
});

interface Case {
  ta: boolean;
  tb: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  pad: number; // extra columns in every leading dimension
}

/**
 * Runs one case through the backend and checks it element by element against a float64 product.
 *
 * Tolerance: the standard forward error bound of a float32 dot product of length K (Higham, "Accuracy and
 * Stability of Numerical Algorithms", 2nd ed., eq. 3.5: |error| <= gamma_K sum |a_k b_k|, gamma_K ~ K u,
 * u = 2^-24), here over alpha op(A) op(B) + beta C, with K + 2 roundings for the two scalings and the sum.
 * It holds for any summation order, so it fits every kernel, blocking and thread split (BLAS results are not
 * bit-identical across CPUs or thread counts, and are not compared bit for bit here).
 */
function check(c: Case, seed: number, be: Backend = backend): void {
  const { ta, tb, M, N, K, alpha, beta, pad } = c;
  const rng = Rng.fromSeed(seed);
  const lda = (ta ? M : K) + pad;
  const ldb = (tb ? K : N) + pad;
  const ldc = N + pad;
  // A and B sit at an offset inside larger buffers: the kernels must honour the views' starts.
  const off = 3;
  const Abuf = rng.fillNormal(new Float32Array(off + lda * (ta ? K : M))) as Float32Array;
  const Bbuf = rng.fillNormal(new Float32Array(off + ldb * (tb ? N : K))) as Float32Array;
  const A = Abuf.subarray(off);
  const B = Bbuf.subarray(off);
  const C0 = rng.fillNormal(new Float32Array(ldc * M)) as Float32Array;
  if (beta === 0) C0.fill(Number.NaN); // beta = 0: C is written, never read (BLAS), so NaN must not leak through
  const C = C0.slice();
  be.gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  const u = 2 ** -24;
  const gamma = ((K + 2) * u) / (1 - (K + 2) * u);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < ldc; j++) {
      const got = C[i * ldc + j];
      if (j >= N) {
        expect(Object.is(got, C0[i * ldc + j]), `padding C[${i},${j}] changed`).toBe(true);
        continue;
      }
      let ref = 0;
      let mag = 0;
      for (let k = 0; k < K; k++) {
        const a = ta ? A[k * lda + i] : A[i * lda + k];
        const b = tb ? B[j * ldb + k] : B[k * ldb + j];
        ref += a * b;
        mag += Math.abs(a * b);
      }
      const c0 = beta === 0 ? 0 : C0[i * ldc + j];
      ref = alpha * ref + beta * c0;
      const bound = gamma * (Math.abs(alpha) * mag + Math.abs(beta * c0)) + 1e-30;
      if (!(Math.abs(got - ref) <= bound)) {
        expect.fail(`C[${i},${j}] = ${got}, reference ${ref} (|diff| ${Math.abs(got - ref)} > bound ${bound}) in ${JSON.stringify(c)}`);
      }
    }
  }
}

const SIZES = [1, 2, 3, 4, 5, 7, 11, 12, 13, 16, 17, 31, 32, 33, 47, 64, 67];
const TRANSPOSES = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

/** Every M against a spread of N and K (each size in each role), alpha/beta cycling through the special cases (beta 0 and 1, alpha 1) and general values, leading dimensions padded or not. */
function sweep(ta: boolean, tb: boolean, be: Backend = backend): void {
  let seed = 0;
  for (const M of SIZES) {
    for (const [n, N] of SIZES.entries()) {
      if ((n + M) % 3 !== 0) continue;
      const K = SIZES[(n * 7 + M) % SIZES.length];
      const alpha = [1, 0.7, -1.3][seed % 3];
      const beta = [0, 1, 0.3, -2][seed % 4];
      check({ ta, tb, M, N, K, alpha, beta, pad: seed % 2 === 0 ? 0 : 3 }, ++seed, be);
    }
  }
}

/** K = 300 and 600 cross the 256-deep K blocks (later blocks accumulate onto the first's beta C). */
function deepK(ta: boolean, tb: boolean, be: Backend = backend): void {
  check({ ta, tb, M: 29, N: 45, K: 300, alpha: 0.5, beta: 0.25, pad: 1 }, 1, be);
  check({ ta, tb, M: 13, N: 35, K: 600, alpha: 1, beta: 0, pad: 0 }, 2, be);
}

/** Shapes the engine runs: a last layer, a critic's value head, batch 1, few rows. */
function engineShapes(ta: boolean, tb: boolean, be: Backend = backend): void {
  check({ ta, tb, M: 256, N: 12, K: 67, alpha: 1, beta: 0, pad: 0 }, 3, be); // a last layer: native runs it transposed
  check({ ta, tb, M: 200, N: 1, K: 33, alpha: 1, beta: 1, pad: 2 }, 4, be); // a critic's value head
  check({ ta, tb, M: 1, N: 67, K: 130, alpha: 1, beta: 0, pad: 0 }, 5, be); // batch 1
  check({ ta, tb, M: 3, N: 45, K: 17, alpha: -0.5, beta: 0.5, pad: 1 }, 6, be);
}

/** K = 0 scales C by beta; M or N = 0 touches nothing. */
function degenerate(be: Backend = backend): void {
  const C = Float32Array.from([1, 2, 3, 4]);
  be.gemm(false, false, 2, 2, 0, 1, new Float32Array(4), 1, new Float32Array(4), 2, 0.5, C, 2);
  expect(Array.from(C)).toEqual([0.5, 1, 1.5, 2]);
  be.gemm(false, false, 0, 2, 2, 1, new Float32Array(4), 2, new Float32Array(4), 2, 0, C, 2);
  expect(Array.from(C)).toEqual([0.5, 1, 1.5, 2]);
}

describe.runIf(backend.name === 'native')('native SGEMM', () => {
  const vs = variants();

  it('offers the built-in kernels on this CPU, and OpenBLAS only when linked', () => {
    expect(vs.some(([impl]) => impl === 'builtin')).toBe(true);
    expect(vs.some(([, isa]) => isa === 'generic')).toBe(true); // the fallback runs on every CPU
    if (!info!.hasOpenblas) expect(() => setNativeGemm('openblas')).toThrow(/without OpenBLAS|no OpenBLAS/);
  });

  describe.each(vs)('%s %s', (impl, isa) => {
    const use = () => setNativeGemm(impl, isa);

    it.each(TRANSPOSES)('transA=%s transB=%s, sizes 1..67', (ta, tb) => {
      use();
      sweep(ta, tb);
    });

    it.each(TRANSPOSES)('transA=%s transB=%s, deep K across blocks', (ta, tb) => {
      use();
      deepK(ta, tb);
    });

    it.each([
      [false, true],
      [true, false],
    ])('transA=%s transB=%s, shapes of the engine (narrow outputs, few rows, threads)', (ta, tb) => {
      use();
      engineShapes(ta, tb);
      const threads = nativeThreads();
      try {
        nativeThreads(3); // >= 8 M multiply-adds: split across threads even on a 1-core machine
        check({ ta, tb, M: 150, N: 260, K: 257, alpha: 1, beta: 0.5, pad: 1 }, 7);
      } finally {
        nativeThreads(threads);
      }
    });

    it('K = 0 scales C by beta; M or N = 0 touches nothing', () => {
      use();
      degenerate();
    });
  });

  it('refuses an instruction set this CPU lacks, naming the fix', () => {
    for (const isa of ['avx512', 'avx2'] as const) {
      if (vs.some(([, i]) => i === isa)) continue;
      expect(() => setNativeGemm('builtin', isa)).toThrow(/cannot run the .* kernels/);
    }
    expect(() => setNativeGemm('builtin', 'sse9' as GemmIsa)).toThrow(/cannot run/);
  });
});

describe.runIf(wasm)('wasm SGEMM', () => {
  const be = wasm!;
  it.each(TRANSPOSES)('transA=%s transB=%s, sizes 1..67', (ta, tb) => sweep(ta, tb, be));
  it.each(TRANSPOSES)('transA=%s transB=%s, deep K across blocks', (ta, tb) => deepK(ta, tb, be));
  it.each(TRANSPOSES)('transA=%s transB=%s, shapes of the engine and its blocks', (ta, tb) => {
    engineShapes(ta, tb, be);
    // M past the 80-row A block and N past the 512-column B block, K past the 256-deep one, rows left over
    // in the 5 x 8 tile in every direction.
    check({ ta, tb, M: 163, N: 530, K: 261, alpha: 1, beta: 0.5, pad: 1 }, 7, be);
  });
  it('K = 0 scales C by beta; M or N = 0 touches nothing', () => degenerate(be));
});
