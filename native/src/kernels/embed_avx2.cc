// AVX2 embedding_rows (layout in quant_common.h): 8 values at a time through F16C / shifts / int8 and
// nibble widening, each value decoded with the one multiplication of the specification (bit-identical).
//
// Not here: argument parsing and id validation (embed.cc), which run before any row is written.
#include <cstring>

#include "../simd.h"
#include "../threadpool.h"
#include "quant_common.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace {

using namespace llava::wq;

void decode_row(const Embed& e, int64_t i) {
  const uint8_t* w = e.w + e.ids[i * e.is] * e.wrow;
  float* o = e.out + i * e.os;
  const int64_t D = e.D;
  if (e.wtype == W_F32) {
    std::memcpy(o, w, D * 4);
    return;
  }
  if (e.wtype == W_F16 || e.wtype == W_BF16) {
    const uint16_t* h = reinterpret_cast<const uint16_t*>(w);
    int64_t d = 0;
    for (; d + 8 <= D; d += 8) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + d));
      const __m256 f = e.wtype == W_F16 ? _mm256_cvtph_ps(v) : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
      _mm256_storeu_ps(o + d, f);
    }
    for (; d < D; d++) o[d] = e.wtype == W_F16 ? _cvtsh_ss(h[d]) : llava::bf16_to_f32(h[d]);
    return;
  }
  const int64_t bb = block_bytes(e.wtype);
  for (int64_t b = 0; b < D / QK; b++) {
    const uint8_t* blk = w + b * bb;
    uint16_t hs;
    std::memcpy(&hs, blk, 2);
    const __m256 s = _mm256_set1_ps(_cvtsh_ss(hs));
    float* ob = o + b * QK;
    __m128i lo, hi;  // values 0..15 and 16..31 as int8
    if (e.wtype == W_Q8_0) {
      lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
      hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 18));
    } else {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
      const __m128i m4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
      lo = _mm_sub_epi8(_mm_and_si128(q, m4), eight);
      hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), eight);
    }
    _mm256_storeu_ps(ob, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), s));
    _mm256_storeu_ps(ob + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), s));
    _mm256_storeu_ps(ob + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), s));
    _mm256_storeu_ps(ob + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), s));
  }
}

void embedding_avx2(const llava::Args& a) { run_embedding(parse_embedding(a), decode_row); }

}  // namespace
LLAVA_AVX2_END

LLAVA_KERNEL("embedding_rows", llava::ISA_AVX2, embedding_avx2);
#endif
