// layer_norm_f32 and rms_norm_f32 over the last dim (parameters in norm.h): the drivers (checks, affine
// vectors made contiguous, rows split across threads), the scalar row loops and the naive twins.
// LayerNorm uses two passes (mean, then Σ(x − mean)²) for a variance without cancellation; RMSNorm follows
// the HF LLaMA order x̂ = x·(1/sqrt(mean(x²) + eps)), then x̂·w, with a true square root.
//
// Not here: vector loops (norm_avx2.cc), backward (the ops compose it from elementwise ops).
#include "norm.h"

#include <cmath>
#include <vector>

#include "../strided.h"

namespace llava {
namespace {

constexpr int64_t kMinPerThread = 1 << 14;  // elements

struct Affine {
  const float* w = nullptr;
  const float* b = nullptr;
  std::vector<float> wc, bc;  // contiguous copies of strided w/b
};

// Reads `has, offset, stride` of an optional [n] vector in buffer `buf`; returns it contiguous (or null).
const float* read_vec(const Args& a, int* p, int buf, int64_t n, std::vector<float>* copy, const char* what) {
  const int64_t has = a.i((*p)++), off = a.i((*p)++), st = a.i((*p)++);
  if (!has) return nullptr;
  const float* v = reinterpret_cast<const float*>(check_vector(a, buf, 4, off, n, st, what));
  if (st == 1) return v;
  copy->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) (*copy)[i] = v[i * st];
  return copy->data();
}

struct Call {
  const NormLoops* f;
  const float* w;
  const float* b;
  float eps;
};

void read_rows(const Args& a, int* p, Layout* L) {
  read_shape(a, p, L);
  if (L->nd < 1) a.fail("x must have at least one dim");
  read_operand(a, p, L, 0, 4, "out");
  read_operand(a, p, L, 1, 4, "x");
}

void layer_norm_scalar_row(float* out, const float* x, int64_t n, const float* w, const float* b, float eps) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += x[i];
  const float mean = static_cast<float>(s / n);
  double v = 0;
  for (int64_t i = 0; i < n; i++) {
    const float d = x[i] - mean;
    v += d * d;
  }
  const float rstd = 1.0f / std::sqrt(static_cast<float>(v / n) + eps);
  for (int64_t i = 0; i < n; i++) {
    float y = (x[i] - mean) * rstd;
    if (w) y *= w[i];
    if (b) y += b[i];
    out[i] = y;
  }
}

void rms_norm_scalar_row(float* out, const float* x, int64_t n, const float* w, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
  const float r = 1.0f / std::sqrt(static_cast<float>(ss / n) + eps);
  for (int64_t i = 0; i < n; i++) out[i] = w ? (x[i] * r) * w[i] : x[i] * r;
}

const NormLoops kScalar = {layer_norm_scalar_row, rms_norm_scalar_row};

// Naive rows: every statistic in double, rounded once on store (as the ts reference computes).
void layer_norm_naive_row(float* out, const float* x, int64_t n, const float* w, const float* b, float eps) {
  double mean = 0, var = 0;
  for (int64_t i = 0; i < n; i++) mean += x[i];
  mean /= n;
  for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
  var /= n;
  const double rstd = 1 / std::sqrt(var + eps);
  for (int64_t i = 0; i < n; i++) {
    double y = (x[i] - mean) * rstd;
    if (w) y *= w[i];
    if (b) y += b[i];
    out[i] = static_cast<float>(y);
  }
}

void rms_norm_naive_row(float* out, const float* x, int64_t n, const float* w, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; i++) ss += double(x[i]) * x[i];
  const double r = 1 / std::sqrt(ss / n + eps);
  for (int64_t i = 0; i < n; i++) out[i] = static_cast<float>(w ? x[i] * r * w[i] : x[i] * r);
}

const NormLoops kNaive = {layer_norm_naive_row, rms_norm_naive_row};

void layer_norm_scalar(const Args& a) { layer_norm_with(a, kScalar); }
void rms_norm_scalar(const Args& a) { rms_norm_with(a, kScalar); }
void layer_norm_naive(const Args& a) { layer_norm_with(a, kNaive); }
void rms_norm_naive(const Args& a) { rms_norm_with(a, kNaive); }

}  // namespace

void layer_norm_with(const Args& a, const NormLoops& f) {
  const float eps = static_cast<float>(a.f(0));
  // The shape comes after the affine vectors in the parameters, so read it first to size them.
  int p = 7;
  Layout L;
  read_rows(a, &p, &L);
  const int64_t n = L.shape[L.nd - 1];
  Affine af;
  p = 1;
  af.w = read_vec(a, &p, 2, n, &af.wc, "weight");
  af.b = read_vec(a, &p, 3, n, &af.bc, "bias");
  const Call c{&f, af.w, af.b, eps};
  run_row_pairs(&L, [](const void* cp, float* out, const float* x, int64_t len) {
    const Call* k = static_cast<const Call*>(cp);
    k->f->layer_norm(out, x, len, k->w, k->b, k->eps);
  }, &c, kMinPerThread);
}

void rms_norm_with(const Args& a, const NormLoops& f) {
  const float eps = static_cast<float>(a.f(0));
  int p = 4;
  Layout L;
  read_rows(a, &p, &L);
  const int64_t n = L.shape[L.nd - 1];
  Affine af;
  p = 1;
  af.w = read_vec(a, &p, 2, n, &af.wc, "weight");
  const Call c{&f, af.w, nullptr, eps};
  run_row_pairs(&L, [](const void* cp, float* out, const float* x, int64_t len) {
    const Call* k = static_cast<const Call*>(cp);
    k->f->rms_norm(out, x, len, k->w, k->eps);
  }, &c, kMinPerThread);
}

}  // namespace llava

LLAVA_KERNEL("layer_norm_f32", llava::ISA_SCALAR, llava::layer_norm_scalar);
LLAVA_KERNEL("layer_norm_f32", llava::ISA_NAIVE, llava::layer_norm_naive);
LLAVA_KERNEL("rms_norm_f32", llava::ISA_SCALAR, llava::rms_norm_scalar);
LLAVA_KERNEL("rms_norm_f32", llava::ISA_NAIVE, llava::rms_norm_naive);
