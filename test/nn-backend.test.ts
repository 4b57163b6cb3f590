import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { getBackend, jsBackend, setBackend } from '../src/nn/backend.ts';
import { mlp } from '../src/nn/mlp.ts';
import { nativeGemmInfo, setNativeGemm, type GemmImpl } from '../src/nn/native-loader.ts';
import { Adam } from '../src/nn/optim.ts';

const native = getBackend();
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

describe('native backend', () => {
  it('is built and selected in CI', () => {
    // .ci/run sets DSRL_REQUIRE_NATIVE=1 so a broken native build fails here instead of silently falling back.
    if (process.env.DSRL_REQUIRE_NATIVE === '1') expect(native.name).toBe('native');
  });
});

describe.runIf(native.name === 'native')('native and js backends agree', () => {
  it.each([[false, false], [false, true], [true, false], [true, true]])('gemm transA=%s transB=%s with beta', (ta, tb) => {
    const [M, N, K] = [13, 7, 11];
    const A = rand(M * K, 1);
    const B = rand(K * N, 2);
    const C0 = rand(M * N, 3);
    const run = (be: typeof jsBackend) => {
      const C = C0.slice();
      be.gemm(ta, tb, M, N, K, 0.7, A, ta ? M : K, B, tb ? K : N, 0.3, C, N);
      return C;
    };
    expect(maxRelDiff(run(native), run(jsBackend))).toBeLessThan(1e-5);
  });

  it('gemm respects leading dimensions (sub-matrix views)', () => {
    const A = rand(6 * 10, 4); // use a 6 x 4 block of a 6 x 10 matrix
    const B = rand(4 * 3, 5);
    const run = (be: typeof jsBackend) => {
      const C = new Float32Array(6 * 5).fill(9); // write a 6 x 3 block into a 6 x 5 matrix
      be.gemm(false, false, 6, 3, 4, 1, A.subarray(2), 10, B, 3, 0, C.subarray(1), 5);
      return C;
    };
    const c = run(native);
    expect(maxRelDiff(c, run(jsBackend))).toBeLessThan(1e-5);
    expect(c[0]).toBe(9); // outside the block: untouched
  });

  it('native kernels reject views that are too short', () => {
    expect(() => native.gemm(false, false, 4, 4, 4, 1, new Float32Array(15), 4, new Float32Array(16), 4, 0, new Float32Array(16), 4)).toThrow(/A has 15/);
    expect(() => native.adam(new Float32Array(4), new Float32Array(3), new Float32Array(4), new Float32Array(4), 1e-3, 0.9, 0.999, 1e-8, 1, 0)).toThrow(/grads/);
  });

  it.each(['relu', 'tanh', 'mish', 'silu'] as const)('whole MLP forward/backward with LayerNorm, %s', (activation) => {
    const results = [native, jsBackend].map((be) => {
      setBackend(be);
      const m = mlp({ in: 23, hidden: [64, 64, 64], out: 5, layerNorm: true, activation }, Rng.fromSeed(42));
      const y = m.forward(rand(32 * 23, 7), 32).slice();
      m.zeroGrad();
      const dx = m.backward(rand(32 * 5, 8), 32, { inputGrad: true })!.slice();
      return { y, dx, g: m.grads.slice() };
    });
    expect(maxRelDiff(results[0].y, results[1].y)).toBeLessThan(1e-4);
    expect(maxRelDiff(results[0].dx, results[1].dx)).toBeLessThan(1e-3);
    expect(maxRelDiff(results[0].g, results[1].g)).toBeLessThan(1e-3);
  });

  it.each(gemmImpls)('whole MLP forward/backward with LayerNorm on the %s SGEMM (batch 256 and batch 1)', (impl) => {
    setNativeGemm(impl);
    try {
      for (const rows of [256, 1]) {
        const results = [native, jsBackend].map((be) => {
          setBackend(be);
          const m = mlp({ in: 17, hidden: [256, 256], out: 6, layerNorm: true, activation: 'relu' }, Rng.fromSeed(3));
          const y = m.forward(rand(rows * 17, 9), rows).slice();
          m.zeroGrad();
          const dx = m.backward(rand(rows * 6, 10), rows, { inputGrad: true })!.slice();
          return { y, dx, g: m.grads.slice() };
        });
        // 1e-3, not the 64-wide test's 1e-4: sums of 256 float32 products in either backend's order differ by up
        // to ~K u = 1.5e-5 of their magnitude per layer, and LayerNorm rescales by 1/std of partly cancelling sums
        // (both SGEMMs measured ~1.1e-4 here against js).
        expect(maxRelDiff(results[0].y, results[1].y)).toBeLessThan(1e-3);
        expect(maxRelDiff(results[0].dx, results[1].dx)).toBeLessThan(1e-3);
        expect(maxRelDiff(results[0].g, results[1].g)).toBeLessThan(1e-3);
      }
    } finally {
      setNativeGemm(gemmInfo!.impl);
    }
  });

  it('Adam, axpby and sumSquares', () => {
    const out = [native, jsBackend].map((be) => {
      setBackend(be);
      const target = { values: rand(1000, 1), grads: rand(1000, 2) };
      const opt = new Adam(target, { lr: 1e-2, weightDecay: 0.01 });
      for (let i = 0; i < 5; i++) opt.update();
      const y = rand(100, 3);
      be.axpby(y, rand(100, 4), 0.25, 0.75);
      return { p: target.values, y, ss: be.sumSquares(target.grads) };
    });
    expect(maxRelDiff(out[0].p, out[1].p)).toBeLessThan(1e-4); // float32 (native) vs double (js) arithmetic
    expect(maxRelDiff(out[0].y, out[1].y)).toBeLessThan(1e-6);
    expect(out[0].ss).toBeCloseTo(out[1].ss, 6);
  });
});
