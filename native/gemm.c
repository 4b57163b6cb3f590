// dsrl's built-in SGEMM: packed, cache-blocked, register-tiled, with run-time CPU dispatch.
//
// Why hand-written: `npm ci` must give full speed on a machine with nothing but Node, npm, g++, make and
// python3 (issue 17): no root, so no libopenblas-dev. What was checked (npm view, 2026-11): `openblas` 0.0.1 is
// an empty placeholder (no sources, no build), `cblas` and `node-blas` do not exist, `blas` is stdlib-js's
// double-precision pure-JS BLAS; building OpenBLAS from source at install time would need its tarball, and the
// network reaches only npm. So the addon carries its own kernels; where OpenBLAS is installed the build may
// still link it (dsrl_native.c).
//
// Structure (Goto & van de Geijn, "Anatomy of high-performance matrix multiplication", TOMS 2008; the BLIS
// loop order): for each NC-column block of op(B) and KC-deep slice, pack op(B) into NR-wide panels; for each
// MC-row block of op(A), pack it into MR-tall panels; an MR x NR micro-kernel then runs over the packed
// panels with the C tile in registers. Packing absorbs the transposes and leading dimensions, and alpha is
// applied at the store, so every call site's (transA, transB, lda, ldb, ldc, alpha, beta) is handled once.
//
// Portability: each ISA's kernel is compiled with a function-level target attribute and chosen at run time
// with __builtin_cpu_supports, so one binary runs on any x86-64 (and the generic kernel on other CPUs).
//
// Threads: large products' tiles run on pool.c's persistent thread pool.
#include "gemm.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DSRL_X86 1
#endif

// KC x NR floats of the B panel stay in L1 (256 x 32 x 4 B = 32 KiB), the MC x KC block of A in L2
// (144 x 256 x 4 B = 144 KiB), the KC x NC block of B in L2/L3. Tuned on the dev machine (AMD EPYC, Zen 4:
// 32 KiB L1d, 1 MiB L2 per core) for the engine's shapes (batch 256, widths 256-1024): KC 128-384 x MC 96-240
// all measured within run-to-run noise (0.8-1.2x OpenBLAS) on a loaded machine; -DDSRL_KC / -DDSRL_MC override.
#ifndef DSRL_KC
#define DSRL_KC 256
#endif
#ifndef DSRL_MC
#define DSRL_MC 144
#endif
enum { KC = DSRL_KC, MC = DSRL_MC };

typedef void (*kernel_fn)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                          float beta);

typedef struct {
  const char* name;
  int mr, nr;
  kernel_fn kernel;
} isa_t;

// ---------------------------------------------------------------------------------------------------------
// Micro-kernels. Each computes the MR x NR tile acc = Ap^T Bp over kc (Ap: kc groups of MR values, Bp: kc
// groups of NR values) and stores C = alpha acc + beta C (beta == 0: C is not read, as BLAS specifies).

#define GEN_MR 4
#define GEN_NR 8
static void kernel_generic(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha,
                           float beta) {
  float acc[GEN_MR][GEN_NR] = {{0}};
  for (int64_t k = 0; k < kc; k++, Ap += GEN_MR, Bp += GEN_NR)
    for (int i = 0; i < GEN_MR; i++)
      for (int j = 0; j < GEN_NR; j++) acc[i][j] += Ap[i] * Bp[j];
  for (int i = 0; i < GEN_MR; i++)
    for (int j = 0; j < GEN_NR; j++)
      C[i * ldc + j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * C[i * ldc + j];
}

#ifdef DSRL_X86
// AVX2 + FMA: 6 x 16 tile = 12 ymm accumulators + 2 B vectors + 1 broadcast (of 16 registers).
#define AVX2_MR 6
#define AVX2_NR 16
__attribute__((target("avx2,fma"))) static void kernel_avx2(int64_t kc, const float* Ap, const float* Bp, float* C,
                                                            int64_t ldc, float alpha, float beta) {
  __m256 c[AVX2_MR][2];
  for (int i = 0; i < AVX2_MR; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; k++, Ap += AVX2_MR, Bp += AVX2_NR) {
    const __m256 b0 = _mm256_loadu_ps(Bp), b1 = _mm256_loadu_ps(Bp + 8);
    for (int i = 0; i < AVX2_MR; i++) {
      const __m256 a = _mm256_broadcast_ss(Ap + i);
      c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
      c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  for (int i = 0; i < AVX2_MR; i++) {
    float* Ci = C + i * ldc;
    for (int h = 0; h < 2; h++) {
      __m256 r = _mm256_mul_ps(va, c[i][h]);
      if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(Ci + 8 * h), r);
      _mm256_storeu_ps(Ci + 8 * h, r);
    }
  }
}

// AVX-512F: 12 x 32 tile = 24 zmm accumulators + 2 B vectors + broadcasts (of 32 registers).
#define AVX512_MR 12
#define AVX512_NR 32
__attribute__((target("avx512f"))) static void kernel_avx512(int64_t kc, const float* Ap, const float* Bp, float* C,
                                                             int64_t ldc, float alpha, float beta) {
  __m512 c[AVX512_MR][2];
  for (int i = 0; i < AVX512_MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; k++, Ap += AVX512_MR, Bp += AVX512_NR) {
    const __m512 b0 = _mm512_loadu_ps(Bp), b1 = _mm512_loadu_ps(Bp + 16);
    for (int i = 0; i < AVX512_MR; i++) {
      const __m512 a = _mm512_set1_ps(Ap[i]);
      c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
      c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int i = 0; i < AVX512_MR; i++) {
    float* Ci = C + i * ldc;
    for (int h = 0; h < 2; h++) {
      __m512 r = _mm512_mul_ps(va, c[i][h]);
      if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(Ci + 16 * h), r);
      _mm512_storeu_ps(Ci + 16 * h, r);
    }
  }
}
#endif

static const isa_t ISA_GENERIC = {"generic", GEN_MR, GEN_NR, kernel_generic};
#ifdef DSRL_X86
static const isa_t ISA_AVX2 = {"avx2", AVX2_MR, AVX2_NR, kernel_avx2};
static const isa_t ISA_AVX512 = {"avx512", AVX512_MR, AVX512_NR, kernel_avx512};
#endif
enum { MAX_MR = 12, MAX_NR = 32 };

static const isa_t* best_isa(void) {
#ifdef DSRL_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return &ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &ISA_AVX2;
#endif
  return &ISA_GENERIC;
}

static const isa_t* isa = NULL;

const char* dsrl_sgemm_isa(void) {
  if (!isa) isa = best_isa();
  return isa->name;
}

int dsrl_sgemm_set_isa(const char* name) {
  const isa_t* best = best_isa();
  if (!name || !strcmp(name, "auto")) {
    isa = best;
    return 0;
  }
  if (!strcmp(name, "generic")) {
    isa = &ISA_GENERIC;
    return 0;
  }
#ifdef DSRL_X86
  if (!strcmp(name, "avx2") && best != &ISA_GENERIC) {
    isa = &ISA_AVX2;
    return 0;
  }
  if (!strcmp(name, "avx512") && best == &ISA_AVX512) {
    isa = &ISA_AVX512;
    return 0;
  }
#endif
  return -1;
}

// ---------------------------------------------------------------------------------------------------------
// Packing. op(A)(i, k) = transA ? A[k lda + i] : A[i lda + k]; op(B)(k, j) = transB ? B[j ldb + k] : B[k ldb + j].
// Panels past the matrix edge are zero-padded so the micro-kernel never branches on the edge.

static void pack_a(int transA, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr,
                   float* Ap) {
  for (int64_t p = 0; p < mc; p += mr, Ap += mr * kc) {
    const int64_t rows = mc - p < mr ? mc - p : mr;
    if (transA) {
      // op(A)'s rows are A's columns: for each k the mr values are contiguous in A.
      for (int64_t k = 0; k < kc; k++) {
        const float* src = A + (k0 + k) * lda + i0 + p;
        float* dst = Ap + k * mr;
        int64_t r = 0;
        for (; r < rows; r++) dst[r] = src[r];
        for (; r < mr; r++) dst[r] = 0.0f;
      }
    } else {
      int64_t r = 0;
      for (; r < rows; r++) {
        const float* src = A + (i0 + p + r) * lda + k0;
        for (int64_t k = 0; k < kc; k++) Ap[k * mr + r] = src[k];
      }
      for (; r < mr; r++)
        for (int64_t k = 0; k < kc; k++) Ap[k * mr + r] = 0.0f;
    }
  }
}

static void pack_b(int transB, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                   float* Bp) {
  for (int64_t q = 0; q < nc; q += nr, Bp += nr * kc) {
    const int64_t cols = nc - q < nr ? nc - q : nr;
    if (!transB) {
      for (int64_t k = 0; k < kc; k++) {
        const float* src = B + (k0 + k) * ldb + j0 + q;
        float* dst = Bp + k * nr;
        int64_t c = 0;
        for (; c < cols; c++) dst[c] = src[c];
        for (; c < nr; c++) dst[c] = 0.0f;
      }
    } else {
      int64_t c = 0;
      for (; c < cols; c++) {
        const float* src = B + (j0 + q + c) * ldb + k0;
        for (int64_t k = 0; k < kc; k++) Bp[k * nr + c] = src[k];
      }
      for (; c < nr; c++)
        for (int64_t k = 0; k < kc; k++) Bp[k * nr + c] = 0.0f;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Work split (for any thread count, 1 included): C is cut into tiles of MT rows x NT columns, a grid that
// depends only on M, N and the ISA, never on the thread count. Each tile is computed whole by one thread, over
// the same KC slices in the same order with the same micro-kernel calls, so C's floats do not depend on how
// many threads ran or which one took a tile (test/nn-gemm-pool.test.ts checks bit equality across thread counts).
// Threads claim tiles from an atomic counter (pool.c): a descheduled thread delays the call by at most the one
// tile it holds, where a static split made the call wait for its whole share.
//
// Packing is shared: op(A) is packed once per MT-row block and op(B) once per NT-column block, into buffers of
// the calling thread, by whichever thread first needs the block (a claim by compare-and-swap). A thread that
// needs a block another thread is still packing packs the slices it needs privately instead of waiting, so no
// thread ever waits on another. NT = 128 columns (4 AVX-512 panels; 8 tiles for a 256 x 512 output), measured
// on the dev machine (three builds with -DDSRL_NT in one process, 1 thread, best of 4 alternating rounds, load
// ~4 on 2 cores): 256 x 1024 x 1024 took 6.53 ms at NT 64, 5.75 at 128, 5.72 at 256; 256 x 512 x 512, 256^3
// and 1024 x 1024 x 256 equal within 2%. -DDSRL_NT overrides (a multiple of 32).
#ifndef DSRL_NT
#define DSRL_NT 128
#endif
enum { NT = DSRL_NT };  // a multiple of every NR (32)

typedef struct {
  const isa_t* isa;
  int transA, transB;
  int64_t M, N, K;
  float alpha, beta;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float* C;
  int64_t ldc;
} problem_t;

enum { PACK_NONE = 0, PACK_BUSY = 1, PACK_READY = 2 };

typedef struct {
  const problem_t* P;
  int64_t mt;          // rows per tile (a multiple of mr): M split evenly into ceil(M / MC) blocks
  int64_t mblocks, nblocks, tiles;
  float* Ash;          // block r of op(A): at r mt K, slice pc at + pc mt (mr-tall panels, zero-padded)
  float* Bsh;          // block c of op(B): at c NT K, slice pc at + pc NT (nr-wide panels, zero-padded)
  _Atomic int* astate; // PACK_* per A block, then per B block
  _Atomic int* bstate;
} job_t;

// A thread's private packing buffers (dsrl_workspace_t, pool.h): the pool's workers own theirs; a calling
// thread's live in caller_t.
int dsrl_workspace_init(dsrl_workspace_t* ws) {
  // The largest any ISA needs: MT <= MC rounded up to the tallest tile; NT is a multiple of every NR.
  if (!ws->Ap) ws->Ap = (float*)aligned_alloc(64, (size_t)(MC + MAX_MR) * KC * sizeof(float));
  if (!ws->Bp) ws->Bp = (float*)aligned_alloc(64, (size_t)NT * KC * sizeof(float));
  return ws->Ap && ws->Bp ? 0 : -1;
}

void dsrl_workspace_free(dsrl_workspace_t* ws) {
  free(ws->Ap);
  free(ws->Bp);
  ws->Ap = ws->Bp = NULL;
}

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

static void pack_a_block(const problem_t* P, const job_t* J, int64_t r, float* dst) {
  const int64_t i0 = r * J->mt, mc = P->M - i0 < J->mt ? P->M - i0 : J->mt;
  for (int64_t pc = 0; pc < P->K; pc += KC) {
    const int64_t kc = P->K - pc < KC ? P->K - pc : KC;
    pack_a(P->transA, P->A, P->lda, i0, mc, pc, kc, P->isa->mr, dst + pc * J->mt);
  }
}

static void pack_b_block(const problem_t* P, int64_t c, float* dst) {
  const int64_t j0 = c * NT, nc = P->N - j0 < NT ? P->N - j0 : NT;
  for (int64_t pc = 0; pc < P->K; pc += KC) {
    const int64_t kc = P->K - pc < KC ? P->K - pc : KC;
    pack_b(P->transB, P->B, P->ldb, pc, kc, j0, nc, P->isa->nr, dst + pc * NT);
  }
}

// Returns 1 when the block is (now) in the shared buffer, 0 when another thread is packing it.
static int claim_block(_Atomic int* state, void (*pack)(const job_t*, int64_t), const job_t* J, int64_t idx) {
  int s = atomic_load_explicit(state, memory_order_acquire);
  if (s == PACK_READY) return 1;
  if (s == PACK_NONE && atomic_compare_exchange_strong_explicit(state, &s, PACK_BUSY, memory_order_acquire,
                                                                memory_order_relaxed)) {
    pack(J, idx);
    atomic_store_explicit(state, PACK_READY, memory_order_release);
    return 1;
  }
  return atomic_load_explicit(state, memory_order_acquire) == PACK_READY;
}
static void pack_a_shared(const job_t* J, int64_t r) { pack_a_block(J->P, J, r, J->Ash + r * J->mt * J->P->K); }
static void pack_b_shared(const job_t* J, int64_t c) { pack_b_block(J->P, c, J->Bsh + c * NT * J->P->K); }

// One tile: C[r mt .., c NT ..] over all of K (a pool job's piece t; ctx: the job_t).
static void run_tile(void* ctx, dsrl_workspace_t* ws, int64_t t) {
  const job_t* J = (const job_t*)ctx;
  const problem_t* P = J->P;
  const int mr = P->isa->mr, nr = P->isa->nr;
  const kernel_fn kernel = P->isa->kernel;
  const int64_t r = t / J->nblocks, c = t % J->nblocks;
  const int64_t i0 = r * J->mt, mc = P->M - i0 < J->mt ? P->M - i0 : J->mt;
  const int64_t j0 = c * NT, nc = P->N - j0 < NT ? P->N - j0 : NT;
  const int a_shared = claim_block(&J->astate[r], pack_a_shared, J, r);
  const int b_shared = claim_block(&J->bstate[c], pack_b_shared, J, c);
  float tile[MAX_MR * MAX_NR];
  for (int64_t pc = 0; pc < P->K; pc += KC) {
    const int64_t kc = P->K - pc < KC ? P->K - pc : KC;
    const float beta = pc == 0 ? P->beta : 1.0f;  // later K slices accumulate onto the first one's result
    const float* Ablk = J->Ash + r * J->mt * P->K + pc * J->mt;
    const float* Bblk = J->Bsh + c * NT * P->K + pc * NT;
    if (!a_shared) {
      pack_a(P->transA, P->A, P->lda, i0, mc, pc, kc, mr, ws->Ap);
      Ablk = ws->Ap;
    }
    if (!b_shared) {
      pack_b(P->transB, P->B, P->ldb, pc, kc, j0, nc, nr, ws->Bp);
      Bblk = ws->Bp;
    }
    for (int64_t jr = 0; jr < nc; jr += nr) {
      const int64_t n = nc - jr < nr ? nc - jr : nr;
      const float* Bp = Bblk + jr * kc;
      for (int64_t ir = 0; ir < mc; ir += mr) {
        const int64_t m = mc - ir < mr ? mc - ir : mr;
        float* C = P->C + (i0 + ir) * P->ldc + j0 + jr;
        const float* Ap = Ablk + ir * kc;
        if (m == mr && n == nr) {
          kernel(kc, Ap, Bp, C, P->ldc, P->alpha, beta);
        } else {  // edge tile: full tile into a buffer, then the valid part
          kernel(kc, Ap, Bp, tile, nr, 1.0f, 0.0f);
          for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
              const float v = P->alpha * tile[i * nr + j];
              C[i * P->ldc + j] = beta == 0.0f ? v : v + beta * C[i * P->ldc + j];
            }
        }
      }
    }
  }
}

// A calling (JS) thread's buffers: private slices, the shared packed operands and their block states. Grown
// to the largest call so far; freed by dsrl_sgemm_free (the addon's cleanup hook, on that thread).
typedef struct {
  dsrl_workspace_t ws;
  float* sh;
  size_t sh_len;
  _Atomic int* st;
  size_t st_len;
} caller_t;
static _Thread_local caller_t caller;

static int caller_reserve(size_t floats, size_t states) {
  if (dsrl_workspace_init(&caller.ws)) return -1;
  if (floats > caller.sh_len) {
    free(caller.sh);
    caller.sh = (float*)aligned_alloc(64, round_up((int64_t)(floats * sizeof(float)), 64));
    caller.sh_len = caller.sh ? floats : 0;
    if (!caller.sh) return -1;
  }
  if (states > caller.st_len) {
    free((void*)caller.st);
    caller.st = (_Atomic int*)malloc(states * sizeof(_Atomic int));
    caller.st_len = caller.st ? states : 0;
    if (!caller.st) return -1;
  }
  return 0;
}

void dsrl_sgemm_free(void) {
  dsrl_workspace_free(&caller.ws);
  free(caller.sh);
  free((void*)caller.st);
  caller = (caller_t){{NULL, NULL}, NULL, 0, NULL, 0};
}

// ---------------------------------------------------------------------------------------------------------
// Few rows (batch-1 inference, M <= SMALL_M): packing the whole of B would cost as much as the product, so
// these loops read op(B) in place. Written once, compiled per ISA (the compiler vectorises the inner loops;
// -fassociative-math in binding.gyp lets it vectorise the dot-product reductions).
enum { SMALL_M = 4 };

#define SMALL_M_BODY                                                                                        \
  {                                                                                                         \
    const float* arow[SMALL_M];                                                                             \
    for (int64_t i = 0; i < P->M; i++) {                                                                    \
      if (!P->transA) {                                                                                     \
        arow[i] = P->A + i * P->lda;                                                                        \
        continue;                                                                                           \
      }                                                                                                     \
      float* row = at + i * P->K; /* op(A)'s row i is a strided column of A: gather it */                  \
      for (int64_t k = 0; k < P->K; k++) row[k] = P->A[k * P->lda + i];                                     \
      arow[i] = row;                                                                                        \
    }                                                                                                       \
    if (P->transB) {                                                                                        \
      /* C[i, j] = dot(op(A) row i, B row j): both contiguous. Four rows of B at a time give the vectorised */ \
      /* reduction four independent accumulator chains (one chain is FMA-latency bound). */                 \
      for (int64_t i = 0; i < P->M; i++) {                                                                  \
        const float* a = arow[i];                                                                           \
        float* c = P->C + i * P->ldc;                                                                       \
        int64_t j = n0;                                                                                     \
        for (; j + 4 <= n1; j += 4) {                                                                       \
          const float *b0 = P->B + j * P->ldb, *b1 = b0 + P->ldb, *b2 = b1 + P->ldb, *b3 = b2 + P->ldb;     \
          float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;                                                 \
          for (int64_t k = 0; k < P->K; k++) {                                                              \
            s0 += a[k] * b0[k];                                                                             \
            s1 += a[k] * b1[k];                                                                             \
            s2 += a[k] * b2[k];                                                                             \
            s3 += a[k] * b3[k];                                                                             \
          }                                                                                                 \
          const float s[4] = {s0, s1, s2, s3};                                                              \
          for (int q = 0; q < 4; q++)                                                                       \
            c[j + q] = P->beta == 0.0f ? P->alpha * s[q] : P->alpha * s[q] + P->beta * c[j + q];            \
        }                                                                                                   \
        for (; j < n1; j++) {                                                                               \
          const float* b = P->B + j * P->ldb;                                                               \
          float s = 0.0f;                                                                                   \
          for (int64_t k = 0; k < P->K; k++) s += a[k] * b[k];                                              \
          c[j] = P->beta == 0.0f ? P->alpha * s : P->alpha * s + P->beta * c[j];                            \
        }                                                                                                   \
      }                                                                                                     \
    } else {                                                                                                \
      /* C row i = beta C row i + sum_k alpha a_ik B row k: axpy over contiguous rows. */                  \
      for (int64_t i = 0; i < P->M; i++) {                                                                  \
        float* c = P->C + i * P->ldc;                                                                       \
        if (P->beta == 0.0f)                                                                                \
          for (int64_t j = n0; j < n1; j++) c[j] = 0.0f;                                                    \
        else if (P->beta != 1.0f)                                                                           \
          for (int64_t j = n0; j < n1; j++) c[j] *= P->beta;                                                \
        for (int64_t k = 0; k < P->K; k++) {                                                                \
          const float s = P->alpha * arow[i][k];                                                            \
          const float* b = P->B + k * P->ldb;                                                               \
          for (int64_t j = n0; j < n1; j++) c[j] += s * b[j];                                               \
        }                                                                                                   \
      }                                                                                                     \
    }                                                                                                       \
  }

static void small_m_generic(const problem_t* P, float* at, int64_t n0, int64_t n1) SMALL_M_BODY
#ifdef DSRL_X86
__attribute__((target("avx2,fma"))) static void small_m_avx2(const problem_t* P, float* at, int64_t n0, int64_t n1) SMALL_M_BODY
__attribute__((target("avx512f"))) static void small_m_avx512(const problem_t* P, float* at, int64_t n0, int64_t n1) SMALL_M_BODY
#endif

// ---------------------------------------------------------------------------------------------------------

static int run_small(const problem_t* P) {
  float* at = NULL;  // op(A)'s rows, gathered when A is transposed
  if (P->transA && !(at = (float*)malloc((size_t)(P->M * P->K) * sizeof(float)))) return -1;
#ifdef DSRL_X86
  if (P->isa == &ISA_AVX512)
    small_m_avx512(P, at, 0, P->N);
  else if (P->isa == &ISA_AVX2)
    small_m_avx2(P, at, 0, P->N);
  else
#endif
    small_m_generic(P, at, 0, P->N);
  free(at);
  return 0;
}

// Narrow outputs (a network's last layer: N = 1..12 against NR = 32) waste most of each micro-tile. Then the
// transposed product C^T = op(B)^T op(A)^T (N x M) runs instead, into a buffer, and is added back transposed.
static int swap_pays(const isa_t* is, int64_t M, int64_t N) {
  const int64_t direct = round_up(M, is->mr) * round_up(N, is->nr);
  const int64_t swapped = round_up(N, is->mr) * round_up(M, is->nr);
  return swapped * 3 < direct * 2 && (double)M * N <= 1 << 22;  // a clear gain, and a buffer of <= 16 MiB
}

static int gemm_swapped(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  float* T = (float*)malloc((size_t)(M * N) * sizeof(float));
  if (!T) return -1;
  // op(B)^T is B read with the opposite transpose flag; likewise op(A)^T.
  int rc = dsrl_sgemm(!transB, !transA, N, M, K, 1.0f, B, ldb, A, lda, 0.0f, T, M);
  if (rc == 0)
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        const float v = alpha * T[j * M + i];
        C[i * ldc + j] = beta == 0.0f ? v : v + beta * C[i * ldc + j];
      }
  free(T);
  return rc;
}

// The tiled product of a problem past the special cases. Bpre: op(B) already packed (dsrl_sgemm_pack_b's
// layout for this ISA), or NULL to pack it here.
static int run_job(const problem_t* P, const float* Bpre) {
  job_t J;
  J.P = P;
  const int64_t M = P->M, N = P->N, K = P->K;
  const int64_t mblocks = (M + MC - 1) / MC;
  J.mt = round_up((M + mblocks - 1) / mblocks, P->isa->mr);
  J.mblocks = (M + J.mt - 1) / J.mt;
  J.nblocks = (N + NT - 1) / NT;
  J.tiles = J.mblocks * J.nblocks;
  const size_t bfloats = Bpre ? 0 : (size_t)(J.nblocks * NT * K);
  if (caller_reserve((size_t)(J.mblocks * J.mt * K) + bfloats, (size_t)(J.mblocks + J.nblocks))) return -1;
  J.Ash = caller.sh;
  J.Bsh = Bpre ? (float*)Bpre : caller.sh + J.mblocks * J.mt * K;  // read-only when prepacked (all READY)
  J.astate = caller.st;
  J.bstate = caller.st + J.mblocks;
  for (int64_t i = 0; i < J.mblocks; i++) atomic_init(&J.astate[i], PACK_NONE);
  for (int64_t i = 0; i < J.nblocks; i++) atomic_init(&J.bstate[i], Bpre ? PACK_READY : PACK_NONE);
  dsrl_pool_job_t PJ;
  PJ.n = J.tiles;
  atomic_init(&PJ.next, 0);
  PJ.run = run_tile;
  PJ.ctx = &J;
  int threads = dsrl_sgemm_threads(0);
  if ((double)M * N * K < DSRL_MT_MIN) threads = 1;
  if (threads > J.tiles) threads = (int)J.tiles;
  dsrl_pool_run(&PJ, &caller.ws, threads - 1);
  return 0;
}

int dsrl_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return 0;
  if (K <= 0 || alpha == 0.0f) {  // no product: C = beta C (beta == 0 writes zeros, as BLAS does)
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return 0;
  }
  if (!isa) isa = best_isa();
  const problem_t P = {isa, transA, transB, M, N, K, alpha, beta, A, lda, B, ldb, C, ldc};
  if (M <= SMALL_M) return run_small(&P);
  if (swap_pays(isa, M, N)) return gemm_swapped(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return run_job(&P, NULL);
}

// ---------------------------------------------------------------------------------------------------------
// Prepacked B, for frozen inference weights (a base policy's Linear weights, y = x W^T: op(B) = W^T): the
// packing of op(B) is done once instead of on every forward call. The packed array starts with a header
// (ISA, N, K) so a pack made for another ISA or shape is refused, not misread. The product is the same tiles
// with the same micro-kernel calls as dsrl_sgemm, so the floats are identical to the unpacked call's.
enum { PACK_HEADER = 16 };  // floats: keeps the panels 64-byte aligned relative to the array's start

static float isa_tag(const isa_t* is) { return (float)is->nr * 100 + (float)is->mr; }

size_t dsrl_sgemm_packed_b_len(int64_t N, int64_t K) { return PACK_HEADER + (size_t)((N + NT - 1) / NT * NT * K); }

void dsrl_sgemm_pack_b(int transB, const float* B, int64_t ldb, int64_t N, int64_t K, float* out) {
  if (!isa) isa = best_isa();
  const problem_t P = {isa, 0, transB, 0, N, K, 1.0f, 0.0f, NULL, 0, B, ldb, NULL, 0};
  memset(out, 0, PACK_HEADER * sizeof(float));
  out[0] = isa_tag(isa);
  out[1] = (float)N;
  out[2] = (float)K;
  for (int64_t c = 0; c < (N + NT - 1) / NT; c++) pack_b_block(&P, c, out + PACK_HEADER + c * NT * K);
}

int dsrl_sgemm_packed_b(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, const float* Bp, float beta, float* C, int64_t ldc) {
  if (!isa) isa = best_isa();
  if (M <= SMALL_M || K <= 0 || alpha == 0.0f || swap_pays(isa, M, N))  // the paths that do not pack B
    return dsrl_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (Bp[0] != isa_tag(isa) || Bp[1] != (float)N || Bp[2] != (float)K) return -2;
  const problem_t P = {isa, transA, transB, M, N, K, alpha, beta, A, lda, B, ldb, C, ldc};
  return run_job(&P, Bp + PACK_HEADER);
}
