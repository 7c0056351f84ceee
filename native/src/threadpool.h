// A small persistent thread pool (size from LLAVA_THREADS via JS, default = cores). The calling thread
// takes part as worker 0. Jobs are a plain function pointer + context (no std::function) so that kernels
// in ISA-specific files share no inline template code with the pool.
//
// Concurrent callers (several JS worker threads) are serialised; a parallel_run from inside a job runs
// inline on the current thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace llava {

using JobFn = void (*)(void* ctx, int tid, int nthreads);

int pool_threads();
void set_pool_threads(int n);

// Runs fn(ctx, t, n) for t in [0, n) with n = min(nthreads, pool size) (nthreads <= 0: pool size).
void parallel_run(JobFn fn, void* ctx, int nthreads = 0);

// Like parallel_run, for jobs whose work any participant can take (claimed through shared counters such as
// WorkRanges, so no part belongs to one thread id): returns once the calling thread's fn has returned and
// every worker that joined has finished. A worker that has not woken by the time the caller runs out of work
// skips the job, so the caller never waits for a sleeping thread's wake-up (tens of microseconds, or a whole
// time slice when the core is busy with other work). fn must leave nothing undone when some thread ids never run.
void parallel_claim(JobFn fn, void* ctx, int nthreads = 0);

// Splits [0, total) into `parts` near-equal contiguous ranges; returns range `part` as [begin, end).
static inline void split_range(int64_t total, int parts, int part, int64_t* begin, int64_t* end) {
  const int64_t base = total / parts, rem = total % parts;
  *begin = part * base + (part < rem ? part : rem);
  *end = *begin + base + (part < rem ? 1 : 0);
}

// Work units in contiguous per-thread runs: each thread takes its own run from the front (one sequential
// stream per thread, as a static split would give) and, once it is used up, the other runs' units from their
// backs, so that a thread that starts late or runs slower is covered by the others. Used with parallel_claim.
class WorkRanges {
 public:
  // Up to kInline threads need no allocation (a decode step makes hundreds of these).
  explicit WorkRanges(int nthreads)
      : n_(nthreads), heap_(nthreads > kInline ? new Slot[nthreads] : nullptr), r_(heap_ ? heap_.get() : inline_) {}
  // Thread t's run: split_range(units, nthreads, t).
  WorkRanges(int64_t units, int nthreads) : WorkRanges(nthreads) {
    for (int t = 0; t < n_; t++) {
      int64_t b, e;
      split_range(units, n_, t, &b, &e);
      set(t, b, e);
    }
  }
  // Thread t's run is units [begin, end) (below 2^32).
  void set(int t, int64_t begin, int64_t end) {
    r_[t].v.store((static_cast<uint64_t>(begin) << 32) | static_cast<uint64_t>(end), std::memory_order_relaxed);
  }
  // Takes the front unit of thread g's run (its owner) or the back one (another thread); -1 when none is left.
  int64_t take(int g, bool back) {
    std::atomic<uint64_t>& r = r_[g].v;
    uint64_t v = r.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t lo = v >> 32, hi = v & 0xffffffffu;
      if (lo >= hi) return -1;
      const uint64_t nv = back ? (lo << 32) | (hi - 1) : ((lo + 1) << 32) | hi;
      if (r.compare_exchange_weak(v, nv, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        return static_cast<int64_t>(back ? hi - 1 : lo);
      }
    }
  }
  // Calls f(unit) for thread tid's own units, then for what is left of the others' (tid < nthreads).
  template <class F>
  void run(int tid, F&& f) {
    for (int step = 0; step < n_; step++) {
      const int g = (tid + step) % n_;
      for (int64_t u; (u = take(g, step > 0)) >= 0;) f(u);
    }
  }

 private:
  struct alignas(64) Slot {  // one cache line each: the owners' front takes do not contend
    std::atomic<uint64_t> v{0};
  };
  static constexpr int kInline = 4;
  int n_;
  Slot inline_[kInline];
  std::unique_ptr<Slot[]> heap_;
  Slot* r_;
};

// Runs f(tid) on up to `nthreads` threads with parallel_claim: f must take its work from shared counters.
template <class F>
void claim_each(int nthreads, F&& f) {
  using Fn = std::remove_reference_t<F>;
  if (nthreads <= 1) {
    f(0);
    return;
  }
  parallel_claim([](void* c, int tid, int) { (*static_cast<Fn*>(c))(tid); }, &f, nthreads);
}

// Items per WorkRanges unit when `items` are shared by `nthreads`: about 32 units per thread, a multiple of
// `multiple` (all items in one unit for one thread). Small enough that what is taken from another thread's
// back at the end is a few percent of the work, large enough that the takes cost nothing measurable.
static inline int64_t claim_unit(int64_t items, int nthreads, int64_t multiple = 1) {
  if (nthreads <= 1) return items > 0 ? items : 1;
  const int64_t u = (items / (32 * int64_t(nthreads)) + multiple - 1) / multiple * multiple;
  return u > multiple ? u : multiple;
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
