// dsrl's persistent thread pool: workers are started once (on the first job that wants them) and live until the
// addon is unloaded. Between jobs a worker spins briefly, then sleeps on a condition variable; the calling thread
// always works too, and the pool serves one calling thread at a time (a second JS thread that finds it busy
// runs its job alone, with the same results). It runs the built-in SGEMM's tiles (gemm.c: products of fewer
// than DSRL_MT_MIN multiply-adds stay on the calling thread, gemm.h says why 3 M) and the independent pieces
// other kernels hand to dsrl_parallel_for (bf16.c's column panels, kernels.c's row blocks).
#include "pool.h"

#include "gemm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DSRL_X86 1
#endif

enum { MAX_THREADS = 64 };

static int n_threads = 0;
static _Thread_local int serial = 0;

static int default_threads(void) {
  // Same knobs as OpenBLAS so `OPENBLAS_NUM_THREADS=1`, which the README asks of runs sharing cores, holds
  // whichever GEMM the addon uses.
  const char* names[] = {"DSRL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"};
  for (int i = 0; i < 3; i++) {
    const char* v = getenv(names[i]);
    if (v && atoi(v) > 0) return atoi(v) < MAX_THREADS ? atoi(v) : MAX_THREADS;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (n < MAX_THREADS ? (int)n : MAX_THREADS);
}

int dsrl_sgemm_threads(int n) {
  if (n > 0) n_threads = n < MAX_THREADS ? n : MAX_THREADS;
  if (n_threads == 0) n_threads = default_threads();
  return serial ? 1 : n_threads;
}

int dsrl_pool_serial(int on) {
  const int was = serial;
  serial = on;
  return was;
}

typedef struct {
  pthread_mutex_t lock;  // guards everything below but the atomics
  pthread_cond_t wake;   // a job was posted, or shutdown
  pthread_cond_t idle;   // the last worker left the job
  pthread_mutex_t user;  // held by the calling thread that owns the pool for one job
  pthread_t tids[MAX_THREADS];
  int workers;           // started
  int participants;      // workers 0 .. participants-1 may join the current job (the thread count - 1)
  int sleepers;
  int shutdown;
  int open;              // the current job still takes workers
  dsrl_pool_job_t* job;
  _Atomic uint64_t gen;  // bumped for each job; spinning workers watch it
  _Atomic int active;    // workers inside the current job
} pool_t;

static pool_t pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
                      .idle = PTHREAD_COND_INITIALIZER, .user = PTHREAD_MUTEX_INITIALIZER};

// Claims and runs pieces until none is left.
static void run_tiles(dsrl_pool_job_t* J, dsrl_workspace_t* ws) {
  for (;;) {
    const int64_t t = atomic_fetch_add_explicit(&J->next, 1, memory_order_relaxed);
    if (t >= J->n) return;
    J->run(J->ctx, ws, t);
  }
}

static inline void cpu_relax(void) {
#ifdef DSRL_X86
  _mm_pause();
#endif
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

// How long an idle worker spins before sleeping: a network's consecutive products are separated by its
// element-wise kernels (measured here: bias + ReLU over 256 x 512 floats 21 us, bias + Mish 82 us). A worker
// spinning 50 us is still awake for the next product after a ReLU layer (no futex wake-up); after longer gaps
// it sleeps, so an idle pool costs a shared core at most 50 us of spinning per product.
enum { SPIN_US = 50 };

static void* worker_main(void* arg) {
  const int id = (int)(intptr_t)arg;
  dsrl_workspace_t ws = {NULL, NULL};
  const int have_ws = dsrl_workspace_init(&ws) == 0;
  uint64_t seen = 0;
  pthread_mutex_lock(&pool.lock);
  seen = atomic_load(&pool.gen);
  for (;;) {
    if (pool.shutdown) break;
    if (atomic_load(&pool.gen) == seen) {
      pthread_mutex_unlock(&pool.lock);
      const double t0 = now_us();
      for (int i = 0; atomic_load_explicit(&pool.gen, memory_order_relaxed) == seen; i++) {
        cpu_relax();
        if ((i & 63) == 63 && now_us() - t0 > SPIN_US) break;
      }
      pthread_mutex_lock(&pool.lock);
      while (atomic_load(&pool.gen) == seen && !pool.shutdown) {
        pool.sleepers++;
        pthread_cond_wait(&pool.wake, &pool.lock);
        pool.sleepers--;
      }
      continue;
    }
    seen = atomic_load(&pool.gen);
    if (!pool.open || id >= pool.participants || !have_ws) continue;
    dsrl_pool_job_t* job = pool.job;
    atomic_fetch_add(&pool.active, 1);
    pthread_mutex_unlock(&pool.lock);
    run_tiles(job, &ws);
    pthread_mutex_lock(&pool.lock);
    if (atomic_fetch_sub(&pool.active, 1) == 1) pthread_cond_signal(&pool.idle);
  }
  pthread_mutex_unlock(&pool.lock);
  dsrl_workspace_free(&ws);
  dsrl_sgemm_free();  // the buffers of the products this worker ran as a caller (a program of programs.c)
  return NULL;
}

// Starts workers up to `want` (under pool.user). Returns how many exist.
static int pool_grow(int want) {
  pthread_mutex_lock(&pool.lock);
  while (pool.workers < want && !pool.shutdown) {
    if (pthread_create(&pool.tids[pool.workers], NULL, worker_main, (void*)(intptr_t)pool.workers) != 0) break;
    pool.workers++;
  }
  const int n = pool.workers;
  pthread_mutex_unlock(&pool.lock);
  return n;
}

void dsrl_pool_run(dsrl_pool_job_t* job, dsrl_workspace_t* ws, int helpers) {
  if (helpers > 0 && pthread_mutex_trylock(&pool.user) == 0) {
    const int got = pool_grow(helpers);
    if (got < helpers) helpers = got;
    pthread_mutex_lock(&pool.lock);
    pool.job = job;
    pool.participants = helpers;
    pool.open = 1;
    atomic_fetch_add(&pool.gen, 1);
    if (pool.sleepers) pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    run_tiles(job, ws);
    // Every piece is claimed; wait for the workers still inside the job (at most one piece each).
    pthread_mutex_lock(&pool.lock);
    pool.open = 0;
    while (atomic_load(&pool.active) > 0) pthread_cond_wait(&pool.idle, &pool.lock);
    pool.job = NULL;
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.user);
    return;
  }
  run_tiles(job, ws);
}

// The addon's environments (the main thread and each worker_threads worker that loads it) share one pool;
// the last one to unload stops and joins its threads.
static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;
static int envs = 0;

void dsrl_pool_env_open(void) {
  pthread_mutex_lock(&envs_lock);
  envs++;
  pthread_mutex_unlock(&envs_lock);
}

static void pool_shutdown(void) {
  pthread_mutex_lock(&pool.lock);
  pool.shutdown = 1;
  atomic_fetch_add(&pool.gen, 1);  // ends the spins
  pthread_cond_broadcast(&pool.wake);
  const int n = pool.workers;
  pthread_mutex_unlock(&pool.lock);
  for (int t = 0; t < n; t++) pthread_join(pool.tids[t], NULL);
  pthread_mutex_lock(&pool.lock);
  pool.workers = 0;
  pool.shutdown = 0;  // a later load (a new worker_threads environment) may start workers again
  pthread_mutex_unlock(&pool.lock);
}

void dsrl_pool_env_close(void) {
  pthread_mutex_lock(&envs_lock);
  if (envs > 0) envs--;
  if (envs == 0) pool_shutdown();
  pthread_mutex_unlock(&envs_lock);
}

int dsrl_sgemm_pool_workers(void) {
  pthread_mutex_lock(&pool.lock);
  const int n = pool.workers;
  pthread_mutex_unlock(&pool.lock);
  return n;
}

typedef struct {
  void (*task)(void* ctx, int64_t t);
  void* ctx;
} for_t;

static void for_piece(void* ctx, dsrl_workspace_t* ws, int64_t t) {
  (void)ws;
  const for_t* F = (const for_t*)ctx;
  F->task(F->ctx, t);
}

void dsrl_parallel_for(int64_t n, int threads, void (*task)(void* ctx, int64_t t), void* ctx) {
  if (n <= 0) return;
  for_t F = {task, ctx};
  dsrl_pool_job_t J = {0};
  J.n = n;
  J.run = for_piece;
  J.ctx = &F;
  atomic_init(&J.next, 0);
  if (threads > dsrl_sgemm_threads(0)) threads = dsrl_sgemm_threads(0);
  if (threads > n) threads = (int)n;
  if (threads < 1) threads = 1;
  // A task never touches the packing workspaces, so the calling thread needs none of its own.
  dsrl_workspace_t none = {NULL, NULL};
  dsrl_pool_run(&J, &none, threads - 1);
}
