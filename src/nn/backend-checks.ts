/**
 * The argument checks of the fused kernels, one contract for the TypeScript and WebAssembly backends (the
 * native addon checks the same in C): an array shorter than its kernel reads or writes is a RangeError naming
 * it, before anything is touched.
 */

/** `a` (when given) holds at least `n` elements. */
export function need(who: string, a: Float32Array | null, n: number, what: string): void {
  if (a && a.length < n) throw new RangeError(`${who} backend: ${what} has ${a.length} elements, needs ${n}`);
}

export function checkBiasAct(who: string, z: Float32Array, bias: Float32Array | null, rows: number, cols: number, y: Float32Array): void {
  const n = rows * cols;
  need(who, z, n, 'z');
  need(who, y, n, 'y');
  need(who, bias, cols, 'bias');
}

export function checkBiasActBackward(
  who: string,
  dy: Float32Array,
  z: Float32Array,
  y: Float32Array,
  rows: number,
  cols: number,
  dz: Float32Array,
  db: Float32Array | null,
): void {
  const n = rows * cols;
  need(who, dy, n, 'dy');
  need(who, z, n, 'z');
  need(who, y, n, 'y');
  need(who, dz, n, 'dz');
  need(who, db, cols, 'db');
}

export function checkLnActForward(
  who: string,
  z: Float32Array,
  bias: Float32Array | null,
  gamma: Float32Array,
  beta: Float32Array,
  rows: number,
  cols: number,
  xhat: Float32Array,
  rstd: Float32Array,
  y: Float32Array,
): void {
  const n = rows * cols;
  need(who, z, n, 'z');
  need(who, bias, cols, 'bias');
  need(who, gamma, cols, 'gamma');
  need(who, beta, cols, 'beta');
  need(who, xhat, n, 'xhat');
  need(who, rstd, rows, 'rstd');
  need(who, y, n, 'y');
}

export function checkLnActBackward(
  who: string,
  dy: Float32Array,
  xhat: Float32Array,
  rstd: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  y: Float32Array,
  rows: number,
  cols: number,
  dz: Float32Array,
  dgamma: Float32Array | null,
  dbeta: Float32Array | null,
  dbias: Float32Array | null,
): void {
  const n = rows * cols;
  need(who, dy, n, 'dy');
  need(who, xhat, n, 'xhat');
  need(who, rstd, rows, 'rstd');
  need(who, gamma, cols, 'gamma');
  need(who, beta, cols, 'beta');
  need(who, y, n, 'y');
  need(who, dz, n, 'dz');
  need(who, dgamma, cols, 'dgamma');
  need(who, dbeta, cols, 'dbeta');
  need(who, dbias, cols, 'dbias');
}

/** Adam's gradient and moments match its parameters. */
export function checkAdam(who: string, p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array): void {
  need(who, g, p.length, 'grads');
  need(who, m, p.length, 'm');
  need(who, v, p.length, 'v');
}
