/**
 * bf16 inference for frozen networks (a base policy's forward pass): weights and activations rounded to
 * bf16, products summed in fp32, on the CPU's AVX512-BF16 units (native/bf16.c). Everything between the
 * products (bias, activations, LayerNorm, the sampler) stays fp32.
 *
 * `Bf16Backend` wraps a backend: the products `x @ W^T` whose W lies in the frozen weight buffer it was given
 * (a network's flat parameter buffer) run in bf16 against W packed once; everything else goes to the wrapped
 * backend unchanged. Where the CPU has no AVX512-BF16 (or the addon is not built) it is the wrapped backend
 * as is: `active` says which. Call `invalidate()` after the frozen weights change (e.g. a new EMA).
 */
import type { Backend } from './backend.ts';
import { nativeBf16, nativePackedGemm } from './native-loader.ts';

/** Whether bf16 products run on this machine (native addon loaded, CPU with AVX512-BF16). */
export function bf16Available(): boolean {
  return nativeBf16() !== null;
}

/**
 * A backend that wraps another for a frozen weight buffer: every kernel but gemm is the wrapped one's, and
 * the products on the frozen weights go to `frozenGemm` with a pack made once per weight (kept until
 * `invalidate()`). Subclasses say how to pack and multiply.
 */
abstract class FrozenWeightsBackend<Pack> implements Backend {
  readonly name: Backend['name'];
  readonly biasAct: Backend['biasAct'];
  readonly biasActBackward: Backend['biasActBackward'];
  readonly lnActForward: Backend['lnActForward'];
  readonly lnActBackward: Backend['lnActBackward'];
  readonly adam: Backend['adam'];
  readonly axpby: Backend['axpby'];
  readonly sumSquares: Backend['sumSquares'];
  private readonly packs = new Map<string, Pack>();

  constructor(
    readonly base: Backend,
    private readonly frozen: Float32Array,
  ) {
    this.name = base.name;
    this.biasAct = base.biasAct.bind(base);
    this.biasActBackward = base.biasActBackward.bind(base);
    this.lnActForward = base.lnActForward.bind(base);
    this.lnActBackward = base.lnActBackward.bind(base);
    this.adam = base.adam.bind(base);
    this.axpby = base.axpby.bind(base);
    this.sumSquares = base.sumSquares.bind(base);
  }

  /** Drop the packed weights (call after the frozen buffer's values change). */
  invalidate(): void {
    this.packs.clear();
  }

  /** B is a view inside the frozen buffer (a weight), not an activation. */
  protected isFrozen(B: Float32Array): boolean {
    return isInside(B, this.frozen);
  }

  /** The pack stored under `key`, made by `make` the first time. */
  protected pack(key: string, make: () => Pack): Pack {
    let p = this.packs.get(key);
    if (!p) {
      p = make();
      this.packs.set(key, p);
    }
    return p;
  }

  abstract gemm(...args: Parameters<Backend['gemm']>): void;
}

export class Bf16Backend extends FrozenWeightsBackend<Uint16Array> {
  /** True when products on the frozen weights run in bf16; false: everything is the wrapped backend's fp32. */
  readonly active: boolean;
  private readonly kernels = nativeBf16();

  constructor(base: Backend, frozen: Float32Array) {
    super(base, frozen);
    this.active = this.kernels !== null && base.name === 'native';
  }

  gemm(
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
    beta: number,
    C: Float32Array,
    ldc: number,
  ): void {
    const k = this.kernels;
    if (!this.active || !k || transA || !transB || K <= 0 || !this.isFrozen(B)) {
      this.base.gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
    const Wp = this.pack(`${B.byteOffset}:${N}:${K}:${ldb}`, () => k.packBf16(B, N, K, ldb));
    k.gemmBf16(M, N, K, alpha, A, lda, Wp, beta, C, ldc);
  }
}

/**
 * The fp32 sibling of Bf16Backend for the built-in SGEMM (native/gemm.c): products on frozen weights
 * (`x @ W^T`, W inside the frozen buffer) reuse W packed once in the kernels' layout instead of packing it on
 * every call. The floats are exactly those of the wrapped backend's gemm (same tiles, same kernel calls);
 * when OpenBLAS is the gemm in use, or without the addon, it is the wrapped backend as is. Packs are keyed by
 * the kernels' instruction set, so switching ISA repacks. Call `invalidate()` after the frozen weights change.
 */
export class PackedWeightsBackend extends FrozenWeightsBackend<Float32Array> {
  /** Whether packs can be used at all (native backend with the addon loaded). */
  readonly active: boolean;
  private readonly kernels = nativePackedGemm();

  constructor(base: Backend, frozen: Float32Array) {
    super(base, frozen);
    this.active = this.kernels !== null && base.name === 'native';
  }

  gemm(
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
    beta: number,
    C: Float32Array,
    ldc: number,
  ): void {
    const k = this.kernels;
    // M <= 4: the built-in kernels read B in place (no packing to save), so nothing is packed for batch 1.
    if (!this.active || !k || M <= 4 || N <= 0 || K <= 0 || !this.isFrozen(B) || k.setGemm() !== 'builtin') {
      this.base.gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
    const Bp = this.pack(`${k.gemmIsa()}:${B.byteOffset}:${transB}:${N}:${K}:${ldb}`, () => k.packGemmB(transB, B, ldb, N, K));
    k.gemmPackedB(transA, transB, M, N, K, alpha, A, lda, B, ldb, Bp, beta, C, ldc);
  }
}

function isInside(B: Float32Array, f: Float32Array): boolean {
  return B.buffer === f.buffer && B.byteOffset >= f.byteOffset && B.byteOffset + B.byteLength <= f.byteOffset + f.byteLength;
}
