// dsrl's native NN backend, exposed through N-API: SGEMM (built-in kernels, gemm.c, or OpenBLAS where
// installed), bf16 products (bf16.c) and the fused element-wise kernels (kernels.c). This file is the binding
// layer: it reads and checks the JS arguments and calls those plain C functions.
//
// All arrays are Float32Array views (possibly subarrays); sizes are passed explicitly and checked
// against the views' lengths so a bad call throws instead of touching memory it does not own.
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf16.h"
#include "gemm.h"
#include "kernels.h"
#include "pool.h"
#include "programs.h"
#ifdef DSRL_HAVE_CBLAS  // set by binding.gyp when scripts/build-native.mjs found a working cblas.h + libopenblas
#include <cblas.h>
#endif

#define CHECK_NAPI(call)                                              \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "dsrl_native: N-API call failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

typedef struct {
  float* data;
  size_t length;
} fview;

// Reads argument i as a Float32Array (or null when allow_null). Returns 0 on error (exception set).
static int get_f32(napi_env env, napi_value v, fview* out, int allow_null, const char* what) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (allow_null && (t == napi_null || t == napi_undefined)) {
    out->data = NULL;
    out->length = 0;
    return 1;
  }
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) {
    char msg[160];
    snprintf(msg, sizeof msg, "dsrl_native: %s must be a Float32Array", what);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t offset;
  napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset);
  if (type != napi_float32_array) {
    char msg[160];
    snprintf(msg, sizeof msg, "dsrl_native: %s must be a Float32Array", what);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  out->data = (float*)data;
  out->length = length;
  return 1;
}

static int64_t get_i64(napi_env env, napi_value v) {
  int64_t x = 0;
  napi_get_value_int64(env, v, &x);
  return x;
}

static double get_f64(napi_env env, napi_value v) {
  double x = 0;
  napi_get_value_double(env, v, &x);
  return x;
}

static int need(napi_env env, const fview* a, size_t n, const char* what) {
  if (a->data != NULL && a->length < n) {
    char msg[200];
    snprintf(msg, sizeof msg, "dsrl_native: %s has %zu elements, needs %zu", what, a->length, n);
    napi_throw_range_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

// A scratch row per JS thread (the main thread, or a worker thread that loads the addon too).
static _Thread_local float* scratch_buf = NULL;
static _Thread_local size_t scratch_len = 0;
static float* scratch(int64_t n) {
  if ((size_t)n > scratch_len) {
    float* p = (float*)realloc(scratch_buf, (size_t)n * sizeof(float));
    if (!p) return NULL;
    scratch_buf = p;
    scratch_len = (size_t)n;
  }
  return scratch_buf;
}

#define ARGS(n)                                                     \
  size_t argc = n;                                                  \
  napi_value argv[n];                                               \
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL)); \
  if (argc < n) {                                                   \
    napi_throw_error(env, NULL, "dsrl_native: too few arguments");  \
    return NULL;                                                    \
  }

// Which SGEMM gemm() calls: OpenBLAS when linked (the default then), else the built-in kernels. setGemm switches
// at run time, so benches and tests compare both in one process.
#ifdef DSRL_HAVE_CBLAS
static int use_openblas = 1;
#endif

int dsrl_gemm_uses_openblas(void) {
#ifdef DSRL_HAVE_CBLAS
  return use_openblas;
#else
  return 0;
#endif
}

// gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): C = alpha op(A) op(B) + beta C, row-major.
static napi_value Gemm(napi_env env, napi_callback_info info) {
  ARGS(13);
  bool ta, tb;
  napi_get_value_bool(env, argv[0], &ta);
  napi_get_value_bool(env, argv[1], &tb);
  int64_t M = get_i64(env, argv[2]), N = get_i64(env, argv[3]), K = get_i64(env, argv[4]);
  float alpha = (float)get_f64(env, argv[5]);
  fview A, B, C;
  if (!get_f32(env, argv[6], &A, 0, "A")) return NULL;
  int64_t lda = get_i64(env, argv[7]);
  if (!get_f32(env, argv[8], &B, 0, "B")) return NULL;
  int64_t ldb = get_i64(env, argv[9]);
  float beta = (float)get_f64(env, argv[10]);
  if (!get_f32(env, argv[11], &C, 0, "C")) return NULL;
  int64_t ldc = get_i64(env, argv[12]);
  if (M <= 0 || N <= 0) return NULL;
  int64_t arows = ta ? K : M, brows = tb ? N : K;
  if (!need(env, &A, (size_t)((arows - 1) * lda + (ta ? M : K)), "A")) return NULL;
  if (!need(env, &B, (size_t)((brows - 1) * ldb + (tb ? K : N)), "B")) return NULL;
  if (!need(env, &C, (size_t)((M - 1) * ldc + N), "C")) return NULL;
  if (K <= 0) {
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) C.data[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C.data[i * ldc + j];
    return NULL;
  }
#ifdef DSRL_HAVE_CBLAS
  if (use_openblas) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                (int)K, alpha, A.data, (int)lda, B.data, (int)ldb, beta, C.data, (int)ldc);
    return NULL;
  }
#endif
  if (dsrl_sgemm(ta, tb, M, N, K, alpha, A.data, lda, B.data, ldb, beta, C.data, ldc) != 0)
    napi_throw_error(env, NULL, "dsrl_native: gemm could not allocate its packing buffers (out of memory)");
  return NULL;
}

// packGemmB(transB, B, ldb, N, K) -> Float32Array: op(B) (K x N) packed once for the built-in kernels (frozen
// weights: gemmPackedB then skips the per-call packing). Belongs to JS (the garbage collector frees it).
static napi_value PackGemmB(napi_env env, napi_callback_info info) {
  ARGS(5);
  bool tb;
  napi_get_value_bool(env, argv[0], &tb);
  fview B;
  if (!get_f32(env, argv[1], &B, 0, "B")) return NULL;
  int64_t ldb = get_i64(env, argv[2]), N = get_i64(env, argv[3]), K = get_i64(env, argv[4]);
  if (N <= 0 || K <= 0 || ldb < (tb ? K : N)) {
    napi_throw_range_error(env, NULL, "dsrl_native: packGemmB needs N > 0, K > 0 and ldb >= the row length");
    return NULL;
  }
  if (!need(env, &B, (size_t)(((tb ? N : K) - 1) * ldb + (tb ? K : N)), "B")) return NULL;
  const size_t len = dsrl_sgemm_packed_b_len(N, K);
  void* data;
  napi_value ab, out;
  CHECK_NAPI(napi_create_arraybuffer(env, len * sizeof(float), &data, &ab));
  dsrl_sgemm_pack_b(tb, B.data, ldb, N, K, (float*)data);
  CHECK_NAPI(napi_create_typedarray(env, napi_float32_array, len, ab, 0, &out));
  return out;
}

// gemmPackedB(transA, transB, M, N, K, alpha, A, lda, B, ldb, Bp, beta, C, ldc): gemm with op(B) from packGemmB
// (same floats as gemm on the built-in kernels; OpenBLAS, when it is the gemm in use, reads B as usual).
static napi_value GemmPackedB(napi_env env, napi_callback_info info) {
  ARGS(14);
  bool ta, tb;
  napi_get_value_bool(env, argv[0], &ta);
  napi_get_value_bool(env, argv[1], &tb);
  int64_t M = get_i64(env, argv[2]), N = get_i64(env, argv[3]), K = get_i64(env, argv[4]);
  float alpha = (float)get_f64(env, argv[5]);
  fview A, B, Bp, C;
  if (!get_f32(env, argv[6], &A, 0, "A")) return NULL;
  int64_t lda = get_i64(env, argv[7]);
  if (!get_f32(env, argv[8], &B, 0, "B")) return NULL;
  int64_t ldb = get_i64(env, argv[9]);
  if (!get_f32(env, argv[10], &Bp, 0, "Bp")) return NULL;
  float beta = (float)get_f64(env, argv[11]);
  if (!get_f32(env, argv[12], &C, 0, "C")) return NULL;
  int64_t ldc = get_i64(env, argv[13]);
  if (M <= 0 || N <= 0 || K <= 0) {
    napi_throw_range_error(env, NULL, "dsrl_native: gemmPackedB needs M, N, K > 0");
    return NULL;
  }
  int64_t arows = ta ? K : M, brows = tb ? N : K;
  if (!need(env, &A, (size_t)((arows - 1) * lda + (ta ? M : K)), "A")) return NULL;
  if (!need(env, &B, (size_t)((brows - 1) * ldb + (tb ? K : N)), "B")) return NULL;
  if (!need(env, &C, (size_t)((M - 1) * ldc + N), "C")) return NULL;
  if (Bp.length != dsrl_sgemm_packed_b_len(N, K)) {
    napi_throw_range_error(env, NULL, "dsrl_native: Bp is not a packGemmB result for this N and K");
    return NULL;
  }
#ifdef DSRL_HAVE_CBLAS
  if (use_openblas) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                (int)K, alpha, A.data, (int)lda, B.data, (int)ldb, beta, C.data, (int)ldc);
    return NULL;
  }
#endif
  int rc = dsrl_sgemm_packed_b(ta, tb, M, N, K, alpha, A.data, lda, B.data, ldb, Bp.data, beta, C.data, ldc);
  if (rc == -2) napi_throw_error(env, NULL, "dsrl_native: Bp was packed for another instruction set or shape; repack it");
  if (rc == -1) napi_throw_error(env, NULL, "dsrl_native: gemm could not allocate its packing buffers (out of memory)");
  return NULL;
}

// biasAct(z, bias|null, rows, cols, act, y): z += bias (kept as the pre-activation); y = act(z). y may alias z
// only for identity.
static napi_value BiasAct(napi_env env, napi_callback_info info) {
  ARGS(6);
  fview z, b, y;
  if (!get_f32(env, argv[0], &z, 0, "z") || !get_f32(env, argv[1], &b, 1, "bias")) return NULL;
  int64_t rows = get_i64(env, argv[2]), cols = get_i64(env, argv[3]);
  int act = (int)get_i64(env, argv[4]);
  if (!get_f32(env, argv[5], &y, 0, "y")) return NULL;
  size_t n = (size_t)(rows * cols);
  if (!need(env, &z, n, "z") || !need(env, &b, (size_t)cols, "bias") || !need(env, &y, n, "y")) return NULL;
  dsrl_bias_act(z.data, b.data, rows, cols, act, y.data);
  return NULL;
}

// biasActBackward(dy, z, y, rows, cols, act, dz, db|null): dz = dy * act'(z); db += colsum(dz). dz must not alias dy.
static napi_value BiasActBackward(napi_env env, napi_callback_info info) {
  ARGS(8);
  fview dy, z, y, dz, db;
  if (!get_f32(env, argv[0], &dy, 0, "dy") || !get_f32(env, argv[1], &z, 0, "z") ||
      !get_f32(env, argv[2], &y, 0, "y"))
    return NULL;
  int64_t rows = get_i64(env, argv[3]), cols = get_i64(env, argv[4]);
  int act = (int)get_i64(env, argv[5]);
  if (!get_f32(env, argv[6], &dz, 0, "dz") || !get_f32(env, argv[7], &db, 1, "db")) return NULL;
  size_t n = (size_t)(rows * cols);
  if (!need(env, &dy, n, "dy") || !need(env, &z, n, "z") || !need(env, &y, n, "y") || !need(env, &dz, n, "dz") ||
      !need(env, &db, (size_t)cols, "db"))
    return NULL;
  dsrl_bias_act_backward(dy.data, z.data, y.data, rows, cols, act, dz.data, db.data);
  return NULL;
}

// lnActForward(z, bias|null, gamma, beta, rows, cols, eps, act, xhat, rstd, y):
//   u = gamma * (z + bias - mean) * rstd + beta; y = act(u). Saves xhat and rstd for the backward pass.
static napi_value LnActForward(napi_env env, napi_callback_info info) {
  ARGS(11);
  fview z, b, g, be, xh, rs, y;
  if (!get_f32(env, argv[0], &z, 0, "z") || !get_f32(env, argv[1], &b, 1, "bias") ||
      !get_f32(env, argv[2], &g, 0, "gamma") || !get_f32(env, argv[3], &be, 0, "beta"))
    return NULL;
  int64_t rows = get_i64(env, argv[4]), cols = get_i64(env, argv[5]);
  float eps = (float)get_f64(env, argv[6]);
  int act = (int)get_i64(env, argv[7]);
  if (!get_f32(env, argv[8], &xh, 0, "xhat") || !get_f32(env, argv[9], &rs, 0, "rstd") ||
      !get_f32(env, argv[10], &y, 0, "y"))
    return NULL;
  size_t n = (size_t)(rows * cols);
  if (!need(env, &z, n, "z") || !need(env, &b, (size_t)cols, "bias") || !need(env, &g, (size_t)cols, "gamma") ||
      !need(env, &be, (size_t)cols, "beta") || !need(env, &xh, n, "xhat") || !need(env, &rs, (size_t)rows, "rstd") ||
      !need(env, &y, n, "y"))
    return NULL;
  dsrl_ln_act_forward(z.data, b.data, g.data, be.data, rows, cols, eps, act, xh.data, rs.data, y.data);
  return NULL;
}

// lnActBackward(dy, xhat, rstd, gamma, beta, y, rows, cols, act, dz, dgamma|null, dbeta|null, dbias|null)
//   dz: gradient w.r.t. the LayerNorm input (before the bias was added: same as after, the bias is a shift).
//   dgamma, dbeta, dbias accumulate (+=). dz must not alias dy.
static napi_value LnActBackward(napi_env env, napi_callback_info info) {
  ARGS(13);
  fview dy, xh, rs, g, be, y, dz, dg, dbe, dbi;
  if (!get_f32(env, argv[0], &dy, 0, "dy") || !get_f32(env, argv[1], &xh, 0, "xhat") ||
      !get_f32(env, argv[2], &rs, 0, "rstd") || !get_f32(env, argv[3], &g, 0, "gamma") ||
      !get_f32(env, argv[4], &be, 0, "beta") || !get_f32(env, argv[5], &y, 0, "y"))
    return NULL;
  int64_t rows = get_i64(env, argv[6]), cols = get_i64(env, argv[7]);
  int act = (int)get_i64(env, argv[8]);
  if (!get_f32(env, argv[9], &dz, 0, "dz") || !get_f32(env, argv[10], &dg, 1, "dgamma") ||
      !get_f32(env, argv[11], &dbe, 1, "dbeta") || !get_f32(env, argv[12], &dbi, 1, "dbias"))
    return NULL;
  size_t n = (size_t)(rows * cols);
  if (!need(env, &dy, n, "dy") || !need(env, &xh, n, "xhat") || !need(env, &rs, (size_t)rows, "rstd") ||
      !need(env, &g, (size_t)cols, "gamma") || !need(env, &be, (size_t)cols, "beta") || !need(env, &y, n, "y") ||
      !need(env, &dz, n, "dz") || !need(env, &dg, (size_t)cols, "dgamma") || !need(env, &dbe, (size_t)cols, "dbeta") ||
      !need(env, &dbi, (size_t)cols, "dbias"))
    return NULL;
  float* u = scratch(cols);  // the activation's input, recomputed from xhat rather than stored
  if (!u) {
    napi_throw_error(env, NULL, "dsrl_native: out of memory");
    return NULL;
  }
  dsrl_ln_act_backward(dy.data, xh.data, rs.data, g.data, be.data, y.data, rows, cols, act, dz.data, dg.data, dbe.data,
                       dbi.data, u);
  return NULL;
}

// adam(p, g, m, v, lr, beta1, beta2, eps, step, weightDecay): bias-corrected Adam (Kingma & Ba 2015),
// with decoupled weight decay (AdamW) when weightDecay > 0. `step` is the 1-based step count.
static napi_value Adam(napi_env env, napi_callback_info info) {
  ARGS(10);
  fview p, g, m, v;
  if (!get_f32(env, argv[0], &p, 0, "params") || !get_f32(env, argv[1], &g, 0, "grads") ||
      !get_f32(env, argv[2], &m, 0, "m") || !get_f32(env, argv[3], &v, 0, "v"))
    return NULL;
  size_t n = p.length;
  if (!need(env, &g, n, "grads") || !need(env, &m, n, "m") || !need(env, &v, n, "v")) return NULL;
  const double lr = get_f64(env, argv[4]), b1 = get_f64(env, argv[5]), b2 = get_f64(env, argv[6]);
  const double eps = get_f64(env, argv[7]), step = get_f64(env, argv[8]), wd = get_f64(env, argv[9]);
  dsrl_adam(p.data, g.data, m.data, v.data, n, lr, b1, b2, eps, step, wd);
  return NULL;
}

// axpby(y, x, a, b): y = a * x + b * y (Polyak averaging, EMA, scaling).
static napi_value Axpby(napi_env env, napi_callback_info info) {
  ARGS(4);
  fview y, x;
  if (!get_f32(env, argv[0], &y, 0, "y") || !get_f32(env, argv[1], &x, 0, "x")) return NULL;
  if (!need(env, &x, y.length, "x")) return NULL;
  const float a = (float)get_f64(env, argv[2]), b = (float)get_f64(env, argv[3]);
  dsrl_axpby(y.data, x.data, y.length, a, b);
  return NULL;
}

// sumSquares(x) -> double
static napi_value SumSquares(napi_env env, napi_callback_info info) {
  ARGS(1);
  fview x;
  if (!get_f32(env, argv[0], &x, 0, "x")) return NULL;
  const double s = dsrl_sum_squares(x.data, x.length);
  napi_value out;
  napi_create_double(env, s, &out);
  return out;
}

// setThreads(n): GEMM thread count, for OpenBLAS and the built-in kernels alike (n <= 0: leave as is).
// Returns the count of the GEMM in use.
static napi_value SetThreads(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t n = get_i64(env, argv[0]);
  int count = dsrl_sgemm_threads(n > 0 ? (int)n : 0);
#ifdef DSRL_HAVE_CBLAS
  if (n > 0) openblas_set_num_threads((int)n);
  if (use_openblas) count = openblas_get_num_threads();
#endif
  napi_value out;
  napi_create_int32(env, count, &out);
  return out;
}

static napi_value make_string(napi_env env, const char* s) {
  napi_value out;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

// setGemm(impl?): impl "openblas" | "builtin" (anything else, e.g. undefined: no change). Returns the impl in use.
static napi_value SetGemm(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[32] = "";
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t == napi_string) napi_get_value_string_utf8(env, argv[0], name, sizeof name, NULL);
  if (!strcmp(name, "openblas")) {
#ifdef DSRL_HAVE_CBLAS
    use_openblas = 1;
#else
    napi_throw_error(env, NULL,
                     "dsrl_native: this build has no OpenBLAS (none was found at install time); install libopenblas-dev "
                     "and run `npm run build:native`");
    return NULL;
#endif
  } else if (!strcmp(name, "builtin")) {
#ifdef DSRL_HAVE_CBLAS
    use_openblas = 0;
#endif
  } else if (t != napi_undefined && t != napi_null) {
    napi_throw_error(env, NULL, "dsrl_native: setGemm takes \"openblas\" or \"builtin\"");
    return NULL;
  }
#ifdef DSRL_HAVE_CBLAS
  if (use_openblas) return make_string(env, "openblas");
#endif
  return make_string(env, "builtin");
}

// A kernel choice by name: with a string argument, set(name) picks it (nonzero: this CPU cannot run it, an error
// naming `what`); returns the name of the one in use, get().
static napi_value pick_kernel(napi_env env, napi_callback_info info, int (*set)(const char*), const char* (*get)(void),
                              const char* what) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t == napi_string) {
    char name[32] = "";
    napi_get_value_string_utf8(env, argv[0], name, sizeof name, NULL);
    if (set(name) != 0) {
      char msg[160];
      snprintf(msg, sizeof msg, "dsrl_native: this CPU cannot run the %s %s (it runs %s; \"auto\" picks the best)", name, what, get());
      napi_throw_error(env, NULL, msg);
      return NULL;
    }
  }
  return make_string(env, get());
}

// gemmIsa(isa?): the built-in kernels' instruction set; isa "avx512" | "avx2" | "generic" | "auto" forces one
// (tests cover each on one machine). Returns the one in use; throws when the CPU lacks the one asked for.
static napi_value GemmIsa(napi_env env, napi_callback_info info) {
  return pick_kernel(env, info, dsrl_sgemm_set_isa, dsrl_sgemm_isa, "kernels");
}

// bf16Kernel(kernel?): the bf16 kernel for products of 16 rows and more; kernel "amx" | "avx512-bf16" | "auto"
// picks one. Returns the one in use ("none" without AVX512-BF16); throws when the CPU cannot run the one asked for.
static napi_value Bf16Kernel(napi_env env, napi_callback_info info) {
  return pick_kernel(env, info, dsrl_bf16_set_kernel, dsrl_bf16_kernel, "bf16 kernel");
}

// gemmPoolWorkers(): worker threads the built-in SGEMM's pool has started (tests: they persist across calls).
static napi_value GemmPoolWorkers(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_int32(env, dsrl_sgemm_pool_workers(), &out);
  return out;
}

// packBf16(W, N, K, ldw) -> Uint16Array: a frozen N x K weight (y = x W^T) rounded to bf16 in gemmBf16's
// layout. The array belongs to JS (the garbage collector frees it).
static napi_value PackBf16(napi_env env, napi_callback_info info) {
  ARGS(4);
  fview W;
  if (!get_f32(env, argv[0], &W, 0, "W")) return NULL;
  int64_t N = get_i64(env, argv[1]), K = get_i64(env, argv[2]), ldw = get_i64(env, argv[3]);
  if (N <= 0 || K <= 0 || ldw < K) {
    napi_throw_range_error(env, NULL, "dsrl_native: packBf16 needs N > 0, K > 0 and ldw >= K");
    return NULL;
  }
  if (!need(env, &W, (size_t)((N - 1) * ldw + K), "W")) return NULL;
  const size_t len = dsrl_bf16_packed_len(N, K);
  void* data;
  napi_value ab, out;
  CHECK_NAPI(napi_create_arraybuffer(env, len * sizeof(uint16_t), &data, &ab));
  dsrl_bf16_pack(W.data, N, K, ldw, (uint16_t*)data);
  CHECK_NAPI(napi_create_typedarray(env, napi_uint16_array, len, ab, 0, &out));
  return out;
}

// gemmBf16(M, N, K, alpha, A, lda, Wp, beta, C, ldc): C = alpha A W^T + beta C, A rounded to bf16, W packed by
// packBf16(W, N, K, ...), products summed in fp32 (AVX512-BF16; throws on a CPU without it: check hasBf16).
static napi_value GemmBf16(napi_env env, napi_callback_info info) {
  ARGS(10);
  int64_t M = get_i64(env, argv[0]), N = get_i64(env, argv[1]), K = get_i64(env, argv[2]);
  float alpha = (float)get_f64(env, argv[3]);
  fview A, C;
  if (!get_f32(env, argv[4], &A, 0, "A")) return NULL;
  int64_t lda = get_i64(env, argv[5]);
  bool is_ta = false;
  napi_is_typedarray(env, argv[6], &is_ta);
  napi_typedarray_type type = napi_int8_array;
  size_t wlen = 0;
  void* wdata = NULL;
  if (is_ta) napi_get_typedarray_info(env, argv[6], &type, &wlen, &wdata, NULL, NULL);
  if (type != napi_uint16_array) {
    napi_throw_type_error(env, NULL, "dsrl_native: Wp must be the Uint16Array packBf16 returned");
    return NULL;
  }
  float beta = (float)get_f64(env, argv[7]);
  if (!get_f32(env, argv[8], &C, 0, "C")) return NULL;
  int64_t ldc = get_i64(env, argv[9]);
  if (M <= 0 || N <= 0) return NULL;
  if (K <= 0 || lda < K || ldc < N) {
    napi_throw_range_error(env, NULL, "dsrl_native: gemmBf16 needs K > 0, lda >= K and ldc >= N");
    return NULL;
  }
  if (wlen != dsrl_bf16_packed_len(N, K)) {
    char msg[200];
    snprintf(msg, sizeof msg, "dsrl_native: Wp has %zu elements, a packed %lld x %lld weight has %zu (pack it with these N, K)",
             wlen, (long long)N, (long long)K, dsrl_bf16_packed_len(N, K));
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  if (!need(env, &A, (size_t)((M - 1) * lda + K), "A") || !need(env, &C, (size_t)((M - 1) * ldc + N), "C")) return NULL;
  int rc = dsrl_bf16_gemm(M, N, K, alpha, A.data, lda, (const uint16_t*)wdata, beta, C.data, ldc);
  if (rc == -2) napi_throw_error(env, NULL, "dsrl_native: this CPU has no AVX512-BF16 (check hasBf16 and use fp32)");
  if (rc == -1) napi_throw_error(env, NULL, "dsrl_native: gemmBf16 out of memory");
  return NULL;
}

static void cleanup(void* arg) {
  (void)arg;
  free(scratch_buf);
  scratch_buf = NULL;
  scratch_len = 0;
  dsrl_sgemm_free();
  dsrl_bf16_free();
  dsrl_pool_env_close();
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gemm", NULL, Gemm, NULL, NULL, NULL, napi_default, NULL},
      {"biasAct", NULL, BiasAct, NULL, NULL, NULL, napi_default, NULL},
      {"biasActBackward", NULL, BiasActBackward, NULL, NULL, NULL, napi_default, NULL},
      {"lnActForward", NULL, LnActForward, NULL, NULL, NULL, napi_default, NULL},
      {"lnActBackward", NULL, LnActBackward, NULL, NULL, NULL, napi_default, NULL},
      {"adam", NULL, Adam, NULL, NULL, NULL, napi_default, NULL},
      {"axpby", NULL, Axpby, NULL, NULL, NULL, napi_default, NULL},
      {"sumSquares", NULL, SumSquares, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, SetThreads, NULL, NULL, NULL, napi_default, NULL},
      {"setGemm", NULL, SetGemm, NULL, NULL, NULL, napi_default, NULL},
      {"gemmIsa", NULL, GemmIsa, NULL, NULL, NULL, napi_default, NULL},
      {"bf16Kernel", NULL, Bf16Kernel, NULL, NULL, NULL, napi_default, NULL},
      {"gemmPoolWorkers", NULL, GemmPoolWorkers, NULL, NULL, NULL, napi_default, NULL},
      {"packGemmB", NULL, PackGemmB, NULL, NULL, NULL, napi_default, NULL},
      {"gemmPackedB", NULL, GemmPackedB, NULL, NULL, NULL, napi_default, NULL},
      {"packBf16", NULL, PackBf16, NULL, NULL, NULL, napi_default, NULL},
      {"gemmBf16", NULL, GemmBf16, NULL, NULL, NULL, napi_default, NULL},
      {"runPrograms", NULL, dsrl_run_programs, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value has;
#ifdef DSRL_HAVE_CBLAS
  napi_get_boolean(env, true, &has);
#else
  napi_get_boolean(env, false, &has);
#endif
  napi_set_named_property(env, exports, "hasOpenblas", has);
  napi_get_boolean(env, dsrl_bf16_supported() != 0, &has);
  napi_set_named_property(env, exports, "hasBf16", has);
  dsrl_pool_env_open();
  napi_add_env_cleanup_hook(env, cleanup, NULL);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
