// Packed fp32 GEMM driver: cache blocking, packing buffers and threading, for any ISA's building blocks
// (gemm.h MicroOps). Knows nothing of N-API or of instruction sets.
//
// Blocking (BLIS order, per thread): for each KC-deep slice, B̃ (KC×width) is packed once; for each
// MC-tall block, Ã (MC×KC) stays in L2 while the micro-kernel sweeps NR-wide B̃ panels, each held in L1
// while every MR-row panel of Ã streams past. Block sizes are evened out (K = 4100 gives two slices of
// 2056, not 4096 + 4) so that no slice is a sliver.
//
// Threading. Cores are shared with other work, so the split is dynamic rather than fixed halves (and run with
// parallel_claim: a worker that has not woken when the work runs out is not waited for):
//  - One matrix, N wide enough, fewer rows: the threads first pack all of A (M×K, up to kSharedABudget; larger M
//    goes in blocks of rows) into one shared buffer, then take column chunks of decreasing width from a
//    shared counter (guided scheduling: big chunks first for efficiency, small ones last, the last few
//    cut along rows too, so that both threads finish together even when one was descheduled). Each
//    chunk packs its own B̃, so the weight matrix is read from memory about once in all, and packed A
//    is reused by every chunk from L3.
//  - Tasks (pack A pieces, then column chunks) are taken in one fixed order and a task only ever waits
//    for tasks taken before it, so nothing deadlocks, even when the pool runs the job inline.
//  - One matrix, N wide enough, at least kOwnedMinRows rows per thread: each thread owns a contiguous
//    range of rows and runs the one-thread order on it (its own B̃, its Ã blocks in its L2, its C never
//    moving between cores) in column units of decreasing width, the last ones cut into row pieces; a
//    thread that runs out takes units from the back of the other threads' lists, so that the faster
//    core (they differ by 5-10%) finishes the slower one's remainder. Each thread packs all of B, which
//    pays from about 1024 rows each (2048³, 4096³: +3-5% over the shared A; M = 1024-1536: ±2%;
//    M = 576: 2-3% slower).
//  - Many matrices (batched, ≥ 2 per thread, small or ≥ 8 per thread): whole matrices from a shared
//    counter, one thread each; otherwise one matrix after the other, each on all threads.
//  - Few columns (N < 2·threads·kMinChunk): rows split in equal halves (both threads pack the small B).
//  - Below kParallelMinFlops: one thread (waking the other costs more).
//
// Measured on 2 threads and not kept (none moved 2048³ or 576×4096×11008 by more than the host's noise,
// ±3% in interleaved runs, unless noted), so that they are not retried blindly:
//  - each thread packing its own copy of A instead of sharing one packed A (sharing costs nothing);
//  - wider column chunks (512-2048, B̃ then in L3), or the Ã panel held in L1 while B̃ panels stream;
//  - prefetching the next Ã block into L2 during the current one (+1%, within noise);
//  - KC 256/512, MC 72/96 for this path; huge pages (madvise) for the packing buffers (slower: faults);
//  - the one-thread order across threads (per K slice, one shared B̃ packed in pieces, Ã blocks taken
//    from a counter): 2-7% slower, as a row block's C moves between cores from one K slice to the next;
//  - owned ranges for M = 576 (B packed twice) or split along columns instead (each thread packs all of
//    A: equal to the shared A), owned units replacing the equal row halves for N < 256 (2-6% slower: the
//    row pieces repack B̃), owned unit widths 512-4080 or other tail sizes (all within ±2%);
//  - for M = 576, K = 11008 (A 25 MB): the shared A in K super-slices of 2048-6000 (no change),
//    prefetching the next K slice's weight rows into L2 during the macro-kernels (packing B 3.5 → 2.3%
//    of the time, the kernels slower by as much).
// What separates the shared-A rate from the one-thread one is streaming Ã from the packed buffer once
// per chunk (the same Ã block every time runs about 5% faster) and C passing through L2 once per K slice
// (about 2%); the owned rows avoid both at the cost of packing B once per thread.
//
// Not here: parameter parsing (gemm.cc), micro-kernels and packers (gemm.cc scalar, gemm_avx2.cc).
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../scratch.h"
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
// Column chunks: wide ones first, narrower ones last, between kMinChunk and kMaxChunk columns (a chunk's
// B̃, KC×256×4 = 384 KB, then stays in a 1 MB L2 next to the 216 KB Ã block while every MC block of
// rows passes; 512 measured no better on M = 576 and slightly worse on M = 2048). Every
// chunk streams its rows of packed A from L3 or memory once, so a chunk much narrower than 64 columns
// would wait on that stream; instead the last 2·threads chunks are cut along rows too, into pieces of
// about kTailFlops, so that the threads finish within about that much work of each other.
constexpr int64_t kMinChunk = 64, kMaxChunk = 256;
constexpr double kTailFlops = 3e7;
std::atomic<double> tail_flops{kTailFlops};  // tests lower it (gemm_config) to cut small matrices
// Rows owned per thread (gemm_owned) from this many rows per thread: each thread then packs all of B,
// which M = 1024-1536 does not repay (±2% against the shared A) and M = 2048 does (3-5% faster).
// Units at most kOwnedMaxWidth columns wide (B̃ 3 MB in L3, as NC is for one thread); the
// last ones cut into pieces of about kOwnedTailFlops, larger than kTailFlops as each piece packs its
// own B̃. Tests lower both (gemm_config) to reach this path with small matrices.
constexpr int64_t kOwnedMinRows = 1024, kOwnedMaxWidth = 2048;
constexpr double kOwnedTailFlops = 1e8;
std::atomic<int64_t> owned_min_rows{kOwnedMinRows};
std::atomic<double> owned_tail_flops{kOwnedTailFlops};

using Buffer = ScratchBuffer;  // scratch.h

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
  struct Chunk {
    int64_t n0, n1, r0, r1;  // columns [n0, n1), rows [r0, r1) of the block (clamped to its rows)
  };
  std::vector<Chunk> chunk;
  int64_t npack, nchunks, total;  // tasks per block: npack pack pieces, then nchunks chunks
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
  const int64_t n0 = s.chunk[j].n0, w = s.chunk[j].n1 - n0;
  const int64_t rows = min64(s.chunk[j].r1, min64(s.MB, x.M - b * s.MB)), r0 = s.chunk[j].r0;
  if (r0 >= rows) {  // a row piece past the end of a short last block
    s.computed[b].fetch_add(1, std::memory_order_acq_rel);
    return;
  }
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
      for (int64_t ic = r0; ic < rows; ic += s.mcb) {
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
  // Guided chunks: each takes a 1/(2·threads) share of what is left, within [kMinChunk, kMaxChunk]; the
  // last 2·threads are cut into row pieces (whole MC blocks) of about kTailFlops.
  std::vector<int64_t> cols;
  for (int64_t n0 = 0; n0 < x.N;) {
    cols.push_back(n0);
    const int64_t want = round_up(min64(max64(ceil_div(x.N - n0, 2 * nt), kMinChunk), kMaxChunk), ops.nr);
    n0 += min64(want, x.N - n0);
  }
  cols.push_back(x.N);
  const int64_t ncols = static_cast<int64_t>(cols.size()) - 1;
  const double tail = tail_flops.load(std::memory_order_relaxed);
  for (int64_t j = 0; j < ncols; j++) {
    int64_t pieces = 1;
    if (j >= ncols - 2 * nt) {
      const double flops = 2.0 * static_cast<double>(s.MB) * static_cast<double>(cols[j + 1] - cols[j]) * static_cast<double>(x.K);
      pieces = max64(1, min64(s.rowchunks, static_cast<int64_t>(flops / tail + 0.5)));
    }
    const int64_t step = ceil_div(s.rowchunks, pieces) * s.mcb;
    for (int64_t r0 = 0; r0 < s.MB; r0 += step) s.chunk.push_back({cols[j], cols[j + 1], r0, r0 + step});
  }
  s.npack = s.kblocks * s.rowchunks;
  s.nchunks = static_cast<int64_t>(s.chunk.size());
  s.total = s.nblocks * (s.npack + s.nchunks);
  s.packed.reset(new std::atomic<int64_t>[s.nblocks]);
  s.computed.reset(new std::atomic<int64_t>[s.nblocks]);
  for (int64_t b = 0; b < s.nblocks; b++) s.packed[b] = 0, s.computed[b] = 0;
  parallel_claim(shared_job, &s, nt);
  if (s.failed.load()) a.fail("out of memory for packing buffers");
}

// ---- one matrix on all threads: rows owned per thread, column units taken over at the end ----

struct Owned {
  const Call* x;
  const MicroOps* ops;
  float* C;
  const float* A;
  const uint8_t* B;
  struct Unit {
    int64_t m0, m1, n0, n1;  // C block [m0, m1) × [n0, n1), computed whole (all of K) by sub_gemm
  };
  std::vector<Unit> unit;  // thread t's units first, its widest first
  WorkRanges* range;       // per thread: its run of `unit`
  std::atomic<int> failed{0};
};

void owned_job(void* ctx, int tid, int) {
  Owned& s = *static_cast<Owned*>(ctx);
  const Call& x = *s.x;
  const size_t esz = b_elem_size(x);
  s.range->run(tid, [&](int64_t u) {
    const Owned::Unit& w = s.unit[u];
    if (!sub_gemm(x, *s.ops, s.C + w.m0 * x.rsC + w.n0 * x.csC, s.A + w.m0 * x.rsA, s.B + w.n0 * x.csB * esz,
                  x.bias ? x.bias + w.n0 * x.sBias : nullptr, w.m1 - w.m0, w.n1 - w.n0)) {
      s.failed.store(1);
    }
  });
}

void gemm_owned(const Call& x, const MicroOps& ops, const Args& a, int nt, float* C, const float* A, const uint8_t* B) {
  Owned s;
  s.x = &x, s.ops = &ops, s.C = C, s.A = A, s.B = B;
  WorkRanges range(nt);
  s.range = &range;
  const double tail = owned_tail_flops.load(std::memory_order_relaxed);
  const int64_t panels = ceil_div(x.M, ops.mr);
  for (int t = 0; t < nt; t++) {
    int64_t p0, p1;
    split_range(panels, nt, t, &p0, &p1);
    const int64_t m0 = p0 * ops.mr, m1 = min64(p1 * ops.mr, x.M), first = static_cast<int64_t>(s.unit.size());
    // Each unit takes half the columns left, within [kMinChunk, kOwnedMaxWidth]; the last two are cut
    // along rows into pieces of about owned_tail_flops.
    std::vector<int64_t> cols;
    for (int64_t n0 = 0; n0 < x.N;) {
      cols.push_back(n0);
      n0 += min64(round_up(min64(max64(ceil_div(x.N - n0, 2), kMinChunk), kOwnedMaxWidth), ops.nr), x.N - n0);
    }
    cols.push_back(x.N);
    const int64_t ncols = static_cast<int64_t>(cols.size()) - 1, mpanels = ceil_div(m1 - m0, ops.mr);
    for (int64_t j = 0; j < ncols; j++) {
      int64_t pieces = 1;
      if (j >= ncols - 2) {
        const double flops =
            2.0 * static_cast<double>(m1 - m0) * static_cast<double>(cols[j + 1] - cols[j]) * static_cast<double>(x.K);
        pieces = max64(1, min64(mpanels, static_cast<int64_t>(flops / tail + 0.5)));
      }
      const int64_t step = ceil_div(mpanels, pieces) * ops.mr;
      for (int64_t r0 = m0; r0 < m1; r0 += step) s.unit.push_back({r0, min64(r0 + step, m1), cols[j], cols[j + 1]});
    }
    range.set(t, first, static_cast<int64_t>(s.unit.size()));
  }
  parallel_claim(owned_job, &s, nt);
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
    parallel_claim(batch_job, &s, nt);
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
    } else if (x.N >= 2 * nt * kMinChunk && x.M >= owned_min_rows.load(std::memory_order_relaxed) * nt) {
      gemm_owned(x, ops, a, nt, C, A, B);
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

// gemm_config(out f64[4], params: shared A budget in bytes, tail piece flops, rows per thread from which
// rows are owned, owned tail piece flops; 0 = default): test hook that lets small matrices reach the
// row-block, row-piece and owned-rows paths; out receives the previous values.
void gemm_config(const llava::Args& a) {
  namespace g = llava::gemm;
  double* out = a.ptr<double>(0, 0, 4);
  const int64_t budget = a.i(0), rows = a.i(2);
  const double tail = a.f(1), otail = a.f(3);
  if (budget < 0 || tail < 0 || rows < 0 || otail < 0) a.fail("negative setting");
  out[0] = static_cast<double>(g::shared_a_budget.exchange(budget ? budget : g::kSharedABudget));
  out[1] = g::tail_flops.exchange(tail > 0 ? tail : g::kTailFlops);
  out[2] = static_cast<double>(g::owned_min_rows.exchange(rows ? rows : g::kOwnedMinRows));
  out[3] = g::owned_tail_flops.exchange(otail > 0 ? otail : g::kOwnedTailFlops);
}

}  // namespace

LLAVA_KERNEL("gemm_config", llava::ISA_SCALAR, gemm_config);
LLAVA_KERNEL("gemm_config", llava::ISA_NAIVE, gemm_config);
