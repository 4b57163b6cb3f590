/**
 * Finite-difference gradient checks for float32 layers. Central differences with the loss
 * L = sum(y * R) accumulated in double; a coordinate whose estimate changes between eps, eps/2 and eps/4
 * sits on a kink (ReLU) and is skipped, and the test asserts that few are.
 */
import { Rng } from '../../src/core/rng.ts';
import type { Model } from '../../src/nn/module.ts';

export interface GradCheckResult {
  checked: number;
  skipped: number;
  worst: { what: string; analytic: number; numeric: number; err: number } | null;
  failures: string[];
}

function loss(model: Model, x: Float32Array, rows: number, r: Float32Array): number {
  const y = model.forward(x, rows);
  let s = 0;
  for (let i = 0; i < r.length; i++) s += y[i] * r[i];
  return s;
}

export function gradCheck(
  model: Model,
  x: Float32Array,
  rows: number,
  opts: {
    eps?: number;
    rtol?: number;
    atol?: number;
    samplesPerParam?: number;
    seed?: number;
    analyticGrads?: (g: Float32Array, dx: Float32Array) => void;
  } = {},
): GradCheckResult {
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 3e-2;
  const atol = opts.atol ?? 2e-3;
  const rng = Rng.fromSeed(opts.seed ?? 7);
  const r = rng.fillNormal(new Float32Array(rows * model.outDim)) as Float32Array;
  model.zeroGrad();
  model.forward(x, rows);
  const dxView = model.backward(r, rows, { inputGrad: true })!;
  const dx = dxView.slice();
  const g = model.grads.slice();
  opts.analyticGrads?.(g, dx);

  const numeric = (buf: Float32Array, i: number, h: number): number => {
    const old = buf[i];
    buf[i] = old + h;
    const lp = loss(model, x, rows, r);
    buf[i] = old - h;
    const lm = loss(model, x, rows, r);
    buf[i] = old;
    // Use the step actually represented in float32.
    return (lp - lm) / (Math.fround(old + h) - Math.fround(old - h));
  };

  const res: GradCheckResult = { checked: 0, skipped: 0, worst: null, failures: [] };
  const check = (what: string, buf: Float32Array, i: number, analytic: number) => {
    const n1 = numeric(buf, i, eps);
    const n2 = numeric(buf, i, eps / 2);
    const n3 = numeric(buf, i, eps / 4);
    const scale = Math.max(Math.abs(n1), Math.abs(n2), Math.abs(analytic));
    const tol = atol + rtol * scale;
    if (Math.abs(n1 - n2) > tol / 3 || Math.abs(n2 - n3) > tol / 3) {
      res.skipped++; // non-smooth point
      return;
    }
    res.checked++;
    const err = Math.abs(analytic - n2) / (atol + rtol * scale);
    if (!res.worst || err > res.worst.err) res.worst = { what, analytic, numeric: n2, err };
    if (err > 1) res.failures.push(`${what}: analytic ${analytic.toExponential(4)} vs numeric ${n2.toExponential(4)}`);
  };

  const per = opts.samplesPerParam ?? 12;
  let off = 0;
  for (const [name, p] of model.params) {
    const n = p.size;
    const picks = n <= per ? [...Array(n).keys()] : Array.from({ length: per }, () => rng.int(n));
    for (const i of picks) check(`${name}[${i}]`, p.value, i, g[off + i]);
    off += n;
  }
  const xn = rows * model.inDim;
  const picks = xn <= 3 * per ? [...Array(xn).keys()] : Array.from({ length: 3 * per }, () => rng.int(xn));
  for (const i of picks) check(`input[${i}]`, x, i, dx[i]);
  return res;
}
