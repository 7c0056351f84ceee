// attention_f32, AVX2 variant: the inner loops of attention.cc's flash-style driver. Scores take one query
// against 8 keys at a time (8 FMA accumulators folded by a horizontal-add tree into one vector of 8 scores);
// exponentials use vm::exp; the value accumulation keeps 32 output floats in registers while it walks the
// keys of a block. Half keys/values are widened a block at a time with F16C (f16) or a shift (bf16).
#include <cmath>

#include "../simd.h"
#include "../vecmath.h"
#include "attention.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace llava {
namespace {

// The 8 lane sums of a0..a7 as one vector.
static inline __m256 hsum8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6, __m256 a7) {
  const __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
  const __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

static float dot(const float* a, const float* b, int64_t D) {
  __m256 acc = _mm256_setzero_ps();
  int64_t d = 0;
  for (; d + 8 <= D; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), _mm256_loadu_ps(b + d), acc);
  if (d < D) {
    const __m256i m = vm::tail_mask(D - d);
    acc = _mm256_fmadd_ps(_mm256_maskload_ps(a + d, m), _mm256_maskload_ps(b + d, m), acc);
  }
  return vm::hsum(acc);
}

void scores(float* S, int64_t ls, const float* q, int64_t qs, int64_t nq, const float* k, int64_t ks, int64_t nk, int64_t D,
            float scale) {
  const __m256 vscale = _mm256_set1_ps(scale);
  const __m256i tm = vm::tail_mask(D % 8);
  const int64_t D8 = D - D % 8;
  for (int64_t qi = 0; qi < nq; qi++) {
    const float* a = q + qi * qs;
    float* srow = S + qi * ls;
    int64_t j = 0;
    for (; j + 8 <= nk; j += 8) {
      const float* b = k + j * ks;
      __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
      for (int64_t d = 0; d < D8; d += 8) {
        const __m256 x = _mm256_loadu_ps(a + d);
        c0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + d), c0);
        c1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + ks + d), c1);
        c2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + 2 * ks + d), c2);
        c3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + 3 * ks + d), c3);
        c4 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + 4 * ks + d), c4);
        c5 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + 5 * ks + d), c5);
        c6 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + 6 * ks + d), c6);
        c7 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + 7 * ks + d), c7);
      }
      if (D8 < D) {
        const __m256 x = _mm256_maskload_ps(a + D8, tm);
        c0 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b + D8, tm), c0);
        c1 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b + ks + D8, tm), c1);
        c2 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b + 2 * ks + D8, tm), c2);
        c3 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b + 3 * ks + D8, tm), c3);
        c4 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b + 4 * ks + D8, tm), c4);
        c5 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b + 5 * ks + D8, tm), c5);
        c6 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b + 6 * ks + D8, tm), c6);
        c7 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b + 7 * ks + D8, tm), c7);
      }
      _mm256_storeu_ps(srow + j, _mm256_mul_ps(hsum8(c0, c1, c2, c3, c4, c5, c6, c7), vscale));
    }
    for (; j < nk; j++) srow[j] = dot(a, k + j * ks, D) * scale;
  }
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

void accumulate(float* o, float c, const float* p, int64_t n, const float* v, int64_t vs, int64_t Dv) {
  const __m256 vc = _mm256_set1_ps(c);
  int64_t d = 0;
  for (; d + 32 <= Dv; d += 32) {
    __m256 o0 = _mm256_mul_ps(_mm256_loadu_ps(o + d), vc), o1 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 8), vc);
    __m256 o2 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 16), vc), o3 = _mm256_mul_ps(_mm256_loadu_ps(o + d + 24), vc);
    for (int64_t j = 0; j < n; j++) {
      const __m256 pj = _mm256_broadcast_ss(p + j);
      const float* vj = v + j * vs + d;
      o0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj), o0);
      o1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8), o1);
      o2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 16), o2);
      o3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 24), o3);
    }
    _mm256_storeu_ps(o + d, o0);
    _mm256_storeu_ps(o + d + 8, o1);
    _mm256_storeu_ps(o + d + 16, o2);
    _mm256_storeu_ps(o + d + 24, o3);
  }
  for (; d < Dv; d += 8) {
    const __m256i mk = vm::tail_mask(Dv - d);
    __m256 acc = _mm256_mul_ps(_mm256_maskload_ps(o + d, mk), vc);
    for (int64_t j = 0; j < n; j++) acc = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_maskload_ps(v + j * vs + d, mk), acc);
    _mm256_maskstore_ps(o + d, mk, acc);
  }
}

void widen(float* dst, const uint16_t* src, int64_t st, int64_t rows, int64_t n, int kind) {
  for (int64_t r = 0; r < rows; r++) {
    const uint16_t* x = src + r * st;
    float* y = dst + r * n;
    int64_t i = 0;
    if (kind == 1) {
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, vm::load_f16(x + i));
      for (; i < n; i++) y[i] = _cvtsh_ss(x[i]);
    } else {
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, vm::load_bf16(x + i));
      for (; i < n; i++) {
        const uint32_t u = static_cast<uint32_t>(x[i]) << 16;
        float f;
        __builtin_memcpy(&f, &u, 4);
        y[i] = f;
      }
    }
  }
}

const AttnLoops kAvx2 = {scores, exp_shift, accumulate, widen};

void attention_avx2(const Args& a) { attention_with(a, kAvx2); }

}  // namespace
}  // namespace llava
LLAVA_AVX2_END

LLAVA_KERNEL("attention_f32", llava::ISA_AVX2, llava::attention_avx2);
#endif
