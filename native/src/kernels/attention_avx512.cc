// attention_f32, AVX-512 variant (F/BW/VL): the score and value loops of attention_avx2.cc in 512-bit
// registers — 16 floats (or 16 decoded f16/bf16 values) per load, masked loads for ragged head dims, and a
// value accumulation that keeps 128 output floats (a whole LLaMA head) in 8 registers, so each value row is
// read in one pass. The exponentials and the block widening are the AVX2 ones.
// GCC 12's AVX-512 headers define the plain cast/extract/convert intrinsics through an uninitialised
// operand, which -Wmaybe-uninitialized reports at every use; the code itself reads nothing uninitialised.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "../simd.h"
#include "attention.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX512_BEGIN
namespace llava {
namespace {

#define LLAVA_INLINE static inline __attribute__((always_inline))

// 16 elements from element i of a row in storage `kind` (0 f32, 1 f16, 2 bf16).
LLAVA_INLINE __m512 ld16(const void* p, int64_t i, int kind) {
  if (kind == 0) return _mm512_loadu_ps(static_cast<const float*>(p) + i);
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + i));
  if (kind == 1) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// The elements of mask m (the low n lanes) from element i, zeros above: masked loads never fault past the row.
LLAVA_INLINE __m512 ld16_masked(const void* p, int64_t i, __mmask16 m, int kind) {
  if (kind == 0) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
  const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i);
  if (kind == 1) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

LLAVA_INLINE __m256 fold(__m512 a) { return _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1)); }

LLAVA_INLINE float hsum16(__m512 a) {
  const __m256 v = fold(a);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The 8 lane sums of a0..a7 as one vector.
LLAVA_INLINE __m256 hsum8(__m512 a0, __m512 a1, __m512 a2, __m512 a3, __m512 a4, __m512 a5, __m512 a6, __m512 a7) {
  const __m256 t0 = _mm256_hadd_ps(fold(a0), fold(a1)), t1 = _mm256_hadd_ps(fold(a2), fold(a3));
  const __m256 t2 = _mm256_hadd_ps(fold(a4), fold(a5)), t3 = _mm256_hadd_ps(fold(a6), fold(a7));
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

LLAVA_INLINE void scores_body(float* S, int64_t ls, const float* const* q, int64_t nq, const void* k, int64_t ks, int kind,
                              int64_t nk, int64_t D, float scale) {
  const __m256 vscale = _mm256_set1_ps(scale);
  const int64_t D16 = D - D % 16;
  const __mmask16 tm = static_cast<__mmask16>((1u << (D % 16)) - 1);
  for (int64_t qi = 0; qi < nq; qi++) {
    const float* a = q[qi];
    float* srow = S + qi * ls;
    int64_t j = 0;
    for (; j + 8 <= nk; j += 8) {
      const int64_t b = j * ks;
      __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
      for (int64_t d = 0; d < D16; d += 16) {
        const __m512 x = _mm512_loadu_ps(a + d);
        c0 = _mm512_fmadd_ps(x, ld16(k, b + d, kind), c0);
        c1 = _mm512_fmadd_ps(x, ld16(k, b + ks + d, kind), c1);
        c2 = _mm512_fmadd_ps(x, ld16(k, b + 2 * ks + d, kind), c2);
        c3 = _mm512_fmadd_ps(x, ld16(k, b + 3 * ks + d, kind), c3);
        c4 = _mm512_fmadd_ps(x, ld16(k, b + 4 * ks + d, kind), c4);
        c5 = _mm512_fmadd_ps(x, ld16(k, b + 5 * ks + d, kind), c5);
        c6 = _mm512_fmadd_ps(x, ld16(k, b + 6 * ks + d, kind), c6);
        c7 = _mm512_fmadd_ps(x, ld16(k, b + 7 * ks + d, kind), c7);
      }
      if (D16 < D) {
        const __m512 x = _mm512_maskz_loadu_ps(tm, a + D16);
        c0 = _mm512_fmadd_ps(x, ld16_masked(k, b + D16, tm, kind), c0);
        c1 = _mm512_fmadd_ps(x, ld16_masked(k, b + ks + D16, tm, kind), c1);
        c2 = _mm512_fmadd_ps(x, ld16_masked(k, b + 2 * ks + D16, tm, kind), c2);
        c3 = _mm512_fmadd_ps(x, ld16_masked(k, b + 3 * ks + D16, tm, kind), c3);
        c4 = _mm512_fmadd_ps(x, ld16_masked(k, b + 4 * ks + D16, tm, kind), c4);
        c5 = _mm512_fmadd_ps(x, ld16_masked(k, b + 5 * ks + D16, tm, kind), c5);
        c6 = _mm512_fmadd_ps(x, ld16_masked(k, b + 6 * ks + D16, tm, kind), c6);
        c7 = _mm512_fmadd_ps(x, ld16_masked(k, b + 7 * ks + D16, tm, kind), c7);
      }
      _mm256_storeu_ps(srow + j, _mm256_mul_ps(hsum8(c0, c1, c2, c3, c4, c5, c6, c7), vscale));
    }
    for (; j < nk; j++) {
      const int64_t b = j * ks;
      __m512 acc = _mm512_setzero_ps();
      for (int64_t d = 0; d < D16; d += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + d), ld16(k, b + d, kind), acc);
      if (D16 < D) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tm, a + D16), ld16_masked(k, b + D16, tm, kind), acc);
      srow[j] = hsum16(acc) * scale;
    }
  }
}

LLAVA_INLINE void accumulate_body(float* o, float c, const float* p, int64_t n, const void* v, int64_t vs, int kind, int64_t Dv) {
  const __m512 vc = _mm512_set1_ps(c);
  int64_t d = 0;
  for (; d + 128 <= Dv; d += 128) {
    __m512 o0 = _mm512_mul_ps(_mm512_loadu_ps(o + d), vc), o1 = _mm512_mul_ps(_mm512_loadu_ps(o + d + 16), vc);
    __m512 o2 = _mm512_mul_ps(_mm512_loadu_ps(o + d + 32), vc), o3 = _mm512_mul_ps(_mm512_loadu_ps(o + d + 48), vc);
    __m512 o4 = _mm512_mul_ps(_mm512_loadu_ps(o + d + 64), vc), o5 = _mm512_mul_ps(_mm512_loadu_ps(o + d + 80), vc);
    __m512 o6 = _mm512_mul_ps(_mm512_loadu_ps(o + d + 96), vc), o7 = _mm512_mul_ps(_mm512_loadu_ps(o + d + 112), vc);
    for (int64_t j = 0; j < n; j++) {
      const __m512 pj = _mm512_set1_ps(p[j]);
      const int64_t e = j * vs + d;
      o0 = _mm512_fmadd_ps(pj, ld16(v, e, kind), o0);
      o1 = _mm512_fmadd_ps(pj, ld16(v, e + 16, kind), o1);
      o2 = _mm512_fmadd_ps(pj, ld16(v, e + 32, kind), o2);
      o3 = _mm512_fmadd_ps(pj, ld16(v, e + 48, kind), o3);
      o4 = _mm512_fmadd_ps(pj, ld16(v, e + 64, kind), o4);
      o5 = _mm512_fmadd_ps(pj, ld16(v, e + 80, kind), o5);
      o6 = _mm512_fmadd_ps(pj, ld16(v, e + 96, kind), o6);
      o7 = _mm512_fmadd_ps(pj, ld16(v, e + 112, kind), o7);
    }
    _mm512_storeu_ps(o + d, o0);
    _mm512_storeu_ps(o + d + 16, o1);
    _mm512_storeu_ps(o + d + 32, o2);
    _mm512_storeu_ps(o + d + 48, o3);
    _mm512_storeu_ps(o + d + 64, o4);
    _mm512_storeu_ps(o + d + 80, o5);
    _mm512_storeu_ps(o + d + 96, o6);
    _mm512_storeu_ps(o + d + 112, o7);
  }
  for (; d + 32 <= Dv; d += 32) {
    __m512 o0 = _mm512_mul_ps(_mm512_loadu_ps(o + d), vc), o1 = _mm512_mul_ps(_mm512_loadu_ps(o + d + 16), vc);
    for (int64_t j = 0; j < n; j++) {
      const __m512 pj = _mm512_set1_ps(p[j]);
      o0 = _mm512_fmadd_ps(pj, ld16(v, j * vs + d, kind), o0);
      o1 = _mm512_fmadd_ps(pj, ld16(v, j * vs + d + 16, kind), o1);
    }
    _mm512_storeu_ps(o + d, o0);
    _mm512_storeu_ps(o + d + 16, o1);
  }
  for (; d < Dv; d += 16) {
    const int64_t r = Dv - d < 16 ? Dv - d : 16;
    const __mmask16 m = static_cast<__mmask16>((1u << r) - 1);
    __m512 acc = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, o + d), vc);
    for (int64_t j = 0; j < n; j++) acc = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), ld16_masked(v, j * vs + d, m, kind), acc);
    _mm512_mask_storeu_ps(o + d, m, acc);
  }
}

void scores(float* S, int64_t ls, const float* const* q, int64_t nq, const void* k, int64_t ks, int kind, int64_t nk, int64_t D,
            float scale) {
  if (kind == 0) scores_body(S, ls, q, nq, k, ks, 0, nk, D, scale);
  else if (kind == 1) scores_body(S, ls, q, nq, k, ks, 1, nk, D, scale);
  else scores_body(S, ls, q, nq, k, ks, 2, nk, D, scale);
}

void accumulate(float* o, float c, const float* p, int64_t n, const void* v, int64_t vs, int kind, int64_t Dv) {
  if (kind == 0) accumulate_body(o, c, p, n, v, vs, 0, Dv);
  else if (kind == 1) accumulate_body(o, c, p, n, v, vs, 1, Dv);
  else accumulate_body(o, c, p, n, v, vs, 2, Dv);
}

#undef LLAVA_INLINE

void attention_avx512(const Args& a) {
  const AttnLoops& avx2 = attention_loops_avx2();
  const AttnLoops loops = {scores, avx2.exp_shift, accumulate, avx2.widen};
  attention_with(a, loops);
}

}  // namespace
}  // namespace llava
LLAVA_AVX512_END

LLAVA_KERNEL("attention_f32", llava::ISA_AVX512, llava::attention_avx512);
#endif
