/**
 * Portable pure-TypeScript backend: the same kernels as native/kernels.c, in plain loops.
 * Used in the browser and whenever the addon is not built; tests check it agrees with native.
 */
import type { Backend } from './backend.ts';
import { checkAdam, checkBiasAct, checkBiasActBackward, checkLnActBackward, checkLnActForward, need } from './backend-checks.ts';

const IDENTITY = 0;
const RELU = 1;
const TANH = 2;
const MISH = 3;
const SILU = 4;

function softplus(u: number): number {
  return u > 20 ? u : Math.log1p(Math.exp(u));
}

export function actForward(act: number, u: number): number {
  switch (act) {
    case RELU:
      return u > 0 ? u : 0;
    case TANH:
      return Math.tanh(u);
    case MISH:
      return u * Math.tanh(softplus(u));
    case SILU:
      return u / (1 + Math.exp(-u));
    default:
      return u;
  }
}

/** d act / d u from the pre-activation u and the output y. */
export function actGrad(act: number, u: number, y: number): number {
  switch (act) {
    case RELU:
      return u > 0 ? 1 : 0;
    case TANH:
      return 1 - y * y;
    case MISH: {
      const t = Math.tanh(softplus(u));
      const sig = 1 / (1 + Math.exp(-u));
      return t + u * sig * (1 - t * t);
    }
    case SILU: {
      const s = 1 / (1 + Math.exp(-u));
      return s + u * s * (1 - s);
    }
    default:
      return 1;
  }
}

export const jsBackend: Backend = {
  name: 'js',

  gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) {
    if (M <= 0 || N <= 0) return;
    need('js', C, (M - 1) * ldc + N, 'C');
    for (let i = 0; i < M; i++) {
      const row = i * ldc;
      if (beta === 0) C.fill(0, row, row + N);
      else if (beta !== 1) for (let j = 0; j < N; j++) C[row + j] *= beta;
    }
    if (K <= 0 || alpha === 0) return;
    need('js', A, ((transA ? K : M) - 1) * lda + (transA ? M : K), 'A');
    need('js', B, ((transB ? N : K) - 1) * ldb + (transB ? K : N), 'B');
    if (!transA && !transB) {
      for (let i = 0; i < M; i++) {
        const ci = i * ldc;
        const ai = i * lda;
        for (let k = 0; k < K; k++) {
          const a = alpha * A[ai + k];
          if (a === 0) continue;
          const bk = k * ldb;
          for (let j = 0; j < N; j++) C[ci + j] += a * B[bk + j];
        }
      }
    } else if (!transA && transB) {
      for (let i = 0; i < M; i++) {
        const ci = i * ldc;
        const ai = i * lda;
        for (let j = 0; j < N; j++) {
          const bj = j * ldb;
          let s = 0;
          for (let k = 0; k < K; k++) s += A[ai + k] * B[bj + k];
          C[ci + j] += alpha * s;
        }
      }
    } else if (transA && !transB) {
      for (let k = 0; k < K; k++) {
        const ak = k * lda;
        const bk = k * ldb;
        for (let i = 0; i < M; i++) {
          const a = alpha * A[ak + i];
          if (a === 0) continue;
          const ci = i * ldc;
          for (let j = 0; j < N; j++) C[ci + j] += a * B[bk + j];
        }
      }
    } else {
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += A[k * lda + i] * B[j * ldb + k];
          C[i * ldc + j] += alpha * s;
        }
      }
    }
  },

  biasAct(z, bias, rows, cols, act, y) {
    checkBiasAct('js', z, bias, rows, cols, y);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) {
        const u = bias ? z[o + c] + bias[c] : z[o + c];
        z[o + c] = u;
        y[o + c] = act === IDENTITY ? u : act === RELU ? (u > 0 ? u : 0) : actForward(act, u);
      }
    }
  },

  biasActBackward(dy, z, y, rows, cols, act, dz, db) {
    checkBiasActBackward('js', dy, z, y, rows, cols, dz, db);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) {
        const i = o + c;
        const g =
          act === IDENTITY
            ? dy[i]
            : act === RELU
              ? z[i] > 0
                ? dy[i]
                : 0
              : act === TANH
                ? dy[i] * (1 - y[i] * y[i])
                : dy[i] * actGrad(act, z[i], y[i]);
        dz[i] = g;
        if (db) db[c] += g;
      }
    }
  },

  lnActForward(z, bias, gamma, beta, rows, cols, eps, act, xhat, rstd, y) {
    checkLnActForward('js', z, bias, gamma, beta, rows, cols, xhat, rstd, y);
    // Math.fround keeps the per-row statistics in float32, as the C kernel does.
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let sum = 0;
      for (let c = 0; c < cols; c++) {
        if (bias) z[o + c] += bias[c];
        sum += z[o + c];
      }
      const mean = Math.fround(sum / cols);
      let sq = 0;
      for (let c = 0; c < cols; c++) {
        const d = Math.fround(z[o + c] - mean);
        xhat[o + c] = d;
        sq += d * d;
      }
      const rs = Math.fround(1 / Math.sqrt(sq / cols + eps));
      rstd[r] = rs;
      for (let c = 0; c < cols; c++) {
        const xh = Math.fround(xhat[o + c] * rs);
        xhat[o + c] = xh;
        const u = xh * gamma[c] + beta[c];
        y[o + c] = act === IDENTITY ? u : actForward(act, u);
      }
    }
  },

  lnActBackward(dy, xhat, rstd, gamma, beta, y, rows, cols, act, dz, dgamma, dbeta, dbias) {
    checkLnActBackward('js', dy, xhat, rstd, gamma, beta, y, rows, cols, dz, dgamma, dbeta, dbias);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s1 = 0;
      let s2 = 0;
      for (let c = 0; c < cols; c++) {
        const i = o + c;
        const du =
          act === IDENTITY
            ? dy[i]
            : act === RELU
              ? y[i] > 0
                ? dy[i]
                : 0
              : act === TANH
                ? dy[i] * (1 - y[i] * y[i])
                : dy[i] * actGrad(act, xhat[i] * gamma[c] + beta[c], y[i]);
        if (dgamma) dgamma[c] += du * xhat[i];
        if (dbeta) dbeta[c] += du;
        const dxh = du * gamma[c];
        dz[i] = dxh;
        s1 += dxh;
        s2 += dxh * xhat[i];
      }
      const m1 = s1 / cols;
      const m2 = s2 / cols;
      const rs = rstd[r];
      for (let c = 0; c < cols; c++) {
        const i = o + c;
        const v = rs * (dz[i] - m1 - xhat[i] * m2);
        dz[i] = v;
        if (dbias) dbias[c] += v;
      }
    }
  },

  adam(p, g, m, v, lr, beta1, beta2, eps, step, weightDecay) {
    const n = p.length;
    checkAdam('js', p, g, m, v);
    const bc1 = 1 - beta1 ** step;
    const bc2 = 1 - beta2 ** step;
    const stepSize = lr / bc1;
    const invSqrtBc2 = 1 / Math.sqrt(bc2);
    const decay = 1 - lr * weightDecay;
    for (let i = 0; i < n; i++) {
      const gi = g[i];
      const mi = beta1 * m[i] + (1 - beta1) * gi;
      const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
    }
  },

  axpby(y, x, a, b) {
    need('js', x, y.length, 'x');
    for (let i = 0; i < y.length; i++) y[i] = a * x[i] + b * y[i];
  },

  sumSquares(x) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * x[i];
    return s;
  },
};
