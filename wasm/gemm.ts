// C = alpha op(A) op(B) + beta C in f32x4 SIMD, the GotoBLAS way (Goto & van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", ACM TOMS 2008): op(B) packed KC x NC into NR-wide panels that stay
// in L1 while the kernel walks an MC x KC block of op(A) (in L2) packed into MR-tall panels, alpha folded in.
// All pointers are byte offsets into this module's memory; matrices are row-major with leading dimensions.
//
// The register tile is 5 x 8 (10 f32x4 sums): with the two B vectors, the A splat and the product's
// temporary that is 14 of the 15 vector registers V8 allocates on x64 (6 x 8 spills; measured on the
// machine of bench/wasm.ts, 5 x 8 ran 10-40% faster than 4 x 8, 6 x 8, 4 x 12, 3 x 16 and 4 x 16 at 256^3).
// WebAssembly SIMD has no fused multiply-add outside relaxed-simd (not in Node 20), so each step is a
// mul and an add: results are the same in every engine that runs the module.

const MR = 5;
const NR = 8;
const KC = 256;
const MC = 80;
const NC = 512;

/** Floats of scratch `gemm` needs at `work` for an M-row product of depth K. */
export function gemmWorkFloats(M: i32, K: i32): i32 {
  return M < MR ? M * K : MC * KC + KC * NC + MR * NR;
}

// op(A) rows i0..i0+mc, depth p0..p0+kc, into MR-row panels: panel q holds ap[q][k][ii], rows past mc zero.
function packA(transA: bool, A: usize, lda: i32, i0: i32, mc: i32, p0: i32, kc: i32, alpha: f32, ap: usize): void {
  for (let q = 0; q < mc; q += MR) {
    const rows = min(MR, mc - q);
    for (let ii = 0; ii < MR; ii++) {
      let dst = ap + ((<usize>(q * kc + ii)) << 2);
      if (ii >= rows) {
        for (let k = 0; k < kc; k++, dst += MR << 2) store<f32>(dst, 0);
        continue;
      }
      const i = i0 + q + ii;
      if (transA) {
        let src = A + ((<usize>(p0 * lda + i)) << 2);
        const step = (<usize>lda) << 2;
        for (let k = 0; k < kc; k++, dst += MR << 2, src += step) store<f32>(dst, alpha * load<f32>(src));
      } else {
        let src = A + ((<usize>(i * lda + p0)) << 2);
        for (let k = 0; k < kc; k++, dst += MR << 2, src += 4) store<f32>(dst, alpha * load<f32>(src));
      }
    }
  }
}

// op(B) depth p0..p0+kc, columns j0..j0+nc, into NR-column panels: panel q holds bp[q][k][jj], columns past nc zero.
function packB(transB: bool, B: usize, ldb: i32, p0: i32, kc: i32, j0: i32, nc: i32, bp: usize): void {
  for (let q = 0; q < nc; q += NR) {
    const cols = min(NR, nc - q);
    const panel = bp + ((<usize>(q * kc)) << 2);
    if (!transB && cols == NR) {
      // rows of B are contiguous: two vector copies per k
      let src = B + ((<usize>(p0 * ldb + j0 + q)) << 2);
      const step = (<usize>ldb) << 2;
      let dst = panel;
      for (let k = 0; k < kc; k++, src += step, dst += NR << 2) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
      }
      continue;
    }
    for (let jj = 0; jj < NR; jj++) {
      let dst = panel + ((<usize>jj) << 2);
      if (jj >= cols) {
        for (let k = 0; k < kc; k++, dst += NR << 2) store<f32>(dst, 0);
        continue;
      }
      const j = j0 + q + jj;
      if (transB) {
        let src = B + ((<usize>(j * ldb + p0)) << 2);
        for (let k = 0; k < kc; k++, dst += NR << 2, src += 4) store<f32>(dst, load<f32>(src));
      } else {
        let src = B + ((<usize>(p0 * ldb + j)) << 2);
        const step = (<usize>ldb) << 2;
        for (let k = 0; k < kc; k++, dst += NR << 2, src += step) store<f32>(dst, load<f32>(src));
      }
    }
  }
}

// The MR x NR tile: C[0..rows, 0..cols] += sum_k ap[k][:] (x) bp[k][:]. Full tiles add straight into C.
function kernel(kc: i32, ap: usize, bp: usize, C: usize, ldc: i32, rows: i32, cols: i32, tile: usize): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0);
  let c41 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp, 0);
    const b1 = v128.load(bp, 16);
    let a: v128;
    a = v128.load32_splat(ap, 0);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 16);
    c40 = f32x4.add(c40, f32x4.mul(a, b0));
    c41 = f32x4.add(c41, f32x4.mul(a, b1));
    ap += MR << 2;
    bp += NR << 2;
  }
  if (rows == MR && cols == NR) {
    const step = (<usize>ldc) << 2;
    let c = C;
    v128.store(c, f32x4.add(v128.load(c, 0), c00), 0);
    v128.store(c, f32x4.add(v128.load(c, 16), c01), 16);
    c += step;
    v128.store(c, f32x4.add(v128.load(c, 0), c10), 0);
    v128.store(c, f32x4.add(v128.load(c, 16), c11), 16);
    c += step;
    v128.store(c, f32x4.add(v128.load(c, 0), c20), 0);
    v128.store(c, f32x4.add(v128.load(c, 16), c21), 16);
    c += step;
    v128.store(c, f32x4.add(v128.load(c, 0), c30), 0);
    v128.store(c, f32x4.add(v128.load(c, 16), c31), 16);
    c += step;
    v128.store(c, f32x4.add(v128.load(c, 0), c40), 0);
    v128.store(c, f32x4.add(v128.load(c, 16), c41), 16);
    return;
  }
  v128.store(tile, c00, 0);
  v128.store(tile, c01, 16);
  v128.store(tile, c10, 32);
  v128.store(tile, c11, 48);
  v128.store(tile, c20, 64);
  v128.store(tile, c21, 80);
  v128.store(tile, c30, 96);
  v128.store(tile, c31, 112);
  v128.store(tile, c40, 128);
  v128.store(tile, c41, 144);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const c = C + ((<usize>(i * ldc + j)) << 2);
      store<f32>(c, load<f32>(c) + load<f32>(tile + ((<usize>(i * NR + j)) << 2)));
    }
  }
}

// C = beta C over M x N (beta 0 writes zeros: C is not read, so NaN there does not leak through).
function scaleC(M: i32, N: i32, beta: f32, C: usize, ldc: i32): void {
  if (beta == 1) return;
  for (let i = 0; i < M; i++) {
    let c = C + ((<usize>(i * ldc)) << 2);
    const end = c + ((<usize>N) << 2);
    if (beta == 0) {
      memory.fill(c, 0, (<usize>N) << 2);
      continue;
    }
    const b = f32x4.splat(beta);
    for (; c + 16 <= end; c += 16) v128.store(c, f32x4.mul(v128.load(c), b));
    for (; c < end; c += 4) store<f32>(c, beta * load<f32>(c));
  }
}

// Few rows (a batch of one or a few observations): packing op(B) would cost as much as the product, so op(B) is
// read in place. The rows of alpha op(A) are first gathered contiguous at `work`.
function gemmFewRows(
  transA: bool,
  transB: bool,
  M: i32,
  N: i32,
  K: i32,
  alpha: f32,
  A: usize,
  lda: i32,
  B: usize,
  ldb: i32,
  C: usize,
  ldc: i32,
  work: usize,
): void {
  for (let i = 0; i < M; i++) {
    let dst = work + ((<usize>(i * K)) << 2);
    for (let k = 0; k < K; k++, dst += 4) store<f32>(dst, alpha * load<f32>(A + ((<usize>(transA ? k * lda + i : i * lda + k)) << 2)));
  }
  const K4 = K & ~3;
  for (let i = 0; i < M; i++) {
    const a = work + ((<usize>(i * K)) << 2);
    const c = C + ((<usize>(i * ldc)) << 2);
    if (transB) {
      // C[i, j] += dot(a, B[j, :]): four rows of B at a time, each summed in f32x4 then across lanes
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const b = B + ((<usize>(j * ldb)) << 2);
        const step = (<usize>ldb) << 2;
        let s0 = f32x4.splat(0);
        let s1 = f32x4.splat(0);
        let s2 = f32x4.splat(0);
        let s3 = f32x4.splat(0);
        for (let k = 0; k < K4; k += 4) {
          const o = (<usize>k) << 2;
          const av = v128.load(a + o);
          s0 = f32x4.add(s0, f32x4.mul(av, v128.load(b + o)));
          s1 = f32x4.add(s1, f32x4.mul(av, v128.load(b + step + o)));
          s2 = f32x4.add(s2, f32x4.mul(av, v128.load(b + 2 * step + o)));
          s3 = f32x4.add(s3, f32x4.mul(av, v128.load(b + 3 * step + o)));
        }
        let t0 = hsum(s0);
        let t1 = hsum(s1);
        let t2 = hsum(s2);
        let t3 = hsum(s3);
        for (let k = K4; k < K; k++) {
          const o = (<usize>k) << 2;
          const ak = load<f32>(a + o);
          t0 += ak * load<f32>(b + o);
          t1 += ak * load<f32>(b + step + o);
          t2 += ak * load<f32>(b + 2 * step + o);
          t3 += ak * load<f32>(b + 3 * step + o);
        }
        const cj = c + ((<usize>j) << 2);
        store<f32>(cj, load<f32>(cj) + t0);
        store<f32>(cj, load<f32>(cj, 4) + t1, 4);
        store<f32>(cj, load<f32>(cj, 8) + t2, 8);
        store<f32>(cj, load<f32>(cj, 12) + t3, 12);
      }
      for (; j < N; j++) {
        const b = B + ((<usize>(j * ldb)) << 2);
        let s = f32x4.splat(0);
        for (let k = 0; k < K4; k += 4) s = f32x4.add(s, f32x4.mul(v128.load(a + ((<usize>k) << 2)), v128.load(b + ((<usize>k) << 2))));
        let t = hsum(s);
        for (let k = K4; k < K; k++) t += load<f32>(a + ((<usize>k) << 2)) * load<f32>(b + ((<usize>k) << 2));
        const cj = c + ((<usize>j) << 2);
        store<f32>(cj, load<f32>(cj) + t);
      }
    } else {
      // C[i, :] += sum_k a[k] B[k, :]: 16 columns of sums in registers while k runs down B
      let j = 0;
      for (; j + 16 <= N; j += 16) {
        const cj = c + ((<usize>j) << 2);
        let s0 = v128.load(cj);
        let s1 = v128.load(cj, 16);
        let s2 = v128.load(cj, 32);
        let s3 = v128.load(cj, 48);
        let b = B + ((<usize>j) << 2);
        const step = (<usize>ldb) << 2;
        for (let k = 0; k < K; k++, b += step) {
          const av = v128.load32_splat(a + ((<usize>k) << 2));
          s0 = f32x4.add(s0, f32x4.mul(av, v128.load(b)));
          s1 = f32x4.add(s1, f32x4.mul(av, v128.load(b, 16)));
          s2 = f32x4.add(s2, f32x4.mul(av, v128.load(b, 32)));
          s3 = f32x4.add(s3, f32x4.mul(av, v128.load(b, 48)));
        }
        v128.store(cj, s0);
        v128.store(cj, s1, 16);
        v128.store(cj, s2, 32);
        v128.store(cj, s3, 48);
      }
      for (; j + 4 <= N; j += 4) {
        const cj = c + ((<usize>j) << 2);
        let s = v128.load(cj);
        let b = B + ((<usize>j) << 2);
        const step = (<usize>ldb) << 2;
        for (let k = 0; k < K; k++, b += step) s = f32x4.add(s, f32x4.mul(v128.load32_splat(a + ((<usize>k) << 2)), v128.load(b)));
        v128.store(cj, s);
      }
      for (; j < N; j++) {
        const cj = c + ((<usize>j) << 2);
        let t = load<f32>(cj);
        for (let k = 0; k < K; k++) t += load<f32>(a + ((<usize>k) << 2)) * load<f32>(B + ((<usize>(k * ldb + j)) << 2));
        store<f32>(cj, t);
      }
    }
  }
}

function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

export function gemm(
  transA: bool,
  transB: bool,
  M: i32,
  N: i32,
  K: i32,
  alpha: f32,
  A: usize,
  lda: i32,
  B: usize,
  ldb: i32,
  beta: f32,
  C: usize,
  ldc: i32,
  work: usize,
): void {
  if (M <= 0 || N <= 0) return;
  scaleC(M, N, beta, C, ldc);
  if (K <= 0 || alpha == 0) return;
  if (M < MR) {
    gemmFewRows(transA, transB, M, N, K, alpha, A, lda, B, ldb, C, ldc, work);
    return;
  }
  const ap = work;
  const bp = ap + ((<usize>(MC * KC)) << 2);
  const tile = bp + ((<usize>(KC * NC)) << 2);
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nc = min(NC, N - j0);
    for (let p0 = 0; p0 < K; p0 += KC) {
      const kc = min(KC, K - p0);
      packB(transB, B, ldb, p0, kc, j0, nc, bp);
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = min(MC, M - i0);
        packA(transA, A, lda, i0, mc, p0, kc, alpha, ap);
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          const bpanel = bp + ((<usize>(jr * kc)) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = min(MR, mc - ir);
            const c = C + ((<usize>((i0 + ir) * ldc + j0 + jr)) << 2);
            kernel(kc, ap + ((<usize>(ir * kc)) << 2), bpanel, c, ldc, rows, cols, tile);
          }
        }
      }
    }
  }
}
