/**
 * The built-in SGEMM's persistent thread pool (native/pool.c, running native/gemm.c's tiles): results that do not depend on the thread count,
 * workers started once and reused, and a second JS thread (worker_threads) running products while the main
 * thread holds the pool.
 */
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { getBackend } from '../src/nn/backend.ts';
import { nativeGemmInfo, nativeGemmPoolWorkers, nativeThreads, setNativeGemm } from '../src/nn/native-loader.ts';
import { builtinGemmIsas } from './helpers/gemm-isas.ts';

const backend = getBackend();
const info = nativeGemmInfo();
const threads0 = nativeThreads();

afterAll(() => {
  if (!info) return;
  setNativeGemm(info.impl);
  nativeThreads(threads0);
});

// Shapes of the engine above the threading threshold (>= 8 M multiply-adds), with ragged edges in M, N and K
// (K > 256 crosses the K slices) and every transpose pair.
const SHAPES = [
  { ta: false, tb: true, M: 256, N: 512, K: 512, beta: 0 }, // base-policy hidden layer
  { ta: true, tb: false, M: 300, N: 257, K: 259, beta: 0.5 }, // a weight gradient, ragged
  { ta: false, tb: false, M: 161, N: 390, K: 300, beta: 1 },
  { ta: true, tb: true, M: 97, N: 333, K: 517, beta: -0.25 },
];

describe.runIf(backend.name === 'native')('built-in SGEMM thread pool', () => {
  const vs = builtinGemmIsas();

  // Each output tile is computed whole by one thread over the same K slices in the same order, so the floats
  // are the same bits whatever the thread count (no tolerance: this is the property under test).
  it.each(vs)('%s: C is bit-identical for 1, 2, 3 and 5 threads', (isa) => {
    setNativeGemm('builtin', isa);
    const rng = Rng.fromSeed(11);
    for (const s of SHAPES) {
      const lda = s.ta ? s.M : s.K;
      const ldb = s.tb ? s.K : s.N;
      const A = rng.fillNormal(new Float32Array(s.M * s.K)) as Float32Array;
      const B = rng.fillNormal(new Float32Array(s.K * s.N)) as Float32Array;
      const C0 = rng.fillNormal(new Float32Array(s.M * s.N)) as Float32Array;
      const results = [1, 2, 3, 5].map((t) => {
        nativeThreads(t);
        const C = C0.slice();
        backend.gemm(s.ta, s.tb, s.M, s.N, s.K, 0.75, A, lda, B, ldb, s.beta, C, s.N);
        return C;
      });
      for (const C of results.slice(1)) {
        expect(Buffer.from(C.buffer).equals(Buffer.from(results[0].buffer)), JSON.stringify(s)).toBe(true);
      }
    }
  });

  it('starts its workers once and reuses them', () => {
    setNativeGemm('builtin', 'auto');
    nativeThreads(3);
    const rng = Rng.fromSeed(3);
    const A = rng.fillNormal(new Float32Array(256 * 512)) as Float32Array;
    const B = rng.fillNormal(new Float32Array(512 * 512)) as Float32Array;
    const C = new Float32Array(256 * 512);
    backend.gemm(false, true, 256, 512, 512, 1, A, 512, B, 512, 0, C, 512);
    const workers = nativeGemmPoolWorkers();
    expect(workers).toBeGreaterThanOrEqual(2); // 3 threads: the caller and 2 workers (more if an earlier test asked)
    for (let i = 0; i < 50; i++) backend.gemm(false, true, 256, 512, 512, 1, A, 512, B, 512, 0, C, 512);
    expect(nativeGemmPoolWorkers()).toBe(workers);
  });

  it('a worker thread runs products while the main thread holds the pool, with the same results', async () => {
    setNativeGemm('builtin', 'auto');
    nativeThreads(2);
    const rng = Rng.fromSeed(5);
    const M = 256;
    const N = 384;
    const K = 320;
    const A = rng.fillNormal(new Float32Array(M * K)) as Float32Array;
    const B = rng.fillNormal(new Float32Array(N * K)) as Float32Array;
    const ref = new Float32Array(M * N);
    backend.gemm(false, true, M, N, K, 1, A, K, B, K, 0, ref, N);
    // The worker loads the addon itself (its own N-API environment) and loops over the same product.
    const src = `
      const { parentPort, workerData } = require('node:worker_threads');
      const a = require(workerData.addon);
      a.setGemm('builtin');
      const { A, B, M, N, K, reps } = workerData;
      const C = new Float32Array(M * N);
      for (let i = 0; i < reps; i++) a.gemm(false, true, M, N, K, 1, A, K, B, K, 0, C, N);
      parentPort.postMessage(C);
    `;
    const addon = new URL('../native/build/Release/dsrl_native.node', import.meta.url).pathname;
    const worker = new Worker(src, { eval: true, workerData: { addon, A, B, M, N, K, reps: 40 } });
    const done = new Promise<Float32Array>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const C = new Float32Array(M * N);
    for (let i = 0; i < 40; i++) backend.gemm(false, true, M, N, K, 1, A, K, B, K, 0, C, N);
    const fromWorker = await done;
    await worker.terminate();
    expect(Buffer.from(C.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
    expect(Buffer.from(fromWorker.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
    // The worker's environment unloaded; the main thread's pool still serves it.
    backend.gemm(false, true, M, N, K, 1, A, K, B, K, 0, C, N);
    expect(Buffer.from(C.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
  });
});
