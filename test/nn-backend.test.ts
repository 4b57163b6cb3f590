import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { getBackend, jsBackend, setBackend, type Backend } from '../src/nn/backend.ts';
import { mlp } from '../src/nn/mlp.ts';
import { nativeGemmInfo, setNativeGemm, type GemmImpl } from '../src/nn/native-loader.ts';
import { Adam } from '../src/nn/optim.ts';
import { loadWasmBackend } from '../src/nn/wasm-loader.ts';

const native = getBackend();
const wasm = loadWasmBackend();
/** The fast backends this machine has, each checked against the js reference below. */
const fast: [string, Backend][] = [];
if (native.name === 'native') fast.push(['native', native]);
if (wasm.backend) fast.push(['wasm', wasm.backend]);
const gemmInfo = nativeGemmInfo();
// Every SGEMM this build has: the built-in kernels always, OpenBLAS where the install linked it.
const gemmImpls: GemmImpl[] = gemmInfo?.hasOpenblas ? ['builtin', 'openblas'] : ['builtin'];
afterAll(() => {
  setBackend(native);
  if (gemmInfo) setNativeGemm(gemmInfo.impl);
});

function rand(n: number, seed: number): Float32Array {
  return Rng.fromSeed(seed).fillNormal(new Float32Array(n)) as Float32Array;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1e-3 + Math.abs(a[i]) + Math.abs(b[i])));
  return worst;
}

/** Unit roundoff of float32 and Higham's gamma_n = n u / (1 - n u), the relative error bound of an n-term sum. */
const U32 = 2 ** -24;
const gamma = (n: number) => (n * U32) / (1 - n * U32);

/**
 * max_i |a_i - b_i| / rms(b): the difference relative to the tensor's own scale. Elementwise relative
 * error is the wrong yardstick for results of long float32 sums: an output that happens to land near 0
 * keeps the absolute error of its terms, so its relative error is unbounded.
 */
function scaledDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  let ss = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    ss += b[i] * b[i];
  }
  return worst / Math.sqrt(ss / a.length + 1e-30);
}

interface MlpResult {
  y: Float32Array;
  dx: Float32Array;
  g: Float32Array;
  sizes: number[];
}

/** Forward and backward pass of a fresh MLP on backend `be`: outputs, input gradients, parameter gradients. */
function mlpPass(be: Backend, spec: Parameters<typeof mlp>[0], rows: number): MlpResult {
  setBackend(be);
  const m = mlp(spec, Rng.fromSeed(42));
  const y = m.forward(rand(rows * spec.in, 7), rows).slice();
  m.zeroGrad();
  const dx = m.backward(rand(rows * spec.out, 8), rows, { inputGrad: true })!.slice();
  return { y, dx, g: m.grads.slice(), sizes: m.params.map(([, p]) => p.size) };
}

/**
 * How far two passes differ, each quantity against its own scale (scaledDiff); parameter gradients per
 * tensor, since LayerNorm gains and output biases have gradients on other scales than the weights.
 */
function mlpDiff(a: MlpResult, b: MlpResult): { y: number; dx: number; g: number } {
  let off = 0;
  let g = 0;
  for (const size of a.sizes) {
    g = Math.max(g, scaledDiff(a.g.subarray(off, off + size), b.g.subarray(off, off + size)));
    off += size;
  }
  return { y: scaledDiff(a.y, b.y), dx: scaledDiff(a.dx, b.dx), g };
}

describe('native backend', () => {
  it('is built and selected in CI', () => {
    // .ci/run sets DSRL_REQUIRE_NATIVE=1 so a broken native build fails here instead of silently falling back.
    if (process.env.DSRL_REQUIRE_NATIVE === '1') expect(native.name).toBe('native');
  });
});

describe('wasm backend', () => {
  it('is built and loads in CI', () => {
    // npm ci builds it (scripts/build-wasm.mjs, needs only the assemblyscript devDependency) on every machine.
    if (process.env.CI === 'true') expect(wasm.reason).toBe('');
  });
});

describe.each(fast)('%s and js backends agree', (name, fastBe) => {
  it.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])('gemm transA=%s transB=%s with beta', (ta, tb) => {
    const [M, N, K] = [13, 7, 11];
    const A = rand(M * K, 1);
    const B = rand(K * N, 2);
    const C0 = rand(M * N, 3);
    const [alpha, beta] = [0.7, 0.3];
    const run = (be: Backend) => {
      const C = C0.slice();
      be.gemm(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
      return C;
    };
    const [c, ref] = [run(fastBe), run(jsBackend)];
    // Each backend's C_ij is within gamma_{K+2} (|alpha| sum_k |A_ik B_kj| + |beta C0_ij|) of the exact value
    // (K products summed, then alpha and beta applied), in whatever order its kernel sums (Higham, Accuracy and
    // Stability of Numerical Algorithms, 3.1); so they differ by at most twice that. A wrong index or
    // transpose is off by O(1) of the magnitude.
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let mag = 0;
        for (let k = 0; k < K; k++) mag += Math.abs((ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]));
        const bound = 2 * gamma(K + 2) * (Math.abs(alpha) * mag + Math.abs(beta * C0[i * N + j]));
        expect(Math.abs(c[i * N + j] - ref[i * N + j]), `C[${i}, ${j}]`).toBeLessThanOrEqual(bound);
      }
    }
  });

  it('gemm respects leading dimensions (sub-matrix views)', () => {
    const A = rand(6 * 10, 4); // use a 6 x 4 block of a 6 x 10 matrix
    const B = rand(4 * 3, 5);
    const run = (be: Backend) => {
      const C = new Float32Array(6 * 5).fill(9); // write a 6 x 3 block into a 6 x 5 matrix
      be.gemm(false, false, 6, 3, 4, 1, A.subarray(2), 10, B, 3, 0, C.subarray(1), 5);
      return C;
    };
    const c = run(fastBe);
    // 4-term sums of N(0, 1) products: the float32 error bound (see above) is below 1e-6; a wrong leading
    // dimension reads other values, off by O(1).
    expect(scaledDiff(c, run(jsBackend))).toBeLessThan(1e-5);
    expect(c[0]).toBe(9); // outside the block: untouched
  });

  it('rejects views that are too short', () => {
    expect(() => fastBe.gemm(false, false, 4, 4, 4, 1, new Float32Array(15), 4, new Float32Array(16), 4, 0, new Float32Array(16), 4)).toThrow(
      /A has 15/,
    );
    expect(() =>
      fastBe.adam(new Float32Array(4), new Float32Array(3), new Float32Array(4), new Float32Array(4), 1e-3, 0.9, 0.999, 1e-8, 1, 0),
    ).toThrow(/grads/);
  });

  it.each(['relu', 'tanh', 'mish', 'silu'] as const)('whole MLP forward/backward with LayerNorm, %s', (activation) => {
    const spec = { in: 23, hidden: [64, 64, 64], out: 5, layerNorm: true, activation };
    const measured = mlpDiff(mlpPass(fastBe, spec, 32), mlpPass(jsBackend, spec, 32));
    if (process.env.DSRL_TEST_VERBOSE) console.log(`${name} vs js, ${activation}: ${JSON.stringify(measured)}`);
    // 4 float32 layers of sums of up to 64 terms (worst case gamma_64 = 3.8e-6 of the terms' magnitude each)
    // with LayerNorm and the activation in between, forward and back. Measured (this test, scaled as above)
    // over OpenBLAS 0.3.21's Haswell, Zen, SandyBridge, SkylakeX, Cooperlake and Prescott kernels and the
    // built-in AVX-512, AVX2 and generic SGEMMs, each against js: at most 1.6e-6 (y), 2.5e-6 (dx), 3.6e-6 (g);
    // the wasm kernels (f32x4, other summation orders, the same float32 exp polynomial as native): at most
    // 1.6e-6 (y), 1.9e-6 (dx), 2.9e-6 (g). 3e-5 leaves 8x over the worst of those, and real kernel bugs are larger (checked by editing the js
    // kernels): LayerNorm's eps doubled moves these by 7e-5 to 7e-4, mish' off by 0.1% by 2e-3, one row left
    // out of a bias gradient by 0.6 to 1.2.
    expect(measured.y).toBeLessThan(3e-5);
    expect(measured.dx).toBeLessThan(3e-5);
    expect(measured.g).toBeLessThan(3e-5);
  });

  // native: once per SGEMM the build has; wasm: its one gemm.
  it.each(name === 'native' ? gemmImpls : ['wasm'])('whole MLP forward/backward with LayerNorm on the %s SGEMM (batch 256 and batch 1)', (impl) => {
    if (name === 'native') setNativeGemm(impl as GemmImpl);
    try {
      for (const rows of [256, 1]) {
        const spec = { in: 17, hidden: [256, 256], out: 6, layerNorm: true, activation: 'relu' as const };
        const measured = mlpDiff(mlpPass(fastBe, spec, rows), mlpPass(jsBackend, spec, rows));
        if (process.env.DSRL_TEST_VERBOSE) console.log(`${name} (${impl}) vs js, width 256, batch ${rows}: ${JSON.stringify(measured)}`);
        // Sums of 256 float32 products (worst case gamma_256 = 1.5e-5 of the terms' magnitude per layer).
        // Measured (scaled as above) with OpenBLAS's Haswell, SandyBridge, SkylakeX, Cooperlake and Prescott
        // kernels and the built-in AVX-512, AVX2 and generic SGEMMs, against js: at most 1.3e-6 (y), 4.2e-6 (dx),
        // 4.0e-6 (g), at batch 256 and 1; wasm: 1.6e-6 (y), 1.9e-6 (dx), 3.5e-6 (g). 5e-5 leaves 12x; LayerNorm's eps doubled in one backend moves them by
        // 9e-5 to 2e-4, one row left out of a bias gradient by 0.3.
        expect(measured.y).toBeLessThan(5e-5);
        expect(measured.dx).toBeLessThan(5e-5);
        expect(measured.g).toBeLessThan(5e-5);
      }
    } finally {
      if (gemmInfo) setNativeGemm(gemmInfo.impl);
    }
  });

  it('Adam, axpby and sumSquares', () => {
    const out = [fastBe, jsBackend].map((be) => {
      setBackend(be);
      const target = { values: rand(1000, 1), grads: rand(1000, 2) };
      const opt = new Adam(target, { lr: 1e-2, weightDecay: 0.01 });
      for (let i = 0; i < 5; i++) opt.update();
      const y = rand(100, 3);
      be.axpby(y, rand(100, 4), 0.25, 0.75);
      return { p: target.values, y, ss: be.sumSquares(target.grads) };
    });
    expect(maxRelDiff(out[0].p, out[1].p)).toBeLessThan(1e-4); // float32 (native, wasm) vs double (js) arithmetic
    expect(maxRelDiff(out[0].y, out[1].y)).toBeLessThan(1e-6);
    expect(out[0].ss).toBeCloseTo(out[1].ss, 6);
  });
});
