/**
 * The compute backend behind every layer: matrix products plus the fused element-wise kernels.
 *
 * Three implementations share these exact semantics: `native` (an N-API addon, Node only: SGEMM from its
 * built-in kernels, or OpenBLAS where the install found it, plus fused C loops), `wasm` (WebAssembly SIMD
 * kernels built from wasm/*.ts at install, for the browser and for Node where the addon cannot be built) and
 * `js` (pure TypeScript, the readable reference and the last resort). All matrices are row-major
 * Float32Arrays, batch-first. Accumulating outputs say so.
 */
import { jsBackend } from './js-backend.ts';
import { loadNativeBackend } from './native-loader.ts';
import { loadWasmBackend, prepareWasmModule } from './wasm-loader.ts';

export type Activation = 'identity' | 'relu' | 'tanh' | 'mish' | 'silu';
export const ACTIVATIONS: readonly Activation[] = ['identity', 'relu', 'tanh', 'mish', 'silu'];
/** Codes shared with native/kernels.h. */
export const ACT_CODE: Record<Activation, number> = { identity: 0, relu: 1, tanh: 2, mish: 3, silu: 4 };

export interface Backend {
  readonly name: 'native' | 'wasm' | 'js';
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
  /** True on concurrent.ts's recorder only: code that reads or writes a layer's buffers in JS refuses to run then. */
  readonly recording?: boolean;
  /**
   * native only: run op lists recorded by concurrent.ts, each whole on its own thread (native/programs.c); the
   * results are the bits of running them one after the other. false: not now (OpenBLAS is the gemm in use),
   * replay them in order instead.
   */
  runPrograms?(programs: readonly RecordedProgram[]): boolean;
}

/** A recorded op list as native/programs.c reads it: per op [code, scalars...] in nums, its arrays in order. */
export interface RecordedProgram {
  nums: Float64Array;
  arrays: (Float32Array | null)[];
}

let current: Backend | null = null;
/** current came from chooseBackend (not setBackend): prepareBackend may choose again. */
let chosen = false;
const BACKENDS = ['native', 'wasm', 'js'];

/**
 * native when the addon loads, else wasm when WebAssembly SIMD runs the built module, else js; DSRL_BACKEND
 * forces one (an error, not a fallback, when it cannot load). In Node a fallback says why (getBackend calls
 * this once per process).
 */
export function chooseBackend(env: Record<string, string | undefined> = processEnv()): Backend {
  const wanted = env.DSRL_BACKEND || undefined;
  if (wanted !== undefined && !BACKENDS.includes(wanted)) {
    throw new Error(`DSRL_BACKEND must be "native", "wasm" or "js" (or unset: the fastest that loads), got "${wanted}"`);
  }
  if (wanted === 'js') return jsBackend;
  if (wanted === 'wasm') {
    const wasm = loadWasmBackend();
    if (wasm.backend) return wasm.backend;
    throw new Error(`DSRL_BACKEND=wasm but the WebAssembly backend cannot load: ${wasm.reason}`);
  }
  const native = loadNativeBackend();
  if (native.backend) return native.backend;
  if (wanted === 'native') throw new Error(`DSRL_BACKEND=native but the native backend cannot load: ${native.reason}`);
  const inNode = native.reason !== 'not running in Node';
  const wasm = loadWasmBackend();
  if (wasm.backend) {
    if (inNode) console.warn(`dsrl: using the WebAssembly SIMD NN backend (native backend unavailable: ${native.reason})`);
    return wasm.backend;
  }
  if (inNode) {
    console.warn(
      `dsrl: using the portable TypeScript NN backend (native backend unavailable: ${native.reason}; WebAssembly backend unavailable: ${wasm.reason})`,
    );
  }
  return jsBackend;
}

function processEnv(): Record<string, string | undefined> {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
}

/** The process-wide backend: native when the addon loads, else wasm, else js (one-line notice). */
export function getBackend(): Backend {
  if (!current) {
    current = chooseBackend();
    chosen = true;
  }
  return current;
}

/** Force a backend (tests compare them; a browser build may pin one). */
export function setBackend(backend: Backend): void {
  current = backend;
  chosen = false;
}

/**
 * Route getBackend() to `backend` while `fn` runs (concurrent.ts records a task's ops this way); the backend in
 * force before is restored after, as it was chosen.
 */
export function withBackend<T>(backend: Backend, fn: () => T): T {
  const prev = getBackend();
  const prevChosen = chosen;
  current = backend;
  try {
    return fn();
  } finally {
    current = prev;
    chosen = prevChosen;
  }
}

/**
 * Browser start-up (a page or a worker, before the first network is built): fetch and compile the WebAssembly
 * module so the automatic choice can take it; `source` as prepareWasmModule takes it (default: the built
 * module next to this code). Never throws: without the module (or SIMD) the choice falls to js, saying why
 * once. Returns the backend now in force; one set with setBackend stays.
 */
export async function prepareBackend(source?: URL | string | BufferSource): Promise<Backend> {
  let why = '';
  try {
    await prepareWasmModule(source);
  } catch (err) {
    why = (err as Error).message;
  }
  if (chosen && current?.name === 'js') current = null; // choose again, now that wasm may load
  const inNode = !!(globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
  const backend = getBackend();
  // Node's chooseBackend says it itself.
  if (why && backend.name === 'js' && !inNode)
    console.warn(`dsrl: using the portable TypeScript NN backend (WebAssembly backend unavailable: ${why})`);
  return backend;
}

export { jsBackend };
