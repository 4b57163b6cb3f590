/**
 * bf16 products (native/bf16.c via src/nn/bf16.ts): exact against a float64 product of the bf16-rounded
 * inputs up to fp32 summation error, and Bf16Backend sends only products on the frozen weights to them.
 * Skipped where the CPU has no AVX512-BF16 (there Bf16Backend must be the fp32 backend unchanged). On a CPU
 * with AMX, products from 16 rows up run on it (the shapes below cover one and two 16-row blocks, partial blocks
 * and K past one 32-wide tile), the others on AVX512-BF16.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { getBackend, setBackend } from '../src/nn/backend.ts';
import { Bf16Backend, bf16Available } from '../src/nn/bf16.ts';
import { mlp } from '../src/nn/mlp.ts';
import { nativeBf16, nativeBf16Kernel, nativeThreads, setNativeBf16Kernel } from '../src/nn/native-loader.ts';
import { checkBf16Product } from './helpers/bf16-reference.ts';

const fp32 = getBackend();
afterAll(() => setBackend(fp32));

describe('the bf16 kernel this CPU gets', () => {
  it('is none exactly when there are no bf16 units; AMX only when asked not to avoid it', () => {
    getBackend();
    const kernel = nativeBf16Kernel();
    expect(['amx', 'avx512-bf16', 'none']).toContain(kernel);
    expect(kernel === 'none').toBe(!bf16Available());
    if (process.env.DSRL_BF16_KERNEL === 'avx512') expect(kernel).not.toBe('amx');
  });

  it.runIf(getBackend().name === 'native')('DSRL_BF16_KERNEL: an unknown value, or amx without AMX, is refused with the reason', () => {
    const load = (value: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "(await import('./src/nn/backend.ts')).getBackend()"], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, DSRL_BACKEND: 'native', DSRL_BF16_KERNEL: value },
      });
    const bogus = load('avx-512');
    expect(bogus.status).not.toBe(0);
    expect(bogus.stderr).toMatch(/DSRL_BF16_KERNEL must be "amx", "avx512" or "auto", got "avx-512"/);
    const amx = load('amx');
    if (nativeBf16Kernel() === 'amx') expect(amx.status).toBe(0);
    else expect(amx.stderr).toMatch(/DSRL_BF16_KERNEL=amx but this machine gives no AMX/);
    expect(load('avx512').status).toBe(0);
  });

  it.runIf(bf16Available())('can be switched at run time; amx is refused where the CPU has none', () => {
    const detected = nativeBf16Kernel();
    const k = nativeBf16();
    if (!k) expect.fail('bf16 units but no bf16 kernels');
    try {
      expect(setNativeBf16Kernel('avx512-bf16')).toBe('avx512-bf16');
      expect(checkBf16Product(k, 33, 64, 100)).toBeNull();
      if (detected === 'amx') {
        expect(setNativeBf16Kernel('amx')).toBe('amx');
        expect(checkBf16Product(k, 33, 64, 100)).toBeNull();
      } else {
        expect(() => setNativeBf16Kernel('amx')).toThrow(/cannot run the amx bf16 kernel/);
        expect(nativeBf16Kernel()).toBe('avx512-bf16');
      }
      expect(() => setNativeBf16Kernel('avx-512' as 'auto')).toThrow(/cannot run the avx-512 bf16 kernel/);
    } finally {
      setNativeBf16Kernel(detected === 'amx' ? 'amx' : 'avx512-bf16');
    }
  });
});

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
    [16, 32, 32],
    [17, 50, 100],
    [33, 64, 600],
  ])('M=%i N=%i K=%i', (M, N, K) => {
    const failure = checkBf16Product(k, M, N, K);
    if (failure) expect.fail(failure);
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
    // K = 10 and K = 40 differ in stored pairs (pairs are padded to 16 for AMX tiles, so K = 12 would not).
    const Wp = k.packBf16(new Float32Array(64 * 10), 64, 10, 10);
    expect(() => k.gemmBf16(2, 64, 40, 1, new Float32Array(80), 40, Wp, 0, new Float32Array(128), 64)).toThrow(/pack it with these N, K/);
    expect(() => k.gemmBf16(2, 96, 10, 1, new Float32Array(20), 10, Wp, 0, new Float32Array(192), 96)).toThrow(/pack it with these N, K/);
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
