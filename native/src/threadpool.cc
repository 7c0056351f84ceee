// Persistent worker threads that spin briefly on a generation counter after each job (kernels are often
// called back to back; waking sleeping threads costs tens of microseconds) and then sleep on a condition
// variable.
//
// Joining a job: a worker that sees a new generation first registers in `entry` (the generation's tag, a
// closed flag and a count of workers in) and only then reads the job's fields, so a late worker never runs
// a job whose caller has returned. The caller closes the entry when it is done and waits for the workers
// that got in: for parallel_run that is after every active worker has finished (none may be skipped, as
// the work is split by thread id); for parallel_claim, as soon as its own share is done.
#include "threadpool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace llava {
namespace {

constexpr uint64_t kClosed = uint64_t(1) << 31, kCount = kClosed - 1;

inline uint64_t tag(uint64_t generation) { return (generation & 0xffffffffu) << 32; }

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

struct Pool {
  std::vector<std::thread> workers;
  std::mutex run_mutex;  // one parallel_run at a time
  std::mutex m;
  std::condition_variable cv;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> remaining{0};  // parallel_run: active workers not yet finished
  std::atomic<uint64_t> entry{0};  // tag (generation, high 32 bits) | kClosed | workers in
  std::atomic<int> done{0};        // workers in that have finished
  bool claim = false;
  std::atomic<bool> stop{false};
  JobFn fn = nullptr;
  void* ctx = nullptr;
  int active = 1;  // threads taking part in the current job (including the caller)
  int size = 1;    // worker threads + 1

  // `seen` starts at the generation current when the worker was created: a worker added by a resize
  // must not take the last job (whose fn/ctx are gone) for a new one.
  void worker_loop(int tid, uint64_t seen) {
    for (;;) {
      uint64_t g = generation.load(std::memory_order_acquire);
      if (g == seen) {
        // Spin for ~100 µs before sleeping.
        auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
        int spins = 0;
        while ((g = generation.load(std::memory_order_acquire)) == seen && !stop.load()) {
          if (++spins % 256 == 0 && std::chrono::steady_clock::now() > until) break;
          cpu_relax();
        }
        if (g == seen) {
          std::unique_lock<std::mutex> lk(m);
          cv.wait(lk, [&] { return generation.load() != seen || stop.load(); });
          g = generation.load();
        }
      }
      if (stop.load()) return;
      seen = g;
      if (!enter(g)) continue;  // that job is over (a later generation is seen on the next pass)
      if (tid < active) {
        fn(ctx, tid, active);
        if (!claim) remaining.fetch_sub(1, std::memory_order_acq_rel);
      }
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  // Registers a worker in generation g's job; false when that job is closed or already replaced.
  bool enter(uint64_t g) {
    uint64_t v = entry.load(std::memory_order_acquire);
    for (;;) {
      if ((v & ~(kClosed | kCount)) != tag(g) || (v & kClosed)) return false;
      if (entry.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire)) return true;
    }
  }

  // Closes the current job to late workers and waits for those that got in.
  void close() {
    const uint64_t in = entry.fetch_or(kClosed, std::memory_order_acq_rel) & kCount;
    while (static_cast<uint64_t>(done.load(std::memory_order_acquire)) < in) cpu_relax();
  }

  void resize(int n) {
    shutdown();
    stop = false;
    size = n < 1 ? 1 : n;
    const uint64_t g = generation.load();
    for (int t = 1; t < size; t++) workers.emplace_back([this, t, g] { worker_loop(t, g); });
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lk(m);
      stop = true;
    }
    cv.notify_all();
    for (auto& w : workers) w.join();
    workers.clear();
  }

  ~Pool() { shutdown(); }
};

Pool& pool() {
  static Pool p;
  return p;
}

thread_local bool in_job = false;

}  // namespace

int pool_threads() { return pool().size; }

void set_pool_threads(int n) {
  Pool& p = pool();
  std::lock_guard<std::mutex> run(p.run_mutex);
  if (n != p.size || (n > 1 && p.workers.empty())) p.resize(n);
}

namespace {

void launch(JobFn fn, void* ctx, int nthreads, bool claim) {
  Pool& p = pool();
  if (nthreads <= 0 || nthreads > p.size) nthreads = p.size;
  if (nthreads <= 1 || in_job) {
    for (int t = 0; t < nthreads; t++) fn(ctx, t, nthreads);
    return;
  }
  std::lock_guard<std::mutex> run(p.run_mutex);
  in_job = true;
  p.fn = fn;
  p.ctx = ctx;
  p.active = nthreads;
  p.claim = claim;
  p.remaining.store(claim ? 0 : nthreads - 1, std::memory_order_release);
  p.done.store(0, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lk(p.m);
    p.entry.store(tag(p.generation.load() + 1), std::memory_order_release);
    p.generation.fetch_add(1, std::memory_order_acq_rel);
  }
  p.cv.notify_all();
  try {
    fn(ctx, 0, nthreads);
  } catch (...) {
    while (p.remaining.load(std::memory_order_acquire) > 0) cpu_relax();
    p.close();
    in_job = false;
    throw;
  }
  while (p.remaining.load(std::memory_order_acquire) > 0) cpu_relax();
  p.close();
  in_job = false;
}

}  // namespace

void parallel_run(JobFn fn, void* ctx, int nthreads) { launch(fn, ctx, nthreads, false); }

void parallel_claim(JobFn fn, void* ctx, int nthreads) { launch(fn, ctx, nthreads, true); }

}  // namespace llava
