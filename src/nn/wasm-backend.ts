/**
 * The WebAssembly SIMD backend: the kernels of wasm/*.ts (AssemblyScript, f32x4), compiled into one module at
 * npm install (scripts/build-wasm.mjs) and found by wasm-loader.ts. It runs wherever WebAssembly SIMD does
 * (Node >= 16.4, current browsers), with no compiler on the machine, and gives the same floats in every engine.
 *
 * Memory: the kernels read only the module's own linear memory, so every call copies its inputs into an arena
 * there and its outputs back out. The arena is reset at each call and only ever grows (no allocation per call
 * once it fits the largest call). Inputs the kernel will not read (C when beta = 0, z for a ReLU's backward)
 * are not copied. bench/wasm.ts measures what the copies cost.
 */
import type { Backend } from './backend.ts';
import { checkAdam, checkBiasAct, checkBiasActBackward, checkLnActBackward, checkLnActForward, need } from './backend-checks.ts';

interface Kernels {
  memory: WebAssembly.Memory;
  gemmWorkFloats(M: number, K: number): number;
  gemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: number,
    lda: number,
    B: number,
    ldb: number,
    beta: number,
    C: number,
    ldc: number,
    work: number,
  ): void;
  biasAct(z: number, bias: number, rows: number, cols: number, act: number, y: number): void;
  biasActBackward(dy: number, z: number, y: number, rows: number, cols: number, act: number, dz: number, db: number): void;
  lnActForward(
    z: number,
    bias: number,
    gamma: number,
    beta: number,
    rows: number,
    cols: number,
    eps: number,
    act: number,
    xhat: number,
    rstd: number,
    y: number,
  ): void;
  lnActBackward(
    dy: number,
    xhat: number,
    rstd: number,
    gamma: number,
    beta: number,
    y: number,
    rows: number,
    cols: number,
    act: number,
    dz: number,
    dgamma: number,
    dbeta: number,
    dbias: number,
    u: number,
  ): void;
  adam(
    p: number,
    g: number,
    m: number,
    v: number,
    n: number,
    b1: number,
    b2: number,
    eps: number,
    stepSize: number,
    invSqrtBc2: number,
    decay: number,
  ): void;
  axpby(y: number, x: number, n: number, a: number, b: number): void;
  sumSquares(x: number, n: number): number;
}

const RELU = 1;
const TANH = 2;
const MISH = 3;
const SILU = 4;
const PAGE = 65536;
/** Pointer 0 means "no array" to the kernels; the arena starts past it and past the module's own data. */
const MIN_BASE = 64;

/** What the copies in and out of the module's memory cost, counted while `enabled` (bench/wasm.ts). */
export interface CopyStats {
  enabled: boolean;
  ms: number;
  bytes: number;
}

/** A backend on the WebAssembly kernels, with its copy counters. */
export interface WasmBackend extends Backend {
  readonly copies: CopyStats;
}

/** Float regions in the module's memory: 16-byte aligned, padded to whole f32x4 vectors (the kernels' loops run whole vectors). */
class Arena {
  private f32: Float32Array;
  private top: number;
  private readonly base: number;
  readonly stats: CopyStats = { enabled: false, ms: 0, bytes: 0 };

  constructor(private readonly memory: WebAssembly.Memory) {
    this.base = Math.max(MIN_BASE, Math.ceil(memory.buffer.byteLength / 64) * 64);
    this.top = this.base;
    this.f32 = new Float32Array(memory.buffer);
  }

  /** Forget every region (the next call's regions reuse the same bytes). */
  reset(): void {
    this.top = this.base;
  }

  /** A region of n floats; grows memory (at least doubling it, so growth is rare) when it does not fit. */
  alloc(n: number): number {
    const ptr = this.top;
    const end = ptr + Math.ceil(n / 4) * 16;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.max(Math.ceil((end - have) / PAGE), have / PAGE);
      const max = 65536 - have / PAGE;
      try {
        this.memory.grow(Math.min(pages, max));
      } catch {
        throw new RangeError(`wasm backend: a call needs ${(end / 2 ** 20).toFixed(0)} MiB of WebAssembly memory, more than it can have (4 GiB)`);
      }
      if (this.memory.buffer.byteLength < end) {
        throw new RangeError(`wasm backend: a call needs ${(end / 2 ** 20).toFixed(0)} MiB of WebAssembly memory, more than it can have (4 GiB)`);
      }
      this.f32 = new Float32Array(this.memory.buffer);
    }
    this.top = end;
    return ptr;
  }

  /** A region holding the first n floats of src. */
  in(src: Float32Array, n: number): number {
    const ptr = this.alloc(n);
    const t0 = this.stats.enabled ? performance.now() : 0;
    this.f32.set(n === src.length ? src : src.subarray(0, n), ptr >> 2);
    if (this.stats.enabled) this.count(t0, n);
    return ptr;
  }

  /** Copy n floats at ptr out into dst. */
  out(ptr: number, dst: Float32Array, n: number): void {
    const t0 = this.stats.enabled ? performance.now() : 0;
    dst.set(this.f32.subarray(ptr >> 2, (ptr >> 2) + n));
    if (this.stats.enabled) this.count(t0, n);
  }

  private count(t0: number, n: number): void {
    this.stats.ms += performance.now() - t0;
    this.stats.bytes += 4 * n;
  }
}

/** Elements a row-major rows x cols matrix with leading dimension ld spans. */
function span(rows: number, cols: number, ld: number): number {
  return rows <= 0 || cols <= 0 ? 0 : (rows - 1) * ld + cols;
}

/** A backend on `instance`, an instance of the module built from wasm/index.ts (it uses the instance's memory). */
export function createWasmBackend(instance: WebAssembly.Instance): WasmBackend {
  const k = instance.exports as unknown as Kernels;
  const arena = new Arena(k.memory);

  return {
    name: 'wasm',
    copies: arena.stats,

    gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) {
      if (M <= 0 || N <= 0) return;
      const nC = span(M, N, ldc);
      need('wasm', C, nC, 'C');
      const product = K > 0 && alpha !== 0;
      const nA = product ? span(transA ? K : M, transA ? M : K, lda) : 0;
      const nB = product ? span(transB ? N : K, transB ? K : N, ldb) : 0;
      need('wasm', A, nA, 'A');
      need('wasm', B, nB, 'B');
      arena.reset();
      const a = product ? arena.in(A, nA) : 0;
      const b = product ? arena.in(B, nB) : 0;
      // beta = 0 with dense rows: C is only written. Otherwise C goes in whole, so the gaps between padded
      // rows come back out unchanged.
      const c = beta === 0 && ldc === N ? arena.alloc(nC) : arena.in(C, nC);
      const work = product ? arena.alloc(k.gemmWorkFloats(M, K)) : 0;
      k.gemm(transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc, work);
      arena.out(c, C, nC);
    },

    biasAct(z, bias, rows, cols, act, y) {
      const n = rows * cols;
      checkBiasAct('wasm', z, bias, rows, cols, y);
      arena.reset();
      const zp = arena.in(z, n);
      const bp = bias ? arena.in(bias, cols) : 0;
      const yp = y === z ? zp : arena.alloc(n);
      k.biasAct(zp, bp, rows, cols, act, yp);
      if (bias || yp === zp) arena.out(zp, z, n);
      if (yp !== zp) arena.out(yp, y, n);
    },

    biasActBackward(dy, z, y, rows, cols, act, dz, db) {
      const n = rows * cols;
      checkBiasActBackward('wasm', dy, z, y, rows, cols, dz, db);
      arena.reset();
      const dyp = arena.in(dy, n);
      // ReLU and tanh read the output, mish and silu the pre-activation, identity neither.
      const zp = act === MISH || act === SILU ? arena.in(z, n) : 0;
      const yp = act === RELU || act === TANH ? arena.in(y, n) : 0;
      const dzp = dz === dy ? dyp : arena.alloc(n);
      const dbp = db ? arena.in(db, cols) : 0;
      k.biasActBackward(dyp, zp, yp, rows, cols, act, dzp, dbp);
      arena.out(dzp, dz, n);
      if (db) arena.out(dbp, db, cols);
    },

    lnActForward(z, bias, gamma, beta, rows, cols, eps, act, xhat, rstd, y) {
      const n = rows * cols;
      checkLnActForward('wasm', z, bias, gamma, beta, rows, cols, xhat, rstd, y);
      arena.reset();
      const zp = arena.in(z, n);
      const bp = bias ? arena.in(bias, cols) : 0;
      const gp = arena.in(gamma, cols);
      const bep = arena.in(beta, cols);
      const xp = arena.alloc(n);
      const rp = arena.alloc(rows);
      const yp = arena.alloc(n);
      k.lnActForward(zp, bp, gp, bep, rows, cols, eps, act, xp, rp, yp);
      if (bias) arena.out(zp, z, n);
      arena.out(xp, xhat, n);
      arena.out(rp, rstd, rows);
      arena.out(yp, y, n);
    },

    lnActBackward(dy, xhat, rstd, gamma, beta, y, rows, cols, act, dz, dgamma, dbeta, dbias) {
      const n = rows * cols;
      checkLnActBackward('wasm', dy, xhat, rstd, gamma, beta, y, rows, cols, dz, dgamma, dbeta, dbias);
      arena.reset();
      const smooth = act === MISH || act === SILU; // their derivative needs the pre-activation, rebuilt from xhat
      const dyp = arena.in(dy, n);
      const xp = arena.in(xhat, n);
      const rp = arena.in(rstd, rows);
      const gp = arena.in(gamma, cols);
      const bep = smooth ? arena.in(beta, cols) : 0;
      const yp = act === RELU || act === TANH ? arena.in(y, n) : 0;
      const dzp = arena.alloc(n);
      const dgp = dgamma ? arena.in(dgamma, cols) : 0;
      const dbep = dbeta ? arena.in(dbeta, cols) : 0;
      const dbip = dbias ? arena.in(dbias, cols) : 0;
      const up = smooth ? arena.alloc(n) : 0;
      k.lnActBackward(dyp, xp, rp, gp, bep, yp, rows, cols, act, dzp, dgp, dbep, dbip, up);
      arena.out(dzp, dz, n);
      if (dgamma) arena.out(dgp, dgamma, cols);
      if (dbeta) arena.out(dbep, dbeta, cols);
      if (dbias) arena.out(dbip, dbias, cols);
    },

    adam(p, g, m, v, lr, beta1, beta2, eps, step, weightDecay) {
      const n = p.length;
      checkAdam('wasm', p, g, m, v);
      // The step's scalars rounded to float32 as native/kernels.c rounds them (powers in double).
      const f = Math.fround;
      const bc1 = f(1 - beta1 ** step);
      const bc2 = f(1 - beta2 ** step);
      const stepSize = f(f(lr) / bc1);
      const invSqrtBc2 = f(1 / f(Math.sqrt(bc2)));
      arena.reset();
      const pp = arena.in(p, n);
      const gp = arena.in(g, n);
      const mp = arena.in(m, n);
      const vp = arena.in(v, n);
      k.adam(pp, gp, mp, vp, n, beta1, beta2, eps, stepSize, invSqrtBc2, 1 - lr * weightDecay);
      arena.out(pp, p, n);
      arena.out(mp, m, n);
      arena.out(vp, v, n);
    },

    axpby(y, x, a, b) {
      const n = y.length;
      need('wasm', x, n, 'x');
      arena.reset();
      const yp = arena.in(y, n);
      const xp = x === y ? yp : arena.in(x, n);
      k.axpby(yp, xp, n, a, b);
      arena.out(yp, y, n);
    },

    sumSquares(x) {
      arena.reset();
      return k.sumSquares(arena.in(x, x.length), x.length);
    },
  };
}
