// AVX-512 VNNI blocked GEMM for quant_linear with many activation rows (prefill): out[m, n] =
// dot(q8_0(x[m]), w[n]) for q8_0/q4_0 weights, bit-identical to src/engine/quant.ts (quant_avx512.cc
// quantizes the activation rows and calls this from gemm_min rows on; layouts in quant_common.h).
//
// The AVX2 GEMM (quant_gemm_avx2.cc) with 16 output lanes per zmm and vpdpbusd. Weights are repacked per
// call, a tile of groups of 16 rows at a time, into a per-thread buffer that stays in L2 while every
// activation row runs against it. A group stores, per block, 8 vectors c = 0..7 whose int32 lane r holds
// the quants k = 4c..4c+3 of row r as unsigned bytes, then the 16 rows' scales as f32. vpdpbusd multiplies
// those unsigned bytes with 4 signed activation quants broadcast from memory and adds the 4 products into
// lane r, so after 8 of them lane r holds an exact block sum for output row r with no horizontal sums:
//   q4_0: the nibbles u = q + 8 are stored as they are:       isum = Σ u·x − 8·Σx
//   q8_0: the quants are stored as u = q + 128 (q xor 0x80):  isum = Σ u·x − 128·Σx
// (8·Σx per activation block is xs8, computed when the rows were quantized; |Σ u·x| ≤ 32·255·128 stays far
// inside int32, so every sum is exact). The f32 accumulation then runs per output block by block as the
// specification says, acc = acc + (dx·dw)·isum with no FMA, so lanes are outputs and the order is the
// spec's. The micro-kernel runs MR activation rows against G groups at once (see `micro`), which the 32
// vector registers of AVX-512 allow. Tiles are taken from a shared counter, not split evenly, so that a
// thread the OS holds back does not hold up the call.
//
// Not here: activation quantization (quant_avx2.cc), the few-row path (quant_small_avx512.cc), the scalar
// variants (quant.cc).
#include <cstdlib>
#include <cstring>

#include "../scratch.h"
#include "../simd.h"
#include "../threadpool.h"
#include "quant_avx2.h"
#include "quant_avx512.h"
#include "quant_common.h"

#if LLAVA_HAVE_AVX2
// GCC 12's _mm512_cvtepi32_ps / _mm512_inserti64x4 pass an "undefined" vector that it then warns about.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
LLAVA_AVX512_BEGIN
namespace {

using namespace llava::wq;

// Bytes of one block of a repacked group: 8 quant vectors and 16 f32 scales (a multiple of 64: aligned).
constexpr int64_t GB = 8 * 64 + 64;
// Weight tile per thread (L2 is 1 MiB per core on the AVX-512 machines we tune for; activation rows pass
// through it too).
constexpr int64_t TILE_BYTES = 384 << 10;
constexpr int64_t TG_MAX = 18;
// Micro-tile: G groups (16·G outputs) × MR activation rows; G·MR int32 sums and as many f32 accumulators
// plus G weight vectors fit the 32 zmm registers. Measured here against 2×6, 4×3, 2×5, 1×8 and 1×12
// (bench qgemm): 3×4, 2×6 and 2×5 within noise of each other, the rest slower.
constexpr int G = 3;
constexpr int MR = 4;

// Repacks 8 rows r0..r0+7 (valid of them real; the rest zero with scale 0) of one block into v[0..7] (lane
// r of v[c] = quants 4c..4c+3 of row r, unsigned) and their scales into sc[0..7].
template <int WT>
inline void load8(const QLinear& q, int64_t r0, int valid, int64_t b, __m256i* v, float* sc) {
  const int64_t bb = WT == W_Q4_0 ? Q4_BYTES : Q8_BYTES;
  const __m128i low = _mm_set1_epi8(0x0f);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int r = 0; r < 8; r++) {
    if (r >= valid) {
      v[r] = _mm256_setzero_si256();
      sc[r] = 0.0f;
      continue;
    }
    const uint8_t* blk = q.w + (r0 + r) * q.wrow + b * bb;
    sc[r] = _cvtsh_ss(ld16(blk));
    if (WT == W_Q4_0) {
      const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
      v[r] = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), low), _mm_and_si128(qs, low));
    } else {
      v[r] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)), flip);
    }
  }
  transpose8x8(v);
}

// Repacks rows n0..n0+15 of the weight (rows past N as zeros with scale 0) into dst, nb blocks of GB bytes.
template <int WT>
void repack_group(const QLinear& q, int64_t n0, uint8_t* dst) {
  const int64_t left = q.N - n0;
  const int lo = left < 8 ? static_cast<int>(left) : 8;
  const int hi = left - 8 < 0 ? 0 : left - 8 < 8 ? static_cast<int>(left - 8) : 8;
  for (int64_t b = 0; b < q.nb; b++) {
    __m256i a[8], c[8];
    alignas(64) float sc[16];
    load8<WT>(q, n0, lo, b, a, sc);
    load8<WT>(q, n0 + 8, hi, b, c, sc + 8);
    uint8_t* d = dst + b * GB;
    for (int k = 0; k < 8; k++)
      _mm512_store_si512(reinterpret_cast<__m512i*>(d + 64 * k), _mm512_inserti64x4(_mm512_castsi256_si512(a[k]), c[k], 1));
    _mm512_store_ps(reinterpret_cast<float*>(d + 512), _mm512_load_ps(sc));
  }
}

// R activation rows from m0 against G repacked groups at w, w + gs, ... (outputs n0..n0+16·G−1): the whole
// K, one block at a time; per quant vector c, each row's 4 quants are broadcast once and feed the G groups'
// sums, so loads per vpdpbusd are 1/R + 1/G. Then bias and store of the valid lanes.
template <int WT, int G, int R>
void micro(const QLinear& q, int64_t m0, const uint8_t* w, int64_t gs, int64_t n0) {
  __m512 acc[R][G];
  for (int i = 0; i < R; i++)
    for (int g = 0; g < G; g++) acc[i][g] = _mm512_setzero_ps();
  const int64_t xr = q.nb * Q8_BYTES;
  const uint8_t* x0 = q.xq + m0 * xr + 2;
  const float* dx0 = q.dx + m0 * q.nbp;
  const int32_t* s0 = q.xs8 + m0 * q.nbp;
  // xs8 = 8·Σx; the unsigned offset takes 8·Σx (q4_0) or 128·Σx (q8_0) back off.
  constexpr int shift = WT == W_Q4_0 ? 0 : 4;
  for (int64_t b = 0; b < q.nb; b++) {
    const uint8_t* wb = w + b * GB;
    __m512i s[R][G];
    for (int i = 0; i < R; i++) {
      const __m512i init = _mm512_set1_epi32(-(s0[i * q.nbp + b] << shift));
      for (int g = 0; g < G; g++) s[i][g] = init;
    }
    for (int c = 0; c < 8; c++) {
      __m512i wv[G];
      for (int g = 0; g < G; g++) wv[g] = _mm512_load_si512(reinterpret_cast<const __m512i*>(wb + g * gs + 64 * c));
      for (int i = 0; i < R; i++) {
        int32_t x4;
        std::memcpy(&x4, x0 + i * xr + b * Q8_BYTES + 4 * c, 4);
        const __m512i xv = _mm512_set1_epi32(x4);
        for (int g = 0; g < G; g++) s[i][g] = _mm512_dpbusd_epi32(s[i][g], wv[g], xv);
      }
    }
    for (int i = 0; i < R; i++) {
      const __m512 dxv = _mm512_set1_ps(dx0[i * q.nbp + b]);
      for (int g = 0; g < G; g++) {
        const __m512 dw = _mm512_load_ps(reinterpret_cast<const float*>(wb + g * gs + 512));
        acc[i][g] = _mm512_add_ps(acc[i][g], _mm512_mul_ps(_mm512_mul_ps(dxv, dw), _mm512_cvtepi32_ps(s[i][g])));
      }
    }
  }
  for (int g = 0; g < G; g++) {
    const int64_t ng = n0 + 16 * g;
    const int valid = q.N - ng < 16 ? static_cast<int>(q.N - ng) : 16;
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
    alignas(64) float bias[16] = {0};
    if (q.bias)
      for (int j = 0; j < valid; j++) bias[j] = q.bias[(ng + j) * q.bs];
    const __m512 bv = _mm512_load_ps(bias);
    for (int i = 0; i < R; i++) {
      const __m512 v = q.bias ? _mm512_add_ps(acc[i][g], bv) : acc[i][g];
      float* o = q.out + (m0 + i) * q.os + ng;
      if (valid == 16) _mm512_storeu_ps(o, v);
      else _mm512_mask_storeu_ps(o, mask, v);
    }
  }
}

// micro<WT, g, r> for run-time g ≤ G, r ≤ R.
template <int WT, int G, int R>
void micro_any(const QLinear& q, int64_t m0, int g, int r, const uint8_t* w, int64_t gs, int64_t n0) {
  if constexpr (G > 1) {
    if (g < G) return micro_any<WT, G - 1, R>(q, m0, g, r, w, gs, n0);
  }
  if constexpr (R > 1) {
    if (r < R) return micro_any<WT, G, R - 1>(q, m0, g, r, w, gs, n0);
  }
  micro<WT, G, R>(q, m0, w, gs, n0);
}

struct GCtx {
  const QLinear* q;
  int64_t tile;  // tile buffer bytes
  int64_t tg;    // groups per tile
  int64_t next;  // next tile to take (atomic)
};

// Tiles are handed out one at a time: a thread that the OS holds back (the cores are often shared) takes
// fewer of them instead of delaying the whole call, as an equal static split would.
template <int WT>
void gemm_tiles(GCtx& c, uint8_t* buf) {
  const QLinear& q = *c.q;
  const int64_t gs = q.nb * GB, groups = (q.N + 15) / 16;
  for (;;) {
    const int64_t t0 = __atomic_fetch_add(&c.next, 1, __ATOMIC_RELAXED) * c.tg;
    if (t0 >= groups) break;
    const int64_t tn = groups - t0 < c.tg ? groups - t0 : c.tg;
    for (int64_t j = 0; j < tn; j++) repack_group<WT>(q, (t0 + j) * 16, buf + j * gs);
    for (int64_t m0 = 0; m0 < q.M; m0 += MR) {
      const int r = q.M - m0 < MR ? static_cast<int>(q.M - m0) : MR;
      for (int64_t j = 0; j < tn; j += G) {
        const int g = tn - j < G ? static_cast<int>(tn - j) : G;
        micro_any<WT, G, MR>(q, m0, g, r, buf + j * gs, gs, (t0 + j) * 16);
      }
    }
  }
}

// Each thread's tile buffer, kept between calls. A worker that cannot get one takes no tiles (the others
// cover them); the caller reserved its own before the job started.
thread_local llava::ScratchBuffer tile_buf;

void gemm_job(void* p, int, int) {
  GCtx& c = *static_cast<GCtx*>(p);
  uint8_t* buf = tile_buf.reserve<uint8_t>(c.tile);
  if (!buf) return;
  if (c.q->wtype == W_Q4_0) gemm_tiles<W_Q4_0>(c, buf);
  else gemm_tiles<W_Q8_0>(c, buf);
}

}  // namespace

namespace llava {
namespace wq {

bool quant_gemm_avx512(const QLinear& q) {
  const int64_t groups = (q.N + 15) / 16, gs = q.nb * GB;
  int64_t tg = TILE_BYTES / gs;
  tg = tg < G ? G : tg > TG_MAX ? TG_MAX : tg - tg % G;
  int nt = threads_for(q.N * q.M * q.K, 1 << 15);
  if (nt > groups) nt = static_cast<int>(groups);
  GCtx c{&q, tg * gs, tg, 0};
  if (!tile_buf.reserve<uint8_t>(c.tile)) return false;
  llava::parallel_claim(gemm_job, &c, nt);
  return true;
}

}  // namespace wq
}  // namespace llava
LLAVA_AVX512_END
#endif
