// layer_norm_f32 / rms_norm_f32, AVX2 variant: row loops with four 8-lane accumulators (32 partial sums,
// so f32 sums stay accurate over rows of thousands) and FMA; the drivers are norm.cc's.
#include <cmath>

#include "../simd.h"
#include "../vecmath.h"
#include "norm.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace llava {
namespace {

// Σ x and Σ (x − c)², masked tails.
static float row_sum(const float* x, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
  if (i < n) a1 = _mm256_add_ps(a1, _mm256_maskload_ps(x + i, vm::tail_mask(n - i)));
  return vm::hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

static float row_sq_dev(const float* x, int64_t n, float c) {
  const __m256 vc = _mm256_set1_ps(c);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vc), d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vc);
    const __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 16), vc), d3 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 24), vc);
    a0 = _mm256_fmadd_ps(d0, d0, a0);
    a1 = _mm256_fmadd_ps(d1, d1, a1);
    a2 = _mm256_fmadd_ps(d2, d2, a2);
    a3 = _mm256_fmadd_ps(d3, d3, a3);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vc);
    a0 = _mm256_fmadd_ps(d, d, a0);
  }
  if (i < n) {
    const __m256i m = vm::tail_mask(n - i);
    const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vc), _mm256_castsi256_ps(m));
    a1 = _mm256_fmadd_ps(d, d, a1);
  }
  return vm::hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

void layer_norm_row(float* out, const float* x, int64_t n, const float* w, const float* b, float eps) {
  const float mean = row_sum(x, n) / static_cast<float>(n);
  const float var = row_sq_dev(x, n, mean) / static_cast<float>(n);
  const float rstd = 1.0f / std::sqrt(var + eps);
  const __m256 vm_ = _mm256_set1_ps(mean), vr = _mm256_set1_ps(rstd);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 y = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm_), vr);
    if (w) y = _mm256_mul_ps(y, _mm256_loadu_ps(w + i));
    if (b) y = _mm256_add_ps(y, _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(out + i, y);
  }
  for (; i < n; i++) {
    float y = (x[i] - mean) * rstd;
    if (w) y *= w[i];
    if (b) y += b[i];
    out[i] = y;
  }
}

void rms_norm_row(float* out, const float* x, int64_t n, const float* w, float eps) {
  const float ms = row_sq_dev(x, n, 0.0f) / static_cast<float>(n);
  const float r = 1.0f / std::sqrt(ms + eps);
  const __m256 vr = _mm256_set1_ps(r);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 y = _mm256_mul_ps(_mm256_loadu_ps(x + i), vr);
    if (w) y = _mm256_mul_ps(y, _mm256_loadu_ps(w + i));
    _mm256_storeu_ps(out + i, y);
  }
  for (; i < n; i++) out[i] = w ? (x[i] * r) * w[i] : x[i] * r;
}

const NormLoops kAvx2 = {layer_norm_row, rms_norm_row};

void layer_norm_avx2(const Args& a) { layer_norm_with(a, kAvx2); }
void rms_norm_avx2(const Args& a) { rms_norm_with(a, kAvx2); }

}  // namespace
}  // namespace llava
LLAVA_AVX2_END

LLAVA_KERNEL("layer_norm_f32", llava::ISA_AVX2, llava::layer_norm_avx2);
LLAVA_KERNEL("rms_norm_f32", llava::ISA_AVX2, llava::rms_norm_avx2);
#endif
