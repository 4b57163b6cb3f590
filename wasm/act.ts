// The activations in f32x4, over whole arrays: the same branch-free formulas as native/kernels.c
// (fast_expf and friends), so the two backends round alike. Codes as in src/nn/backend.ts (ACT_CODE).
// Arrays here are the JS side's arena regions, padded to whole vectors, so loops run ceil(n / 4) vectors;
// the padding lanes compute values that nobody reads (float SIMD never traps).

const RELU = 1;
const TANH = 2;
const MISH = 3;
const SILU = 4;

// exp(x) on [-87, 88] (clamped outside), about 2 ulp: n = round(x log2 e) by adding 1.5 * 2^23 (the sum's low
// mantissa bits are then n, rounded to nearest even as rintf does), r = x - n ln 2 in two parts (Cody-Waite),
// a degree-6 polynomial for e^r, and 2^n made in the exponent bits. pmin/pmax: one minps/maxps each.
function vexp(x: v128): v128 {
  x = f32x4.pmax(f32x4.pmin(x, f32x4.splat(88.0)), f32x4.splat(-87.0));
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
  const n = f32x4.sub(t, f32x4.splat(12582912.0));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693145751953125)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(1.428606765330187045e-6)));
  let p = f32x4.add(f32x4.splat(0.00833301), f32x4.mul(r, f32x4.splat(0.00139516)));
  p = f32x4.add(f32x4.splat(0.0416666381), f32x4.mul(r, p));
  p = f32x4.add(f32x4.splat(0.166666672), f32x4.mul(r, p));
  p = f32x4.add(f32x4.splat(0.5), f32x4.mul(r, p));
  p = f32x4.add(f32x4.splat(1), f32x4.mul(r, p));
  p = f32x4.add(f32x4.splat(1), f32x4.mul(r, p));
  // (bits(t) + 127) << 23: the low 9 bits of bits(t) + 127 are n + 127, in [1, 254] after the clamp
  return f32x4.mul(p, i32x4.shl(i32x4.add(t, i32x4.splat(127)), 23));
}

// tanh(u) = sign(u) (1 - 2 / (e^{2|u|} + 1)); an odd Taylor polynomial for |u| < 0.125 avoids cancellation.
function vtanh(u: v128): v128 {
  const one = f32x4.splat(1);
  const a = f32x4.abs(u);
  const e = vexp(f32x4.add(a, a));
  const t = f32x4.sub(one, f32x4.div(f32x4.splat(2), f32x4.add(e, one)));
  const u2 = f32x4.mul(u, u);
  let s = f32x4.add(f32x4.splat(0.133333333), f32x4.mul(u2, f32x4.splat(-0.054)));
  s = f32x4.mul(u, f32x4.add(one, f32x4.mul(u2, f32x4.add(f32x4.splat(-0.333333333), f32x4.mul(u2, s)))));
  const big = v128.or(t, v128.and(u, i32x4.splat(0x80000000))); // t >= 0 takes u's sign
  return v128.bitselect(s, big, f32x4.lt(a, f32x4.splat(0.125)));
}

// 1 / (1 + e^-u)
function vsigmoid(u: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.div(one, f32x4.add(one, vexp(f32x4.neg(u))));
}

/** y = act(u) over n values (u == y allowed). */
export function actForward(act: i32, u: usize, y: usize, n: i32): void {
  const end = u + ((<usize>n) << 2);
  const zero = f32x4.splat(0);
  if (act == RELU) {
    for (; u < end; u += 16, y += 16) v128.store(y, f32x4.pmax(zero, v128.load(u))); // 0 < u ? u : 0
  } else if (act == TANH) {
    for (; u < end; u += 16, y += 16) v128.store(y, vtanh(v128.load(u)));
  } else if (act == MISH) {
    // mish(u) = u tanh(softplus(u)) = u n / (n + 2), n = e^u (e^u + 2); u capped at 20, where the ratio is 1
    for (; u < end; u += 16, y += 16) {
      const x = v128.load(u);
      const e = vexp(f32x4.pmin(x, f32x4.splat(20)));
      const m = f32x4.mul(e, f32x4.add(e, f32x4.splat(2)));
      v128.store(y, f32x4.div(f32x4.mul(x, m), f32x4.add(m, f32x4.splat(2))));
    }
  } else if (act == SILU) {
    for (; u < end; u += 16, y += 16) {
      const x = v128.load(u);
      v128.store(y, f32x4.mul(x, vsigmoid(x)));
    }
  } else if (u != y) {
    memory.copy(y, u, (<usize>n) << 2);
  }
}

/** du = dy act'(u) given the pre-activation u and the output y, over n values. du may alias dy. */
export function actBackward(act: i32, dy: usize, u: usize, y: usize, du: usize, n: i32): void {
  const end = dy + ((<usize>n) << 2);
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  if (act == RELU) {
    for (; dy < end; dy += 16, y += 16, du += 16) v128.store(du, v128.and(v128.load(dy), f32x4.gt(v128.load(y), zero)));
  } else if (act == TANH) {
    for (; dy < end; dy += 16, y += 16, du += 16) {
      const yv = v128.load(y);
      v128.store(du, f32x4.mul(v128.load(dy), f32x4.sub(one, f32x4.mul(yv, yv))));
    }
  } else if (act == MISH) {
    // d/du [u n / (n + 2)] = n / d + 4 u e (e + 1) / d^2, d = n + 2
    for (; dy < end; dy += 16, u += 16, du += 16) {
      const x = v128.load(u);
      const e = vexp(f32x4.pmin(x, f32x4.splat(20)));
      const m = f32x4.mul(e, f32x4.add(e, f32x4.splat(2)));
      const d = f32x4.add(m, f32x4.splat(2));
      const num = f32x4.mul(f32x4.mul(f32x4.mul(x, f32x4.splat(4)), e), f32x4.add(e, one));
      const g = f32x4.add(f32x4.div(m, d), f32x4.div(num, f32x4.mul(d, d)));
      v128.store(du, f32x4.mul(v128.load(dy), g));
    }
  } else if (act == SILU) {
    for (; dy < end; dy += 16, u += 16, du += 16) {
      const x = v128.load(u);
      const s = vsigmoid(x);
      const g = f32x4.add(s, f32x4.mul(f32x4.mul(x, s), f32x4.sub(one, s)));
      v128.store(du, f32x4.mul(v128.load(dy), g));
    }
  } else if (du != dy) {
    memory.copy(du, dy, (<usize>n) << 2);
  }
}
