// bf16 x bf16 -> fp32 products for frozen networks (a base policy's forward pass), on AVX512-BF16.
//
// Why: issue 17 measured PyTorch's bf16 base policy (oneDNN) 8x faster than dsrl's fp32 one at batch 256 on a
// CPU with bf16 units. VDPBF16PS (Intel SDM, "VDPBF16PS: Dot Product of BF16 Pairs Accumulated into Packed
// Single Precision") multiplies pairs of bf16 and adds both products into one fp32 lane, so a 512-bit
// instruction does 32 multiply-adds where VFMADD231PS does 16, and the weights take half the memory.
// Written here because the library route (oneDNN) is not installable without root/apt either.
//
// Layout: W (N x K, a Linear's weight, y = x W^T) is packed once into 32-column panels; within a panel, for
// each pair of k, the 32 columns' (W[n][2p], W[n][2p+1]) pairs: two 512-bit vectors. A's rows are rounded to
// bf16 per call (K padded to even with zeros), and each row's pair is broadcast as one 32-bit value. The
// micro-kernel keeps a 12 x 32 fp32 tile in 24 registers, as gemm.c's AVX-512 kernel does.
#include "bf16.h"

#include "gemm.h"
#include "pool.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (__GNUC__ >= 10 || defined(__clang__))  // avx512bf16 intrinsics: GCC 10+
#include <immintrin.h>
#define DSRL_BF16_X86 1
#endif

enum { NR = 32, MR = 12 };

int dsrl_bf16_supported(void) {
  static int known = -1;
  if (known < 0) {
#ifdef DSRL_BF16_X86
    __builtin_cpu_init();
    known = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bf16");
#else
    known = 0;
#endif
  }
  return known;
}

static int64_t kpairs(int64_t K) { return (K + 1) / 2; }
static int64_t panels(int64_t N) { return (N + NR - 1) / NR; }

size_t dsrl_bf16_packed_len(int64_t N, int64_t K) { return (size_t)(panels(N) * kpairs(K) * NR * 2); }

// fp32 -> bf16, round to nearest even (what VCVTNEPS2BF16 does for normal numbers); NaN stays a quiet NaN.
static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

void dsrl_bf16_pack(const float* W, int64_t N, int64_t K, int64_t ldw, uint16_t* out) {
  const int64_t P = kpairs(K);
  for (int64_t q = 0; q < panels(N); q++)
    for (int64_t p = 0; p < P; p++) {
      uint16_t* dst = out + (q * P + p) * NR * 2;
      for (int64_t c = 0; c < NR; c++) {
        const int64_t n = q * NR + c;
        for (int e = 0; e < 2; e++) {
          const int64_t k = 2 * p + e;
          dst[2 * c + e] = n < N && k < K ? to_bf16(W[n * ldw + k]) : 0;
        }
      }
    }
}

// A's rows in bf16, per JS thread (as gemm.c's packing buffers).
static _Thread_local uint16_t* abuf = NULL;
static _Thread_local size_t abuf_len = 0;

void dsrl_bf16_free(void) {
  free(abuf);
  abuf = NULL;
  abuf_len = 0;
}

#ifdef DSRL_BF16_X86
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// Rounds rows of A to bf16 (K padded to Kp = 2 kpairs(K) with zeros).
BF16_TARGET static void convert_rows(const float* A, int64_t lda, int64_t M, int64_t K, int64_t Kp, uint16_t* out) {
  for (int64_t i = 0; i < M; i++) {
    const float* src = A + i * lda;
    uint16_t* dst = out + i * Kp;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + k));
      _mm256_storeu_si256((__m256i*)(dst + k), (__m256i)v);
    }
    if (k < K) {
      const __mmask16 m = (__mmask16)((1u << (K - k)) - 1);
      __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + k));
      _mm256_mask_storeu_epi16(dst + k, m, (__m256i)v);
    }
    if (Kp > K) dst[K] = 0;
  }
}

// An R x 32 tile (R = 12, 4 or 1, constants after inlining, so the accumulators stay in registers): rows
// `rows` (pointers into the bf16 A; rows past the edge repeat a valid row and are not stored), panel Bp,
// m valid rows and n valid columns.
BF16_TARGET static inline __attribute__((always_inline)) void tile(const int R, const uint16_t* const* rows,
                                                                   const uint16_t* Bp, int64_t P, float* C,
                                                                   int64_t ldc, int64_t m, int64_t n, float alpha,
                                                                   float beta) {
  __m512 c[MR][2];
  for (int i = 0; i < R; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < P; p++, Bp += 2 * NR) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(Bp), b1 = (__m512bh)_mm512_loadu_si512(Bp + NR);
    for (int i = 0; i < R; i++) {
      int32_t pair;
      memcpy(&pair, rows[i] + 2 * p, sizeof pair);
      const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
      c[i][0] = _mm512_dpbf16_ps(c[i][0], a, b0);
      c[i][1] = _mm512_dpbf16_ps(c[i][1], a, b1);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 m0 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
  const __mmask16 m1 = n >= 32 ? 0xffff : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
  for (int64_t i = 0; i < m; i++) {
    float* Ci = C + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, c[i][0]), r1 = _mm512_mul_ps(va, c[i][1]);
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, Ci), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, Ci + 16), r1);
    }
    _mm512_mask_storeu_ps(Ci, m0, r0);
    _mm512_mask_storeu_ps(Ci + 16, m1, r1);
  }
}

typedef struct {
  int64_t M, N, P, Kp, ldc;
  float alpha, beta;
  const uint16_t *Ab, *Wp;
  float* C;
} bf16_job_t;

// Panel q of W against every row of A: one pool task. Panels outer: a panel (P x 128 B, 32 KiB at K = 512) stays
// in L1 while all rows pass over it. Each output element is computed by one task whatever the thread count, so
// the floats do not depend on it.
BF16_TARGET static void panel_task(void* ctx, int64_t q) {
  const bf16_job_t* J = (const bf16_job_t*)ctx;
  const int64_t n = J->N - q * NR < NR ? J->N - q * NR : NR;
  const uint16_t* Bp = J->Wp + q * J->P * NR * 2;
  for (int64_t i0 = 0; i0 < J->M;) {
    // 12-row tiles, and 4- or 1-row ones for the rest (batch 1 would waste 11 of 12 rows of a 12-row tile).
    const int64_t left = J->M - i0;
    const int R = left >= 5 ? MR : left >= 2 ? 4 : 1;
    const int64_t m = left < R ? left : R;
    const uint16_t* rows[MR];
    for (int i = 0; i < R; i++) rows[i] = J->Ab + (i0 + (i < m ? i : 0)) * J->Kp;
    float* Ct = J->C + i0 * J->ldc + q * NR;
    if (R == MR)
      tile(MR, rows, Bp, J->P, Ct, J->ldc, m, n, J->alpha, J->beta);
    else if (R == 4)
      tile(4, rows, Bp, J->P, Ct, J->ldc, m, n, J->alpha, J->beta);
    else
      tile(1, rows, Bp, J->P, Ct, J->ldc, m, n, J->alpha, J->beta);
    i0 += m;
  }
}

// Panels run on pool.c's thread pool when the product is large enough to pay for waking a worker (the SGEMM's
// threshold, DSRL_MT_MIN).
static void gemm_bf16(int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* Ab, int64_t Kp, const uint16_t* Wp,
                      float beta, float* C, int64_t ldc) {
  bf16_job_t J = {M, N, kpairs(K), Kp, ldc, alpha, beta, Ab, Wp, C};
  const int threads = (double)M * N * K < DSRL_MT_MIN ? 1 : dsrl_sgemm_threads(0);
  if (threads == 1)
    for (int64_t q = 0; q < panels(N); q++) panel_task(&J, q);
  else
    dsrl_parallel_for(panels(N), threads, panel_task, &J);
}
#endif

int dsrl_bf16_gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const uint16_t* Wp,
                   float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return 0;
  if (!dsrl_bf16_supported()) return -2;
#ifdef DSRL_BF16_X86
  const int64_t Kp = 2 * kpairs(K);
  const size_t need = (size_t)(M * Kp);
  if (need > abuf_len) {
    uint16_t* p = (uint16_t*)realloc(abuf, need * sizeof(uint16_t));
    if (!p) return -1;
    abuf = p;
    abuf_len = need;
  }
  convert_rows(A, lda, M, K, Kp, abuf);
  gemm_bf16(M, N, K, alpha, abuf, Kp, Wp, beta, C, ldc);
  return 0;
#else
  return -2;
#endif
}
