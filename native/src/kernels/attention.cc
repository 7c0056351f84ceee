// attention_f32: fused scaled-dot-product attention forward (parameters in attention.h) with GQA (query
// head h reads kv head ⌊h·Hkv/Hq⌋), causal masking with the queries at the last Tq of Tk positions, an
// optional [B, Tk] key mask, and zeros for a query that sees no key.
//
// Flash-style: tasks are (batch, head, block of up to 16 queries), split across threads; each task walks
// the visible keys in blocks of 64 keeping a running max, denominator and output accumulator per query
// (online softmax), so no Tq × Tk score matrix exists and each key block is read once per query block.
// Keys and values may be stored as f16/bf16 (a half KV cache read in place): each key block is widened
// exactly into the task's scratch before the f32 loops run on it, so the result is that of f32 k, v holding
// the decoded values, and the cache is read once at half width with no f32 copy of it anywhere.
// The scalar loops and the driver are here, with the naive twin (the textbook loop in double over a full
// score row); vector loops are in attention_avx2.cc.
//
// Not here: backward (the op recomputes attention with ops), the rope and KV-cache plumbing.
#include "attention.h"

#include <cmath>
#include <string>
#include <vector>

#include "../half.h"
#include "../strided.h"
#include "../threadpool.h"

namespace llava {
namespace {

constexpr int64_t kBq = 16;  // queries per task
constexpr int64_t kBk = 64;  // keys per block

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

// Scratch floats per task: scores, output accumulators, running max and sum, and (half k/v) one widened
// key block and one value block.
int64_t scratch_floats(const Problem& P) {
  return kBq * kBk + kBq * P.Dv + 2 * kBq + (P.kv != 0 ? kBk * (P.D + P.Dv) : 0);
}

// One task: queries [i0, i0 + nq) of head h in batch b. `s` is this thread's scratch.

void run_task(const Problem& P, const AttnLoops& f, int64_t b, int64_t h, int64_t i0, int64_t nq, float* s) {
  float* S = s;
  float* O = S + kBq * kBk;
  float* m = O + kBq * P.Dv;
  float* l = m + kBq;
  float* Kw = l + kBq;       // widened key block [kBk, D] (half k/v only)
  float* Vw = Kw + kBk * P.D;  // widened value block [kBk, Dv]
  const int64_t kvh = h * P.Hkv / P.Hq;
  const int64_t esize = P.kv == 0 ? 4 : 2;
  const float* q0 = P.q + b * P.qs[0] + h * P.qs[1] + i0 * P.qs[2];
  const uint8_t* kb = P.k + (b * P.ks[0] + kvh * P.ks[1]) * esize;
  const uint8_t* vb = P.v + (b * P.vs[0] + kvh * P.vs[1]) * esize;
  const uint8_t* mb = P.mask ? P.mask + b * P.ms[0] : nullptr;
  const int64_t shift = P.Tk - P.Tq;  // query i sees keys j <= shift + i when causal
  int64_t jend = P.causal ? shift + i0 + nq : P.Tk;
  if (jend > P.Tk) jend = P.Tk;
  for (int64_t qi = 0; qi < nq; qi++) {
    m[qi] = -INFINITY;
    l[qi] = 0;
    for (int64_t d = 0; d < P.Dv; d++) O[qi * P.Dv + d] = 0;
  }
  for (int64_t j0 = 0; j0 < jend; j0 += kBk) {
    const int64_t nk = jend - j0 < kBk ? jend - j0 : kBk;
    const float* kj;
    const float* vj;
    int64_t ks, vs;
    if (P.kv == 0) {
      kj = reinterpret_cast<const float*>(kb) + j0 * P.ks[2], ks = P.ks[2];
      vj = reinterpret_cast<const float*>(vb) + j0 * P.vs[2], vs = P.vs[2];
    } else {
      f.widen(Kw, reinterpret_cast<const uint16_t*>(kb) + j0 * P.ks[2], P.ks[2], nk, P.D, P.kv);
      f.widen(Vw, reinterpret_cast<const uint16_t*>(vb) + j0 * P.vs[2], P.vs[2], nk, P.Dv, P.kv);
      kj = Kw, ks = P.D, vj = Vw, vs = P.Dv;
    }
    f.scores(S, kBk, q0, P.qs[2], nq, kj, ks, nk, P.D, P.scale);
    for (int64_t qi = 0; qi < nq; qi++) {
      float* row = S + qi * kBk;
      if (mb) {
        for (int64_t j = 0; j < nk; j++) if (!mb[(j0 + j) * P.ms[1]]) row[j] = -INFINITY;
      }
      if (P.causal) {
        const int64_t lim = shift + i0 + qi - j0;  // last visible j in this block
        for (int64_t j = lim + 1 < 0 ? 0 : lim + 1; j < nk; j++) row[j] = -INFINITY;
      }
      float bm = -INFINITY;
      for (int64_t j = 0; j < nk; j++) bm = row[j] > bm ? row[j] : bm;
      if (bm == -INFINITY) continue;
      const float mnew = m[qi] > bm ? m[qi] : bm;
      const float c = m[qi] == -INFINITY ? 0.0f : std::exp(m[qi] - mnew);
      const float sum = f.exp_shift(row, nk, mnew);
      l[qi] = l[qi] * c + sum;
      f.accumulate(O + qi * P.Dv, c, row, nk, vj, vs, P.Dv);
      m[qi] = mnew;
    }
  }
  for (int64_t qi = 0; qi < nq; qi++) {
    float* o = P.out + b * P.os[0] + h * P.os[1] + (i0 + qi) * P.os[2];
    const float inv = l[qi] > 0 ? 1.0f / l[qi] : 0.0f;
    for (int64_t d = 0; d < P.Dv; d++) o[d] = l[qi] > 0 ? O[qi * P.Dv + d] * inv : 0.0f;
  }
}

void scores_scalar(float* S, int64_t ls, const float* q, int64_t qs, int64_t nq, const float* k, int64_t ks, int64_t nk,
                   int64_t D, float scale) {
  for (int64_t qi = 0; qi < nq; qi++) {
    for (int64_t j = 0; j < nk; j++) {
      const float* a = q + qi * qs;
      const float* b = k + j * ks;
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t d = 0;
      for (; d + 4 <= D; d += 4) {
        s0 += a[d] * b[d];
        s1 += a[d + 1] * b[d + 1];
        s2 += a[d + 2] * b[d + 2];
        s3 += a[d + 3] * b[d + 3];
      }
      for (; d < D; d++) s0 += a[d] * b[d];
      S[qi * ls + j] = ((s0 + s1) + (s2 + s3)) * scale;
    }
  }
}

float exp_shift_scalar(float* p, int64_t n, float m) {
  float s = 0;
  for (int64_t j = 0; j < n; j++) s += (p[j] = std::exp(p[j] - m));
  return s;
}

void accumulate_scalar(float* o, float c, const float* p, int64_t n, const float* v, int64_t vs, int64_t Dv) {
  for (int64_t d = 0; d < Dv; d++) o[d] *= c;
  for (int64_t j = 0; j < n; j++) {
    const float pj = p[j];
    if (pj == 0) continue;
    const float* vj = v + j * vs;
    for (int64_t d = 0; d < Dv; d++) o[d] += pj * vj[d];
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

const AttnLoops kScalar = {scores_scalar, exp_shift_scalar, accumulate_scalar, widen_scalar};

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
  const int64_t qblocks = (P.Tq + kBq - 1) / kBq;
  const int64_t tasks = P.B * P.Hq * qblocks;
  if (tasks == 0) return;
  const int64_t bq = P.Tq < kBq ? P.Tq : kBq;
  const int64_t work = bq * (P.Tk + 1) * (P.D + P.Dv + 1);  // per task, in multiply-adds
  // Waking the pool costs tens of microseconds on a busy machine: give each thread at least ~2^18 multiply-adds.
  const int64_t per = work >= (1 << 18) ? 1 : ((1 << 18) + work - 1) / work;
  const int64_t scratch_per = scratch_floats(P);
  std::vector<float> scratch(static_cast<size_t>(scratch_per * threads_for(tasks, per)));
  parallel_for(tasks, per, [&](int64_t t0, int64_t t1, int tid) {
    float* s = scratch.data() + scratch_per * tid;
    for (int64_t t = t0; t < t1; t++) {
      const int64_t qb = t % qblocks, bh = t / qblocks;
      const int64_t i0 = qb * kBq;
      run_task(P, f, bh / P.Hq, bh % P.Hq, i0, P.Tq - i0 < kBq ? P.Tq - i0 : kBq, s);
    }
  });
}

}  // namespace llava

LLAVA_KERNEL("attention_f32", llava::ISA_SCALAR, llava::attention_scalar);
LLAVA_KERNEL("attention_f32", llava::ISA_NAIVE, llava::attention_naive);
