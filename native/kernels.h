// dsrl's fused element-wise NN kernels on plain float arrays (see kernels.c). Sizes are the caller's to check
// (dsrl_native.c checks them against the JS arrays); NULL marks an optional array.
#ifndef DSRL_KERNELS_H
#define DSRL_KERNELS_H
#include <stddef.h>
#include <stdint.h>

// Activation codes, shared with src/nn/backend.ts (ACT_CODE).
enum { ACT_IDENTITY = 0, ACT_RELU = 1, ACT_TANH = 2, ACT_MISH = 3, ACT_SILU = 4 };

// z (rows x cols) += bias (kept as the pre-activation); y = act(z). y may alias z only for identity.
void dsrl_bias_act(float* z, const float* bias, int64_t rows, int64_t cols, int act, float* y);
// dz = dy * act'(z) (y = act(z)); db += colsum(dz). dz must not alias dy.
void dsrl_bias_act_backward(const float* dy, const float* z, const float* y, int64_t rows, int64_t cols, int act,
                            float* dz, float* db);
// z += bias; xhat = (z - mean) rstd per row, rstd = 1 / sqrt(var + eps); y = act(gamma xhat + beta).
void dsrl_ln_act_forward(float* z, const float* bias, const float* gamma, const float* beta, int64_t rows,
                         int64_t cols, float eps, int act, float* xhat, float* rstd, float* y);
// dz: the gradient w.r.t. lnActForward's z; dgamma, dbeta, dbias accumulate (+=). u: cols floats of scratch.
void dsrl_ln_act_backward(const float* dy, const float* xhat, const float* rstd, const float* gamma,
                          const float* beta, const float* y, int64_t rows, int64_t cols, int act, float* dz,
                          float* dgamma, float* dbeta, float* dbias, float* u);
// One bias-corrected Adam step (AdamW's decoupled decay when wd > 0) over n parameters; step counts from 1.
void dsrl_adam(float* p, const float* g, float* m, float* v, size_t n, double lr, double b1, double b2, double eps,
               double step, double wd);
// y = a x + b y.
void dsrl_axpby(float* y, const float* x, size_t n, float a, float b);
// sum of x[i]^2, in double.
double dsrl_sum_squares(const float* x, size_t n);

#endif
