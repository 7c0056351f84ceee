// AVX2 quant_linear and quantize_rows (layouts in quant_common.h), bit-identical to src/engine/quant.ts.
//
// quant_linear works on tiles of 8 weight rows: for each activation block, the 8 exact int32 block dot
// products (maddubs/madd, then a hadd tree) form one vector whose lanes are the 8 outputs, so the f32
// accumulation acc = acc + (dx·dw)·isum runs block by block per output exactly as the specification says,
// with lanes across outputs and no FMA. A tile at the end of N repeats the last row and drops the extra
// lanes. Activation rows are quantized once per call into the caller's scratch buffer, together with their
// f32 scales and 8·Σq (q4_0 dots use Σ x·q − 8·Σx, so nibbles need no sign handling).
//
// Not here: argument parsing and the scalar specification (quant.cc, quant_common.h).
#include <cstring>

#include "../simd.h"
#include "../threadpool.h"
#include "quant_common.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace {

using namespace llava::wq;

inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// q8_0 block of 32 floats (the AVX2 formulation the spec names); optionally also its f32 scale and 8·Σq.
inline void q8_block(const float* x, uint8_t* y, float* dx, int32_t* xs8) {
  const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
  const __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
  m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
  __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float amax = _mm_cvtss_f32(m4);
  // max_ps drops NaN depending on operand order; the spec propagates it (Math.max).
  const __m256 un = _mm256_or_ps(_mm256_cmp_ps(v0, v1, _CMP_UNORD_Q), _mm256_cmp_ps(v2, v3, _CMP_UNORD_Q));
  if (_mm256_movemask_ps(un)) amax = __builtin_nanf("");
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  const unsigned short h = _cvtss_sh(d, 0);
  std::memcpy(y, &h, 2);
  const __m256 mul = _mm256_set1_ps(id);
  const int rnd = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), rnd));
  const __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), rnd));
  const __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), rnd));
  const __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), rnd));
  __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  q = _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 2), q);
  if (dx) {
    *dx = _cvtsh_ss(h);
    const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
    *xs8 = 8 * hsum_epi32(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
  }
}

// q4_0 block: the spec's arithmetic on 8 lanes; the max search and nibble packing are scalar.
inline void q4_block(const float* x, uint8_t* y) {
  const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
  __m256 v[4], m = zero;
  for (int k = 0; k < 4; k++) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v[k]), m);  // NaN in the first operand is dropped, as in the spec
  }
  __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  float max = 0.0f;
  if (amax > 0.0f) {
    const __m256 am = _mm256_set1_ps(amax);
    uint32_t bits = 0;
    for (int k = 0; k < 4; k++) {
      bits |= static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, v[k]), am, _CMP_EQ_OQ))) << (8 * k);
    }
    max = x[__builtin_ctz(bits)];
  }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const unsigned short h = _cvtss_sh(d, 0);
  std::memcpy(y, &h, 2);
  const __m256 mul = _mm256_set1_ps(id), half = _mm256_set1_ps(8.5f), fifteen = _mm256_set1_ps(15.0f);
  alignas(32) int32_t q[32];
  for (int k = 0; k < 4; k++) {
    __m256 t = _mm256_add_ps(_mm256_mul_ps(v[k], mul), half);
    t = _mm256_min_ps(_mm256_max_ps(t, zero), fifteen);  // NaN → 0 (max_ps returns its second operand)
    _mm256_store_si256(reinterpret_cast<__m256i*>(q + 8 * k), _mm256_cvttps_epi32(t));
  }
  for (int j = 0; j < QK / 2; j++) y[2 + j] = static_cast<uint8_t>(q[j] | (q[j + QK / 2] << 4));
}

// Lane i = sum of the 8 lanes of v[i].
inline __m256i hsum8x8(const __m256i* v) {
  const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

inline uint16_t ld16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}

// f16 scales at byte `off` of the 8 rows, as f32.
inline __m256 scales8(const uint8_t* const* r, int64_t off) {
  __m128i s = _mm_cvtsi32_si128(ld16(r[0] + off));
  s = _mm_insert_epi16(s, ld16(r[1] + off), 1);
  s = _mm_insert_epi16(s, ld16(r[2] + off), 2);
  s = _mm_insert_epi16(s, ld16(r[3] + off), 3);
  s = _mm_insert_epi16(s, ld16(r[4] + off), 4);
  s = _mm_insert_epi16(s, ld16(r[5] + off), 5);
  s = _mm_insert_epi16(s, ld16(r[6] + off), 6);
  s = _mm_insert_epi16(s, ld16(r[7] + off), 7);
  return _mm256_cvtph_ps(s);
}

// acc over all blocks for 8 q4_0 rows and one quantized activation row.
inline __m256 tile_q4_0(const uint8_t* const* r, const uint8_t* xq, const float* dx, const int32_t* xs8, int64_t nb) {
  const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  const __m256i sh = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * Q8_BYTES + 2));
    const int64_t off = b * Q4_BYTES;
    __m256i v[8];
    for (int i = 0; i < 8; i++) {
      // Low nibbles (q[0..15]) in the low half, high nibbles (q[16..31]) in the high half.
      const __m256i w = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r[i] + off + 2)));
      const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(w, sh), m4);
      v[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), ones);
    }
    const __m256i isum = _mm256_sub_epi32(hsum8x8(v), _mm256_set1_epi32(xs8[b]));
    const __m256 d = _mm256_mul_ps(_mm256_set1_ps(dx[b]), scales8(r, off));
    acc = _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum)));
  }
  return acc;
}

inline __m256 tile_q8_0(const uint8_t* const* r, const uint8_t* xq, const float* dx, int64_t nb) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * Q8_BYTES + 2));
    const int64_t off = b * Q8_BYTES;
    __m256i v[8];
    for (int i = 0; i < 8; i++) {
      // |w| as unsigned times x carrying w's sign: exact for w = −128 too (x is never −128 unless dx = 0).
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r[i] + off + 2));
      v[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xv, w)), ones);
    }
    const __m256 d = _mm256_mul_ps(_mm256_set1_ps(dx[b]), scales8(r, off));
    acc = _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(hsum8x8(v))));
  }
  return acc;
}

struct QLCtx {
  const QLinear* q;
};

void quantize_x_job(void* c, int tid, int nt) {
  const QLinear& q = *static_cast<QLCtx*>(c)->q;
  int64_t b, e;
  llava::split_range(q.M, nt, tid, &b, &e);
  for (int64_t m = b; m < e; m++) {
    for (int64_t k = 0; k < q.nb; k++) {
      const int64_t i = m * q.nb + k;
      q8_block(q.x + m * q.xs + k * QK, q.xq + i * Q8_BYTES, q.dx + i, q.xs8 + i);
    }
  }
}

void dot_job(void* c, int tid, int nt) {
  const QLinear& q = *static_cast<QLCtx*>(c)->q;
  int64_t t0, t1;
  llava::split_range((q.N + 7) / 8, nt, tid, &t0, &t1);
  alignas(32) float lane[8];
  for (int64_t t = t0; t < t1; t++) {
    const int64_t n0 = t * 8;
    const int valid = q.N - n0 < 8 ? static_cast<int>(q.N - n0) : 8;
    const uint8_t* r[8];
    for (int i = 0; i < 8; i++) r[i] = q.w + (i < valid ? n0 + i : q.N - 1) * q.wrow;
    __m256 bias = _mm256_setzero_ps();
    if (q.bias) {
      for (int i = 0; i < 8; i++) lane[i] = i < valid ? q.bias[(n0 + i) * q.bs] : 0.0f;
      bias = _mm256_load_ps(lane);
    }
    for (int64_t m = 0; m < q.M; m++) {
      const int64_t xb = m * q.nb;
      __m256 acc = q.wtype == W_Q4_0 ? tile_q4_0(r, q.xq + xb * Q8_BYTES, q.dx + xb, q.xs8 + xb, q.nb)
                                     : tile_q8_0(r, q.xq + xb * Q8_BYTES, q.dx + xb, q.nb);
      if (q.bias) acc = _mm256_add_ps(acc, bias);
      float* o = q.out + m * q.os + n0;
      if (valid == 8) {
        _mm256_storeu_ps(o, acc);
      } else {
        _mm256_store_ps(lane, acc);
        for (int i = 0; i < valid; i++) o[i] = lane[i];
      }
    }
  }
}

void quant_linear_avx2(const llava::Args& a) {
  const QLinear q = parse_quant_linear(a);
  if (q.N == 0 || q.M == 0) return;
  QLCtx ctx{&q};
  llava::parallel_run(quantize_x_job, &ctx, threads_for(q.M * q.K, 1 << 16));
  llava::parallel_run(dot_job, &ctx, threads_for(q.N * q.M * q.K, 1 << 15));
}

struct QCtx {
  const Quantize* q;
};

void quantize_job(void* c, int tid, int nt) {
  const Quantize& q = *static_cast<QCtx*>(c)->q;
  const int64_t bb = block_bytes(q.wtype), nb = q.K / QK;
  int64_t b, e;
  llava::split_range(q.N, nt, tid, &b, &e);
  for (int64_t r = b; r < e; r++) {
    for (int64_t k = 0; k < nb; k++) {
      const float* x = q.x + r * q.xs + k * QK;
      uint8_t* y = q.out + (r * nb + k) * bb;
      if (q.wtype == W_Q8_0) q8_block(x, y, nullptr, nullptr);
      else q4_block(x, y);
    }
  }
}

void quantize_rows_avx2(const llava::Args& a) {
  const Quantize q = parse_quantize(a);
  QCtx ctx{&q};
  llava::parallel_run(quantize_job, &ctx, threads_for(q.N * q.K, 1 << 16));
}

}  // namespace
LLAVA_AVX2_END

LLAVA_KERNEL("quant_linear", llava::ISA_AVX2, quant_linear_avx2);
LLAVA_KERNEL("quantize_rows", llava::ISA_AVX2, quantize_rows_avx2);
#endif
