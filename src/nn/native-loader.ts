/**
 * Node-only adapter that loads the native addon. It reaches Node's `module` builtin through
 * `process.getBuiltinModule` (Node >= 20.16) instead of a static import, so this file, and the
 * whole nn/ module, also loads unchanged in a browser, where it simply reports "not running in Node".
 */
import type { Backend, RecordedProgram } from './backend.ts';

export interface NativeAddon {
  gemm: Backend['gemm'];
  biasAct: Backend['biasAct'];
  biasActBackward: Backend['biasActBackward'];
  lnActForward: Backend['lnActForward'];
  lnActBackward: Backend['lnActBackward'];
  adam: Backend['adam'];
  axpby: Backend['axpby'];
  sumSquares: Backend['sumSquares'];
  /** Recorded op lists, each on its own pool thread (native/programs.c); false while OpenBLAS is the gemm. */
  runPrograms(programs: readonly RecordedProgram[]): boolean;
  setThreads(n: number): number;
  /** Switch the SGEMM behind gemm ('openblas' only where the build linked it); no argument reads. */
  setGemm(impl?: GemmImpl): GemmImpl;
  /** The built-in kernels' instruction set; an argument forces one ('auto': the best this CPU has). */
  gemmIsa(isa?: GemmIsa | 'auto'): GemmIsa;
  /** Worker threads the built-in SGEMM's pool has started (they persist across products). */
  gemmPoolWorkers(): number;
  /** op(B) (K x N) packed once for the built-in kernels (frozen weights); see gemmPackedB. */
  packGemmB(transB: boolean, B: Float32Array, ldb: number, N: number, K: number): Float32Array;
  /** gemm with op(B) from packGemmB: the built-in kernels skip packing it (same floats as gemm). */
  gemmPackedB(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    lda: number,
    B: Float32Array,
    ldb: number,
    Bp: Float32Array,
    beta: number,
    C: Float32Array,
    ldc: number,
  ): void;
  /** Whether the build linked OpenBLAS (scripts/build-native.mjs found it at install time). */
  hasOpenblas: boolean;
  /** Whether this CPU has AVX512-BF16, which gemmBf16 needs. */
  hasBf16: boolean;
  /**
   * The bf16 kernel used from 16 rows up: 'amx', 'avx512-bf16' or 'none'; a kernel argument picks one ('auto': AMX
   * where usable) and throws when the CPU cannot run it.
   */
  bf16Kernel(kernel?: 'amx' | 'avx512-bf16' | 'auto'): 'amx' | 'avx512-bf16' | 'none';
  /** A frozen N x K weight (y = x W^T) rounded to bf16 in gemmBf16's layout. */
  packBf16(W: Float32Array, N: number, K: number, ldw: number): Uint16Array;
  /** C = alpha A W^T + beta C with A rounded to bf16, W from packBf16, fp32 sums. */
  gemmBf16(
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    lda: number,
    Wp: Uint16Array,
    beta: number,
    C: Float32Array,
    ldc: number,
  ): void;
}

export type GemmImpl = 'builtin' | 'openblas';
export type GemmIsa = 'avx512' | 'avx2' | 'generic';

let addon: NativeAddon | null = null;

export function loadNativeBackend(): { backend: Backend | null; reason: string } {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown; versions?: { node?: string } } }).process;
  if (!proc?.versions?.node || typeof proc.getBuiltinModule !== 'function') {
    return { backend: null, reason: 'not running in Node' };
  }
  try {
    // Typed here, not from @types/node: this module is part of the browser-safe core (tsconfig.core.json).
    const { createRequire } = proc.getBuiltinModule('node:module') as { createRequire(url: string): (id: string) => unknown };
    const require = createRequire(import.meta.url);
    addon = require('../../native/build/Release/dsrl_native.node') as NativeAddon;
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0];
    return { backend: null, reason: `addon not built or not loadable (${msg}); run \`npm run build:native\`` };
  }
  const a = addon;
  // DSRL_NATIVE_BLAS picks the SGEMM at run time as it does at build time: "builtin" uses the built-in kernels
  // even in an OpenBLAS build; "openblas" insists on OpenBLAS (an error, not a silent fallback, without it).
  const env = (proc as { env?: Record<string, string | undefined> }).env ?? {};
  const wanted = env.DSRL_NATIVE_BLAS;
  if (wanted !== undefined && wanted !== '' && wanted !== 'auto') {
    if (wanted !== 'builtin' && wanted !== 'openblas') {
      throw new Error(`DSRL_NATIVE_BLAS must be "builtin", "openblas" or "auto", got "${wanted}"`);
    }
    if (wanted === 'openblas' && !a.hasOpenblas) {
      throw new Error(
        'DSRL_NATIVE_BLAS=openblas but the native addon was built without OpenBLAS; install libopenblas-dev and run `npm run build:native`, or unset DSRL_NATIVE_BLAS',
      );
    }
    a.setGemm(wanted);
  }
  // DSRL_BF16_KERNEL: "avx512" keeps AMX off; "amx" insists on AMX rather than falling back.
  const bf16Wanted = env.DSRL_BF16_KERNEL;
  if (bf16Wanted !== undefined && bf16Wanted !== '' && bf16Wanted !== 'auto') {
    if (bf16Wanted !== 'amx' && bf16Wanted !== 'avx512') {
      throw new Error(`DSRL_BF16_KERNEL must be "amx", "avx512" or "auto", got "${bf16Wanted}"`);
    }
    const detected = a.bf16Kernel();
    if (bf16Wanted === 'amx' && detected !== 'amx') {
      throw new Error(
        `DSRL_BF16_KERNEL=amx but this machine gives no AMX (bf16 kernel: ${detected}; AMX needs amx_tile and amx_bf16 in /proc/cpuinfo and Linux 5.16+); unset DSRL_BF16_KERNEL`,
      );
    }
    if (bf16Wanted === 'avx512' && detected !== 'none') a.bf16Kernel('avx512-bf16');
  }
  const backend: Backend = {
    name: 'native',
    gemm: a.gemm,
    biasAct: a.biasAct,
    biasActBackward: a.biasActBackward,
    lnActForward: a.lnActForward,
    lnActBackward: a.lnActBackward,
    adam: a.adam,
    axpby: a.axpby,
    sumSquares: a.sumSquares,
    runPrograms: a.runPrograms,
  };
  return { backend, reason: '' };
}

/** GEMM threads for the native backend (n <= 0 just reads). Returns the count in force, or 0 without the addon. */
export function nativeThreads(n = 0): number {
  return addon ? addon.setThreads(n) : 0;
}

/** What provides the native backend's matrix products, or null when the addon is not loaded. */
export function nativeGemmInfo(): { impl: GemmImpl; isa: GemmIsa; hasOpenblas: boolean } | null {
  return addon ? { impl: addon.setGemm(), isa: addon.gemmIsa(), hasOpenblas: addon.hasOpenblas } : null;
}

/** Worker threads the built-in SGEMM's persistent pool has started so far (0 without the addon). */
export function nativeGemmPoolWorkers(): number {
  return addon ? addon.gemmPoolWorkers() : 0;
}

/** The built-in kernels' prepacked-weight entry points, or null when the addon is not loaded. */
export function nativePackedGemm(): Pick<NativeAddon, 'packGemmB' | 'gemmPackedB' | 'setGemm' | 'gemmIsa'> | null {
  return addon;
}

/** The bf16 kernel the addon runs from 16 rows up ('none' without the addon or without AVX512-BF16). */
export function nativeBf16Kernel(): ReturnType<NativeAddon['bf16Kernel']> {
  return addon?.bf16Kernel() ?? 'none';
}

/**
 * Pick the bf16 kernel for products of 16 rows and more at run time (the bf16 check and tests compare both in one
 * process; DSRL_BF16_KERNEL picks it at load). Throws when the addon is not loaded or the CPU cannot run it.
 */
export function setNativeBf16Kernel(kernel: 'amx' | 'avx512-bf16' | 'auto'): ReturnType<NativeAddon['bf16Kernel']> {
  if (!addon) throw new Error('setNativeBf16Kernel: the native addon is not loaded; run `npm run build:native`');
  return addon.bf16Kernel(kernel);
}

/** The addon's bf16 kernels, or null when the addon is not loaded or this CPU has no AVX512-BF16. */
export function nativeBf16(): Pick<NativeAddon, 'packBf16' | 'gemmBf16'> | null {
  return addon?.hasBf16 ? { packBf16: addon.packBf16, gemmBf16: addon.gemmBf16 } : null;
}

/**
 * Switch the native backend's SGEMM at run time (benches and tests compare both in one process). Throws when
 * the addon is not loaded, or for 'openblas' when the build has none. Returns the impl now in use.
 */
export function setNativeGemm(impl: GemmImpl, isa: GemmIsa | 'auto' = 'auto'): GemmImpl {
  if (!addon) throw new Error('setNativeGemm: the native addon is not loaded; run `npm run build:native`');
  addon.gemmIsa(isa);
  return addon.setGemm(impl);
}
