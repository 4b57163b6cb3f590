// bf16 inference products with fp32 accumulation (see bf16.c).
#ifndef DSRL_BF16_H
#define DSRL_BF16_H
#include <stddef.h>
#include <stdint.h>

// 1 when this CPU has AVX512-BF16 (and AVX512F/BW/VL), which dsrl_bf16_gemm needs.
int dsrl_bf16_supported(void);
// The kernel dsrl_bf16_gemm runs from 16 rows up: "amx", "avx512-bf16" or "none".
const char* dsrl_bf16_kernel(void);
// Picks the kernel for products of 16 rows and more: "amx", "avx512-bf16" or "auto" (AMX where usable). Call it
// before products run (the pool's workers read the choice). Returns -1 when this CPU cannot run the one asked for.
int dsrl_bf16_set_kernel(const char* name);
// uint16 elements of the packed form of an N x K weight matrix.
size_t dsrl_bf16_packed_len(int64_t N, int64_t K);
// Packs W (N x K, row-major, leading dimension ldw: a Linear's weight) to bf16, rounding to nearest even.
void dsrl_bf16_pack(const float* W, int64_t N, int64_t K, int64_t ldw, uint16_t* out);
// C = alpha A W^T + beta C (beta == 0: C not read): A M x K fp32 (rounded to bf16 here), W packed by
// dsrl_bf16_pack, products summed in fp32. Returns 0, -1 out of memory, -2 CPU without AVX512-BF16.
int dsrl_bf16_gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const uint16_t* Wp,
                   float beta, float* C, int64_t ldc);
void dsrl_bf16_free(void);

#endif
