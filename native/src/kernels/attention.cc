// attention_f32: fused scaled-dot-product attention forward (parameters in attention.h) with GQA (query
// head h reads kv head ⌊h·Hkv/Hq⌋), causal masking with the queries at the last Tq of Tk positions, an
// optional [B, Tk] key mask, and zeros for a query that sees no key.
//
// Flash-style: a task is a set of up to 16 query rows of one kv head (several GQA heads of one decode
// position, or 16 positions of one head), split across threads; it walks the visible keys in blocks keeping
// a running max, denominator and output accumulator per row (online softmax), so no Tq × Tk score matrix
// exists and each key block is read once per task. A call with fewer than 8 tasks (decode with few heads)
// also splits the keys of each task into chunks whose softmax states are merged at the end, so both cores
// work on it.
// Keys and values may be stored as f16/bf16 (a half KV cache read in place): tasks with few rows (decode)
// decode them exactly inside the score and value loops; tasks with many rows widen each block once into
// scratch. Either way the result is that of f32 k, v holding the decoded values, read at half width.
// The scalar loops and the driver are here, with the naive twin (the textbook loop in double over a full
// score row); vector loops are in attention_avx2.cc (and attention_avx512.cc).
//
// Not here: backward (the op recomputes attention with ops), the rope and KV-cache plumbing.
#include "attention.h"

#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "../half.h"
#include "../strided.h"
#include "../threadpool.h"

namespace llava {
namespace {

constexpr int64_t kRows = 16;       // query rows per task
constexpr int64_t kScores = 1024;   // score floats per key block (rows × keys)
constexpr int64_t kWidenRows = 4;   // tasks with this many rows widen half key/value blocks once
constexpr int64_t kWideBlock = 64;  // keys per widened block
constexpr int64_t kSplitTasks = 8;  // calls with fewer tasks split each task's keys into chunks
constexpr int64_t kMinChunk = 256;  // fewest keys per chunk

struct Problem {
  int64_t B, Hq, Hkv, Tq, Tk, D, Dv;
  bool causal;
  int kv;  // storage of k and v: 0 f32, 1 f16, 2 bf16
  float scale;
  const float* q;
  const uint8_t *k, *v;  // element size 4 (f32) or 2 (half)
  float* out;
  const uint8_t* mask;
  int64_t qs[4], ks[4], vs[4], os[4], ms[2];
};

Problem read_problem(const Args& a) {
  Problem P{};
  P.B = a.i(0), P.Hq = a.i(1), P.Hkv = a.i(2), P.Tq = a.i(3), P.Tk = a.i(4), P.D = a.i(5), P.Dv = a.i(6);
  P.causal = a.i(7) != 0;
  P.scale = static_cast<float>(a.f(8));
  const bool has_mask = a.i(9) != 0;
  if (P.Hkv <= 0 || P.Hq % P.Hkv != 0) a.fail("query heads " + std::to_string(P.Hq) + " are not a multiple of kv heads " + std::to_string(P.Hkv));
  int p = 10;
  // The kv storage code is the last parameter (after 10 scalars, 4 views of 5 and the mask's 3); it sets the
  // element size of k and v, so it is read before the views are checked.
  P.kv = static_cast<int>(a.i(10 + 4 * 5 + 3));
  if (P.kv < 0 || P.kv > 2) a.fail("unknown key/value storage code " + std::to_string(P.kv));
  const int kv_size = P.kv == 0 ? 4 : 2;
  auto view = [&](int buf, int esize, const int64_t (&shape)[4], int64_t* st, const char* what) {
    const int64_t off = a.i(p++);
    for (int d = 0; d < 4; d++) st[d] = a.i(p++);
    if (st[3] != 1 && shape[3] > 1) a.fail(std::string(what) + ": the last dim must have stride 1");
    return check_view(a, buf, esize, off, 4, shape, st, what);
  };
  P.q = reinterpret_cast<const float*>(view(1, 4, {P.B, P.Hq, P.Tq, P.D}, P.qs, "q"));
  P.k = view(2, kv_size, {P.B, P.Hkv, P.Tk, P.D}, P.ks, "k");
  P.v = view(3, kv_size, {P.B, P.Hkv, P.Tk, P.Dv}, P.vs, "v");
  P.out = reinterpret_cast<float*>(view(0, 4, {P.B, P.Hq, P.Tq, P.Dv}, P.os, "out"));
  const int64_t moff = a.i(p++);
  P.ms[0] = a.i(p++);
  P.ms[1] = a.i(p++);
  if (has_mask) {
    const int64_t shape[2] = {P.B, P.Tk};
    P.mask = check_view(a, 4, 1, moff, 2, shape, P.ms, "key mask");
  }
  return P;
}

// How the query rows (head, position) of a call are grouped into tasks. A task holds `hn` heads that share
// one kv head (GQA: the keys and values are read once for all of them) × `ni` consecutive queries, at most
// kRows rows. A call with few tasks (decode with few heads) splits each task's visible keys into `chunks`
// ranges run as separate work items, each leaving its softmax state (max, sum, unnormalised output); the
// states are merged after the parallel region. The plan depends on the shapes only, never on the thread
// count, so results do not change with LLAVA_THREADS.
struct Plan {
  int64_t hn, ni, hgroups, qblocks, tasks, chunks;
  int64_t kb;   // keys per block
  bool widen;   // half k/v decoded into scratch a block at a time (tasks with many rows)
  int64_t rows() const { return hn * ni; }
};

Plan make_plan(const Problem& P) {
  Plan L{};
  const int64_t g = P.Hq / P.Hkv;
  L.ni = P.Tq >= kRows ? kRows : (P.Tq < 1 ? 1 : P.Tq);
  L.hn = 1;
  for (int64_t d = 2; d <= g && d * L.ni <= kRows; d++) {
    if (g % d == 0) L.hn = d;
  }
  L.hgroups = P.Hq / L.hn;
  L.qblocks = (P.Tq + L.ni - 1) / L.ni;
  L.tasks = P.B * L.hgroups * L.qblocks;
  L.widen = P.kv != 0 && L.rows() >= kWidenRows;
  L.kb = L.widen ? kWideBlock : (kScores / L.rows()) / 64 * 64;
  if (L.kb < 64) L.kb = 64;
  L.chunks = 1;
  if (L.tasks > 0 && L.tasks < kSplitTasks) {
    const int64_t want = (kSplitTasks + L.tasks - 1) / L.tasks, most = P.Tk / kMinChunk;
    L.chunks = want < most ? want : (most < 1 ? 1 : most);
  }
  return L;
}

// Scratch floats per thread: scores, output accumulators, running max and sum, and (widening tasks) one
// key block and one value block.
int64_t scratch_floats(const Problem& P, const Plan& L) {
  return kScores + kRows * P.Dv + 2 * kRows + (L.widen ? kWideBlock * (P.D + P.Dv) : 0);
}

// Floats of one work item's softmax state when keys are split: output accumulators, max, sum per row.
int64_t state_floats(const Problem& P, const Plan& L) { return L.rows() * (P.Dv + 2); }

// One work item: chunk `c` of task `t`. `s` is this thread's scratch; `state` (split calls) receives the
// rows' softmax state instead of the normalised output.
void run_item(const Problem& P, const Plan& L, const AttnLoops& f, int64_t t, int64_t c, float* s, float* state) {
  const int64_t per_b = L.hgroups * L.qblocks;
  const int64_t b = t / per_b, hg = t % per_b / L.qblocks, qb = t % L.qblocks;
  const int64_t h0 = hg * L.hn, i0 = qb * L.ni;
  const int64_t ni = P.Tq - i0 < L.ni ? P.Tq - i0 : L.ni;
  const int64_t R = L.hn * ni;
  const int64_t kvh = h0 * P.Hkv / P.Hq;  // hn divides Hq/Hkv, so every head of the task maps here
  const float* qr[kRows];
  for (int64_t r = 0; r < R; r++) qr[r] = P.q + b * P.qs[0] + (h0 + r / ni) * P.qs[1] + (i0 + r % ni) * P.qs[2];
  const int64_t L_rows = L.rows();
  float* S = s;
  float* O = state ? state : S + kScores;
  float* m = O + L_rows * P.Dv;
  float* l = m + L_rows;
  float* Kw = S + kScores + kRows * P.Dv + 2 * kRows;  // widened key block [kWideBlock, D]
  float* Vw = Kw + kWideBlock * P.D;                  // widened value block [kWideBlock, Dv]
  const int64_t esize = P.kv == 0 ? 4 : 2;
  const uint8_t* kb = P.k + (b * P.ks[0] + kvh * P.ks[1]) * esize;
  const uint8_t* vb = P.v + (b * P.vs[0] + kvh * P.vs[1]) * esize;
  const uint8_t* mb = P.mask ? P.mask + b * P.ms[0] : nullptr;
  const int64_t shift = P.Tk - P.Tq;  // query i sees keys j <= shift + i when causal
  int64_t jend = P.causal ? shift + i0 + ni : P.Tk;
  if (jend > P.Tk) jend = P.Tk;
  int64_t ja = 0, jb = jend;
  if (L.chunks > 1) {
    int64_t len = jend > 0 ? (jend + L.chunks - 1) / L.chunks : 0;
    len = (len + 63) / 64 * 64;
    ja = c * len, jb = ja + len;
    if (jb > jend) jb = jend;
  }
  for (int64_t r = 0; r < R; r++) {
    m[r] = -INFINITY;
    l[r] = 0;
    for (int64_t d = 0; d < P.Dv; d++) O[r * P.Dv + d] = 0;
  }
  for (int64_t j0 = ja; j0 < jb; j0 += L.kb) {
    const int64_t nk = jb - j0 < L.kb ? jb - j0 : L.kb;
    const void* kj = kb + j0 * P.ks[2] * esize;
    const void* vj = vb + j0 * P.vs[2] * esize;
    int64_t ks = P.ks[2], vs = P.vs[2];
    int kind = P.kv;
    if (L.widen) {
      f.widen(Kw, static_cast<const uint16_t*>(kj), ks, nk, P.D, kind);
      f.widen(Vw, static_cast<const uint16_t*>(vj), vs, nk, P.Dv, kind);
      kj = Kw, ks = P.D, vj = Vw, vs = P.Dv, kind = 0;
    }
    f.scores(S, L.kb, qr, R, kj, ks, kind, nk, P.D, P.scale);
    float cf[kRows];
    int64_t live[kRows], nlive = 0;  // rows that see a key in this block
    for (int64_t r = 0; r < R; r++) {
      float* row = S + r * L.kb;
      if (mb) {
        for (int64_t j = 0; j < nk; j++) if (!mb[(j0 + j) * P.ms[1]]) row[j] = -INFINITY;
      }
      if (P.causal) {
        const int64_t lim = shift + i0 + r % ni - j0;  // last visible j in this block
        for (int64_t j = lim + 1 < 0 ? 0 : lim + 1; j < nk; j++) row[j] = -INFINITY;
      }
      const float bm = f.row_max(row, nk);
      if (bm == -INFINITY) continue;
      const float mnew = m[r] > bm ? m[r] : bm;
      cf[r] = m[r] == -INFINITY ? 0.0f : std::exp(m[r] - mnew);
      const float sum = f.exp_shift(row, nk, mnew);
      l[r] = l[r] * cf[r] + sum;
      m[r] = mnew;
      live[nlive++] = r;
    }
    int64_t i = 0;
    if (f.accumulate2) {
      for (; i + 2 <= nlive; i += 2) {
        const int64_t r = live[i], r2 = live[i + 1];
        f.accumulate2(O + r * P.Dv, cf[r], S + r * L.kb, O + r2 * P.Dv, cf[r2], S + r2 * L.kb, nk, vj, vs, kind, P.Dv);
      }
    }
    for (; i < nlive; i++) f.accumulate(O + live[i] * P.Dv, cf[live[i]], S + live[i] * L.kb, nk, vj, vs, kind, P.Dv);
  }
  if (state) return;
  for (int64_t r = 0; r < R; r++) {
    float* o = P.out + b * P.os[0] + (h0 + r / ni) * P.os[1] + (i0 + r % ni) * P.os[2];
    const float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
    for (int64_t d = 0; d < P.Dv; d++) o[d] = l[r] > 0 ? O[r * P.Dv + d] * inv : 0.0f;
  }
}

// Split calls: out = Σ_c e^{m_c − M}·O_c / Σ_c e^{m_c − M}·l_c over the chunks of each row (M = max m_c).
void merge_states(const Problem& P, const Plan& L, const float* states) {
  const int64_t per_b = L.hgroups * L.qblocks, sf = state_floats(P, L), Lr = L.rows();
  for (int64_t t = 0; t < L.tasks; t++) {
    const int64_t b = t / per_b, hg = t % per_b / L.qblocks, qb = t % L.qblocks;
    const int64_t h0 = hg * L.hn, i0 = qb * L.ni;
    const int64_t ni = P.Tq - i0 < L.ni ? P.Tq - i0 : L.ni;
    for (int64_t r = 0; r < L.hn * ni; r++) {
      float M = -INFINITY;
      for (int64_t c = 0; c < L.chunks; c++) {
        const float mc = states[(t * L.chunks + c) * sf + Lr * P.Dv + r];
        M = mc > M ? mc : M;
      }
      float* o = P.out + b * P.os[0] + (h0 + r / ni) * P.os[1] + (i0 + r % ni) * P.os[2];
      for (int64_t d = 0; d < P.Dv; d++) o[d] = 0;
      if (M == -INFINITY) continue;
      float den = 0;
      for (int64_t c = 0; c < L.chunks; c++) {
        const float* st = states + (t * L.chunks + c) * sf;
        const float mc = st[Lr * P.Dv + r];
        if (mc == -INFINITY) continue;
        const float w = std::exp(mc - M);
        den += w * st[Lr * P.Dv + Lr + r];
        for (int64_t d = 0; d < P.Dv; d++) o[d] += w * st[r * P.Dv + d];
      }
      const float inv = 1.0f / den;
      for (int64_t d = 0; d < P.Dv; d++) o[d] *= inv;
    }
  }
}

// Element i of a key/value row in storage `kind`.
inline float kv_elem(const void* p, int64_t i, int kind) {
  if (kind == 0) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
  return kind == 1 ? f16_to_f32(h) : bf16_to_f32(h);
}

void scores_scalar(float* S, int64_t ls, const float* const* q, int64_t nq, const void* k, int64_t ks, int kind, int64_t nk,
                   int64_t D, float scale) {
  for (int64_t qi = 0; qi < nq; qi++) {
    const float* a = q[qi];
    for (int64_t j = 0; j < nk; j++) {
      const int64_t b = j * ks;
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t d = 0;
      for (; d + 4 <= D; d += 4) {
        s0 += a[d] * kv_elem(k, b + d, kind);
        s1 += a[d + 1] * kv_elem(k, b + d + 1, kind);
        s2 += a[d + 2] * kv_elem(k, b + d + 2, kind);
        s3 += a[d + 3] * kv_elem(k, b + d + 3, kind);
      }
      for (; d < D; d++) s0 += a[d] * kv_elem(k, b + d, kind);
      S[qi * ls + j] = ((s0 + s1) + (s2 + s3)) * scale;
    }
  }
}

float row_max_scalar(const float* p, int64_t n) {
  float m = -INFINITY;
  for (int64_t j = 0; j < n; j++) m = p[j] > m ? p[j] : m;
  return m;
}

float exp_shift_scalar(float* p, int64_t n, float m) {
  float s = 0;
  for (int64_t j = 0; j < n; j++) s += (p[j] = std::exp(p[j] - m));
  return s;
}

void accumulate_scalar(float* o, float c, const float* p, int64_t n, const void* v, int64_t vs, int kind, int64_t Dv) {
  for (int64_t d = 0; d < Dv; d++) o[d] *= c;
  for (int64_t j = 0; j < n; j++) {
    const float pj = p[j];
    if (pj == 0) continue;
    for (int64_t d = 0; d < Dv; d++) o[d] += pj * kv_elem(v, j * vs + d, kind);
  }
}

void widen_scalar(float* dst, const uint16_t* src, int64_t st, int64_t rows, int64_t n, int kind) {
  for (int64_t r = 0; r < rows; r++) {
    const uint16_t* x = src + r * st;
    float* y = dst + r * n;
    if (kind == 1) {
      for (int64_t i = 0; i < n; i++) y[i] = f16_to_f32(x[i]);
    } else {
      for (int64_t i = 0; i < n; i++) y[i] = bf16_to_f32(x[i]);
    }
  }
}

const AttnLoops kScalar = {scores_scalar, row_max_scalar, exp_shift_scalar, accumulate_scalar, nullptr, widen_scalar};

void attention_scalar(const Args& a) { attention_with(a, kScalar); }

// Element e of a k/v view as a float, whatever its storage.
double kv_at(const Problem& P, const uint8_t* base, int64_t e) {
  if (P.kv == 0) return reinterpret_cast<const float*>(base)[e];
  const uint16_t h = reinterpret_cast<const uint16_t*>(base)[e];
  return P.kv == 1 ? f16_to_f32(h) : bf16_to_f32(h);
}

// Naive twin: per query, the full score row in double, then softmax and the weighted sum of values.
void attention_naive(const Args& a) {
  const Problem P = read_problem(a);
  std::vector<double> s(static_cast<size_t>(P.Tk)), acc(static_cast<size_t>(P.Dv));
  for (int64_t b = 0; b < P.B; b++) {
    for (int64_t h = 0; h < P.Hq; h++) {
      const int64_t kvh = h * P.Hkv / P.Hq;
      for (int64_t i = 0; i < P.Tq; i++) {
        const float* q = P.q + b * P.qs[0] + h * P.qs[1] + i * P.qs[2];
        double mx = -INFINITY;
        for (int64_t j = 0; j < P.Tk; j++) {
          const bool visible = (!P.causal || j <= P.Tk - P.Tq + i) && (!P.mask || P.mask[b * P.ms[0] + j * P.ms[1]]);
          s[j] = -INFINITY;
          if (!visible) continue;
          const int64_t k = b * P.ks[0] + kvh * P.ks[1] + j * P.ks[2];
          double dot = 0;
          for (int64_t d = 0; d < P.D; d++) dot += double(q[d]) * kv_at(P, P.k, k + d);
          s[j] = dot * P.scale;
          if (s[j] > mx) mx = s[j];
        }
        double den = 0;
        for (auto& x : acc) x = 0;
        for (int64_t j = 0; j < P.Tk && mx != -INFINITY; j++) {
          if (s[j] == -INFINITY) continue;
          const double p = std::exp(s[j] - mx);
          den += p;
          const int64_t v = b * P.vs[0] + kvh * P.vs[1] + j * P.vs[2];
          for (int64_t d = 0; d < P.Dv; d++) acc[d] += p * kv_at(P, P.v, v + d);
        }
        float* o = P.out + b * P.os[0] + h * P.os[1] + i * P.os[2];
        for (int64_t d = 0; d < P.Dv; d++) o[d] = den > 0 ? static_cast<float>(acc[d] / den) : 0.0f;
      }
    }
  }
}

}  // namespace

void attention_with(const Args& a, const AttnLoops& f) {
  const Problem P = read_problem(a);
  if (P.B == 0 || P.Hq == 0 || P.Tq == 0 || P.Dv == 0) return;
  const Plan L = make_plan(P);
  const int64_t items = L.tasks * L.chunks;
  const int64_t work = L.rows() * (P.Tk / L.chunks + 1) * (P.D + P.Dv + 1);  // per item, in multiply-adds
  // Waking the pool costs tens of microseconds on a busy machine: give each thread at least ~2^18 multiply-adds.
  const int64_t per = work >= (1 << 18) ? 1 : ((1 << 18) + work - 1) / work;
  const int64_t scratch_per = scratch_floats(P, L);
  const int64_t sf = L.chunks > 1 ? state_floats(P, L) : 0;
  // Kept per calling thread and reused: a fresh buffer per call would be page-faulted in every time.
  thread_local std::vector<float> scratch, states;
  const int nt = threads_for(items, per);
  const size_t need = static_cast<size_t>(scratch_per * nt);
  if (scratch.size() < need) scratch.resize(need);
  if (states.size() < static_cast<size_t>(items * sf)) states.resize(static_cast<size_t>(items * sf));
  float* sbase = scratch.data();
  float* stbase = states.data();
  // Items are claimed one at a time rather than split up front: the cores are shared, and a thread that is
  // descheduled mid-call then delays the call by one item, not by half of it (nor by its wake-up: claim_each).
  std::atomic<int64_t> next{0};
  claim_each(nt, [&](int tid) {
    float* s = sbase + scratch_per * tid;
    for (int64_t it = next.fetch_add(1, std::memory_order_relaxed); it < items; it = next.fetch_add(1, std::memory_order_relaxed)) {
      run_item(P, L, f, it / L.chunks, it % L.chunks, s, sf ? stbase + it * sf : nullptr);
    }
  });
  if (sf) merge_states(P, L, stbase);
}

}  // namespace llava

LLAVA_KERNEL("attention_f32", llava::ISA_SCALAR, llava::attention_scalar);
LLAVA_KERNEL("attention_f32", llava::ISA_NAIVE, llava::attention_naive);
