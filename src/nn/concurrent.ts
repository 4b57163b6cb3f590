/**
 * Run the members of an ensemble (twin critics, their targets, DSRL-NA's Q_A and Q_W members) concurrently.
 *
 * Why: at the reference DSRL-NA settings (batch 256, critics 3 x 128) each product is too small to split well
 * over two threads, and the element-wise kernels stay on one: one update of Q_A, actor and temperature took
 * 6.49 ms on 1 thread and 6.05 ms on 2 (experiments/profile-na-update.ts --precision bf16, built-in kernels).
 * But the members do the same ops on independent data, so one member per thread uses the second core.
 *
 * How: each task runs against a recording backend (every layer reaches the backend through getBackend()),
 * which captures its backend calls as an op list; then the lists run, on the native backend each on its own
 * pool thread (native/programs.c), elsewhere (js, wasm, or native with OpenBLAS as the gemm) one after the
 * other in task order. Either way the floats are those of running the tasks one after the other.
 *
 * The contract for a task: only backend calls may touch the buffers it reads or writes. A task runs its JS when
 * recorded, before any of its ops execute, so JS that reads a layer's output (or writes one of its inputs)
 * would see stale data: ops that return a value (sumSquares) throw while recording, and so do the layers that
 * copy in JS (LayerNorm, Residual) and Model.zeroGrad (call it before). The values a task returns (e.g. a
 * forward's output view) hold their results once runConcurrently returns. Tasks must not write what another
 * task reads or writes (checked after recording: an error, and no op runs, rather than a race).
 */
import { getBackend, withBackend, type Backend, type RecordedProgram } from './backend.ts';

type Method = 'gemm' | 'biasAct' | 'biasActBackward' | 'lnActForward' | 'lnActBackward' | 'adam' | 'axpby';
type Call = { method: Method; args: unknown[] };

/**
 * Per recordable op: its code in native/programs.c, the positions of its array arguments and of its scalars
 * (in programs.c's order), and the arrays it writes (for the disjointness check).
 */
const OPS: Record<Method, { code: number; arrays: number[]; nums: number[]; writes: (args: unknown[]) => number[] }> = {
  gemm: { code: 0, arrays: [6, 8, 11], nums: [0, 1, 2, 3, 4, 5, 7, 9, 10, 12], writes: () => [11] },
  biasAct: { code: 1, arrays: [0, 1, 5], nums: [2, 3, 4], writes: (a) => (a[1] ? [0, 5] : [5]) },
  biasActBackward: { code: 2, arrays: [0, 1, 2, 6, 7], nums: [3, 4, 5], writes: () => [6, 7] },
  lnActForward: { code: 3, arrays: [0, 1, 2, 3, 8, 9, 10], nums: [4, 5, 6, 7], writes: (a) => (a[1] ? [0, 8, 9, 10] : [8, 9, 10]) },
  lnActBackward: { code: 4, arrays: [0, 1, 2, 3, 4, 5, 9, 10, 11, 12], nums: [6, 7, 8], writes: () => [9, 10, 11, 12] },
  adam: { code: 5, arrays: [0, 1, 2, 3], nums: [4, 5, 6, 7, 8, 9], writes: () => [0, 2, 3] },
  axpby: { code: 6, arrays: [0, 1], nums: [2, 3], writes: () => [0] },
};

function recorder(real: Backend, calls: Call[]): Backend {
  const record =
    (method: Method) =>
    (...args: unknown[]): void => {
      calls.push({ method, args });
    };
  return {
    name: real.name,
    recording: true,
    gemm: record('gemm'),
    biasAct: record('biasAct'),
    biasActBackward: record('biasActBackward'),
    lnActForward: record('lnActForward'),
    lnActBackward: record('lnActBackward'),
    adam: record('adam'),
    axpby: record('axpby'),
    sumSquares(): number {
      throw new Error('sumSquares returns a value to JS, so it cannot run inside runConcurrently: call it (e.g. gradNorm) before or after');
    },
  };
}

/**
 * Run `tasks` (typically "this step, for member i") as if one after the other, concurrently where the backend
 * can; returns their return values. See the contract above.
 */
export function runConcurrently<T>(tasks: readonly (() => T)[]): T[] {
  const real = getBackend();
  if (real.recording) throw new Error('runConcurrently cannot nest: a task called it');
  const programs: Call[][] = [];
  const results: T[] = [];
  for (const task of tasks) {
    const calls: Call[] = [];
    programs.push(calls);
    try {
      results.push(withBackend(recorder(real, calls), task));
    } catch (err) {
      replay(real, programs); // what running the tasks one after the other would have done before the throw
      throw err;
    }
  }
  if (programs.length > 1) checkDisjoint(programs);
  if (!(programs.length > 1 && real.runPrograms?.(programs.map(encode)))) replay(real, programs);
  return results;
}

function replay(real: Backend, programs: readonly Call[][]): void {
  for (const calls of programs) {
    for (const { method, args } of calls) (real[method] as (...a: unknown[]) => void).apply(real, args);
  }
}

function encode(calls: readonly Call[]): RecordedProgram {
  const nums: number[] = [];
  const arrays: (Float32Array | null)[] = [];
  for (const { method, args } of calls) {
    const op = OPS[method];
    nums.push(op.code);
    for (const i of op.nums) nums.push(Number(args[i]));
    for (const i of op.arrays) arrays.push((args[i] as Float32Array | null) ?? null);
  }
  return { nums: Float64Array.from(nums), arrays };
}

/** Byte ranges per buffer. */
type Ranges = Map<ArrayBufferLike, number[]>;

/** Throws when a task writes memory another task reads or writes (concurrently that would be a race). */
function checkDisjoint(programs: readonly Call[][]): void {
  const writes: Ranges[] = programs.map((calls) => {
    const w: Ranges = new Map();
    for (const { method, args } of calls) {
      for (const i of OPS[method].writes(args)) {
        const a = args[i] as Float32Array | null;
        if (!a) continue;
        const list = w.get(a.buffer);
        if (list) list.push(a.byteOffset, a.byteOffset + a.byteLength);
        else w.set(a.buffer, [a.byteOffset, a.byteOffset + a.byteLength]);
      }
    }
    return w;
  });
  // Each array a task uses, against the other tasks' writes to its buffer (most buffers belong to one task).
  programs.forEach((calls, j) => {
    for (const { method, args } of calls) {
      for (const k of OPS[method].arrays) {
        const a = args[k] as Float32Array | null;
        if (!a) continue;
        for (let i = 0; i < writes.length; i++) {
          const ws = i === j ? undefined : writes[i].get(a.buffer);
          if (!ws) continue;
          const b0 = a.byteOffset;
          const b1 = b0 + a.byteLength;
          for (let r = 0; r < ws.length; r += 2) {
            if (ws[r] < b1 && b0 < ws[r + 1]) {
              throw new Error(
                `runConcurrently: task ${i} writes memory that task ${j} also uses (bytes ${Math.max(ws[r], b0)}..${Math.min(ws[r + 1], b1)} of one buffer); give each task its own buffers`,
              );
            }
          }
        }
      }
    }
  });
}
