// dsrl's fused element-wise NN kernels on plain float arrays; dsrl_native.c checks the N-API arguments and
// calls them.
//
// Why hand-written: the engine's matrix products go to a tuned SGEMM (as PyTorch's do), and everything
// between them (bias + activation, LayerNorm + activation, their backward passes, Adam over a
// network's flat parameter buffer, Polyak/EMA) is one fused C loop each, so a layer costs one pass
// over memory instead of several JS loops. Every kernel has a pure-TS twin in src/nn/js-backend.ts
// with the same semantics; tests check they agree.
#include "kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pool.h"

// The element-wise loops are compiled three times (AVX-512, AVX2+FMA, baseline x86-64) and the loader picks
// the one this CPU runs (GCC's target_clones, an ifunc), so the addon needs no -march=native and still runs
// where it is copied. Measured on the dev machine: baseline-only code made mish 10-15x slower (its
// __builtin_rintf becomes a libm call without SSE4.1, which blocks vectorisation).
#if defined(__x86_64__) && !defined(__clang__) && __GNUC__ >= 11  // the x86-64-vN names came in GCC 11
#define DSRL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DSRL_CLONES
#endif

// Branch-free float math that gcc vectorises (glibc's scalar expf/tanhf calls block vectorisation and
// cost 10-30 ns per element here). fast_expf: Cody-Waite range reduction plus a degree-6 polynomial,
// about 2 ulp on [-87, 88]; results are clamped, never Inf/NaN for finite input.
static inline float fast_expf(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  float n = __builtin_rintf(x * 1.44269504088896341f);  // round to nearest (the default mode)
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666381f + r * (0.00833301f + r * 0.00139516f)))));
  int32_t bits = ((int32_t)n + 127) << 23;  // 2^n; memcpy (not a union) keeps the loop vectorisable
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// tanh(u) = sign(u) (1 - 2 / (exp(2|u|) + 1)); an odd Taylor polynomial near 0 avoids cancellation.
static inline float fast_tanhf(float u) {
  float a = u < 0.0f ? -u : u;
  float e = fast_expf(2.0f * a);
  float t = 1.0f - 2.0f / (e + 1.0f);
  float u2 = u * u;
  float small = u * (1.0f + u2 * (-0.333333333f + u2 * (0.133333333f + u2 * -0.0539682540f)));
  float big = u < 0.0f ? -t : t;
  return a < 0.125f ? small : big;
}

static inline float fast_sigmoidf(float u) { return 1.0f / (1.0f + fast_expf(-u)); }

// mish(u) = u tanh(softplus(u)) = u n / (n + 2) with n = e^u (e^u + 2); u is capped at 20 where the
// ratio is 1 in float32 (and e^{2u} stays finite).
static inline float mish_f(float u) {
  float e = fast_expf(u < 20.0f ? u : 20.0f);
  float n = e * (e + 2.0f);
  return u * n / (n + 2.0f);
}
static inline float mish_grad(float u) {
  float e = fast_expf(u < 20.0f ? u : 20.0f);
  float n = e * (e + 2.0f);
  float d = n + 2.0f;
  return n / d + u * 4.0f * e * (e + 1.0f) / (d * d);
}
static inline float silu_f(float u) { return u * fast_sigmoidf(u); }
static inline float silu_grad(float u) {
  float s = fast_sigmoidf(u);
  return s + u * s * (1.0f - s);
}

// Apply activation `act` to n values: y[i] = act(u[i]). One specialised loop per activation so each vectorises.
DSRL_CLONES __attribute__((noinline)) static void act_forward_n(int act, const float* u, float* y, int64_t n) {
  switch (act) {
    case ACT_RELU:
      for (int64_t i = 0; i < n; i++) y[i] = u[i] > 0.0f ? u[i] : 0.0f;
      break;
    case ACT_TANH:
      for (int64_t i = 0; i < n; i++) y[i] = fast_tanhf(u[i]);
      break;
    case ACT_MISH:
      for (int64_t i = 0; i < n; i++) y[i] = mish_f(u[i]);
      break;
    case ACT_SILU:
      for (int64_t i = 0; i < n; i++) y[i] = silu_f(u[i]);
      break;
    default:
      if (y != u) memcpy(y, u, (size_t)n * sizeof(float));
  }
}

// du[i] = dy[i] * act'(u[i]) given pre-activation u and output y. du must not alias the inputs (restrict lets
// gcc vectorise; a scalar ReLU backward mispredicts its branch on half the elements).
DSRL_CLONES __attribute__((noinline)) static void act_backward_n(int act, const float* restrict dy, const float* restrict u, const float* restrict y,
                           float* restrict du, int64_t n) {
  switch (act) {
    case ACT_RELU:
      for (int64_t i = 0; i < n; i++) du[i] = y[i] > 0.0f ? dy[i] : 0.0f;
      break;
    case ACT_TANH:
      for (int64_t i = 0; i < n; i++) du[i] = dy[i] * (1.0f - y[i] * y[i]);
      break;
    case ACT_MISH:
      for (int64_t i = 0; i < n; i++) du[i] = dy[i] * mish_grad(u[i]);
      break;
    case ACT_SILU:
      for (int64_t i = 0; i < n; i++) du[i] = dy[i] * silu_grad(u[i]);
      break;
    default:
      if (du != dy) memcpy(du, dy, (size_t)n * sizeof(float));
  }
}

DSRL_CLONES static void bias_act_rows(float* z, const float* B, int64_t rows, int64_t cols, int act, float* y) {
  for (int64_t r = 0; r < rows; r++) {
    float* zr = z + r * cols;
    if (B)
      for (int64_t c = 0; c < cols; c++) zr[c] += B[c];
    act_forward_n(act, zr, y + r * cols, cols);
  }
}

// Element-wise kernels over many rows (a base policy's 256 x 512 Mish: ~80 us on one core) split their rows over
// pool.c's thread pool in blocks of ROW_BLOCK rows. Every row is computed by the same code whatever thread runs it,
// so the floats do not depend on the thread count; fewer than PAR_ELEMS elements stay on the calling thread.
enum { ROW_BLOCK = 32, PAR_ELEMS = 1 << 16 };

typedef struct {
  float *z, *y, *xhat, *rstd;
  const float *bias, *gamma, *beta;
  int64_t rows, cols;
  float eps;
  int act;
} rows_job_t;

static void bias_act_task(void* ctx, int64_t t) {
  const rows_job_t* J = (const rows_job_t*)ctx;
  const int64_t r0 = t * ROW_BLOCK, n = J->rows - r0 < ROW_BLOCK ? J->rows - r0 : ROW_BLOCK;
  bias_act_rows(J->z + r0 * J->cols, J->bias, n, J->cols, J->act, J->y + r0 * J->cols);
}

// Runs task over the row blocks of J, on the pool when the job is large enough.
static void for_row_blocks(rows_job_t* J, void (*task)(void*, int64_t)) {
  const int64_t blocks = (J->rows + ROW_BLOCK - 1) / ROW_BLOCK;
  if (J->rows * J->cols < PAR_ELEMS || dsrl_sgemm_threads(0) == 1)
    for (int64_t t = 0; t < blocks; t++) task(J, t);
  else
    dsrl_parallel_for(blocks, dsrl_sgemm_threads(0), task, J);
}

void dsrl_bias_act(float* z, const float* bias, int64_t rows, int64_t cols, int act, float* y) {
  rows_job_t J = {.z = z, .y = y, .bias = bias, .rows = rows, .cols = cols, .act = act};
  for_row_blocks(&J, bias_act_task);
}

DSRL_CLONES static void bias_act_backward_rows(const float* dy, const float* z, const float* y, int64_t rows,
                                               int64_t cols, int act, float* dz, float* db) {
  for (int64_t r = 0; r < rows; r++) {
    float* dzr = dz + r * cols;
    act_backward_n(act, dy + r * cols, z + r * cols, y + r * cols, dzr, cols);
    if (db)
      for (int64_t c = 0; c < cols; c++) db[c] += dzr[c];
  }
}

void dsrl_bias_act_backward(const float* dy, const float* z, const float* y, int64_t rows, int64_t cols, int act,
                            float* dz, float* db) {
  bias_act_backward_rows(dy, z, y, rows, cols, act, dz, db);
}

DSRL_CLONES static void ln_act_forward_rows(float* z, const float* bias, const float* gamma, const float* beta,
                                            int64_t rows, int64_t cols, float eps, int act, float* xhat, float* rstd_out,
                                            float* y) {
  const float inv = 1.0f / (float)cols;
  for (int64_t r = 0; r < rows; r++) {
    float* zr = z + r * cols;
    float* xr = xhat + r * cols;
    float* yr = y + r * cols;
    float sum = 0.0f;
    if (bias)
      for (int64_t c = 0; c < cols; c++) {
        zr[c] += bias[c];
        sum += zr[c];
      }
    else
      for (int64_t c = 0; c < cols; c++) sum += zr[c];
    const float mean = sum * inv;
    float sq = 0.0f;
    for (int64_t c = 0; c < cols; c++) {
      float d = zr[c] - mean;
      xr[c] = d;
      sq += d * d;
    }
    const float rstd = 1.0f / sqrtf(sq * inv + eps);
    rstd_out[r] = rstd;
    for (int64_t c = 0; c < cols; c++) xr[c] *= rstd;
    for (int64_t c = 0; c < cols; c++) yr[c] = xr[c] * gamma[c] + beta[c];
    act_forward_n(act, yr, yr, cols);  // in place: LayerNorm's output is the activation's input
  }
}

static void ln_act_forward_task(void* ctx, int64_t t) {
  const rows_job_t* J = (const rows_job_t*)ctx;
  const int64_t r0 = t * ROW_BLOCK, n = J->rows - r0 < ROW_BLOCK ? J->rows - r0 : ROW_BLOCK;
  const int64_t off = r0 * J->cols;
  ln_act_forward_rows(J->z + off, J->bias, J->gamma, J->beta, n, J->cols, J->eps, J->act, J->xhat + off, J->rstd + r0,
                      J->y + off);
}

void dsrl_ln_act_forward(float* z, const float* bias, const float* gamma, const float* beta, int64_t rows,
                         int64_t cols, float eps, int act, float* xhat, float* rstd, float* y) {
  rows_job_t J = {.z = z, .y = y, .xhat = xhat, .rstd = rstd, .bias = bias, .gamma = gamma, .beta = beta,
                  .rows = rows, .cols = cols, .eps = eps, .act = act};
  for_row_blocks(&J, ln_act_forward_task);
}

// One row of LayerNorm's backward pass, given du (the gradient at gamma * xhat + beta) in dz:
// dgamma += du xhat, dbeta += du, dz = rstd (du gamma - mean(du gamma) - xhat mean(du gamma xhat)), dbias += dz.
// restrict: every pointer is a distinct buffer, which lets gcc vectorise each loop. noinline: inlined into its
// caller, gcc lost the restrict facts and ran the scalar fallback (4x slower, seen with perf).
DSRL_CLONES __attribute__((noinline)) static void ln_backward_row(const float* restrict xr, const float* restrict g, float* restrict dz, float* restrict dg,
                            float* restrict dbe, float* restrict dbi, int64_t cols, float rstd, float inv) {
  if (dg)
    for (int64_t c = 0; c < cols; c++) dg[c] += dz[c] * xr[c];
  if (dbe)
    for (int64_t c = 0; c < cols; c++) dbe[c] += dz[c];
  float s1 = 0.0f, s2 = 0.0f;
  for (int64_t c = 0; c < cols; c++) {
    float dxh = dz[c] * g[c];
    s1 += dxh;
    s2 += dxh * xr[c];
  }
  const float m1 = s1 * inv, m2 = s2 * inv;
  for (int64_t c = 0; c < cols; c++) dz[c] = rstd * (dz[c] * g[c] - m1 - xr[c] * m2);
  if (dbi)
    for (int64_t c = 0; c < cols; c++) dbi[c] += dz[c];
}

DSRL_CLONES static void ln_act_backward_rows(const float* dy, const float* xh, const float* rs, const float* g,
                                             const float* be, const float* y, int64_t rows, int64_t cols, int act,
                                             float* dz, float* dg, float* dbe, float* dbi, float* u, float inv) {
  for (int64_t r = 0; r < rows; r++) {
    const int64_t o = r * cols;
    if (act == ACT_MISH || act == ACT_SILU)
      for (int64_t c = 0; c < cols; c++) u[c] = xh[o + c] * g[c] + be[c];
    act_backward_n(act, dy + o, u, y + o, dz + o, cols);  // dz = du for now
    ln_backward_row(xh + o, g, dz + o, dg, dbe, dbi, cols, rs[r], inv);
  }
}

void dsrl_ln_act_backward(const float* dy, const float* xhat, const float* rstd, const float* gamma,
                          const float* beta, const float* y, int64_t rows, int64_t cols, int act, float* dz,
                          float* dgamma, float* dbeta, float* dbias, float* u) {
  const float inv = 1.0f / (float)cols;
  ln_act_backward_rows(dy, xhat, rstd, gamma, beta, y, rows, cols, act, dz, dgamma, dbeta, dbias, u, inv);
}

DSRL_CLONES static void adam_n(float* P, const float* G, float* Mm, float* V, size_t n,
                               float fb1, float fb2, float feps, float step_size, float inv_sqrt_bc2, float decay) {
  for (size_t i = 0; i < n; i++) {
    float gi = G[i];
    float mi = fb1 * Mm[i] + (1.0f - fb1) * gi;
    float vi = fb2 * V[i] + (1.0f - fb2) * gi * gi;
    Mm[i] = mi;
    V[i] = vi;
    // Same formula as torch.optim.Adam: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
    P[i] = P[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + feps);
  }
}

// The step's scalars: powers in double, then rounded to float32 (src/nn/wasm-backend.ts rounds alike).
void dsrl_adam(float* p, const float* g, float* m, float* v, size_t n, double lr, double b1, double b2, double eps,
               double step, double wd) {
  const float bc1 = (float)(1.0 - pow(b1, step)), bc2 = (float)(1.0 - pow(b2, step));
  const float step_size = (float)lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
  const float fb1 = (float)b1, fb2 = (float)b2, feps = (float)eps, decay = (float)(1.0 - lr * wd);
  adam_n(p, g, m, v, n, fb1, fb2, feps, step_size, inv_sqrt_bc2, decay);
}

DSRL_CLONES static void axpby_n(float* y, const float* x, size_t n, float a, float b) {
  for (size_t i = 0; i < n; i++) y[i] = a * x[i] + b * y[i];
}

void dsrl_axpby(float* y, const float* x, size_t n, float a, float b) { axpby_n(y, x, n, a, b); }

double dsrl_sum_squares(const float* x, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return s;
}
