// rope_f32, AVX2 variant: the row loop with FMA (x1·c − x2·s as one fused multiply-subtract); the driver
// is rope.cc's.
#include "../simd.h"
#include "rope.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace llava {
namespace {

void rope_row(float* out, const float* x, const float* c, const float* s, int64_t h) {
  int64_t i = 0;
  for (; i + 8 <= h; i += 8) {
    const __m256 x1 = _mm256_loadu_ps(x + i), x2 = _mm256_loadu_ps(x + i + h);
    const __m256 vc = _mm256_loadu_ps(c + i), vs = _mm256_loadu_ps(s + i);
    _mm256_storeu_ps(out + i, _mm256_fmsub_ps(x1, vc, _mm256_mul_ps(x2, vs)));
    _mm256_storeu_ps(out + i + h, _mm256_fmadd_ps(x2, vc, _mm256_mul_ps(x1, vs)));
  }
  for (; i < h; i++) {
    const float x1 = x[i], x2 = x[i + h];
    out[i] = x1 * c[i] - x2 * s[i];
    out[i + h] = x2 * c[i] + x1 * s[i];
  }
}

void rope_avx2(const Args& a) { rope_with(a, rope_row); }

}  // namespace
}  // namespace llava
LLAVA_AVX2_END

LLAVA_KERNEL("rope_f32", llava::ISA_AVX2, llava::rope_avx2);
#endif
