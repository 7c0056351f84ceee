// copy, AVX2/F16C variant: vector rows for contiguous f32 ↔ f16 (vcvtps2ph with round-to-nearest-even,
// vcvtph2ps) and f32 ↔ bf16 (integer rounding, bit-identical to half.h); every other dtype pair and
// strided row goes to the scalar rows of copy.cc. Same parameters as copy.cc.
#include "../convert.h"
#include "../simd.h"
#include "../strided.h"
#include "../vecmath.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace llava {
namespace {

void f32_to_f16_row(const void* ctx, int64_t n, uint8_t* const* p, const int64_t* st) {
  if (st[0] != 1 || st[1] != 1) return copy_row_scalar(DT_F32, DT_F16)(ctx, n, p, st);
  uint16_t* o = reinterpret_cast<uint16_t*>(p[0]);
  const float* s = reinterpret_cast<const float*>(p[1]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; i++) o[i] = f32_to_f16(s[i]);
}

void f16_to_f32_row(const void* ctx, int64_t n, uint8_t* const* p, const int64_t* st) {
  if (st[0] != 1 || st[1] != 1) return copy_row_scalar(DT_F16, DT_F32)(ctx, n, p, st);
  float* o = reinterpret_cast<float*>(p[0]);
  const uint16_t* s = reinterpret_cast<const uint16_t*>(p[1]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, vm::load_f16(s + i));
  for (; i < n; i++) o[i] = f16_to_f32(s[i]);
}

// 8 floats → 8 bf16 in the low 16 bits of each lane: round to nearest even; NaN → quiet NaN.
static inline __m256i bf16_round(__m256i b) {
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
  const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  const __m256i q = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
  return _mm256_blendv_epi8(r, q, nan);
}

void f32_to_bf16_row(const void* ctx, int64_t n, uint8_t* const* p, const int64_t* st) {
  if (st[0] != 1 || st[1] != 1) return copy_row_scalar(DT_F32, DT_BF16)(ctx, n, p, st);
  uint16_t* o = reinterpret_cast<uint16_t*>(p[0]);
  const float* s = reinterpret_cast<const float*>(p[1]);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i a = bf16_round(_mm256_castps_si256(_mm256_loadu_ps(s + i)));
    const __m256i b = bf16_round(_mm256_castps_si256(_mm256_loadu_ps(s + i + 8)));
    // packus works per 128-bit lane: [a0-3 b0-3 | a4-7 b4-7] → reorder the 64-bit quarters.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i), packed);
  }
  for (; i < n; i++) o[i] = f32_to_bf16(s[i]);
}

void bf16_to_f32_row(const void* ctx, int64_t n, uint8_t* const* p, const int64_t* st) {
  if (st[0] != 1 || st[1] != 1) return copy_row_scalar(DT_BF16, DT_F32)(ctx, n, p, st);
  float* o = reinterpret_cast<float*>(p[0]);
  const uint16_t* s = reinterpret_cast<const uint16_t*>(p[1]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, vm::load_bf16(s + i));
  for (; i < n; i++) o[i] = bf16_to_f32(s[i]);
}

RowFn select_avx2(int src, int dst) {
  if (src == DT_F32 && dst == DT_F16) return f32_to_f16_row;
  if (src == DT_F16 && dst == DT_F32) return f16_to_f32_row;
  if (src == DT_F32 && dst == DT_BF16) return f32_to_bf16_row;
  if (src == DT_BF16 && dst == DT_F32) return bf16_to_f32_row;
  return copy_row_scalar(src, dst);
}

void copy_avx2(const Args& a) { copy_with(a, select_avx2); }

}  // namespace
}  // namespace llava
LLAVA_AVX2_END

LLAVA_KERNEL("copy", llava::ISA_AVX2, llava::copy_avx2);
#endif
