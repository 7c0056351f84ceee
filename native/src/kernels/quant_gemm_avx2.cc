// AVX2 blocked GEMM for quant_linear with many activation rows (prefill): out[m, n] = dot(q8_0(x[m]), w[n])
// for q8_0/q4_0 weights, bit-identical to src/engine/quant.ts (quant_avx2.cc quantizes the activation
// rows and calls this from GEMM_MIN_M rows on; layouts in quant_common.h).
//
// Weights are repacked per call, a tile of groups of 8 rows at a time, into a per-thread buffer that stays
// in L2 while every activation row runs against it. A group stores, per block, 8 vectors c = 0..7 whose
// int32 lane r holds the quants k = 4c..4c+3 of row r (q4_0 nibbles unpacked to bytes 0..15), then the 8
// rows' scales as f32. A broadcast of 4 activation quants against vector c then gives, after maddubs,
// partial sums already in the lane of their output row: no horizontal sums, and the lanes are exactly the
// 8 outputs whose f32 accumulators the specification advances block by block:
//   acc[m][n] = acc + (dx·dw)·isum   (no FMA; isum exact in int32),
// so the order per output is the spec's. The micro-kernel keeps one group's 8 quant vectors of a block in
// registers for MR activation rows. q4_0 sums stay int16 over a block (|lane| ≤ 8·2·15·128) and take
// Σx·q − 8·Σx; q8_0 uses |w| · (x with w's sign), as the tile kernel does. Tiles are taken from a shared
// counter, not split evenly, so that a thread the OS holds back does not hold up the call.
//
// Not here: activation quantization, the few-row path (quant_avx2.cc), the scalar variants (quant.cc).
#include <cstdlib>
#include <cstring>

#include "../scratch.h"
#include "../simd.h"
#include "../threadpool.h"
#include "quant_avx2.h"
#include "quant_common.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace {

using namespace llava::wq;

constexpr int MR = 4;
// Bytes of one block of a repacked group: 8 quant vectors and 8 f32 scales (a multiple of 32: aligned).
constexpr int64_t GB = 8 * 32 + 32;
// Weight tile per thread (L2 is 512 KiB on the machines we tune for; the activation rows share it).
constexpr int64_t TILE_BYTES = 192 << 10;
constexpr int64_t TG_MAX = 16;

// Repacks rows n0..n0+7 of the weight (rows past N as zeros with scale 0) into dst, nb blocks of GB bytes.
template <int WT>
void repack_group(const QLinear& q, int64_t n0, uint8_t* dst) {
  const int64_t bb = WT == W_Q4_0 ? Q4_BYTES : Q8_BYTES;
  const int valid = q.N - n0 < 8 ? static_cast<int>(q.N - n0) : 8;
  const __m128i low = _mm_set1_epi8(0x0f);
  for (int64_t b = 0; b < q.nb; b++) {
    __m256i v[8];
    alignas(32) float sc[8];
    for (int r = 0; r < 8; r++) {
      if (r >= valid) {
        v[r] = _mm256_setzero_si256();
        sc[r] = 0.0f;
        continue;
      }
      const uint8_t* blk = q.w + (n0 + r) * q.wrow + b * bb;
      sc[r] = _cvtsh_ss(ld16(blk));
      if (WT == W_Q4_0) {
        const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
        v[r] = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(qs, 4), low), _mm_and_si128(qs, low));
      } else {
        v[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
      }
    }
    transpose8x8(v);
    uint8_t* d = dst + b * GB;
    for (int c = 0; c < 8; c++) _mm256_store_si256(reinterpret_cast<__m256i*>(d + 32 * c), v[c]);
    _mm256_store_ps(reinterpret_cast<float*>(d + 256), _mm256_load_ps(sc));
  }
}

// Exact block sum of one activation block (quants at xb) against a group's 8 rows held in w[0..7]:
// lane r = Σ_k x_k·q_rk. q4_0: w holds the unpacked nibbles, sums stay int16 until the last step, and
// 8·Σx comes off (xs8); q8_0: w holds |q|, the signed quants are read from wm for the sign transfer.
template <int WT>
inline __m256i block_isum(const __m256i* w, const uint8_t* wm, const uint8_t* xb, const int32_t* xs8, __m256i ones) {
  __m256i s = _mm256_setzero_si256();
  for (int c = 0; c < 8; c++) {
    int32_t x4;
    std::memcpy(&x4, xb + 4 * c, 4);
    const __m256i xv = _mm256_set1_epi32(x4);
    if (WT == W_Q4_0) {
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(w[c], xv));
    } else {
      const __m256i sx = _mm256_sign_epi8(xv, _mm256_load_si256(reinterpret_cast<const __m256i*>(wm + 32 * c)));
      s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(w[c], sx), ones));
    }
  }
  if (WT == W_Q4_0) s = _mm256_sub_epi32(_mm256_madd_epi16(s, ones), _mm256_set1_epi32(*xs8));
  return s;
}

// R activation rows from m0 against the repacked group at w (outputs n0..n0+7): the whole K with the
// group's quants of one block in registers for all R rows, then bias and store of the valid lanes.
template <int WT, int R>
void micro(const QLinear& q, int64_t m0, const uint8_t* w, int64_t n0) {
  __m256 acc[R];
  for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t xr = q.nb * Q8_BYTES;
  const uint8_t* x0 = q.xq + m0 * xr + 2;
  const float* dx0 = q.dx + m0 * q.nbp;
  const int32_t* s0 = q.xs8 + m0 * q.nbp;
  for (int64_t b = 0; b < q.nb; b++) {
    const uint8_t* wb = w + b * GB;
    __m256i wv[8];
    for (int c = 0; c < 8; c++) {
      wv[c] = _mm256_load_si256(reinterpret_cast<const __m256i*>(wb + 32 * c));
      if (WT == W_Q8_0) wv[c] = _mm256_abs_epi8(wv[c]);
    }
    const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(wb + 256));
    for (int i = 0; i < R; i++) {
      const __m256i isum = block_isum<WT>(wv, wb, x0 + i * xr + b * Q8_BYTES, s0 + i * q.nbp + b, ones);
      const __m256 d = _mm256_mul_ps(_mm256_set1_ps(dx0[i * q.nbp + b]), dw);
      acc[i] = _mm256_add_ps(acc[i], _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum)));
    }
  }
  const int valid = q.N - n0 < 8 ? static_cast<int>(q.N - n0) : 8;
  alignas(32) float bias[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  if (q.bias)
    for (int j = 0; j < valid; j++) bias[j] = q.bias[(n0 + j) * q.bs];
  const __m256 bv = _mm256_load_ps(bias);
  for (int i = 0; i < R; i++) {
    const __m256 v = q.bias ? _mm256_add_ps(acc[i], bv) : acc[i];
    float* o = q.out + (m0 + i) * q.os + n0;
    if (valid == 8) {
      _mm256_storeu_ps(o, v);
    } else {
      alignas(32) float lane[8];
      _mm256_store_ps(lane, v);
      for (int j = 0; j < valid; j++) o[j] = lane[j];
    }
  }
}

template <int WT>
void micro_rows(const QLinear& q, int64_t m0, int r, const uint8_t* w, int64_t n0) {
  switch (r) {
    case 4: micro<WT, 4>(q, m0, w, n0); break;
    case 3: micro<WT, 3>(q, m0, w, n0); break;
    case 2: micro<WT, 2>(q, m0, w, n0); break;
    default: micro<WT, 1>(q, m0, w, n0); break;
  }
}

struct GCtx {
  const QLinear* q;
  int64_t tile;  // tile buffer bytes
  int64_t tg;    // groups per tile (even)
  int64_t next;  // next tile to take (atomic)
};

// Tiles are handed out one at a time: a thread that the OS holds back (the cores are often shared) takes
// fewer of them instead of delaying the whole call, as an equal static split would.
template <int WT>
void gemm_tiles(GCtx& c, uint8_t* buf) {
  const QLinear& q = *c.q;
  const int64_t gs = q.nb * GB, groups = (q.N + 7) / 8;
  for (;;) {
    const int64_t t0 = __atomic_fetch_add(&c.next, 1, __ATOMIC_RELAXED) * c.tg;
    if (t0 >= groups) break;
    const int64_t tn = groups - t0 < c.tg ? groups - t0 : c.tg;
    for (int64_t j = 0; j < tn; j++) repack_group<WT>(q, (t0 + j) * 8, buf + j * gs);
    for (int64_t m0 = 0; m0 < q.M; m0 += MR) {
      const int r = q.M - m0 < MR ? static_cast<int>(q.M - m0) : MR;
      for (int64_t j = 0; j < tn; j++) micro_rows<WT>(q, m0, r, buf + j * gs, (t0 + j) * 8);
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

bool quant_gemm_avx2(const QLinear& q) {
  const int64_t groups = (q.N + 7) / 8, gs = q.nb * GB;
  int64_t tg = TILE_BYTES / gs;
  tg = tg < 2 ? 2 : tg > TG_MAX ? TG_MAX : tg & ~int64_t(1);
  int nt = threads_for(q.N * q.M * q.K, 1 << 15);
  if (nt > groups) nt = static_cast<int>(groups);
  GCtx c{&q, tg * gs, tg, 0};
  if (!tile_buf.reserve<uint8_t>(c.tile)) return false;
  llava::parallel_claim(gemm_job, &c, nt);
  return true;
}

}  // namespace wq
}  // namespace llava
LLAVA_AVX2_END
#endif
