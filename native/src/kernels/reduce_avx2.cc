// reduce_f32, AVX2 variant: vector inner loops for the reduce driver of reduce.cc (contiguous rows and
// columns; strided rows use plain loops). Sums still accumulate in double (4 lanes × 4 accumulators).
#include <cmath>

#include "../simd.h"
#include "../vecmath.h"
#include "reduce.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace llava {
namespace {

static inline bool better(float v, float cur, bool is_max) {
  if (v != v) return cur == cur;
  return is_max ? v > cur : v < cur;
}

double sum_row(const float* x, int64_t n, int64_t st) {
  int64_t i = 0;
  double tail = 0;
  if (st != 1) {
    for (; i < n; i++) tail += x[i * st];
    return tail;
  }
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  for (; i + 16 <= n; i += 16) {
    const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v0)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v0, 1)));
    a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm256_castps256_ps128(v1)));
    a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm256_extractf128_ps(v1, 1)));
  }
  for (; i < n; i++) tail += x[i];
  const __m256d s = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
  const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h))) + tail;
}

float ext_row(const float* x, int64_t n, int64_t st, bool is_max, int64_t* arg) {
  if (st != 1 || n < 16) return ext_row_scalar(x, n, st, is_max, arg);
  // Pass 1: the extreme value, noting any NaN; pass 2: the first index holding it.
  __m256 m = _mm256_loadu_ps(x);
  __m256 nan = _mm256_cmp_ps(m, m, _CMP_UNORD_Q);
  int64_t i = 8;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    m = is_max ? _mm256_max_ps(m, v) : _mm256_min_ps(m, v);
  }
  float cur = is_max ? vm::hmax(m) : -vm::hmax(_mm256_xor_ps(m, _mm256_set1_ps(-0.0f)));
  bool any_nan = _mm256_movemask_ps(nan) != 0;
  for (; i < n; i++) {
    any_nan = any_nan || x[i] != x[i];
    if (is_max ? x[i] > cur : x[i] < cur) cur = x[i];
  }
  if (any_nan) {
    int64_t j = 0;
    while (x[j] == x[j]) j++;
    *arg = j;
    return x[j];
  }
  const __m256 c = _mm256_set1_ps(cur);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const int bits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + j), c, _CMP_EQ_OQ));
    if (bits) {
      *arg = j + __builtin_ctz(static_cast<unsigned>(bits));
      return cur;
    }
  }
  while (x[j] != cur) j++;
  *arg = j;
  return cur;
}

void sum_cols(double* acc, const float* x, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    _mm256_storeu_pd(acc + j, _mm256_add_pd(_mm256_loadu_pd(acc + j), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
    _mm256_storeu_pd(acc + j + 4, _mm256_add_pd(_mm256_loadu_pd(acc + j + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
  }
  for (; j < n; j++) acc[j] += x[j];
}

void ext_cols(float* acc, int32_t* arg, const float* x, int64_t n, bool is_max, int32_t idx) {
  const __m256i vi = _mm256_set1_epi32(idx);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j), a = _mm256_loadu_ps(acc + j);
    __m256 b = is_max ? _mm256_cmp_ps(v, a, _CMP_GT_OQ) : _mm256_cmp_ps(v, a, _CMP_LT_OQ);
    b = _mm256_or_ps(b, _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(a, a, _CMP_ORD_Q)));
    _mm256_storeu_ps(acc + j, _mm256_blendv_ps(a, v, b));
    if (arg) {
      __m256i* pa = reinterpret_cast<__m256i*>(arg + j);
      _mm256_storeu_si256(pa, _mm256_blendv_epi8(_mm256_loadu_si256(pa), vi, _mm256_castps_si256(b)));
    }
  }
  for (; j < n; j++) {
    if (better(x[j], acc[j], is_max)) {
      acc[j] = x[j];
      if (arg) arg[j] = idx;
    }
  }
}

const ReduceLoops kAvx2Loops = {sum_row, ext_row, sum_cols, ext_cols};

void reduce_avx2(const Args& a) { reduce_with(a, kAvx2Loops); }

}  // namespace
}  // namespace llava
LLAVA_AVX2_END

LLAVA_KERNEL("reduce_f32", llava::ISA_AVX2, llava::reduce_avx2);
#endif
