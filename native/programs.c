// Runs several recorded op lists ("programs": the backend calls of one member of a critic ensemble, recorded by
// src/nn/concurrent.ts) at once, each program whole on one thread of pool.c's pool, and every product and kernel
// inside it single-threaded on that thread (dsrl_pool_serial). The members of an ensemble do the same small ops
// on independent data (batch 256, width 128: one product split over 2 threads barely gains), so one member per
// thread is how a second core helps there.
//
// Floats: each op is the same C call the single-op bindings make, and the built-in kernels compute each output
// piece whole on one thread, so the results are the bits of running the programs one after the other. OpenBLAS
// gives no such promise across threads: with it as the gemm in use, runPrograms returns false and the caller
// replays the programs in order through the ordinary bindings.
//
// Encoding (src/nn/concurrent.ts writes it): a program's `nums` is a sequence of records [code, scalars...], its
// `arrays` the ops' array arguments in order, SPECS below says how many of each. Every op is read and checked
// (codes, integer scalars, array lengths) before anything runs, so a bad call throws and runs nothing.
#include "programs.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gemm.h"
#include "kernels.h"
#include "pool.h"

enum { OP_GEMM, OP_BIAS_ACT, OP_BIAS_ACT_BACKWARD, OP_LN_ACT_FORWARD, OP_LN_ACT_BACKWARD, OP_ADAM, OP_AXPBY, OP_COUNT };
enum { MAX_ARRAYS = 10, MAX_NUMS = 10 };

static const struct {
  const char* name;
  int arrays;
  unsigned nullable;  // bit i: array i may be null
  int nums;
  const char* names[MAX_ARRAYS];
} SPECS[OP_COUNT] = {
    // nums: transA, transB, M, N, K, alpha, lda, ldb, beta, ldc
    [OP_GEMM] = {"gemm", 3, 0, 10, {"A", "B", "C"}},
    // nums: rows, cols, act
    [OP_BIAS_ACT] = {"biasAct", 3, 1u << 1, 3, {"z", "bias", "y"}},
    [OP_BIAS_ACT_BACKWARD] = {"biasActBackward", 5, 1u << 4, 3, {"dy", "z", "y", "dz", "db"}},
    // nums: rows, cols, eps, act
    [OP_LN_ACT_FORWARD] = {"lnActForward", 7, 1u << 1, 4, {"z", "bias", "gamma", "beta", "xhat", "rstd", "y"}},
    // nums: rows, cols, act
    [OP_LN_ACT_BACKWARD] = {"lnActBackward", 10, 7u << 7, 3,
                            {"dy", "xhat", "rstd", "gamma", "beta", "y", "dz", "dgamma", "dbeta", "dbias"}},
    // nums: lr, beta1, beta2, eps, step, weightDecay
    [OP_ADAM] = {"adam", 4, 0, 6, {"params", "grads", "m", "v"}},
    // nums: a, b
    [OP_AXPBY] = {"axpby", 2, 0, 2, {"y", "x"}},
};

typedef struct {
  float* data;
  size_t length;
} fview;

typedef struct {
  int code;
  fview a[MAX_ARRAYS];
  double d[MAX_NUMS];
} op_t;

typedef struct {
  op_t* ops;
  int64_t n;
  float* u;  // lnActBackward's row of scratch
  int rc;    // -1: a product ran out of memory
} program_t;

static int fail(napi_env env, const char* msg) {
  napi_throw_error(env, NULL, msg);
  return 0;
}

// Where a check failed: messages are only formatted then (this file reads a few hundred arrays per call).
typedef struct {
  int64_t program, op;
  int code;
} loc_t;

static int op_fail(napi_env env, const loc_t* at, int range, const char* fmt, ...) {
  char detail[160], msg[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  snprintf(msg, sizeof msg, "dsrl_native: runPrograms: program %lld op %lld (%s): %s", (long long)at->program,
           (long long)at->op, SPECS[at->code].name, detail);
  if (range)
    napi_throw_range_error(env, NULL, msg);
  else
    napi_throw_type_error(env, NULL, msg);
  return 0;
}

// An integer scalar in [lo, 2^31).
static int int_arg(napi_env env, const loc_t* at, double x, double lo, const char* what, int64_t* out) {
  if (!(x >= lo && x < 2147483648.0 && x == floor(x)))
    return op_fail(env, at, 1, "%s must be an integer >= %.0f, got %g", what, lo, x);
  *out = (int64_t)x;
  return 1;
}

// Array i of op (unless null) has at least n elements.
static int need(napi_env env, const loc_t* at, const op_t* op, int i, size_t n) {
  if (op->a[i].data == NULL || op->a[i].length >= n) return 1;
  return op_fail(env, at, 1, "%s has %zu elements, needs %zu", SPECS[op->code].names[i], op->a[i].length, n);
}

// v as a Float32Array, or null/undefined where nullable (data NULL).
static int get_array(napi_env env, const loc_t* at, napi_value v, int nullable, const char* what, fview* out) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (is_ta) {
    napi_typedarray_type type = napi_int8_array;
    void* data = NULL;
    napi_get_typedarray_info(env, v, &type, &out->length, &data, NULL, NULL);
    out->data = (float*)data;
    if (type == napi_float32_array) return 1;
  } else if (nullable) {
    napi_valuetype t = napi_undefined;
    napi_typeof(env, v, &t);
    out->data = NULL;
    out->length = 0;
    if (t == napi_null || t == napi_undefined) return 1;
  }
  return op_fail(env, at, 0, "%s must be a Float32Array%s", what, nullable ? " or null" : "");
}

// Checks op's scalars against its arrays; *ucols: the lnActBackward scratch it needs.
static int check_op(napi_env env, const loc_t* at, const op_t* op, int64_t* ucols) {
  const double* d = op->d;
  int64_t M, N, K, lda, ldb, ldc, rows, cols, act, ta, tb;
  switch (op->code) {
    case OP_GEMM: {
      if (!int_arg(env, at, d[0], 0, "transA", &ta) || !int_arg(env, at, d[1], 0, "transB", &tb) ||
          !int_arg(env, at, d[2], 0, "M", &M) || !int_arg(env, at, d[3], 0, "N", &N) ||
          !int_arg(env, at, d[4], 0, "K", &K) || !int_arg(env, at, d[6], 1, "lda", &lda) ||
          !int_arg(env, at, d[7], 1, "ldb", &ldb) || !int_arg(env, at, d[9], 1, "ldc", &ldc))
        return 0;
      if (ta > 1 || tb > 1) return op_fail(env, at, 1, "transA and transB must be 0 or 1");
      if (lda < (ta ? M : K) || ldb < (tb ? K : N) || ldc < N)
        return op_fail(env, at, 1, "lda, ldb and ldc must be at least the lengths of the rows");
      if (M == 0 || N == 0) return 1;
      if (!need(env, at, op, 2, (size_t)((M - 1) * ldc + N))) return 0;
      if (K == 0) return 1;
      const int64_t arows = ta ? K : M, brows = tb ? N : K;
      return need(env, at, op, 0, (size_t)((arows - 1) * lda + (ta ? M : K))) &&
             need(env, at, op, 1, (size_t)((brows - 1) * ldb + (tb ? K : N)));
    }
    case OP_BIAS_ACT:
    case OP_BIAS_ACT_BACKWARD:
    case OP_LN_ACT_FORWARD:
    case OP_LN_ACT_BACKWARD: {
      const int acti = op->code == OP_LN_ACT_FORWARD ? 3 : 2;
      if (!int_arg(env, at, d[0], 0, "rows", &rows) || !int_arg(env, at, d[1], 0, "cols", &cols) ||
          !int_arg(env, at, d[acti], 0, "act", &act))
        return 0;
      if (act > ACT_SILU) return op_fail(env, at, 1, "unknown activation code %lld", (long long)act);
      const size_t n = (size_t)(rows * cols), c = (size_t)cols, r = (size_t)rows;
      // Per array: 'n' rows x cols, 'c' cols, 'r' rows.
      const char* sizes = op->code == OP_BIAS_ACT              ? "ncn"
                          : op->code == OP_BIAS_ACT_BACKWARD   ? "nnnnc"
                          : op->code == OP_LN_ACT_FORWARD      ? "ncccnrn"
                                                               : "nnrccnnccc";
      for (int i = 0; i < SPECS[op->code].arrays; i++)
        if (!need(env, at, op, i, sizes[i] == 'n' ? n : (sizes[i] == 'c' ? c : r))) return 0;
      if (op->code == OP_LN_ACT_BACKWARD && cols > *ucols) *ucols = cols;
      return 1;
    }
    case OP_ADAM:
      return need(env, at, op, 1, op->a[0].length) && need(env, at, op, 2, op->a[0].length) &&
             need(env, at, op, 3, op->a[0].length);
    case OP_AXPBY:
      return need(env, at, op, 1, op->a[0].length);
  }
  return 0;
}

// Reads program p ({nums, arrays}) into P; 0 with an exception set on a bad one.
static int read_program(napi_env env, napi_value prog, int64_t p, program_t* P) {
  napi_value nums_v, arrays_v;
  bool is_ta = false, is_arr = false;
  napi_typedarray_type type = napi_int8_array;
  size_t nn = 0;
  void* data = NULL;
  if (napi_get_named_property(env, prog, "nums", &nums_v) != napi_ok ||
      napi_get_named_property(env, prog, "arrays", &arrays_v) != napi_ok)
    return fail(env, "dsrl_native: runPrograms takes an array of {nums, arrays} programs");
  napi_is_typedarray(env, nums_v, &is_ta);
  if (is_ta) napi_get_typedarray_info(env, nums_v, &type, &nn, &data, NULL, NULL);
  napi_is_array(env, arrays_v, &is_arr);
  if (type != napi_float64_array || !is_arr)
    return fail(env, "dsrl_native: runPrograms: a program's nums must be a Float64Array and its arrays an array");
  const double* nums = (const double*)data;
  uint32_t na = 0;
  napi_get_array_length(env, arrays_v, &na);
  P->ops = (op_t*)malloc((nn ? nn : 1) * sizeof(op_t));  // at most one op per number
  if (!P->ops) return fail(env, "dsrl_native: runPrograms: out of memory");
  size_t i = 0;
  uint32_t ai = 0;
  int64_t ucols = 0;
  while (i < nn) {
    op_t* op = &P->ops[P->n];
    const double code = nums[i];
    if (!(code >= 0 && code < OP_COUNT && code == floor(code))) {
      char msg[160];
      snprintf(msg, sizeof msg, "dsrl_native: runPrograms: program %lld op %lld: unknown op code %g", (long long)p,
               (long long)P->n, code);
      return fail(env, msg);
    }
    op->code = (int)code;
    const loc_t at = {p, P->n, op->code};
    if (i + 1 + SPECS[op->code].nums > nn || ai + SPECS[op->code].arrays > na)
      return op_fail(env, &at, 1, "the program ends inside this op");
    for (int k = 0; k < SPECS[op->code].nums; k++) op->d[k] = nums[i + 1 + k];
    i += 1 + SPECS[op->code].nums;
    for (int k = 0; k < SPECS[op->code].arrays; k++) {
      napi_value v;
      if (napi_get_element(env, arrays_v, ai++, &v) != napi_ok) return fail(env, "dsrl_native: N-API call failed");
      if (!get_array(env, &at, v, (SPECS[op->code].nullable >> k) & 1, SPECS[op->code].names[k], &op->a[k])) return 0;
    }
    if (!check_op(env, &at, op, &ucols)) return 0;
    P->n++;
  }
  if (ai != na) return fail(env, "dsrl_native: runPrograms: a program has more arrays than its ops take");
  if (ucols > 0 && !(P->u = (float*)malloc((size_t)ucols * sizeof(float))))
    return fail(env, "dsrl_native: runPrograms: out of memory");
  return 1;
}

static void run_program(void* ctx, int64_t t) {
  program_t* P = (program_t*)ctx + t;
  const int was = dsrl_pool_serial(1);
  for (int64_t k = 0; k < P->n && P->rc == 0; k++) {
    const op_t* op = &P->ops[k];
    const double* d = op->d;
#define A(i) (op->a[i].data)
    switch (op->code) {
      case OP_GEMM:
        if (dsrl_sgemm((int)d[0], (int)d[1], (int64_t)d[2], (int64_t)d[3], (int64_t)d[4], (float)d[5], A(0),
                       (int64_t)d[6], A(1), (int64_t)d[7], (float)d[8], A(2), (int64_t)d[9]) != 0)
          P->rc = -1;
        break;
      case OP_BIAS_ACT:
        dsrl_bias_act(A(0), A(1), (int64_t)d[0], (int64_t)d[1], (int)d[2], A(2));
        break;
      case OP_BIAS_ACT_BACKWARD:
        dsrl_bias_act_backward(A(0), A(1), A(2), (int64_t)d[0], (int64_t)d[1], (int)d[2], A(3), A(4));
        break;
      case OP_LN_ACT_FORWARD:
        dsrl_ln_act_forward(A(0), A(1), A(2), A(3), (int64_t)d[0], (int64_t)d[1], (float)d[2], (int)d[3], A(4), A(5),
                            A(6));
        break;
      case OP_LN_ACT_BACKWARD:
        dsrl_ln_act_backward(A(0), A(1), A(2), A(3), A(4), A(5), (int64_t)d[0], (int64_t)d[1], (int)d[2], A(6), A(7),
                             A(8), A(9), P->u);
        break;
      case OP_ADAM:
        dsrl_adam(A(0), A(1), A(2), A(3), op->a[0].length, d[0], d[1], d[2], d[3], d[4], d[5]);
        break;
      case OP_AXPBY:
        dsrl_axpby(A(0), A(1), op->a[0].length, (float)d[0], (float)d[1]);
        break;
    }
#undef A
  }
  dsrl_pool_serial(was);
}

napi_value dsrl_run_programs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  bool is_arr = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc >= 1) napi_is_array(env, argv[0], &is_arr);
  if (!is_arr) {
    fail(env, "dsrl_native: runPrograms takes an array of {nums, arrays} programs");
    return NULL;
  }
  if (dsrl_gemm_uses_openblas()) {
    napi_get_boolean(env, false, &out);
    return out;
  }
  uint32_t n = 0;
  napi_get_array_length(env, argv[0], &n);
  program_t* progs = (program_t*)calloc(n ? n : 1, sizeof(program_t));
  if (!progs) {
    fail(env, "dsrl_native: runPrograms: out of memory");
    return NULL;
  }
  int ok = 1;
  for (uint32_t p = 0; p < n && ok; p++) {
    napi_value prog;
    ok = napi_get_element(env, argv[0], p, &prog) == napi_ok ? read_program(env, prog, p, &progs[p])
                                                             : fail(env, "dsrl_native: N-API call failed");
  }
  int rc = 0;
  if (ok) {
    dsrl_parallel_for(n, (int)n, run_program, progs);
    for (uint32_t p = 0; p < n; p++) rc |= progs[p].rc;
  }
  for (uint32_t p = 0; p < n; p++) {
    free(progs[p].ops);
    free(progs[p].u);
  }
  free(progs);
  if (!ok) return NULL;
  if (rc) {
    fail(env, "dsrl_native: runPrograms: gemm could not allocate its packing buffers (out of memory)");
    return NULL;
  }
  napi_get_boolean(env, true, &out);
  return out;
}
