// See napi_args.h.
#include "napi_args.h"

#include <stdbool.h>
#include <stdio.h>

// Reads v as a Float32Array (or null when allow_null). Returns 0 on error (exception set).
int dsrl_get_f32(napi_env env, napi_value v, fview* out, int allow_null, const char* what) {
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

int64_t dsrl_get_i64(napi_env env, napi_value v) {
  int64_t x = 0;
  napi_get_value_int64(env, v, &x);
  return x;
}

double dsrl_get_f64(napi_env env, napi_value v) {
  double x = 0;
  napi_get_value_double(env, v, &x);
  return x;
}

int dsrl_need(napi_env env, const fview* a, size_t n, const char* what) {
  if (a->data != NULL && a->length < n) {
    char msg[200];
    snprintf(msg, sizeof msg, "dsrl_native: %s has %zu elements, needs %zu", what, a->length, n);
    napi_throw_range_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

