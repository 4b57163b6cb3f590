// The fused element-wise kernels of src/nn/backend.ts (biasAct, LayerNorm + act, Adam, axpby, sumSquares) in
// f32x4, with the float32 arithmetic of native/kernels.c. Row loops run whole vectors then a scalar tail
// (rows are not vector-aligned); whole-array loops run ceil(n / 4) vectors over the padded arena regions.
import { actBackward, actForward } from './act';

const MISH = 3;
const SILU = 4;

// dst[0..n) += src[0..n)
function addRow(dst: usize, src: usize, n: i32): void {
  const end = dst + ((<usize>n) << 2);
  for (; dst + 16 <= end; dst += 16, src += 16) v128.store(dst, f32x4.add(v128.load(dst), v128.load(src)));
  for (; dst < end; dst += 4, src += 4) store<f32>(dst, load<f32>(dst) + load<f32>(src));
}

// sum of x[0..n): four interleaved partial sums, then the tail
function sumRow(x: usize, n: i32): f32 {
  const end = x + ((<usize>n) << 2);
  let s = f32x4.splat(0);
  for (; x + 16 <= end; x += 16) s = f32x4.add(s, v128.load(x));
  let t = f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
  for (; x < end; x += 4) t += load<f32>(x);
  return t;
}

/** z += bias (per row, bias 0: none); y = act(z). y == z only for identity. */
export function biasAct(z: usize, bias: usize, rows: i32, cols: i32, act: i32, y: usize): void {
  if (bias) for (let r = 0; r < rows; r++) addRow(z + ((<usize>(r * cols)) << 2), bias, cols);
  actForward(act, z, y, rows * cols);
}

/** dz = dy act'(z, y); db += column sums of dz (db 0: none). */
export function biasActBackward(dy: usize, z: usize, y: usize, rows: i32, cols: i32, act: i32, dz: usize, db: usize): void {
  actBackward(act, dy, z, y, dz, rows * cols);
  if (db) for (let r = 0; r < rows; r++) addRow(db, dz + ((<usize>(r * cols)) << 2), cols);
}

/** z += bias; xhat = (z - mean) rstd; y = act(gamma xhat + beta), per row; rstd saved per row. */
export function lnActForward(
  z: usize,
  bias: usize,
  gamma: usize,
  beta: usize,
  rows: i32,
  cols: i32,
  eps: f32,
  act: i32,
  xhat: usize,
  rstd: usize,
  y: usize,
): void {
  const inv: f32 = 1 / <f32>cols;
  const bytes = (<usize>cols) << 2;
  for (let r = 0; r < rows; r++) {
    const o = (<usize>(r * cols)) << 2;
    const zr = z + o;
    const xr = xhat + o;
    const yr = y + o;
    if (bias) addRow(zr, bias, cols);
    const mean = sumRow(zr, cols) * inv;
    const mv = f32x4.splat(mean);
    let sq = f32x4.splat(0);
    let c: usize = 0;
    for (; c + 16 <= bytes; c += 16) {
      const d = f32x4.sub(v128.load(zr + c), mv);
      v128.store(xr + c, d);
      sq = f32x4.add(sq, f32x4.mul(d, d));
    }
    let s = f32x4.extract_lane(sq, 0) + f32x4.extract_lane(sq, 1) + (f32x4.extract_lane(sq, 2) + f32x4.extract_lane(sq, 3));
    for (; c < bytes; c += 4) {
      const d = load<f32>(zr + c) - mean;
      store<f32>(xr + c, d);
      s += d * d;
    }
    const rs: f32 = 1 / Mathf.sqrt(s * inv + eps);
    store<f32>(rstd + ((<usize>r) << 2), rs);
    const rv = f32x4.splat(rs);
    for (c = 0; c + 16 <= bytes; c += 16) {
      const xh = f32x4.mul(v128.load(xr + c), rv);
      v128.store(xr + c, xh);
      v128.store(yr + c, f32x4.add(f32x4.mul(xh, v128.load(gamma + c)), v128.load(beta + c)));
    }
    for (; c < bytes; c += 4) {
      const xh = load<f32>(xr + c) * rs;
      store<f32>(xr + c, xh);
      store<f32>(yr + c, xh * load<f32>(gamma + c) + load<f32>(beta + c));
    }
  }
  actForward(act, y, y, rows * cols); // in place: LayerNorm's output is the activation's input
}

/**
 * Gradient through act and LayerNorm: du = dy act'(gamma xhat + beta); dgamma += du xhat, dbeta += du;
 * dz = rstd (du gamma - mean(du gamma) - xhat mean(du gamma xhat)); dbias += dz (each 0: none).
 * `u` (rows x cols floats) holds the activation's input for mish and silu, recomputed from xhat.
 */
export function lnActBackward(
  dy: usize,
  xhat: usize,
  rstd: usize,
  gamma: usize,
  beta: usize,
  y: usize,
  rows: i32,
  cols: i32,
  act: i32,
  dz: usize,
  dgamma: usize,
  dbeta: usize,
  dbias: usize,
  u: usize,
): void {
  const inv: f32 = 1 / <f32>cols;
  const bytes = (<usize>cols) << 2;
  const n = rows * cols;
  if (act == MISH || act == SILU) {
    for (let r = 0; r < rows; r++) {
      const o = (<usize>(r * cols)) << 2;
      for (let c: usize = 0; c < bytes; c += 4) store<f32>(u + o + c, load<f32>(xhat + o + c) * load<f32>(gamma + c) + load<f32>(beta + c));
    }
  }
  actBackward(act, dy, u, y, dz, n); // dz = du for now
  for (let r = 0; r < rows; r++) {
    const o = (<usize>(r * cols)) << 2;
    const xr = xhat + o;
    const dr = dz + o;
    if (dgamma) {
      let c: usize = 0;
      for (; c + 16 <= bytes; c += 16) v128.store(dgamma + c, f32x4.add(v128.load(dgamma + c), f32x4.mul(v128.load(dr + c), v128.load(xr + c))));
      for (; c < bytes; c += 4) store<f32>(dgamma + c, load<f32>(dgamma + c) + load<f32>(dr + c) * load<f32>(xr + c));
    }
    if (dbeta) addRow(dbeta, dr, cols);
    let v1 = f32x4.splat(0);
    let v2 = f32x4.splat(0);
    let c: usize = 0;
    for (; c + 16 <= bytes; c += 16) {
      const dxh = f32x4.mul(v128.load(dr + c), v128.load(gamma + c));
      v1 = f32x4.add(v1, dxh);
      v2 = f32x4.add(v2, f32x4.mul(dxh, v128.load(xr + c)));
    }
    let s1 = f32x4.extract_lane(v1, 0) + f32x4.extract_lane(v1, 1) + (f32x4.extract_lane(v1, 2) + f32x4.extract_lane(v1, 3));
    let s2 = f32x4.extract_lane(v2, 0) + f32x4.extract_lane(v2, 1) + (f32x4.extract_lane(v2, 2) + f32x4.extract_lane(v2, 3));
    for (; c < bytes; c += 4) {
      const dxh = load<f32>(dr + c) * load<f32>(gamma + c);
      s1 += dxh;
      s2 += dxh * load<f32>(xr + c);
    }
    const m1 = s1 * inv;
    const m2 = s2 * inv;
    const rs = load<f32>(rstd + ((<usize>r) << 2));
    const m1v = f32x4.splat(m1);
    const m2v = f32x4.splat(m2);
    const rv = f32x4.splat(rs);
    for (c = 0; c + 16 <= bytes; c += 16) {
      const dxh = f32x4.mul(v128.load(dr + c), v128.load(gamma + c));
      v128.store(dr + c, f32x4.mul(rv, f32x4.sub(f32x4.sub(dxh, m1v), f32x4.mul(v128.load(xr + c), m2v))));
    }
    for (; c < bytes; c += 4) store<f32>(dr + c, rs * (load<f32>(dr + c) * load<f32>(gamma + c) - m1 - load<f32>(xr + c) * m2));
    if (dbias) addRow(dbias, dr, cols);
  }
}

/** One bias-corrected Adam step (torch.optim.Adam's formula); the scalars come from the caller in float32 as native's do. */
export function adam(p: usize, g: usize, m: usize, v: usize, n: i32, b1: f32, b2: f32, eps: f32, stepSize: f32, invSqrtBc2: f32, decay: f32): void {
  const end = p + ((<usize>n) << 2);
  const vb1 = f32x4.splat(b1);
  const vb2 = f32x4.splat(b2);
  const vc1 = f32x4.splat(1 - b1);
  const vc2 = f32x4.splat(1 - b2);
  const veps = f32x4.splat(eps);
  const vstep = f32x4.splat(stepSize);
  const vinv = f32x4.splat(invSqrtBc2);
  const vdecay = f32x4.splat(decay);
  for (; p < end; p += 16, g += 16, m += 16, v += 16) {
    const gi = v128.load(g);
    const mi = f32x4.add(f32x4.mul(vb1, v128.load(m)), f32x4.mul(vc1, gi));
    const vi = f32x4.add(f32x4.mul(vb2, v128.load(v)), f32x4.mul(f32x4.mul(vc2, gi), gi));
    v128.store(m, mi);
    v128.store(v, vi);
    const den = f32x4.add(f32x4.mul(f32x4.sqrt(vi), vinv), veps);
    v128.store(p, f32x4.sub(f32x4.mul(v128.load(p), vdecay), f32x4.div(f32x4.mul(vstep, mi), den)));
  }
}

/** y = a x + b y over n values. */
export function axpby(y: usize, x: usize, n: i32, a: f32, b: f32): void {
  const end = y + ((<usize>n) << 2);
  const va = f32x4.splat(a);
  const vb = f32x4.splat(b);
  for (; y < end; y += 16, x += 16) v128.store(y, f32x4.add(f32x4.mul(va, v128.load(x)), f32x4.mul(vb, v128.load(y))));
}

/** Sum of squares in double: each float32 square is exact in double, summed in two f64x2 lanes per half. */
export function sumSquares(x: usize, n: i32): f64 {
  const end = x + ((<usize>n) << 2);
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  for (; x + 16 <= end; x += 16) {
    const v = v128.load(x);
    const lo = f64x2.promote_low_f32x4(v);
    const hi = f64x2.promote_low_f32x4(v128.shuffle<u32>(v, v, 2, 3, 0, 1));
    s0 = f64x2.add(s0, f64x2.mul(lo, lo));
    s1 = f64x2.add(s1, f64x2.mul(hi, hi));
  }
  const s = f64x2.add(s0, s1);
  let t = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  for (; x < end; x += 4) {
    const e = <f64>load<f32>(x);
    t += e * e;
  }
  return t;
}
