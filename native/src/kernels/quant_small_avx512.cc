// AVX-512 few-row kernel of quant_linear (decode), bit-identical to src/engine/quant.ts like the AVX2 tiles.
//
// A tile is 16 weight rows (zmm lanes = rows in the f32 accumulation). Blocks are taken 4 at a time (a
// "group"): one zmm of weight bytes meets one of activation bytes in vpdpbusd (u8 × s8 → 4 int32 partial
// sums per block). q4_0 nibbles are unsigned already (Σ nib·x − 8·Σx); q8_0 weights are flipped to
// w + 128 (Σ (w+128)·x − 128·Σx). Both corrections use 8·Σx, which the activation quantization stores per
// block, and every integer sum is exact. To make one load of activation bytes match the weight layout,
// each thread first repacks a chunk of its activation rows (scales dropped; q4_0 as low/high halves of 4
// blocks) into a per-thread buffer.
//
// Per tile and chunk, the 4 rows of each quad are walked side by side, group by group (software prefetch
// one quad ahead): their partial sums are reduced in registers to exact block sums (lanes: 4 blocks × 4
// rows), their scales gathered into the same lane order, and the specification's f32 terms (dx·dw)·isum
// stored; then the 4 quads' terms are transposed so that lanes = the 16 rows and added block by block in
// order: acc = acc + term, no FMA. Between K chunks (K > 512 blocks) the accumulators wait in the output
// row (an exact f32 round trip); the bias is added last, as in the spec.
//
// Not here: argument parsing and quantization of activations (quant.cc, quant_avx2.cc), the blocked GEMM.
#include <cstring>

#include "../simd.h"
#include "../threadpool.h"
#include "quant_avx512.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX512_BEGIN
namespace {

using namespace llava::wq;

constexpr int TR = 16;               // weight rows per tile
constexpr int KB = 512;              // blocks per K chunk
constexpr int KG = KB / 4;           // groups per chunk
constexpr int MX = 8;                // activation rows repacked at once

// Per thread, allocated once per thread (thread_local): no allocation per call, and too large for the
// stacks of JS worker threads.
struct Buf {
  alignas(64) uint8_t x[MX][KG][128];  // activation chunk: per group 128 bytes (layout: repack_x)
  alignas(64) float term[4][KG][16];   // per quad and group: (dx·dw)·isum, lanes [block][row in quad]
};
thread_local Buf tbuf;

template <int WT>
constexpr int64_t wbytes() {
  return WT == W_Q4_0 ? Q4_BYTES : Q8_BYTES;
}

// Activation rows [m0, m0 + mx), blocks [b0, b0 + nbc) into buf.x, zero past nbc. q4_0: per group the
// first 16 values of its 4 blocks, then the last 16 (the weights' low and high nibbles). q8_0: the 4 blocks'
// 32 values one after another.
template <int WT>
void repack_x(const QLinear& q, int64_t m0, int mx, int64_t b0, int64_t nbc, Buf& buf) {
  const int64_t ng = (nbc + 3) / 4;
  for (int m = 0; m < mx; m++) {
    const uint8_t* xr = q.xq + ((m0 + m) * q.nb + b0) * Q8_BYTES + 2;
    for (int64_t g = 0; g < ng; g++) {
      uint8_t* d = buf.x[m][g];
      for (int j = 0; j < 4; j++) {
        const int64_t b = 4 * g + j;
        __m128i lo = _mm_setzero_si128(), hi = _mm_setzero_si128();
        if (b < nbc) {
          lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xr + b * Q8_BYTES));
          hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xr + b * Q8_BYTES + 16));
        }
        if (WT == W_Q4_0) {
          _mm_store_si128(reinterpret_cast<__m128i*>(d + 16 * j), lo);
          _mm_store_si128(reinterpret_cast<__m128i*>(d + 64 + 16 * j), hi);
        } else {
          _mm_store_si128(reinterpret_cast<__m128i*>(d + 32 * j), lo);
          _mm_store_si128(reinterpret_cast<__m128i*>(d + 32 * j + 16), hi);
        }
      }
    }
  }
}

// Partial sums of one group of 4 whole weight blocks at wb against repacked activations xg: lanes
// [block][4 partial sums] (exact; the correction for the nibble offset / weight flip is applied later).
template <int WT>
inline __m512i group_partials(const uint8_t* wb, const uint8_t* xg) {
  const __m512i xa = _mm512_load_si512(xg), xb = _mm512_load_si512(xg + 64);
  if (WT == W_Q4_0) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + 2)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + 2 + Q4_BYTES)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + 2 + 2 * Q4_BYTES)), 2);
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + 2 + 3 * Q4_BYTES)), 3);
    const __m512i mask = _mm512_set1_epi8(0x0f);
    const __m512i lo = _mm512_and_si512(v, mask), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xa), hi, xb);
  }
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i w01 = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 2)));
  w01 = _mm512_inserti64x4(w01, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 2 + Q8_BYTES)), 1);
  __m512i w23 = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 2 + 2 * Q8_BYTES)));
  w23 = _mm512_inserti64x4(w23, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 2 + 3 * Q8_BYTES)), 1);
  // a: [block 0: 2 × 4 sums | block 1: 2 × 4], b: the same for blocks 2, 3; fold each block's halves.
  const __m512i a = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(w01, flip), xa);
  const __m512i b = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(w23, flip), xb);
  return _mm512_add_epi32(_mm512_shuffle_i32x4(a, b, 0x88), _mm512_shuffle_i32x4(a, b, 0xdd));
}

// The 4 f16 scales of a whole group at wb merged into words 4·block + r of s (r: the row's place in the quad),
// so that after 4 rows the low 16 words are the scales in the lane order of the terms.
template <int WT>
inline __m512i merge_scales(__m512i s, const uint8_t* wb, int r) {
  const __mmask32 k = static_cast<__mmask32>(0x1111u << r);
  const __m512i v = _mm512_loadu_si512(wb);
  if (WT == W_Q4_0) {  // words 0, 9, 18, 27
    const __m512i idx = _mm512_setr_epi64(0, 0x0009000900090009LL, 0x0012001200120012LL, 0x001b001b001b001bLL, 0, 0, 0, 0);
    return _mm512_mask_permutexvar_epi16(s, k, idx, v);
  }
  // words 0, 17, 34, 51 (the last two in the second 64 bytes of the 136-byte group)
  const __m512i idx = _mm512_setr_epi64(0, 0x0011001100110011LL, 0x0022002200220022LL, 0x0033003300330033LL, 0, 0, 0, 0);
  return _mm512_mask_mov_epi16(s, k, _mm512_permutex2var_epi16(v, idx, _mm512_loadu_si512(wb + 64)));
}

// One group of the 4 rows of a quad (weight blocks at wb[r]): exact block sums (lanes [block][row]) and the
// specification's f32 terms (dx·dw)·isum, stored at `term`.
template <int WT>
inline void quad_group(const uint8_t* const* wb, const uint8_t* xg, const float* dx, const int32_t* xs8, float* term) {
  const __m512i rep = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m512i r0 = group_partials<WT>(wb[0], xg), r1 = group_partials<WT>(wb[1], xg);
  const __m512i r2 = group_partials<WT>(wb[2], xg), r3 = group_partials<WT>(wb[3], xg);
  __m512i sc = _mm512_setzero_si512();
  for (int r = 0; r < 4; r++) sc = merge_scales<WT>(sc, wb[r], r);
  const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(r0, r1), _mm512_unpackhi_epi32(r0, r1));
  const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(r2, r3), _mm512_unpackhi_epi32(r2, r3));
  __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
  // dx, xs8 are zero-padded to a multiple of 8 blocks, so a last partial group reads zeros.
  __m512i corr = _mm512_permutexvar_epi32(rep, _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xs8))));
  if (WT == W_Q8_0) corr = _mm512_slli_epi32(corr, 4);  // 128·Σx = 16 · (8·Σx)
  s = _mm512_sub_epi32(s, corr);
  const __m512 dxv = _mm512_permutexvar_ps(rep, _mm512_castps128_ps512(_mm_loadu_ps(dx)));
  const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(sc));
  _mm512_store_ps(term, _mm512_mul_ps(_mm512_mul_ps(dxv, dw), _mm512_cvtepi32_ps(s)));
}

// The 4 rows of quad qd (their blocks of this chunk start at row[r]) against activation row m: terms for
// every group. The rows are walked side by side (4 sequential streams, each prefetched ahead); a partial
// last group is copied into zeroed local buffers first so nothing past a row is read.
template <int WT>
inline void quad_pass(const QLinear& q, const uint8_t* const* row, int64_t m, int64_t b0, int64_t nbc, int qd, Buf& buf, const uint8_t (*xg)[128]) {
  const int64_t bb = wbytes<WT>(), full = nbc / 4, ahead = 4 * q.wrow;
  const float* dx = q.dx + m * q.nbp + b0;
  const int32_t* xs8 = q.xs8 + m * q.nbp + b0;
  for (int64_t g = 0; g < full; g++) {
    const uint8_t* wb[4];
    for (int r = 0; r < 4; r++) {
      wb[r] = row[r] + 4 * g * bb;
      // The same place in the next quad's rows (the band's rows are contiguous, so after a tile's last
      // quad that is the next tile): a fixed distance ahead within the row would mostly land in the rows
      // being walked already, and the hardware prefetcher alone leaves DRAM idle while a group computes.
      // A prefetch is only a hint: past the end of the matrix it does nothing.
      for (int64_t l = 0; l < 4 * bb; l += 64) _mm_prefetch(reinterpret_cast<const char*>(wb[r] + ahead + l), _MM_HINT_T0);
    }
    quad_group<WT>(wb, xg[g], dx + 4 * g, xs8 + 4 * g, buf.term[qd][g]);
  }
  const int nv = static_cast<int>(nbc - 4 * full);
  if (nv) {
    alignas(64) uint8_t tmp[4][4 * Q8_BYTES + 64];
    const uint8_t* wb[4];
    for (int r = 0; r < 4; r++) {
      std::memset(tmp[r], 0, sizeof tmp[r]);
      std::memcpy(tmp[r], row[r] + 4 * full * bb, nv * bb);
      wb[r] = tmp[r];
    }
    quad_group<WT>(wb, xg[full], dx + 4 * full, xs8 + 4 * full, buf.term[qd][full]);
  }
}

// Phase 3: lanes = the 16 rows; acc = acc + term block by block.
inline __m512 accumulate(__m512 acc, int64_t nbc, const Buf& buf) {
  const int64_t ng = (nbc + 3) / 4;
  for (int64_t g = 0; g < ng; g++) {
    const __m512 p0 = _mm512_load_ps(buf.term[0][g]), p1 = _mm512_load_ps(buf.term[1][g]);
    const __m512 p2 = _mm512_load_ps(buf.term[2][g]), p3 = _mm512_load_ps(buf.term[3][g]);
    const __m512 x0 = _mm512_shuffle_f32x4(p0, p1, 0x44), x1 = _mm512_shuffle_f32x4(p0, p1, 0xee);
    const __m512 y0 = _mm512_shuffle_f32x4(p2, p3, 0x44), y1 = _mm512_shuffle_f32x4(p2, p3, 0xee);
    const int nv = nbc - 4 * g < 4 ? static_cast<int>(nbc - 4 * g) : 4;
    acc = _mm512_add_ps(acc, _mm512_shuffle_f32x4(x0, y0, 0x88));
    if (nv > 1) acc = _mm512_add_ps(acc, _mm512_shuffle_f32x4(x0, y0, 0xdd));
    if (nv > 2) acc = _mm512_add_ps(acc, _mm512_shuffle_f32x4(x1, y1, 0x88));
    if (nv > 3) acc = _mm512_add_ps(acc, _mm512_shuffle_f32x4(x1, y1, 0xdd));
  }
  return acc;
}

// Tile rows [n0, n0 + 16) for activation rows [m0, m0 + mx) over the chunk of blocks [b0, b0 + nbc)
// (whose activations are in buf.x). Rows past N repeat the last row; their lanes are not stored.
template <int WT>
void tile_chunk(const QLinear& q, int64_t n0, int64_t m0, int mx, int64_t b0, int64_t nbc, Buf& buf) {
  const int valid = q.N - n0 < TR ? static_cast<int>(q.N - n0) : TR;
  const __mmask16 keep = static_cast<__mmask16>((1u << valid) - 1);
  const int64_t boff = b0 * wbytes<WT>();
  const bool first = b0 == 0, last = b0 + nbc >= q.nb;
  __m512 bias = _mm512_setzero_ps();
  if (last && q.bias) {
    alignas(64) float lane[TR];
    for (int i = 0; i < TR; i++) lane[i] = i < valid ? q.bias[(n0 + i) * q.bs] : 0.0f;
    bias = _mm512_load_ps(lane);
  }
  for (int m = 0; m < mx; m++) {
    for (int qd = 0; qd < 4; qd++) {
      const uint8_t* row[4];
      for (int r = 0; r < 4; r++) {
        const int64_t n = n0 + 4 * qd + r < q.N ? n0 + 4 * qd + r : q.N - 1;
        row[r] = q.w + n * q.wrow + boff;
      }
      quad_pass<WT>(q, row, m0 + m, b0, nbc, qd, buf, buf.x[m]);
    }
    float* o = q.out + (m0 + m) * q.os + n0;
    __m512 acc = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(keep, o);
    acc = accumulate(acc, nbc, buf);
    if (last && q.bias) acc = _mm512_add_ps(acc, bias);
    _mm512_mask_storeu_ps(o, keep, acc);
  }
}

struct Ctx {
  const QLinear* q;
  llava::WorkRanges* ranges;  // one chunk (M <= MX, nb <= KB): units of `unit` tiles; else null
  int64_t unit;
};

template <int WT>
void band(const QLinear& q, int64_t t0, int64_t t1) {
  Buf& buf = tbuf;
  for (int64_t m0 = 0; m0 < q.M; m0 += MX) {
    const int mx = q.M - m0 < MX ? static_cast<int>(q.M - m0) : MX;
    for (int64_t b0 = 0; b0 < q.nb; b0 += KB) {
      const int64_t nbc = q.nb - b0 < KB ? q.nb - b0 : KB;
      repack_x<WT>(q, m0, mx, b0, nbc, buf);
      for (int64_t t = t0; t < t1; t++) tile_chunk<WT>(q, t * TR, m0, mx, b0, nbc, buf);
    }
  }
}

// The decode case, one chunk: the activations repacked once per thread (when it takes its first unit), then
// units of tiles taken through WorkRanges, so a late or slower thread is covered by the other.
template <int WT>
void claimed(const QLinear& q, const Ctx& c, int tid) {
  Buf& buf = tbuf;
  bool packed = false;
  const int64_t tiles = (q.N + TR - 1) / TR;
  c.ranges->run(tid, [&](int64_t u) {
    if (!packed) {
      repack_x<WT>(q, 0, static_cast<int>(q.M), 0, q.nb, buf);
      packed = true;
    }
    const int64_t t1 = (u + 1) * c.unit < tiles ? (u + 1) * c.unit : tiles;
    for (int64_t t = u * c.unit; t < t1; t++) tile_chunk<WT>(q, t * TR, 0, static_cast<int>(q.M), 0, q.nb, buf);
  });
}

void small_job(void* c, int tid, int nt) {
  const Ctx& x = *static_cast<Ctx*>(c);
  const QLinear& q = *x.q;
  if (x.ranges) {
    if (q.wtype == W_Q4_0) claimed<W_Q4_0>(q, x, tid);
    else claimed<W_Q8_0>(q, x, tid);
    return;
  }
  int64_t t0, t1;
  llava::split_range((q.N + TR - 1) / TR, nt, tid, &t0, &t1);
  if (q.wtype == W_Q4_0) band<W_Q4_0>(q, t0, t1);
  else band<W_Q8_0>(q, t0, t1);
}

}  // namespace

namespace llava {
namespace wq {

void quant_small_avx512(const QLinear& q) {
  if (q.nb == 0) {  // no blocks: every output is 0 (+ bias)
    for (int64_t m = 0; m < q.M; m++)
      for (int64_t n = 0; n < q.N; n++) q.out[m * q.os + n] = q.bias ? 0.0f + q.bias[n * q.bs] : 0.0f;
    return;
  }
  const int nt = threads_for(q.N * q.M * q.K, 1 << 15);
  if (q.M <= MX && q.nb <= KB) {
    const int64_t tiles = (q.N + TR - 1) / TR, unit = llava::claim_unit(tiles, nt);
    llava::WorkRanges ranges((tiles + unit - 1) / unit, nt);
    Ctx ctx{&q, &ranges, unit};
    llava::parallel_claim(small_job, &ctx, nt);
    return;
  }
  Ctx ctx{&q, nullptr, 0};
  llava::parallel_run(small_job, &ctx, nt);
}

}  // namespace wq
}  // namespace llava
LLAVA_AVX512_END
#endif
