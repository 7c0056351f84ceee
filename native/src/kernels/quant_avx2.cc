// AVX2 quant_linear and quantize_rows (layouts in quant_common.h), bit-identical to src/engine/quant.ts.
//
// quant_linear with fewer than GEMM_MIN_M activation rows (decode) works on tiles of 8 weight rows (see
// `tile` below): exact int32 block dot products (maddubs/madd and hadd trees), then the f32 accumulation
// acc = acc + (dx·dw)·isum block by block per output exactly as the specification says, with vector lanes
// across the 8 outputs and no FMA. A tile at the end of N repeats the last row and drops the extra lanes.
// Activation rows are quantized once per call into the caller's scratch buffer, with their f32 scales and
// 8·Σq (q4_0 dots use Σ x·q − 8·Σx, so nibbles need no sign handling).
//
// From GEMM_MIN_M rows on, it hands the quantized rows to the blocked GEMM (quant_gemm_avx2.cc).
//
// Not here: argument parsing and the scalar specification (quant.cc, quant_common.h).
#include <cstring>

#include "../simd.h"
#include "../threadpool.h"
#include "quant_avx2.h"
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

// Lane i = sum of the 8 int32 lanes of v[i].
inline __m256i hsum8x8(const __m256i* v) {
  const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

// Lane i = sum of the 16 int16 lanes of p[i]; needs |lane| ≤ 3840 (q4_0 · q8_0 pairs) so that the
// partial sums of 8 lanes fit int16.
inline __m256i hsum8x16(const __m256i* p) {
  const __m256i a = _mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]), _mm256_hadd_epi16(p[2], p[3]));
  const __m256i b = _mm256_hadd_epi16(_mm256_hadd_epi16(p[4], p[5]), _mm256_hadd_epi16(p[6], p[7]));
  const __m256i h = _mm256_hadd_epi16(a, b);  // [p0..p7: sums of their low halves | of their high halves]
  return _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(h)), _mm256_cvtepi16_epi32(_mm256_extracti128_si256(h, 1)));
}

// A tile is 8 weight rows. Phase 1 walks each row once, front to back (one sequential stream, which the
// hardware prefetcher serves far better than 8 interleaved ones), and stores the exact int32 block sums of
// 8 blocks at a time (lanes = blocks) against up to MC activation rows, plus the row's f16 scales
// transposed. Phase 2 transposes the sums so that lanes = rows and accumulates block by block. K is
// taken KB blocks at a time so the buffers stay small; the accumulators carry over between chunks.
constexpr int MC = 4;
constexpr int KB = 512;
constexpr int64_t kPrefetch = 4096;

struct TileBuf {
  alignas(32) int32_t isum[MC][8][KB];
  alignas(32) uint16_t scale[KB][8];
};

// One block's partial products against activation block xb: 16 int16 lanes for q4_0 (nibble · x pairs,
// |lane| ≤ 3840), 8 int32 lanes for q8_0.
template <int WT>
inline __m256i block_products(const uint8_t* wb, const uint8_t* xb) {
  const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 2));
  if (WT == W_Q4_0) {
    // Low nibbles (values 0..15) in the low half, high nibbles (16..31) in the high half.
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + 2)));
    const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0x0f));
    return _mm256_maddubs_epi16(q, xv);
  }
  // |w| (unsigned) times x carrying w's sign: exact for any weight byte, −128 included (x is −128 only
  // where x·id was not finite, i.e. dx is 0 or not finite).
  const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 2));
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xv, w)), _mm256_set1_epi16(1));
}

// Exact block sums of 8 blocks (lanes) of one weight row against one activation row; blocks ≥ nv are 0.
template <int WT, bool FULL>
inline __m256i group_sums(const uint8_t* wb, const uint8_t* xb, const int32_t* xs8, int nv) {
  const int64_t bb = WT == W_Q4_0 ? Q4_BYTES : Q8_BYTES;
  __m256i p[8];
  for (int j = 0; j < 8; j++) {
    p[j] = FULL || j < nv ? block_products<WT>(wb + j * bb, xb + j * Q8_BYTES) : _mm256_setzero_si256();
  }
  if (WT == W_Q8_0) return hsum8x8(p);
  // Σ x·(q − 8) = Σ x·q − 8·Σx; xs8 is zero-padded past nb.
  return _mm256_sub_epi32(hsum8x16(p), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs8)));
}

// Phase 1 for weight row r of the tile: nbc blocks from `row` against activation rows whose first block
// is xb[m] (with their 8·Σx at xs[m]), m < mc. Everything is passed as plain pointers so that the stores
// into the tile buffer do not force reloads (the addon is built with -fno-strict-aliasing).
template <int WT>
inline void row_sums(const uint8_t* row, int r, const uint8_t* const* xb, const int32_t* const* xs, int mc, int64_t nbc, TileBuf& t) {
  const int64_t bb = WT == W_Q4_0 ? Q4_BYTES : Q8_BYTES;
  int64_t g = 0;
  for (; g + 8 <= nbc; g += 8) {
    const uint8_t* wb = row + g * bb;
    // The hardware prefetcher alone leaves DRAM idle while a group computes (and stops at 4 KiB pages);
    // ask for the lines 4 KiB ahead — a thread's rows are contiguous, so this runs on into its next rows.
    // A prefetch is a hint: past the end of the matrix it does nothing.
    for (int64_t l = 0; l < 8 * bb; l += 64) _mm_prefetch(reinterpret_cast<const char*>(wb + kPrefetch + l), _MM_HINT_T0);
    uint16_t* sc = &t.scale[g][r];
    for (int j = 0; j < 8; j++) sc[8 * j] = ld16(wb + j * bb);
    int32_t* dst = &t.isum[0][r][g];
    if (mc == 1) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst), group_sums<WT, true>(wb, xb[0] + g * Q8_BYTES, xs[0] + g, 8));
    } else {
      for (int m = 0; m < mc; m++) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(dst + m * 8 * KB), group_sums<WT, true>(wb, xb[m] + g * Q8_BYTES, xs[m] + g, 8));
      }
    }
  }
  if (g < nbc) {
    const int nv = static_cast<int>(nbc - g);
    const uint8_t* wb = row + g * bb;
    for (int j = 0; j < nv; j++) t.scale[g + j][r] = ld16(wb + j * bb);
    for (int m = 0; m < mc; m++) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(&t.isum[m][r][g]), group_sums<WT, false>(wb, xb[m] + g * Q8_BYTES, xs[m] + g, nv));
    }
  }
}

// Phase 2: acc[m] (lanes = the 8 rows) += (dx·dw)·isum, block by block — the specification's order.
inline void accumulate(const QLinear& q, int64_t m0, int mc, int64_t b0, int64_t nbc, const TileBuf& t, __m256* acc) {
  for (int m = 0; m < mc; m++) {
    const float* dx = q.dx + (m0 + m) * q.nbp + b0;
    __m256 a = acc[m];
    for (int64_t g = 0; g < nbc; g += 8) {
      __m256i v[8];
      for (int r = 0; r < 8; r++) v[r] = _mm256_load_si256(reinterpret_cast<const __m256i*>(&t.isum[m][r][g]));
      transpose8x8(v);
      const int nv = nbc - g < 8 ? static_cast<int>(nbc - g) : 8;
      for (int j = 0; j < 8; j++) {
        if (j == nv) break;
        const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(t.scale[g + j])));
        const __m256 d = _mm256_mul_ps(_mm256_set1_ps(dx[g + j]), dw);
        a = _mm256_add_ps(a, _mm256_mul_ps(d, _mm256_cvtepi32_ps(v[j])));
      }
    }
    acc[m] = a;
  }
}

template <int WT>
void tile(const QLinear& q, int64_t n0, TileBuf& t) {
  const int valid = q.N - n0 < 8 ? static_cast<int>(q.N - n0) : 8;
  const uint8_t* rows[8];
  for (int i = 0; i < 8; i++) rows[i] = q.w + (i < valid ? n0 + i : q.N - 1) * q.wrow;
  alignas(32) float lane[8];
  __m256 bias = _mm256_setzero_ps();
  if (q.bias) {
    for (int i = 0; i < 8; i++) lane[i] = i < valid ? q.bias[(n0 + i) * q.bs] : 0.0f;
    bias = _mm256_load_ps(lane);
  }
  for (int64_t m0 = 0; m0 < q.M; m0 += MC) {
    const int mc = q.M - m0 < MC ? static_cast<int>(q.M - m0) : MC;
    __m256 acc[MC];
    for (int m = 0; m < MC; m++) acc[m] = _mm256_setzero_ps();
    for (int64_t b0 = 0; b0 < q.nb; b0 += KB) {
      const int64_t nbc = q.nb - b0 < KB ? q.nb - b0 : KB;
      const uint8_t* xb[MC];
      const int32_t* xs[MC];
      for (int m = 0; m < mc; m++) {
        xb[m] = q.xq + ((m0 + m) * q.nb + b0) * Q8_BYTES;
        xs[m] = q.xs8 + (m0 + m) * q.nbp + b0;
      }
      const int64_t boff = b0 * (WT == W_Q4_0 ? Q4_BYTES : Q8_BYTES);
      for (int r = 0; r < 8; r++) row_sums<WT>(rows[r] + boff, r, xb, xs, mc, nbc, t);
      accumulate(q, m0, mc, b0, nbc, t, acc);
    }
    for (int m = 0; m < mc; m++) {
      const __m256 v = q.bias ? _mm256_add_ps(acc[m], bias) : acc[m];
      float* o = q.out + (m0 + m) * q.os + n0;
      if (valid == 8) {
        _mm256_storeu_ps(o, v);
      } else {
        _mm256_store_ps(lane, v);
        for (int i = 0; i < valid; i++) o[i] = lane[i];
      }
    }
  }
}

struct QLCtx {
  const QLinear* q;
  llava::WorkRanges* ranges = nullptr;  // dot_job: units of `unit` tiles
  int64_t unit = 1;
};

void quantize_x_job(void* c, int tid, int nt) {
  const QLinear& q = *static_cast<QLCtx*>(c)->q;
  int64_t b, e;
  llava::split_range(q.M, nt, tid, &b, &e);
  for (int64_t m = b; m < e; m++) {
    for (int64_t k = 0; k < q.nb; k++) {
      q8_block(q.x + m * q.xs + k * QK, q.xq + (m * q.nb + k) * Q8_BYTES, q.dx + m * q.nbp + k, q.xs8 + m * q.nbp + k);
    }
    for (int64_t k = q.nb; k < q.nbp; k++) {
      q.dx[m * q.nbp + k] = 0.0f;
      q.xs8[m * q.nbp + k] = 0;
    }
  }
}

// Tiles of 8 rows in units taken through WorkRanges (a late or slower thread is covered by the other).
void dot_job(void* c, int tid, int) {
  const QLCtx& x = *static_cast<QLCtx*>(c);
  const QLinear& q = *x.q;
  const int64_t tiles = (q.N + 7) / 8;
  TileBuf buf;  // 72 KiB on this thread's stack: no allocation per call
  x.ranges->run(tid, [&](int64_t u) {
    const int64_t t1 = (u + 1) * x.unit < tiles ? (u + 1) * x.unit : tiles;
    for (int64_t t = u * x.unit; t < t1; t++) {
      if (q.wtype == W_Q4_0) tile<W_Q4_0>(q, t * 8, buf);
      else tile<W_Q8_0>(q, t * 8, buf);
    }
  });
}

}  // namespace

namespace llava {
namespace wq {

void quantize_activations_avx2(const QLinear& q) {
  QLCtx ctx{&q};
  llava::parallel_run(quantize_x_job, &ctx, threads_for(q.M * q.K, 1 << 16));
}

void quant_tiles_avx2(const QLinear& q) {
  const int nt = threads_for(q.N * q.M * q.K, 1 << 15);
  const int64_t tiles = (q.N + 7) / 8, unit = llava::claim_unit(tiles, nt);
  llava::WorkRanges ranges((tiles + unit - 1) / unit, nt);
  QLCtx ctx{&q, &ranges, unit};
  llava::parallel_claim(dot_job, &ctx, nt);
}

}  // namespace wq
}  // namespace llava

namespace {

void quant_linear_avx2(const llava::Args& a) {
  const QLinear q = parse_quant_linear(a);
  if (q.N == 0 || q.M == 0) return;
  quantize_activations_avx2(q);
  if (q.M >= q.gemm_min && quant_gemm_avx2(q)) return;
  quant_tiles_avx2(q);
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
