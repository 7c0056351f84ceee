// A check of parallel_claim and WorkRanges for the tests (not used by models):
//   pool_claim_check(out i32[2·units], params: units, threads, late thread id (-1: none), delay µs)
// Splits `units` among `threads` with WorkRanges and runs parallel_claim; the thread `late` sleeps `delay`
// before it takes anything. For every unit, out[u] = the thread id that took it and out[units + u] = how
// many times it was taken (each must be exactly 1, whoever is late).
#include <chrono>
#include <thread>

#include "../kernel.h"
#include "../threadpool.h"

namespace {

struct Ctx {
  llava::WorkRanges* ranges;
  int32_t* out;
  int64_t units;
  int late;
  int64_t delay_us;
};

void job(void* c, int tid, int) {
  Ctx& x = *static_cast<Ctx*>(c);
  if (tid == x.late) std::this_thread::sleep_for(std::chrono::microseconds(x.delay_us));
  x.ranges->run(tid, [&](int64_t u) {
    x.out[u] = tid;
    __atomic_fetch_add(&x.out[x.units + u], 1, __ATOMIC_RELAXED);
  });
}

void pool_claim_check(const llava::Args& a) {
  const int64_t units = a.i(0);
  if (units < 0 || units >= (int64_t(1) << 31)) a.fail("units out of range");
  const int nt = static_cast<int>(a.i(1));
  if (nt < 1) a.fail("threads must be at least 1");
  int32_t* out = a.ptr<int32_t>(0, 0, 2 * units);
  for (int64_t u = 0; u < 2 * units; u++) out[u] = u < units ? -1 : 0;
  llava::WorkRanges ranges(units, nt);
  Ctx ctx{&ranges, out, units, static_cast<int>(a.i(2)), a.i(3)};
  llava::parallel_claim(job, &ctx, nt);
}

}  // namespace

LLAVA_KERNEL("pool_claim_check", llava::ISA_SCALAR, pool_claim_check);
LLAVA_KERNEL("pool_claim_check", llava::ISA_NAIVE, pool_claim_check);
