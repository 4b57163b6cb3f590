// dsrl's persistent thread pool, shared by the built-in SGEMM (gemm.c), bf16 products (bf16.c) and the
// element-wise kernels (kernels.c); see pool.c.
#ifndef DSRL_POOL_H
#define DSRL_POOL_H
#include <stdatomic.h>
#include <stdint.h>

// Worker threads for large products and row blocks (1 = the calling thread only): DSRL_NUM_THREADS, else
// OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else the CPU count, until set. Returns the count in force.
int dsrl_sgemm_threads(int n);
// While on (per thread), dsrl_sgemm_threads(0) reads 1 on this thread, so every product and kernel it calls runs
// whole on it (programs.c runs one recorded op list per pool thread this way). Returns the previous setting.
int dsrl_pool_serial(int on);
// The addon's init registers each environment (main thread, worker_threads) that loads it; its cleanup hook
// closes it, and the last environment to close stops and joins the pool's workers.
void dsrl_pool_env_open(void);
void dsrl_pool_env_close(void);
// Worker threads the pool has started (they persist across products; the calling thread is not counted).
int dsrl_sgemm_pool_workers(void);

// Runs task(ctx, t) for every t in [0, n), on the calling thread plus up to threads - 1 of the pool's workers
// (capped by dsrl_sgemm_threads), each t exactly once; returns when all have run. For kernels outside the SGEMM
// (bf16.c, kernels.c) that split their work into independent pieces, so their results do not depend on the
// thread count.
void dsrl_parallel_for(int64_t n, int threads, void (*task)(void* ctx, int64_t t), void* ctx);

// Private packing buffers of one thread (one KC slice of one A block and one B block), for SGEMM blocks it
// finds being packed by another thread. Each worker makes its own when it starts and frees them when it stops;
// gemm.c defines these two, since the sizes are its blocking. A worker whose buffers failed to allocate joins
// no job.
typedef struct {
  float* Ap;
  float* Bp;
} dsrl_workspace_t;
int dsrl_workspace_init(dsrl_workspace_t* ws);
void dsrl_workspace_free(dsrl_workspace_t* ws);

// A job of n pieces (an SGEMM's tiles, a parallel-for's tasks), claimed from an atomic counter: a descheduled
// thread delays the job by at most the one piece it holds. run(ctx, ws, t) computes piece t with the running
// thread's buffers.
typedef struct {
  int64_t n;
  _Atomic int64_t next;  // the next unclaimed piece; 0 when posted
  void (*run)(void* ctx, dsrl_workspace_t* ws, int64_t t);
  void* ctx;
} dsrl_pool_job_t;

// Runs the job on the calling thread (with its buffers ws) plus up to `helpers` pool workers; returns once every
// piece is done. The pool serves one calling thread at a time: a second one that finds it busy runs its job alone.
void dsrl_pool_run(dsrl_pool_job_t* job, dsrl_workspace_t* ws, int helpers);

#endif
