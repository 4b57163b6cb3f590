// dsrl's built-in single-precision GEMM (see gemm.c for why it exists and how it is built).
#ifndef DSRL_GEMM_H
#define DSRL_GEMM_H
#include <stddef.h>
#include <stdint.h>

// C = alpha op(A) op(B) + beta C, row-major, op(A) M x K, op(B) K x N; exactly cblas_sgemm(CblasRowMajor, ...)'s
// contract, including beta == 0 meaning C is written without being read. Returns 0, or -1 when out of memory
// (C is then unspecified).
int dsrl_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The instruction set the dispatcher chose at first use: "avx512", "avx2" or "generic".
const char* dsrl_sgemm_isa(void);
// Force an instruction set for tests and benches ("avx512", "avx2", "generic"; NULL or "auto": the best the CPU
// has). Returns 0, or -1 when the CPU lacks it.
int dsrl_sgemm_set_isa(const char* isa);
// Products of at least this many multiply-adds are split over the pool's threads; smaller ones run on the calling
// thread. 3 M puts a DSRL critic layer (batch 256, 128 x 128: 4.2 M, ~100 us on one core) on both cores: measured
// with experiments/profile-na-update.ts (bf16 base policy, built-in kernels, 2 threads, quiet 2-core machine, two
// rounds), one DSRL-NA vector step took 304 ms at 3 M against 325-379 ms at 8 M and 304-317 ms at 2 M.
#ifndef DSRL_MT_MIN
#define DSRL_MT_MIN 3e6
#endif

// Large products' tiles run on pool.h's thread pool; dsrl_sgemm_threads (pool.h) sets the thread count.

// Frees the calling thread's packing buffers (the addon's cleanup hook, on each thread that loaded it).
void dsrl_sgemm_free(void);

// Frozen weights: op(B) (K x N) packed once in the built-in kernels' layout for the ISA in use, then multiplied
// without repacking. dsrl_sgemm_packed_b gives exactly dsrl_sgemm's floats; it returns -2 when Bp was packed for
// another ISA or shape (repack), -1 when out of memory. B must still be passed: the few-row and narrow-output
// paths read it in place.
size_t dsrl_sgemm_packed_b_len(int64_t N, int64_t K);
void dsrl_sgemm_pack_b(int transB, const float* B, int64_t ldb, int64_t N, int64_t K, float* out);
int dsrl_sgemm_packed_b(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, const float* Bp, float beta, float* C, int64_t ldc);

#endif
