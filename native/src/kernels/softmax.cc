// softmax_f32 (softmax / log-softmax over the last dim) and cross_entropy_f32 (per-row loss), parameters
// in softmax.h: drivers, scalar row loops (<cmath> expf), naive twins (double). Rows are max-shifted, so
// large logits do not overflow; a row holding NaN or +inf gives NaN, as in the ts reference.
//
// Not here: vector loops (softmax_avx2.cc), the loss reduction and backward (ops/loss.ts).
#include "softmax.h"

#include <cmath>
#include <string>
#include <vector>

#include "../strided.h"
#include "../threadpool.h"

namespace llava {
namespace {

constexpr int64_t kMinPerThread = 1 << 13;  // elements (each costs an exp)

void softmax_scalar_row(float* out, const float* x, int64_t n, bool log) {
  float m = x[0];
  for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  float s = 0;
  for (int64_t i = 0; i < n; i++) s += log ? std::exp(x[i] - m) : (out[i] = std::exp(x[i] - m));
  if (log) {
    const float ls = std::log(s);
    for (int64_t i = 0; i < n; i++) out[i] = (x[i] - m) - ls;
  } else {
    for (int64_t i = 0; i < n; i++) out[i] /= s;
  }
}

float logsumexp_scalar(const float* x, int64_t n) {
  float m = x[0];
  for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  float s = 0;
  for (int64_t i = 0; i < n; i++) s += std::exp(x[i] - m);
  return m + std::log(s);
}

const SoftmaxLoops kScalar = {softmax_scalar_row, logsumexp_scalar};

// Naive twins: double throughout, NaN-propagating max (Math.max semantics).
double naive_max(const float* x, int64_t n) {
  double m = -INFINITY;
  for (int64_t i = 0; i < n; i++) m = (x[i] != x[i] || m != m) ? NAN : (x[i] > m ? x[i] : m);
  return m;
}

void softmax_naive_row(float* out, const float* x, int64_t n, bool log) {
  const double m = naive_max(x, n);
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += std::exp(x[i] - m);
  for (int64_t i = 0; i < n; i++) out[i] = static_cast<float>(log ? (x[i] - m) - std::log(s) : std::exp(x[i] - m) / s);
}

float logsumexp_naive(const float* x, int64_t n) {
  const double m = naive_max(x, n);
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += std::exp(x[i] - m);
  return static_cast<float>(m + std::log(s));
}

const SoftmaxLoops kNaive = {softmax_naive_row, logsumexp_naive};

void softmax_scalar(const Args& a) { softmax_with(a, kScalar); }
void softmax_naive(const Args& a) { softmax_with(a, kNaive); }
void cross_entropy_scalar(const Args& a) { cross_entropy_with(a, kScalar); }
void cross_entropy_naive(const Args& a) { cross_entropy_with(a, kNaive); }

}  // namespace

void softmax_with(const Args& a, const SoftmaxLoops& f) {
  struct Call {
    const SoftmaxLoops* f;
    bool log;
  } c{&f, a.i(0) != 0};
  int p = 1;
  Layout L;
  read_shape(a, &p, &L);
  if (L.nd < 1) a.fail("x must have at least one dim");
  read_operand(a, &p, &L, 0, 4, "out");
  read_operand(a, &p, &L, 1, 4, "x");
  run_row_pairs(&L, [](const void* cp, float* out, const float* x, int64_t n) {
    const Call* k = static_cast<const Call*>(cp);
    k->f->softmax(out, x, n, k->log);
  }, &c, kMinPerThread);
}

void cross_entropy_with(const Args& a, const SoftmaxLoops& f) {
  const int64_t ignore = a.i(0), N = a.i(1), V = a.i(2);
  const int64_t lshape[2] = {N, V}, lst[2] = {a.i(4), a.i(5)};
  const float* logits = reinterpret_cast<const float*>(check_view(a, 1, 4, a.i(3), 2, lshape, lst, "logits"));
  const int64_t tst = a.i(7), ost = a.i(9);
  const int32_t* t = reinterpret_cast<const int32_t*>(check_vector(a, 2, 4, a.i(6), N, tst, "targets"));
  float* out = reinterpret_cast<float*>(check_vector(a, 0, 4, a.i(8), N, ost, "out"));
  for (int64_t n = 0; n < N; n++) {
    const int64_t v = t[n * tst];
    if (v != ignore && (v < 0 || v >= V)) {
      a.fail("target " + std::to_string(v) + " of row " + std::to_string(n) + " is outside [0, " + std::to_string(V) + ")");
    }
  }
  const int64_t per = V > 0 ? (kMinPerThread + V - 1) / V : N + 1;
  std::vector<float> scratch(lst[1] == 1 ? 0 : static_cast<size_t>(V * threads_for(N, per)));
  parallel_for(N, per, [&](int64_t b, int64_t e, int tid) {
    for (int64_t n = b; n < e; n++) {
      const int64_t v = t[n * tst];
      if (v == ignore) {
        out[n * ost] = 0;
        continue;
      }
      const float* row = logits + n * lst[0];
      if (lst[1] != 1) {
        float* s = scratch.data() + V * tid;
        for (int64_t i = 0; i < V; i++) s[i] = row[i * lst[1]];
        row = s;
      }
      out[n * ost] = f.logsumexp(row, V) - row[v];
    }
  });
}

}  // namespace llava

LLAVA_KERNEL("softmax_f32", llava::ISA_SCALAR, llava::softmax_scalar);
LLAVA_KERNEL("softmax_f32", llava::ISA_NAIVE, llava::softmax_naive);
LLAVA_KERNEL("cross_entropy_f32", llava::ISA_SCALAR, llava::cross_entropy_scalar);
LLAVA_KERNEL("cross_entropy_f32", llava::ISA_NAIVE, llava::cross_entropy_naive);
