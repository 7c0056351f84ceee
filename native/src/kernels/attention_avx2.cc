// attention_f32, AVX2 variant: the inner loops of attention.cc's flash-style driver. Scores take one query
// row against 8 keys at a time (8 FMA accumulators folded by a horizontal-add tree into one vector of 8
// scores); exponentials use vm::exp; the value accumulation keeps 64 output floats in registers while it
// walks the keys of a block. Half keys/values are decoded in those loops (F16C for f16, a shift for bf16):
// each loop body is written once and instantiated per storage by always-inlined helpers with a constant kind.
#include <cmath>

#include "../simd.h"
#include "../vecmath.h"
#include "attention.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace llava {
namespace {

#define LLAVA_INLINE static inline __attribute__((always_inline))

// 8 elements from element i of a row in storage `kind` (0 f32, 1 f16, 2 bf16).
LLAVA_INLINE __m256 ld8(const void* p, int64_t i, int kind) {
  if (kind == 0) return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  if (kind == 1) return vm::load_f16(static_cast<const uint16_t*>(p) + i);
  return vm::load_bf16(static_cast<const uint16_t*>(p) + i);
}

// The n < 8 elements from element i, zeros above: nothing past the row is read.
LLAVA_INLINE __m256 ld_tail(const void* p, int64_t i, int64_t n, int kind) {
  if (kind == 0) return _mm256_maskload_ps(static_cast<const float*>(p) + i, vm::tail_mask(n));
  uint16_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t e = 0; e < n; e++) t[e] = static_cast<const uint16_t*>(p)[i + e];
  return kind == 1 ? vm::load_f16(t) : vm::load_bf16(t);
}

// The 8 lane sums of a0..a7 as one vector.
LLAVA_INLINE __m256 hsum8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6, __m256 a7) {
  const __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
  const __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

LLAVA_INLINE void scores_body(float* S, int64_t ls, const float* const* q, int64_t nq, const void* k, int64_t ks, int kind,
                              int64_t nk, int64_t D, float scale) {
  const __m256 vscale = _mm256_set1_ps(scale);
  const __m256i tm = vm::tail_mask(D % 8);
  const int64_t D8 = D - D % 8;
  for (int64_t qi = 0; qi < nq; qi++) {
    const float* a = q[qi];
    float* srow = S + qi * ls;
    int64_t j = 0;
    for (; j + 8 <= nk; j += 8) {
      const int64_t b = j * ks;
      __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
      for (int64_t d = 0; d < D8; d += 8) {
        const __m256 x = _mm256_loadu_ps(a + d);
        c0 = _mm256_fmadd_ps(x, ld8(k, b + d, kind), c0);
        c1 = _mm256_fmadd_ps(x, ld8(k, b + ks + d, kind), c1);
        c2 = _mm256_fmadd_ps(x, ld8(k, b + 2 * ks + d, kind), c2);
        c3 = _mm256_fmadd_ps(x, ld8(k, b + 3 * ks + d, kind), c3);
        c4 = _mm256_fmadd_ps(x, ld8(k, b + 4 * ks + d, kind), c4);
        c5 = _mm256_fmadd_ps(x, ld8(k, b + 5 * ks + d, kind), c5);
        c6 = _mm256_fmadd_ps(x, ld8(k, b + 6 * ks + d, kind), c6);
        c7 = _mm256_fmadd_ps(x, ld8(k, b + 7 * ks + d, kind), c7);
      }
      if (D8 < D) {
        const int64_t r = D - D8;
        const __m256 x = _mm256_maskload_ps(a + D8, tm);
        c0 = _mm256_fmadd_ps(x, ld_tail(k, b + D8, r, kind), c0);
        c1 = _mm256_fmadd_ps(x, ld_tail(k, b + ks + D8, r, kind), c1);
        c2 = _mm256_fmadd_ps(x, ld_tail(k, b + 2 * ks + D8, r, kind), c2);
        c3 = _mm256_fmadd_ps(x, ld_tail(k, b + 3 * ks + D8, r, kind), c3);
        c4 = _mm256_fmadd_ps(x, ld_tail(k, b + 4 * ks + D8, r, kind), c4);
        c5 = _mm256_fmadd_ps(x, ld_tail(k, b + 5 * ks + D8, r, kind), c5);
        c6 = _mm256_fmadd_ps(x, ld_tail(k, b + 6 * ks + D8, r, kind), c6);
        c7 = _mm256_fmadd_ps(x, ld_tail(k, b + 7 * ks + D8, r, kind), c7);
      }
      _mm256_storeu_ps(srow + j, _mm256_mul_ps(hsum8(c0, c1, c2, c3, c4, c5, c6, c7), vscale));
    }
    for (; j < nk; j++) {
      const int64_t b = j * ks;
      __m256 acc = _mm256_setzero_ps();
      for (int64_t d = 0; d < D8; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), ld8(k, b + d, kind), acc);
      if (D8 < D) acc = _mm256_fmadd_ps(_mm256_maskload_ps(a + D8, tm), ld_tail(k, b + D8, D - D8, kind), acc);
      srow[j] = vm::hsum(acc) * scale;
    }
  }
}

LLAVA_INLINE void accumulate_body(float* o, float c, const float* p, int64_t n, const void* v, int64_t vs, int kind, int64_t Dv) {
  const __m256 vc = _mm256_set1_ps(c);
  int64_t d = 0;
  for (; d + 64 <= Dv; d += 64) {
    __m256 o0 = _mm256_mul_ps(_mm256_loadu_ps(o + d), vc), o1 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 8), vc);
    __m256 o2 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 16), vc), o3 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 24), vc);
    __m256 o4 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 32), vc), o5 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 40), vc);
    __m256 o6 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 48), vc), o7 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 56), vc);
    for (int64_t j = 0; j < n; j++) {
      const __m256 pj = _mm256_broadcast_ss(p + j);
      const int64_t e = j * vs + d;
      o0 = _mm256_fmadd_ps(pj, ld8(v, e, kind), o0);
      o1 = _mm256_fmadd_ps(pj, ld8(v, e + 8, kind), o1);
      o2 = _mm256_fmadd_ps(pj, ld8(v, e + 16, kind), o2);
      o3 = _mm256_fmadd_ps(pj, ld8(v, e + 24, kind), o3);
      o4 = _mm256_fmadd_ps(pj, ld8(v, e + 32, kind), o4);
      o5 = _mm256_fmadd_ps(pj, ld8(v, e + 40, kind), o5);
      o6 = _mm256_fmadd_ps(pj, ld8(v, e + 48, kind), o6);
      o7 = _mm256_fmadd_ps(pj, ld8(v, e + 56, kind), o7);
    }
    _mm256_storeu_ps(o + d, o0);
    _mm256_storeu_ps(o + d + 8, o1);
    _mm256_storeu_ps(o + d + 16, o2);
    _mm256_storeu_ps(o + d + 24, o3);
    _mm256_storeu_ps(o + d + 32, o4);
    _mm256_storeu_ps(o + d + 40, o5);
    _mm256_storeu_ps(o + d + 48, o6);
    _mm256_storeu_ps(o + d + 56, o7);
  }
  for (; d + 16 <= Dv; d += 16) {
    __m256 o0 = _mm256_mul_ps(_mm256_loadu_ps(o + d), vc), o1 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 8), vc);
    for (int64_t j = 0; j < n; j++) {
      const __m256 pj = _mm256_broadcast_ss(p + j);
      o0 = _mm256_fmadd_ps(pj, ld8(v, j * vs + d, kind), o0);
      o1 = _mm256_fmadd_ps(pj, ld8(v, j * vs + d + 8, kind), o1);
    }
    _mm256_storeu_ps(o + d, o0);
    _mm256_storeu_ps(o + d + 8, o1);
  }
  for (; d < Dv; d += 8) {
    const int64_t r = Dv - d < 8 ? Dv - d : 8;
    const __m256i mk = vm::tail_mask(r);
    __m256 acc = _mm256_mul_ps(_mm256_maskload_ps(o + d, mk), vc);
    for (int64_t j = 0; j < n; j++) {
      const __m256 x = r == 8 ? ld8(v, j * vs + d, kind) : ld_tail(v, j * vs + d, r, kind);
      acc = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), x, acc);
    }
    _mm256_maskstore_ps(o + d, mk, acc);
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

float exp_shift(float* p, int64_t n, float m) {
  const __m256 vm_ = _mm256_set1_ps(m);
  __m256 s = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = vm::exp(_mm256_sub_ps(_mm256_loadu_ps(p + j), vm_));
    _mm256_storeu_ps(p + j, e);
    s = _mm256_add_ps(s, e);
  }
  if (j < n) {
    const __m256i mk = vm::tail_mask(n - j);
    const __m256 e = _mm256_and_ps(vm::exp(_mm256_sub_ps(_mm256_maskload_ps(p + j, mk), vm_)), _mm256_castsi256_ps(mk));
    _mm256_maskstore_ps(p + j, mk, e);
    s = _mm256_add_ps(s, e);
  }
  return vm::hsum(s);
}

void widen(float* dst, const uint16_t* src, int64_t st, int64_t rows, int64_t n, int kind) {
  for (int64_t r = 0; r < rows; r++) {
    const uint16_t* x = src + r * st;
    float* y = dst + r * n;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, ld8(x, i, kind));
    if (i < n) _mm256_maskstore_ps(y + i, vm::tail_mask(n - i), ld_tail(x, i, n - i, kind));
  }
}

#undef LLAVA_INLINE

const AttnLoops kAvx2 = {scores, exp_shift, accumulate, widen};

void attention_avx2(const Args& a) { attention_with(a, kAvx2); }

}  // namespace

const AttnLoops& attention_loops_avx2() { return kAvx2; }

}  // namespace llava
LLAVA_AVX2_END

LLAVA_KERNEL("attention_f32", llava::ISA_AVX2, llava::attention_avx2);
#endif
