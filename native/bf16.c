// bf16 x bf16 -> fp32 products for frozen networks (a base policy's forward pass), on AMX or AVX512-BF16.
//
// Why: issue 17 measured PyTorch's bf16 base policy (oneDNN) 8x faster than dsrl's fp32 one at batch 256 on a
// CPU with bf16 units. VDPBF16PS (Intel SDM, "VDPBF16PS: Dot Product of BF16 Pairs Accumulated into Packed
// Single Precision") multiplies pairs of bf16 and adds both products into one fp32 lane, so a 512-bit
// instruction does 32 multiply-adds where VFMADD231PS does 16, and the weights take half the memory.
// Written here because the library route (oneDNN) is not installable without root/apt either.
// AMX (Intel SDM, "TDPBF16PS: Dot Product of BF16 Tiles Accumulated into Packed Single Precision Tile") does a
// 16 x 16 x 32 block of multiply-adds per instruction; PyTorch's bf16 on such a CPU uses it (issue 17: 6.0 ms
// for the Hopper chunk where AVX512-BF16 alone cannot get below ~4x that per core).
//
// Layout: W (N x K, a Linear's weight, y = x W^T) is packed once into 32-column panels; within a panel, for
// each pair of k, the 32 columns' (W[n][2p], W[n][2p+1]) pairs: two 512-bit vectors. The pairs of a panel are
// padded with zeros to a multiple of 16, so that 16 pairs of 16 columns are exactly one AMX B tile (rows 128 B
// apart: the same layout serves both kernels). A's rows are rounded to bf16 per call (K padded with zeros to
// twice that), and in the AVX512-BF16 kernel each row's pair is broadcast as one 32-bit value; its
// micro-kernel keeps a 12 x 32 fp32 tile in 24 registers, as gemm.c's AVX-512 kernel does.
#include "bf16.h"

#include "gemm.h"
#include "pool.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (__GNUC__ >= 10 || defined(__clang__))  // avx512bf16 intrinsics: GCC 10+
#include <immintrin.h>
#define DSRL_BF16_X86 1
#if defined(__linux__) && (__GNUC__ >= 11 || __clang_major__ >= 12)  // AMX intrinsics: GCC 11+, clang 12+
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define DSRL_AMX 1
#endif
#endif

enum { NR = 32, MR = 12, PAIR_ALIGN = 16 };

static int64_t kpairs(int64_t K) { return (K + 1) / 2; }
// Pairs stored per panel (and half the bf16 length of A's rows): kpairs padded to one AMX tile's 16.
static int64_t kpairs_stored(int64_t K) { return (kpairs(K) + PAIR_ALIGN - 1) / PAIR_ALIGN * PAIR_ALIGN; }
static int64_t panels(int64_t N) { return (N + NR - 1) / NR; }

size_t dsrl_bf16_packed_len(int64_t N, int64_t K) { return (size_t)(panels(N) * kpairs_stored(K) * NR * 2); }

// AMX needs the CPU's tile units (CPUID.7.0:EDX bits 22 AMX-BF16 and 24 AMX-TILE), the OS saving tile state
// (XCR0 bits 17 and 18) and, on Linux, a one-time permission per process (arch_prctl ARCH_REQ_XCOMP_PERM for
// XFEATURE_XTILEDATA; Documentation/arch/x86/xstate.rst).
static int amx_usable(void) {
#ifdef DSRL_AMX
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  if (!((d >> 22) & 1) || !((d >> 24) & 1)) return 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return 0;  // OSXSAVE, before XGETBV
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return 0;
  enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
  return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
  return 0;
#endif
}

static int has_amx = 0;  // the CPU and OS allow AMX (known with dsrl_bf16_supported)
static int use_amx = 0;  // the kernel picked: AMX when has_amx, unless dsrl_bf16_set_kernel asked for avx512-bf16

int dsrl_bf16_supported(void) {
  static int known = -1;
  if (known < 0) {
#ifdef DSRL_BF16_X86
    __builtin_cpu_init();
    known = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bf16");
    has_amx = known && amx_usable();
    use_amx = has_amx;
#else
    known = 0;
#endif
  }
  return known;
}

const char* dsrl_bf16_kernel(void) { return !dsrl_bf16_supported() ? "none" : use_amx ? "amx" : "avx512-bf16"; }

int dsrl_bf16_set_kernel(const char* name) {
  if (!dsrl_bf16_supported()) return -1;
  if (strcmp(name, "auto") == 0) use_amx = has_amx;
  else if (strcmp(name, "avx512-bf16") == 0) use_amx = 0;
  else if (strcmp(name, "amx") == 0 && has_amx) use_amx = 1;
  else return -1;
  return 0;
}

// fp32 -> bf16, round to nearest even (what VCVTNEPS2BF16 does for normal numbers); NaN stays a quiet NaN.
static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

void dsrl_bf16_pack(const float* W, int64_t N, int64_t K, int64_t ldw, uint16_t* out) {
  const int64_t P = kpairs_stored(K);
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

// Rounds rows of A to bf16 (K padded to Kp = 2 kpairs_stored(K) with zeros).
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
      k = K;
    }
    for (; k < Kp; k++) dst[k] = 0;
  }
}

// alpha c + beta C -> C for one row of a 32-column tile, n valid columns.
BF16_TARGET static inline void store_row(float* Ci, __m512 c0, __m512 c1, int64_t n, float alpha, float beta) {
  const __mmask16 m0 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
  const __mmask16 m1 = n >= 32 ? 0xffff : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
  const __m512 va = _mm512_set1_ps(alpha);
  __m512 r0 = _mm512_mul_ps(va, c0), r1 = _mm512_mul_ps(va, c1);
  if (beta != 0.0f) {
    const __m512 vb = _mm512_set1_ps(beta);
    r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, Ci), r0);
    r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, Ci + 16), r1);
  }
  _mm512_mask_storeu_ps(Ci, m0, r0);
  _mm512_mask_storeu_ps(Ci + 16, m1, r1);
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
  for (int64_t i = 0; i < m; i++) store_row(C + i * ldc, c[i][0], c[i][1], n, alpha, beta);
}

typedef struct {
  int64_t M, N, P, Pstored, Kp, ldc;
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
  const uint16_t* Bp = J->Wp + q * J->Pstored * NR * 2;
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

#ifdef DSRL_AMX
#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

// Palette 1, all eight tiles 16 rows x 64 bytes: tmm0-3 the 32 x 32 fp32 block of C (rows 0-15 / 16-31 x
// columns 0-15 / 16-31), tmm4-5 two 16 x 32 bf16 blocks of A, tmm6-7 the panel's two 16-pair x 16-column B blocks.
typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} amx_config_t;

// The same task as panel_task on AMX, for M padded to 16 rows (A's padding rows are zeros and not stored). Tile
// state is per thread, so each task loads the configuration and releases it (a configured thread makes every
// context switch save 8 KiB more).
AMX_TARGET static void amx_panel_task(void* ctx, int64_t q) {
  const bf16_job_t* J = (const bf16_job_t*)ctx;
  amx_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  _tile_loadconfig(&cfg);
  const int64_t n = J->N - q * NR < NR ? J->N - q * NR : NR;
  const uint16_t* Bp = J->Wp + q * J->Pstored * NR * 2;
  const int64_t steps = J->Pstored / PAIR_ALIGN, lda = J->Kp * 2;
  float out[32 * 32] __attribute__((aligned(64)));
  for (int64_t i0 = 0; i0 < J->M; i0 += 32) {
    const int64_t m = J->M - i0 < 32 ? J->M - i0 : 32;
    const uint16_t* A0 = J->Ab + i0 * J->Kp;
    _tile_zero(0);
    _tile_zero(1);
    if (m > 16) {
      const uint16_t* A1 = A0 + 16 * J->Kp;
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t s = 0; s < steps; s++) {
        const uint16_t* B = Bp + s * PAIR_ALIGN * NR * 2;
        _tile_loadd(4, A0 + s * 32, lda);
        _tile_loadd(5, A1 + s * 32, lda);
        _tile_loadd(6, B, NR * 4);
        _tile_loadd(7, B + 32, NR * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(2, out + 16 * 32, 128);
      _tile_stored(3, out + 16 * 32 + 16, 128);
    } else {
      for (int64_t s = 0; s < steps; s++) {
        const uint16_t* B = Bp + s * PAIR_ALIGN * NR * 2;
        _tile_loadd(4, A0 + s * 32, lda);
        _tile_loadd(6, B, NR * 4);
        _tile_loadd(7, B + 32, NR * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
      }
    }
    _tile_stored(0, out, 128);
    _tile_stored(1, out + 16, 128);
    float* Ct = J->C + i0 * J->ldc + q * NR;
    for (int64_t i = 0; i < m; i++)
      store_row(Ct + i * J->ldc, _mm512_load_ps(out + i * 32), _mm512_load_ps(out + i * 32 + 16), n, J->alpha, J->beta);
  }
  _tile_release();
}
#endif

// AMX from one full tile of rows (below that most of each tile would be padding; batch 1 stays on AVX512-BF16).
static int amx_for(int64_t M) { return use_amx && M >= 16; }

// Panels run on pool.c's thread pool when the product is large enough to pay for waking a worker (the SGEMM's
// threshold, DSRL_MT_MIN).
static void gemm_bf16(int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* Ab, int64_t Kp, const uint16_t* Wp,
                      float beta, float* C, int64_t ldc) {
  bf16_job_t J = {M, N, kpairs(K), kpairs_stored(K), Kp, ldc, alpha, beta, Ab, Wp, C};
  void (*task)(void*, int64_t) = panel_task;
#ifdef DSRL_AMX
  if (amx_for(M)) task = amx_panel_task;
#endif
  const int threads = (double)M * N * K < DSRL_MT_MIN ? 1 : dsrl_sgemm_threads(0);
  if (threads == 1)
    for (int64_t q = 0; q < panels(N); q++) task(&J, q);
  else
    dsrl_parallel_for(panels(N), threads, task, &J);
}
#endif

int dsrl_bf16_gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const uint16_t* Wp,
                   float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return 0;
  if (!dsrl_bf16_supported()) return -2;
#ifdef DSRL_BF16_X86
  const int64_t Kp = 2 * kpairs_stored(K);
  // AMX reads A in blocks of 16 rows: the rows up to the next multiple of 16 are zeros.
  const int64_t Mp = amx_for(M) ? (M + 15) / 16 * 16 : M;
  const size_t need = (size_t)(Mp * Kp);
  if (need > abuf_len) {
    uint16_t* p = (uint16_t*)realloc(abuf, need * sizeof(uint16_t));
    if (!p) return -1;
    abuf = p;
    abuf_len = need;
  }
  convert_rows(A, lda, M, K, Kp, abuf);
  if (Mp > M) memset(abuf + M * Kp, 0, (size_t)((Mp - M) * Kp) * sizeof(uint16_t));
  gemm_bf16(M, N, K, alpha, abuf, Kp, Wp, beta, C, ldc);
  return 0;
#else
  return -2;
#endif
}
