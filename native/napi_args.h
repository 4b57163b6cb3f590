// Reading and checking N-API arguments, shared by the bindings (dsrl_native.c, programs.c): a bad argument throws
// a JS error naming it, so a bad call never touches memory its arrays do not own.
#ifndef DSRL_NAPI_ARGS_H
#define DSRL_NAPI_ARGS_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  float* data;
  size_t length;
} fview;

// Reads v as a Float32Array (or null/undefined when allow_null: data NULL). Returns 0 on error (exception set).
int dsrl_get_f32(napi_env env, napi_value v, fview* out, int allow_null, const char* what);
int64_t dsrl_get_i64(napi_env env, napi_value v);
double dsrl_get_f64(napi_env env, napi_value v);
// 1 when a (unless NULL) has at least n elements, else 0 with a RangeError set.
int dsrl_need(napi_env env, const fview* a, size_t n, const char* what);

#endif
