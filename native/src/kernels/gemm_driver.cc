// Packed fp32 GEMM driver: cache blocking, packing buffers and threading, for any ISA's building blocks
// (gemm.h MicroOps). Knows nothing of N-API or of instruction sets.
//
// Blocking (BLIS order, per thread): for each KC-deep slice, B̃ (KC×width) is packed once; for each
// MC-tall block, Ã (MC×KC) stays in L2 while the micro-kernel sweeps NR-wide B̃ panels, each held in L1
// while every MR-row panel of Ã streams past. Block sizes are evened out (K = 4100 gives two slices of
// 2056, not 4096 + 4) so that no slice is a sliver.
//
// Threading. Cores are shared with other work, so the split is dynamic rather than fixed halves:
//  - One matrix, N wide enough: the threads first pack all of A (M×K, up to kSharedABudget; larger M
//    goes in blocks of rows) into one shared buffer, then take column chunks of decreasing width from a
//    shared counter (guided scheduling: big chunks first for efficiency, small ones last so that both
//    threads finish together even when one was descheduled). Each chunk packs its own B̃, so the weight
//    matrix is read from memory once in all, and packed A is reused by every chunk from L3.
//  - Tasks (pack A pieces, then column chunks) are taken in one fixed order and a task only ever waits
//    for tasks taken before it, so nothing deadlocks, even when the pool runs the job inline.
//  - Many matrices (batched, ≥ 2 per thread, small or ≥ 8 per thread): whole matrices from a shared
//    counter, one thread each; otherwise one matrix after the other, each on all threads.
//  - Few columns (N < 2·threads·kMinChunk): rows split in equal halves (both threads pack the small B).
//  - Below kParallelMinFlops: one thread (waking the other costs more).
//
// Not here: parameter parsing (gemm.cc), micro-kernels and packers (gemm.cc scalar, gemm_avx2.cc).
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../threadpool.h"
#include "gemm.h"

namespace llava {
namespace gemm {
namespace {

// Below this many flops one thread is faster than waking the other (tens of microseconds when asleep).
constexpr double kParallelMinFlops = 4e6;
// Matrices of a batch below this many flops are computed whole by one thread each.
constexpr double kBatchWholeFlops = 64e6;
// Packed A shared by the threads: all of A when it fits (LLaVA's 576×11008 is 25 MB), else row blocks
// (double-buffered, so this is split between two blocks). Tests shrink it (gemm_config) to reach the
// row-block path with small matrices.
constexpr int64_t kSharedABudget = int64_t(32) << 20;
std::atomic<int64_t> shared_a_budget{kSharedABudget};
// Column chunks: wide ones first (packed A is re-read once per chunk), narrow ones last so that the
// threads finish within ~kTailFlops of each other: the last chunks are as narrow as that allows
// (between NR and kMinChunk columns), never wider than kMaxChunk.
constexpr int64_t kMinChunk = 64, kMaxChunk = 1024;
constexpr double kTailFlops = 3e7;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// Grown on demand, never shrunk, freed when the thread exits: after the first call of a given size the
// hot path allocates nothing. 64-byte aligned so packed panels load with aligned vector loads.
struct Buffer {
  void* raw = nullptr;
  float* p = nullptr;
  size_t cap = 0;
  float* reserve(int64_t n) {
    if (static_cast<size_t>(n) <= cap) return p;
    std::free(raw);
    raw = std::malloc(static_cast<size_t>(n) * sizeof(float) + 64);
    if (!raw) {
      p = nullptr;
      cap = 0;
      return nullptr;
    }
    p = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(raw) + 63) & ~uintptr_t(63));
    cap = static_cast<size_t>(n);
    return p;
  }
  ~Buffer() { std::free(raw); }
};

struct Scratch {
  Buffer a, b, bias, shared;
};

thread_local Scratch tls_scratch;

// K slices of at most ops.kc, evened out; a multiple of 8 when there are several (the packers' block).
int64_t k_block(const MicroOps& ops, int64_t K) {
  const int64_t n = ceil_div(K, ops.kc);
  return n > 1 ? round_up(ceil_div(K, n), 8) : K;
}
// Row blocks of at most ops.mc, evened out, a multiple of MR.
int64_t m_block(const MicroOps& ops, int64_t m) { return round_up(ceil_div(m, ceil_div(m, ops.mc)), ops.mr); }

size_t b_elem_size(const Call& c) { return c.btype == B_F32 ? 4 : 2; }

// Bias values of columns [0, n) (stride s) made contiguous and zero-padded to whole NR panels.
float* bias_slice(Buffer& buf, const float* bias, int64_t s, int64_t n, int nr) {
  float* bb = buf.reserve(round_up(n, nr));
  if (!bb) return nullptr;
  int64_t j = 0;
  for (; j < n; j++) bb[j] = bias[j * s];
  for (; j < round_up(n, nr); j++) bb[j] = 0.0f;
  return bb;
}

// Micro-kernel sweep over one packed Ã block (mc×kc) and one packed B̃ block (kc×nc) into C at `c`.
inline void macro_kernel(const Call& x, const MicroOps& ops, int64_t kc, const float* At, int64_t mc, const float* Bt,
                         int64_t nc, float* c, int load_c, const float* bias) {
  const int MR = ops.mr, NR = ops.nr;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int nr = static_cast<int>(min64(NR, nc - jr));
    float* cj = c + jr * x.csC;
    const float* bp = Bt + jr * kc;
    const float* bj = bias ? bias + jr : nullptr;
    for (int64_t ir = 0; ir < mc; ir += MR) {
      ops.kernel(kc, At + ir * kc, bp, cj + ir * x.rsC, x.rsC, x.csC, static_cast<int>(min64(MR, mc - ir)), nr, load_c, bj);
    }
  }
}

// C block [m, n] (+)= A block · B block on the calling thread with its own packing buffers; pointers
// are at the block's origin. Returns false when the buffers cannot be allocated.
bool sub_gemm(const Call& x, const MicroOps& ops, float* C, const float* A, const uint8_t* B, const float* bias,
              int64_t m, int64_t n) {
  const int64_t K = x.K;
  if (K == 0) {  // no products: C = (accumulate ? C : 0) + bias
    for (int64_t i = 0; i < m; i++) {
      for (int64_t j = 0; j < n; j++) {
        float* p = C + i * x.rsC + j * x.csC;
        const float v = bias ? bias[j * x.sBias] : 0.0f;
        *p = x.accumulate ? *p + v : v;
      }
    }
    return true;
  }
  const int NR = ops.nr;
  const int64_t ncb = round_up(ceil_div(n, ceil_div(n, ops.nc)), NR);
  const int64_t kcb = k_block(ops, K), mcb = m_block(ops, m);
  Scratch& s = tls_scratch;
  float* At = s.a.reserve(mcb * kcb + 64);
  float* Bt = s.b.reserve(ncb * kcb + 64);
  if (!At || !Bt) return false;
  const size_t esz = b_elem_size(x);
  for (int64_t jc = 0; jc < n; jc += ncb) {
    const int64_t nc = min64(ncb, n - jc);
    const float* bb = nullptr;
    if (bias && !(bb = bias_slice(s.bias, bias + jc * x.sBias, x.sBias, nc, NR))) return false;
    for (int64_t pc = 0; pc < K; pc += kcb) {
      const int64_t kc = min64(kcb, K - pc);
      ops.pack_b(Bt, B + (pc * x.rsB + jc * x.csB) * esz, x.btype, x.rsB, x.csB, kc, nc);
      for (int64_t ic = 0; ic < m; ic += mcb) {
        const int64_t mc = min64(mcb, m - ic);
        ops.pack_a(At, A + ic * x.rsA + pc * x.csA, x.rsA, x.csA, mc, kc);
        macro_kernel(x, ops, kc, At, mc, Bt, nc, C + ic * x.rsC + jc * x.csC, pc > 0 || x.accumulate, pc == 0 ? bb : nullptr);
      }
    }
  }
  return true;
}

// ---- one matrix on all threads: shared packed A, guided column chunks ----

struct Shared {
  const Call* x;
  const MicroOps* ops;
  float* C;
  const float* A;
  const uint8_t* B;
  int64_t kcb, kblocks, mcb;
  int64_t MB, nblocks, rowchunks;  // rows per shared block, blocks, pack pieces along rows per K slice
  float* abuf[2];                  // packed A of even / odd blocks: K slice at pc starts at MB·pc
  std::vector<int64_t> chunk;      // column chunk starts, then N
  int64_t npack, nchunks, total;   // tasks per block: npack pack pieces, then nchunks column chunks
  std::unique_ptr<std::atomic<int64_t>[]> packed, computed;  // finished tasks per block
  std::atomic<int64_t> next{0};
  std::atomic<int> failed{0};
};

void wait_until(const std::atomic<int64_t>& v, int64_t target) {
  for (int spins = 1; v.load(std::memory_order_acquire) < target; spins++) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (spins % 1024 == 0) std::this_thread::yield();
  }
}

void pack_task(Shared& s, int64_t b, int64_t r) {
  const Call& x = *s.x;
  if (b >= 2) wait_until(s.computed[b - 2], s.nchunks);  // its buffer was block b−2's
  const int64_t q = r / s.rowchunks, i = r % s.rowchunks;
  const int64_t pc = q * s.kcb, kc = min64(s.kcb, x.K - pc);
  const int64_t rows = min64(s.MB, x.M - b * s.MB), r0 = i * s.mcb;
  if (r0 < rows) {
    float* dst = s.abuf[b % 2] + s.MB * pc + r0 * kc;
    s.ops->pack_a(dst, s.A + (b * s.MB + r0) * x.rsA + pc * x.csA, x.rsA, x.csA, min64(s.mcb, rows - r0), kc);
  }
  s.packed[b].fetch_add(1, std::memory_order_acq_rel);
}

void chunk_task(Shared& s, int64_t b, int64_t j) {
  const Call& x = *s.x;
  const MicroOps& ops = *s.ops;
  wait_until(s.packed[b], s.npack);
  const int64_t n0 = s.chunk[j], w = s.chunk[j + 1] - n0;
  const int64_t rows = min64(s.MB, x.M - b * s.MB);
  Scratch& t = tls_scratch;
  float* Bt = t.b.reserve(round_up(w, ops.nr) * s.kcb + 64);
  const float* bb = nullptr;
  if (!Bt || (x.bias && !(bb = bias_slice(t.bias, x.bias + n0 * x.sBias, x.sBias, w, ops.nr)))) {
    s.failed.store(1);
  } else {
    const size_t esz = b_elem_size(x);
    float* C = s.C + b * s.MB * x.rsC + n0 * x.csC;
    for (int64_t pc = 0; pc < x.K; pc += s.kcb) {
      const int64_t kc = min64(s.kcb, x.K - pc);
      ops.pack_b(Bt, s.B + (pc * x.rsB + n0 * x.csB) * esz, x.btype, x.rsB, x.csB, kc, w);
      const float* Ak = s.abuf[b % 2] + s.MB * pc;
      for (int64_t ic = 0; ic < rows; ic += s.mcb) {
        macro_kernel(x, ops, kc, Ak + ic * kc, min64(s.mcb, rows - ic), Bt, w, C + ic * x.rsC, pc > 0 || x.accumulate,
                     pc == 0 ? bb : nullptr);
      }
    }
  }
  s.computed[b].fetch_add(1, std::memory_order_acq_rel);
}

void shared_job(void* ctx, int, int) {
  Shared& s = *static_cast<Shared*>(ctx);
  for (;;) {
    const int64_t t = s.next.fetch_add(1, std::memory_order_relaxed);
    if (t >= s.total) return;
    const int64_t b = t / (s.npack + s.nchunks), r = t % (s.npack + s.nchunks);
    if (r < s.npack) pack_task(s, b, r);
    else chunk_task(s, b, r - s.npack);
  }
}

void gemm_shared(const Call& x, const MicroOps& ops, const Args& a, int nt, float* C, const float* A, const uint8_t* B) {
  Shared s;
  s.x = &x, s.ops = &ops, s.C = C, s.A = A, s.B = B;
  s.kcb = k_block(ops, x.K), s.kblocks = ceil_div(x.K, s.kcb);
  const int64_t mpad = round_up(x.M, ops.mr);
  const int64_t budget = shared_a_budget.load(std::memory_order_relaxed);
  if (mpad * x.K * 4 <= budget) {
    s.MB = mpad;
  } else {  // double-buffered row blocks, whole MC blocks when they fit
    const int64_t fit = budget / 2 / (4 * x.K);
    s.MB = fit >= ops.mc ? fit / ops.mc * ops.mc : max64(ops.mr, fit / ops.mr * ops.mr);
  }
  s.nblocks = ceil_div(x.M, s.MB);
  s.mcb = m_block(ops, min64(s.MB, x.M));
  s.rowchunks = ceil_div(s.MB, s.mcb);
  const int64_t per_buf = s.MB * x.K;
  float* buf = tls_scratch.shared.reserve((s.nblocks > 1 ? 2 : 1) * per_buf + 64);
  if (!buf) a.fail("out of memory for the shared packed A (" + std::to_string(per_buf * 4) + " bytes)");
  s.abuf[0] = buf;
  s.abuf[1] = s.nblocks > 1 ? buf + per_buf : buf;
  // Guided chunks: each takes a 1/(2·threads) share of what is left, within [narrowest, kMaxChunk].
  const double col_flops = 2.0 * static_cast<double>(x.M) * static_cast<double>(x.K);
  const int64_t narrowest = min64(kMinChunk, max64(ops.nr, static_cast<int64_t>(kTailFlops / col_flops)));
  for (int64_t n0 = 0; n0 < x.N;) {
    s.chunk.push_back(n0);
    const int64_t want = round_up(min64(max64(ceil_div(x.N - n0, 2 * nt), narrowest), kMaxChunk), ops.nr);
    n0 += min64(want, x.N - n0);
  }
  s.chunk.push_back(x.N);
  s.npack = s.kblocks * s.rowchunks;
  s.nchunks = static_cast<int64_t>(s.chunk.size()) - 1;
  s.total = s.nblocks * (s.npack + s.nchunks);
  s.packed.reset(new std::atomic<int64_t>[s.nblocks]);
  s.computed.reset(new std::atomic<int64_t>[s.nblocks]);
  for (int64_t b = 0; b < s.nblocks; b++) s.packed[b] = 0, s.computed[b] = 0;
  parallel_run(shared_job, &s, nt);
  if (s.failed.load()) a.fail("out of memory for packing buffers");
}

// ---- other splits ----

struct Split {
  const Call* x;
  const MicroOps* ops;
  float* C;
  const float* A;
  const uint8_t* B;
  std::atomic<int64_t> next{0};
  std::atomic<int> failed{0};
};

// Rows in equal parts (whole MR panels), for matrices too narrow to cut into column chunks.
void rows_job(void* ctx, int tid, int nt) {
  Split& s = *static_cast<Split*>(ctx);
  const Call& x = *s.x;
  int64_t t0, t1;
  split_range(ceil_div(x.M, s.ops->mr), nt, tid, &t0, &t1);
  const int64_t lo = t0 * s.ops->mr, hi = min64(t1 * s.ops->mr, x.M);
  if (lo < hi && !sub_gemm(x, *s.ops, s.C + lo * x.rsC, s.A + lo * x.rsA, s.B, x.bias, hi - lo, x.N)) s.failed.store(1);
}

// Whole matrices of a batch from a shared counter.
void batch_job(void* ctx, int, int) {
  Split& s = *static_cast<Split*>(ctx);
  const Call& x = *s.x;
  const size_t esz = b_elem_size(x);
  for (int64_t b; (b = s.next.fetch_add(1)) < x.batches;) {
    int64_t oc, oa, ob;
    x.batch_offsets(b, &oc, &oa, &ob);
    if (!sub_gemm(x, *s.ops, x.C + oc, x.A + oa, static_cast<const uint8_t*>(x.B) + ob * esz, x.bias, x.M, x.N)) {
      s.failed.store(1);
    }
  }
}

}  // namespace

void run(const Call& x, const MicroOps& ops, const Args& a) {
  if (x.M == 0 || x.N == 0 || x.batches == 0) return;
  int nt = pool_threads();
  if (x.threads > 0 && x.threads < nt) nt = x.threads;
  const double flops = 2.0 * static_cast<double>(x.M) * static_cast<double>(x.N) * static_cast<double>(max64(x.K, 1));
  if (flops * static_cast<double>(x.batches) < kParallelMinFlops || x.K == 0) nt = 1;
  const size_t esz = b_elem_size(x);
  // Whole matrices per thread when they are many or small; big ones in small numbers (5 on 2 threads
  // would split 3:2) are better shared.
  if (nt > 1 && x.batches >= 2 * nt && (flops < kBatchWholeFlops || x.batches >= 8 * nt)) {
    Split s{&x, &ops, nullptr, nullptr, nullptr};
    parallel_run(batch_job, &s, nt);
    if (s.failed.load()) a.fail("out of memory for packing buffers");
    return;
  }
  for (int64_t b = 0; b < x.batches; b++) {
    int64_t oc, oa, ob;
    x.batch_offsets(b, &oc, &oa, &ob);
    float* C = x.C + oc;
    const float* A = x.K ? x.A + oa : nullptr;
    const uint8_t* B = x.K ? static_cast<const uint8_t*>(x.B) + ob * esz : nullptr;
    if (nt <= 1 || flops < kParallelMinFlops) {
      if (!sub_gemm(x, ops, C, A, B, x.bias, x.M, x.N)) a.fail("out of memory for packing buffers");
    } else if (x.N >= 2 * nt * kMinChunk) {
      gemm_shared(x, ops, a, nt, C, A, B);
    } else {
      Split s{&x, &ops, C, A, B};
      parallel_run(rows_job, &s, nt);
      if (s.failed.load()) a.fail("out of memory for packing buffers");
    }
  }
}

}  // namespace gemm
}  // namespace llava

namespace {

// gemm_config(out f64[1], params: shared A budget in bytes, 0 = default): test hook; out[0] = previous.
void gemm_config(const llava::Args& a) {
  double* out = a.ptr<double>(0, 0, 1);
  const int64_t v = a.i(0);
  if (v < 0) a.fail("negative budget");
  *out = static_cast<double>(llava::gemm::shared_a_budget.exchange(v ? v : llava::gemm::kSharedABudget));
}

}  // namespace

LLAVA_KERNEL("gemm_config", llava::ISA_SCALAR, gemm_config);
LLAVA_KERNEL("gemm_config", llava::ISA_NAIVE, gemm_config);
