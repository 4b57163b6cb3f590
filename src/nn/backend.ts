/**
 * The compute backend behind every layer: matrix products plus the fused element-wise kernels.
 *
 * Two implementations share these exact semantics: `native` (an N-API addon, Node only: SGEMM from its
 * built-in kernels, or OpenBLAS where the install found it, plus fused C loops) and `js` (pure TypeScript,
 * used in the browser and when the addon is not built). All matrices are row-major Float32Arrays, batch-first. Accumulating outputs say so.
 */
import { jsBackend } from './js-backend.ts';
import { loadNativeBackend } from './native-loader.ts';

export type Activation = 'identity' | 'relu' | 'tanh' | 'mish' | 'silu';
export const ACTIVATIONS: readonly Activation[] = ['identity', 'relu', 'tanh', 'mish', 'silu'];
/** Codes shared with native/dsrl_native.c. */
export const ACT_CODE: Record<Activation, number> = { identity: 0, relu: 1, tanh: 2, mish: 3, silu: 4 };

export interface Backend {
  readonly name: 'native' | 'js';
  /** C = alpha * op(A) @ op(B) + beta * C; op(A) is M x K, op(B) is K x N, leading dimensions given. */
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
  ): void;
  /** z += bias (z keeps the pre-activation); y = act(z). y may alias z only for identity. */
  biasAct(z: Float32Array, bias: Float32Array | null, rows: number, cols: number, act: number, y: Float32Array): void;
  /** dz = dy * act'(z, y); db += colsum(dz). dz may alias dy. */
  biasActBackward(
    dy: Float32Array,
    z: Float32Array,
    y: Float32Array,
    rows: number,
    cols: number,
    act: number,
    dz: Float32Array,
    db: Float32Array | null,
  ): void;
  /** z += bias; xhat = (z - mean) * rstd; y = act(gamma * xhat + beta). Saves xhat [rows*cols], rstd [rows]. */
  lnActForward(
    z: Float32Array,
    bias: Float32Array | null,
    gamma: Float32Array,
    beta: Float32Array,
    rows: number,
    cols: number,
    eps: number,
    act: number,
    xhat: Float32Array,
    rstd: Float32Array,
    y: Float32Array,
  ): void;
  /** Gradient through act and LayerNorm into dz; dgamma, dbeta, dbias accumulate. dz must not alias dy. */
  lnActBackward(
    dy: Float32Array,
    xhat: Float32Array,
    rstd: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    rows: number,
    cols: number,
    act: number,
    dz: Float32Array,
    dgamma: Float32Array | null,
    dbeta: Float32Array | null,
    dbias: Float32Array | null,
  ): void;
  /** One bias-corrected Adam step over a flat buffer (torch.optim.Adam's formula); decoupled decay if wd > 0. */
  adam(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    step: number,
    weightDecay: number,
  ): void;
  /** y = a * x + b * y. */
  axpby(y: Float32Array, x: Float32Array, a: number, b: number): void;
  /** Sum of squares, accumulated in double. */
  sumSquares(x: Float32Array): number;
}

let current: Backend | null = null;

function chooseBackend(): Backend {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  const wanted = env.DSRL_BACKEND;
  if (wanted !== undefined && wanted !== 'js' && wanted !== 'native') {
    throw new Error(`DSRL_BACKEND must be "js" or "native", got "${wanted}"`);
  }
  if (wanted === 'js') return jsBackend;
  const native = loadNativeBackend();
  if (native.backend) return native.backend;
  if (wanted === 'native') throw new Error(`DSRL_BACKEND=native but the native backend cannot load: ${native.reason}`);
  if (native.reason !== 'not running in Node') {
    console.warn(`dsrl: using the portable TypeScript NN backend (native backend unavailable: ${native.reason})`);
  }
  return jsBackend;
}

/** The process-wide backend: native when the addon loads, else js (one-line notice). */
export function getBackend(): Backend {
  if (!current) current = chooseBackend();
  return current;
}

/** Force a backend (tests compare both; a browser build may pin js). */
export function setBackend(backend: Backend): void {
  current = backend;
}

export { jsBackend };
