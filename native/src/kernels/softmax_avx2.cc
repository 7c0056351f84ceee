// softmax_f32 / cross_entropy_f32, AVX2 variant: row loops with vm::exp (masked tails, so every element
// uses the same formula); the drivers are softmax.cc's.
#include <cmath>

#include "../simd.h"
#include "../vecmath.h"
#include "softmax.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace llava {
namespace {

static float row_max(const float* x, int64_t n) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 m0 = ninf, m1 = ninf;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
  }
  for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
  if (i < n) {
    const __m256i m = vm::tail_mask(n - i);
    m1 = _mm256_max_ps(m1, _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m)));
  }
  return vm::hmax(_mm256_max_ps(m0, m1));
}

// Σ exp(x − m), also storing the exponentials to `e` when it is not null.
static float exp_sum(const float* x, int64_t n, float m, float* e) {
  const __m256 vm_ = _mm256_set1_ps(m);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 e0 = vm::exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm_));
    const __m256 e1 = vm::exp(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm_));
    if (e) {
      _mm256_storeu_ps(e + i, e0);
      _mm256_storeu_ps(e + i + 8, e1);
    }
    s0 = _mm256_add_ps(s0, e0);
    s1 = _mm256_add_ps(s1, e1);
  }
  for (; i < n; i += 8) {
    const __m256i mk = vm::tail_mask(n - i);
    const __m256 v = _mm256_and_ps(vm::exp(_mm256_sub_ps(_mm256_maskload_ps(x + i, mk), vm_)), _mm256_castsi256_ps(mk));
    if (e) _mm256_maskstore_ps(e + i, mk, v);
    s0 = _mm256_add_ps(s0, v);
  }
  return vm::hsum(_mm256_add_ps(s0, s1));
}

void softmax_row(float* out, const float* x, int64_t n, bool log) {
  const float m = row_max(x, n);
  if (log) {
    const float ls = std::log(exp_sum(x, n, m, nullptr));
    const __m256 vm_ = _mm256_set1_ps(m), vl = _mm256_set1_ps(ls);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm_), vl));
    for (; i < n; i++) out[i] = (x[i] - m) - ls;
    return;
  }
  const __m256 vs = _mm256_set1_ps(exp_sum(x, n, m, out));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_loadu_ps(out + i), vs));
  const float s = _mm256_cvtss_f32(vs);
  for (; i < n; i++) out[i] /= s;
}

float logsumexp(const float* x, int64_t n) {
  const float m = row_max(x, n);
  return m + std::log(exp_sum(x, n, m, nullptr));
}

const SoftmaxLoops kAvx2 = {softmax_row, logsumexp};

void softmax_avx2(const Args& a) { softmax_with(a, kAvx2); }
void cross_entropy_avx2(const Args& a) { cross_entropy_with(a, kAvx2); }

}  // namespace
}  // namespace llava
LLAVA_AVX2_END

LLAVA_KERNEL("softmax_f32", llava::ISA_AVX2, llava::softmax_avx2);
LLAVA_KERNEL("cross_entropy_f32", llava::ISA_AVX2, llava::cross_entropy_avx2);
#endif
