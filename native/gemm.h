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

// Worker threads for large products (1 = the calling thread only). Returns the count in force.
int dsrl_sgemm_threads(int n);
// The addon's init registers each environment (main thread, worker_threads) that loads it; dsrl_sgemm_free, its
// cleanup hook, frees that thread's packing buffers and, for the last environment, stops and joins the pool.
void dsrl_sgemm_env_open(void);
void dsrl_sgemm_free(void);
// Worker threads the pool has started (they persist across products; the calling thread is not counted).
int dsrl_sgemm_pool_workers(void);

// Runs task(ctx, t) for every t in [0, n), on the calling thread plus up to threads - 1 of the pool's workers
// (capped by dsrl_sgemm_threads), each t exactly once; returns when all have run. For kernels outside the SGEMM
// (bf16.c) that split their work into independent pieces, so their results do not depend on the thread count.
void dsrl_parallel_for(int64_t n, int threads, void (*task)(void* ctx, int64_t t), void* ctx);

// Frozen weights: op(B) (K x N) packed once in the built-in kernels' layout for the ISA in use, then multiplied
// without repacking. dsrl_sgemm_packed_b gives exactly dsrl_sgemm's floats; it returns -2 when Bp was packed for
// another ISA or shape (repack), -1 when out of memory. B must still be passed: the few-row and narrow-output
// paths read it in place.
size_t dsrl_sgemm_packed_b_len(int64_t N, int64_t K);
void dsrl_sgemm_pack_b(int transB, const float* B, int64_t ldb, int64_t N, int64_t K, float* out);
int dsrl_sgemm_packed_b(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, const float* Bp, float beta, float* C, int64_t ldc);

#endif
