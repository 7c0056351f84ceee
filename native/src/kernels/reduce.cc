// reduce_f32: sum/max/min/argmax/argmin of f32 over any set of axes (parameters in reduce.h), and its naive
// twin. The driver plans the reduction once: kept dims and reduced dims are separated and merged where
// contiguous, then one of two loop orders runs:
//   rows     each output element reduces its own sub-array (best when the innermost reduced dim is
//            contiguous, e.g. a sum over the last axis);
//   columns  blocks of a contiguous innermost kept dim accumulate whole input rows (e.g. a bias gradient:
//            a sum over the leading axes), so memory is read in order.
// Sums accumulate in double (the ts reference does too), so results differ from ts only by the order of
// double additions. max/min propagate NaN; argmax/argmin return the first index of the extreme (or NaN).
//
// Not here: the vector loops (reduce_avx2.cc), mean (an op over sum), softmax/norm row statistics.
#include "reduce.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../strided.h"
#include "../threadpool.h"

namespace llava {
namespace {

constexpr int64_t kMinPerThread = 1 << 15;  // input elements
constexpr int64_t kColBlock = 256;          // kept elements per column-mode task

static inline bool better(float v, float cur, bool is_max) {
  if (v != v) return cur == cur;
  return is_max ? v > cur : v < cur;
}

struct Plan {
  int op = 0;
  const float* x = nullptr;
  uint8_t* out = nullptr;
  int nk = 0, nr = 0;
  int64_t kn[kMaxDims], kst[kMaxDims];  // kept dims (out is contiguous over them, in this order)
  int64_t rn[kMaxDims], rst[kMaxDims];  // reduced dims
  int64_t M = 1, R = 1;                 // output elements, elements per output
};

// Parses and checks a call; returns false when there is nothing to do (empty output).
bool make_plan(const Args& a, Plan* P, Layout* L, int64_t* mask_out) {
  const int64_t op = a.i(0);
  if (op < 0 || op >= R_COUNT) a.fail("unknown reduce op code " + std::to_string(op));
  P->op = static_cast<int>(op);
  int p = 1;
  read_shape(a, &p, L);
  read_operand(a, &p, L, 1, 4, "x");
  const int64_t out_off = a.i(p++), mask = a.i(p++);
  const int nd = L->nd;
  if (mask < 0 || (nd < 62 && mask >= (int64_t(1) << nd))) a.fail("axis mask " + std::to_string(mask) + " names dims beyond rank " + std::to_string(nd));
  const bool arg = P->op == R_ARGMAX || P->op == R_ARGMIN;
  if (arg && (mask == 0 || (mask & (mask - 1)) != 0)) a.fail("argmax/argmin reduce exactly one axis");
  *mask_out = mask;
  P->x = reinterpret_cast<const float*>(L->base[0]);
  for (int d = 0; d < nd; d++) {
    const int64_t n = L->shape[d], s = L->st[0][d];
    if (mask >> d & 1) {
      P->R *= n;
      if (n != 1 || arg) { P->rn[P->nr] = n; P->rst[P->nr++] = s; }
    } else {
      P->M *= n;
      if (n != 1) { P->kn[P->nk] = n; P->kst[P->nk++] = s; }
    }
  }
  P->out = a.checked(0, out_off * 4, P->M * 4);
  if (P->M == 0) return false;
  if (P->R == 0 && P->op != R_SUM) a.fail("cannot reduce over an empty dim");
  return true;
}

// Merges neighbouring dims that are contiguous with each other (kept dims: out is contiguous over them).
void merge(int* n, int64_t* sz, int64_t* st) {
  int o = 0;
  for (int d = 0; d < *n; d++) {
    if (o > 0 && st[o - 1] == st[d] * sz[d]) {
      sz[o - 1] *= sz[d];
      st[o - 1] = st[d];
    } else {
      sz[o] = sz[d];
      st[o] = st[d];
      o++;
    }
  }
  *n = o;
}

// x offset of the first element of output `slot` (kept dims [0, nk) unravelled).
static inline int64_t kept_offset(const Plan& P, int nk, int64_t slot) {
  int64_t off = 0;
  for (int d = nk - 1; d >= 0; d--) {
    off += (slot % P.kn[d]) * P.kst[d];
    slot /= P.kn[d];
  }
  return off;
}

void store(const Plan& P, int64_t slot, double sum, float ext, int64_t arg) {
  if (P.op == R_SUM) reinterpret_cast<float*>(P.out)[slot] = static_cast<float>(sum);
  else if (P.op == R_MAX || P.op == R_MIN) reinterpret_cast<float*>(P.out)[slot] = ext;
  else reinterpret_cast<int32_t*>(P.out)[slot] = static_cast<int32_t>(arg);
}

// Row mode: output `slot` reduces the reduced dims below `base`, the last one as a (strided) row.
void reduce_slot(const Plan& P, const ReduceLoops& f, int64_t slot, int64_t base) {
  const bool is_max = P.op == R_MAX || P.op == R_ARGMAX;
  if (P.R == 0) return store(P, slot, 0, 0, 0);
  const int last = P.nr - 1;
  const int64_t n = P.rn[last], st = P.rst[last];
  const int64_t rows = P.R / n;
  int64_t idx[kMaxDims] = {};
  int64_t off = base;
  double sum = 0;
  float ext = 0;
  int64_t arg = 0;
  for (int64_t r = 0; r < rows; r++) {
    if (P.op == R_SUM) {
      sum += f.sum_row(P.x + off, n, st);
    } else {
      int64_t i = 0;
      const float v = f.ext_row(P.x + off, n, st, is_max, &i);
      if (r == 0 || better(v, ext, is_max)) { ext = v; arg = i; }
    }
    for (int d = last - 1; d >= 0; d--) {
      off += P.rst[d];
      if (++idx[d] < P.rn[d]) break;
      off -= P.rst[d] * P.rn[d];
      idx[d] = 0;
    }
  }
  store(P, slot, sum, ext, arg);
}

void run_row_mode(const Plan& P, const ReduceLoops& f) {
  const int64_t per = P.R > 0 ? (kMinPerThread + P.R - 1) / P.R : kMinPerThread;
  parallel_for(P.M, per, [&](int64_t b, int64_t e, int) {
    for (int64_t s = b; s < e; s++) reduce_slot(P, f, s, kept_offset(P, P.nk, s));
  });
}

// Column mode: the last kept dim is contiguous in x; tasks are (outer kept index, block of it).
void run_col_mode(const Plan& P, const ReduceLoops& f) {
  const int64_t inner = P.kn[P.nk - 1];
  const int64_t nblk = (inner + kColBlock - 1) / kColBlock;
  const int64_t tasks = (P.M / inner) * nblk;
  const bool is_max = P.op == R_MAX || P.op == R_ARGMAX;
  const int64_t per = (kMinPerThread + P.R * kColBlock - 1) / (P.R * kColBlock);
  parallel_for(tasks, per, [&](int64_t b, int64_t e, int) {
    double accd[kColBlock];
    float accf[kColBlock];
    int32_t arg[kColBlock];
    for (int64_t t = b; t < e; t++) {
      const int64_t ko = t / nblk, j0 = (t % nblk) * kColBlock;
      const int64_t w = inner - j0 < kColBlock ? inner - j0 : kColBlock;
      const float* xb = P.x + kept_offset(P, P.nk - 1, ko) + j0;
      int64_t idx[kMaxDims] = {};
      int64_t off = 0;
      if (P.op == R_SUM) std::memset(accd, 0, sizeof accd);
      for (int64_t r = 0; r < P.R; r++) {
        if (P.op == R_SUM) {
          f.sum_cols(accd, xb + off, w);
        } else if (r == 0) {
          std::memcpy(accf, xb, w * sizeof(float));
          std::memset(arg, 0, sizeof arg);
        } else {
          f.ext_cols(accf, P.op >= R_ARGMAX ? arg : nullptr, xb + off, w, is_max, static_cast<int32_t>(r));
        }
        for (int d = P.nr - 1; d >= 0; d--) {
          off += P.rst[d];
          if (++idx[d] < P.rn[d]) break;
          off -= P.rst[d] * P.rn[d];
          idx[d] = 0;
        }
      }
      const int64_t slot = ko * inner + j0;
      for (int64_t j = 0; j < w; j++) store(P, slot + j, P.op == R_SUM ? accd[j] : 0, accf[j], arg[j]);
    }
  });
}

double sum_row_scalar(const float* x, int64_t n, int64_t st) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  if (st == 1) {
    for (; i + 4 <= n; i += 4) { s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3]; }
  }
  for (; i < n; i++) s0 += x[i * st];
  return (s0 + s1) + (s2 + s3);
}


void sum_cols_scalar(double* acc, const float* x, int64_t n) {
  for (int64_t j = 0; j < n; j++) acc[j] += x[j];
}

void ext_cols_scalar(float* acc, int32_t* arg, const float* x, int64_t n, bool is_max, int32_t idx) {
  for (int64_t j = 0; j < n; j++) {
    if (better(x[j], acc[j], is_max)) {
      acc[j] = x[j];
      if (arg) arg[j] = idx;
    }
  }
}

}  // namespace

// Shared with the AVX2 unit for strided or short rows.
float ext_row_scalar(const float* x, int64_t n, int64_t st, bool is_max, int64_t* arg) {
  float cur = x[0];
  int64_t at = 0;
  for (int64_t i = 1; i < n; i++) {
    const float v = x[i * st];
    if (better(v, cur, is_max)) { cur = v; at = i; }
  }
  *arg = at;
  return cur;
}

namespace {

const ReduceLoops kScalarLoops = {sum_row_scalar, ext_row_scalar, sum_cols_scalar, ext_cols_scalar};

void reduce_scalar(const Args& a) { reduce_with(a, kScalarLoops); }

// Naive twin: the ts algorithm — every x element in logical order, mapped to its output slot.
void reduce_naive(const Args& a) {
  Plan P;
  Layout L;
  int64_t mask;
  if (!make_plan(a, &P, &L, &mask)) return;
  const int nd = L.nd;
  int64_t ost[kMaxDims];
  int64_t acc_stride = 1;
  for (int d = nd - 1; d >= 0; d--) {
    ost[d] = (mask >> d & 1) ? 0 : acc_stride;
    if (!(mask >> d & 1)) acc_stride *= L.shape[d];
  }
  int axis = 0;
  while (axis < nd && !(mask >> axis & 1)) axis++;
  std::vector<double> acc(P.M, 0.0);
  std::vector<int64_t> arg(P.M, 0);
  std::vector<uint8_t> seen(P.M, 0);
  const bool is_max = P.op == R_MAX || P.op == R_ARGMAX;
  int64_t idx[kMaxDims] = {};
  int64_t xo = 0, oo = 0;
  for (int64_t i = 0; i < L.numel; i++) {
    const float v = P.x[xo];
    if (P.op == R_SUM) {
      acc[oo] += v;
    } else if (!seen[oo] || better(v, static_cast<float>(acc[oo]), is_max)) {
      acc[oo] = v;
      arg[oo] = axis < nd ? idx[axis] : 0;
      seen[oo] = 1;
    }
    for (int d = nd - 1; d >= 0; d--) {
      xo += L.st[0][d];
      oo += ost[d];
      if (++idx[d] < L.shape[d]) break;
      xo -= L.st[0][d] * L.shape[d];
      oo -= ost[d] * L.shape[d];
      idx[d] = 0;
    }
  }
  for (int64_t s = 0; s < P.M; s++) store(P, s, acc[s], static_cast<float>(acc[s]), arg[s]);
}

}  // namespace

void reduce_with(const Args& a, const ReduceLoops& loops) {
  Plan P;
  Layout L;
  int64_t mask;
  if (!make_plan(a, &P, &L, &mask)) return;
  merge(&P.nk, P.kn, P.kst);
  if (P.op == R_SUM || P.op == R_MAX || P.op == R_MIN) merge(&P.nr, P.rn, P.rst);
  if (P.nr == 0) {  // every reduced dim has size 1: each output reads one element
    P.rn[0] = 1;
    P.rst[0] = 0;
    P.nr = 1;
  }
  const bool rows_contiguous = P.rst[P.nr - 1] == 1 && P.rn[P.nr - 1] > 1;
  if (!rows_contiguous && P.nk > 0 && P.kst[P.nk - 1] == 1 && P.kn[P.nk - 1] >= 8 && P.R > 0) run_col_mode(P, loops);
  else run_row_mode(P, loops);
}

}  // namespace llava

LLAVA_KERNEL("reduce_f32", llava::ISA_SCALAR, llava::reduce_scalar);
LLAVA_KERNEL("reduce_f32", llava::ISA_NAIVE, llava::reduce_naive);
