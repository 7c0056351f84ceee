// AVX2 pieces shared by the quantized-weight kernels (quant_avx2.cc: few-row tiles and quantization;
// quant_gemm_avx2.cc: the blocked many-row GEMM). Helpers are `static inline` (internal linkage in each
// file) and compiled for AVX2, so include this only from files selected at run time for AVX2 CPUs.
//
// Not here: argument layouts and the scalar specification (quant_common.h).
#pragma once
#include <cstdint>
#include <cstring>

#include "../simd.h"
#include "quant_common.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace llava {
namespace wq {

// Little-endian f16 bits at p (any alignment).
static inline uint16_t ld16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}

// In place: v[j] lane i ← v[i] lane j (8×8 int32).
static inline void transpose8x8(__m256i* v) {
  const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(v[4], v[5]), t5 = _mm256_unpackhi_epi32(v[4], v[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(v[6], v[7]), t7 = _mm256_unpackhi_epi32(v[6], v[7]);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  v[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  v[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  v[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  v[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  v[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  v[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  v[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  v[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

// The blocked GEMM for a parsed call whose activation rows are already quantized into q.xq / q.dx /
// q.xs8 (quant_avx2.cc does that). Returns false, having written nothing, when its per-thread weight
// buffers cannot be allocated (the caller then runs the tile kernel).
bool quant_gemm_avx2(const QLinear& q);

// The two halves of the AVX2 quant_linear, for the AVX-512 variant (quant_avx512.cc) to reuse: quantizing
// the activation rows into q.xq / q.dx / q.xs8 over the pool, and the few-row tile kernel over the pool.
void quantize_activations_avx2(const QLinear& q);
void quant_tiles_avx2(const QLinear& q);

}  // namespace wq
}  // namespace llava
LLAVA_AVX2_END
#endif
