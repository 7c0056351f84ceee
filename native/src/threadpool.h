// A small persistent thread pool (size from LLAVA_THREADS via JS, default = cores). The calling thread
// takes part as worker 0. Jobs are a plain function pointer + context (no std::function) so that kernels
// in ISA-specific files share no inline template code with the pool.
//
// Concurrent callers (several JS worker threads) are serialised; a parallel_run from inside a job runs
// inline on the current thread.
#pragma once
#include <cstdint>

namespace llava {

using JobFn = void (*)(void* ctx, int tid, int nthreads);

int pool_threads();
void set_pool_threads(int n);

// Runs fn(ctx, t, n) for t in [0, n) with n = min(nthreads, pool size) (nthreads <= 0: pool size).
void parallel_run(JobFn fn, void* ctx, int nthreads = 0);

// Splits [0, total) into `parts` near-equal contiguous ranges; returns range `part` as [begin, end).
static inline void split_range(int64_t total, int parts, int part, int64_t* begin, int64_t* end) {
  const int64_t base = total / parts, rem = total % parts;
  *begin = part * base + (part < rem ? part : rem);
  *end = *begin + base + (part < rem ? 1 : 0);
}

// parallel_for over [0, n) in contiguous chunks, one per thread; F is called as f(begin, end, tid).
// Runs inline when n < min_per_thread * 2 (not worth waking threads).
template <class F>
void parallel_for(int64_t n, int64_t min_per_thread, F&& f) {
  int nt = pool_threads();
  if (min_per_thread < 1) min_per_thread = 1;
  int64_t maxt = n / min_per_thread;
  if (maxt < nt) nt = maxt < 1 ? 1 : static_cast<int>(maxt);
  if (nt <= 1) {
    f(int64_t(0), n, 0);
    return;
  }
  struct Ctx {
    F* f;
    int64_t n;
  } ctx{&f, n};
  parallel_run(
      [](void* c, int tid, int nthreads) {
        Ctx* x = static_cast<Ctx*>(c);
        int64_t b, e;
        split_range(x->n, nthreads, tid, &b, &e);
        if (b < e) (*x->f)(b, e, tid);
      },
      &ctx, nt);
}

}  // namespace llava
