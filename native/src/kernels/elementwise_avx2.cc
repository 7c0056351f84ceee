// unary_f32 and binary_f32, AVX2 variant: 8-lane loops with a masked tail (so every element of a row goes
// through the same vector formula) for contiguous rows and, in binary, rows with one stride-0 operand.
// exp/tanh/sigmoid/erf come from vecmath.h; log/sin/cos and pow call <cmath> per lane. Strided rows use
// the scalar rows of elementwise.cc. Parameters as in elementwise.h.
#include <cmath>

#include "../simd.h"
#include "../strided.h"
#include "../vecmath.h"
#include "elementwise.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace llava {
namespace {

static inline __m256 per_lane(__m256 x, float (*f)(float)) {
  alignas(32) float v[8];
  _mm256_store_ps(v, x);
  for (int i = 0; i < 8; i++) v[i] = f(v[i]);
  return _mm256_load_ps(v);
}

static float logf_(float x) { return std::log(x); }
static float sinf_(float x) { return std::sin(x); }
static float cosf_(float x) { return std::cos(x); }

static inline __m256 unary_vec(int op, __m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f), zero = _mm256_setzero_ps();
  const __m256 sgn = _mm256_set1_ps(-0.0f);
  switch (op) {
    case U_NEG: return _mm256_xor_ps(x, sgn);
    case U_ABS: return _mm256_andnot_ps(sgn, x);
    case U_SIGN: {
      const __m256 pos = _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_GT_OQ), one);
      const __m256 neg = _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_LT_OQ), one);
      return _mm256_sub_ps(pos, neg);
    }
    case U_EXP: return vm::exp(x);
    case U_LOG: return per_lane(x, logf_);
    case U_SQRT: return _mm256_sqrt_ps(x);
    case U_RSQRT: return _mm256_div_ps(one, _mm256_sqrt_ps(x));
    case U_SQUARE: return _mm256_mul_ps(x, x);
    case U_RECIPROCAL: return _mm256_div_ps(one, x);
    case U_SIN: return per_lane(x, sinf_);
    case U_COS: return per_lane(x, cosf_);
    case U_TANH: return vm::tanh(x);
    case U_SIGMOID: return vm::sigmoid(x);
    case U_RELU: return _mm256_max_ps(x, zero);  // NaN → 0 (maxps returns the second operand), as in ts
    case U_GELU: {
      const __m256 e = vm::erf(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752440f)));
      return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, e));
    }
    case U_GELU_TANH: {
      const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
      const __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.79788456080286535588f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
      return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, vm::tanh(u)));
    }
    case U_QUICK_GELU: return _mm256_mul_ps(x, vm::sigmoid(_mm256_mul_ps(_mm256_set1_ps(1.702f), x)));
    case U_SILU: return _mm256_mul_ps(x, vm::sigmoid(x));
    default: return vm::erf(x);
  }
}

template <int OP>
void unary_row(const void* ctx, int64_t n, uint8_t* const* p, const int64_t* st) {
  if (st[0] != 1 || st[1] != 1) return unary_row_scalar(OP)(ctx, n, p, st);
  float* o = reinterpret_cast<float*>(p[0]);
  const float* x = reinterpret_cast<const float*>(p[1]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, unary_vec(OP, _mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = vm::tail_mask(n - i);
    _mm256_maskstore_ps(o + i, m, unary_vec(OP, _mm256_maskload_ps(x + i, m)));
  }
}

static float powf_(float a, float b) { return std::pow(a, b); }

static inline __m256 binary_vec(int op, __m256 a, __m256 b) {
  switch (op) {
    case B_ADD: return _mm256_add_ps(a, b);
    case B_SUB: return _mm256_sub_ps(a, b);
    case B_MUL: return _mm256_mul_ps(a, b);
    case B_DIV: return _mm256_div_ps(a, b);
    case B_POW: {
      alignas(32) float x[8], y[8];
      _mm256_store_ps(x, a);
      _mm256_store_ps(y, b);
      for (int i = 0; i < 8; i++) x[i] = powf_(x[i], y[i]);
      return _mm256_load_ps(x);
    }
    case B_MAX: {
      const __m256 nan = _mm256_cmp_ps(a, b, _CMP_UNORD_Q);
      return _mm256_blendv_ps(_mm256_max_ps(a, b), _mm256_add_ps(a, b), nan);
    }
    default: {
      const __m256 nan = _mm256_cmp_ps(a, b, _CMP_UNORD_Q);
      return _mm256_blendv_ps(_mm256_min_ps(a, b), _mm256_add_ps(a, b), nan);
    }
  }
}

template <int OP>
void binary_row(const void* ctx, int64_t n, uint8_t* const* p, const int64_t* st) {
  if (st[0] != 1 || (st[1] != 1 && st[1] != 0) || (st[2] != 1 && st[2] != 0)) return binary_row_scalar(OP)(ctx, n, p, st);
  float* o = reinterpret_cast<float*>(p[0]);
  const float* a = reinterpret_cast<const float*>(p[1]);
  const float* b = reinterpret_cast<const float*>(p[2]);
  const bool ab = st[1] == 0, bb = st[2] == 0;
  const __m256 av = _mm256_broadcast_ss(a), bv = _mm256_broadcast_ss(b);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = ab ? av : _mm256_loadu_ps(a + i);
    const __m256 y = bb ? bv : _mm256_loadu_ps(b + i);
    _mm256_storeu_ps(o + i, binary_vec(OP, x, y));
  }
  if (i < n) {
    const __m256i m = vm::tail_mask(n - i);
    const __m256 x = ab ? av : _mm256_maskload_ps(a + i, m);
    const __m256 y = bb ? bv : _mm256_maskload_ps(b + i, m);
    _mm256_maskstore_ps(o + i, m, binary_vec(OP, x, y));
  }
}

RowFn unary_select(int op) {
  static const RowFn t[U_COUNT] = {LLAVA_UNARY_OPS(LLAVA_UNARY_ROW)};
  return t[op];
}

RowFn binary_select(int op) {
  static const RowFn t[B_COUNT] = {LLAVA_BINARY_OPS(LLAVA_BINARY_ROW)};
  return t[op];
}

void unary_avx2(const Args& a) { unary_with(a, unary_select); }
void binary_avx2(const Args& a) { binary_with(a, binary_select); }

}  // namespace
}  // namespace llava
LLAVA_AVX2_END

LLAVA_KERNEL("unary_f32", llava::ISA_AVX2, llava::unary_avx2);
LLAVA_KERNEL("binary_f32", llava::ISA_AVX2, llava::binary_avx2);
#endif
