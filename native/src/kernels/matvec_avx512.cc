// AVX-512 small_m_linear (layout in quant_common.h): decode-time linear for a few activation rows with
// f32/f16/bf16 weights, the zmm twin of matvec_avx2.cc. Like it, the results are sums in some order within
// the f32 summation bound the tests check (no bit-exactness is promised for float weights).
//
// The weight matrix streams from memory once per call: each thread walks a contiguous run of output rows
// (matvec_bands.inc).
// One activation row: one weight row at a time, 16 values per step (vcvtph2ps zmm / bf16 shift), U
// independent accumulators, software prefetch a few KiB ahead in the row stream (the hardware prefetcher
// alone leaves DRAM idle between its requests), masked loads for the ragged end of K. More activation rows:
// tiles of R weight rows × MT activation rows used while the tile is in L1, prefetching the next R rows.
//
// Not here: argument parsing and the scalar/naive variants (matvec.cc).
#include "../simd.h"
#include "../threadpool.h"
#include "quant_common.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX512_BEGIN
namespace {

using namespace llava::wq;

constexpr int64_t kPrefetch = 4096;  // bytes ahead in each weight row stream

template <int WT>
constexpr int64_t esize() {
  return WT == W_F32 ? 4 : 2;
}

// 16 weights from element offset o (lanes ≥ popcount(mask) read as 0 and touch no memory).
template <int WT>
inline __m512 load_w(const void* w, int64_t o, __mmask16 mask) {
  if (WT == W_F32) return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(w) + o);
  const __m256i h = _mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(w) + o);
  if (WT == W_F16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

template <int WT>
inline __m512 load_w(const void* w, int64_t o) {
  if (WT == W_F32) return _mm512_loadu_ps(static_cast<const float*>(w) + o);
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + o));
  if (WT == W_F16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

template <int WT>
inline void prefetch_row(const void* w, int64_t o, int64_t ahead, int64_t bytes) {
  const char* p = static_cast<const char*>(w) + o * esize<WT>() + ahead;
  for (int64_t l = 0; l < bytes; l += 64) _mm_prefetch(p + l, _MM_HINT_T0);
}

// out[m0..m0+MT, n0..n0+R]; U independent accumulators per (row, activation row) along k.
template <int WT, int R, int MT, int U>
void tile(const FLinear& f, int64_t n0, int64_t m0) {
  __m512 acc[R][MT][U];
  for (int r = 0; r < R; r++)
    for (int j = 0; j < MT; j++)
      for (int u = 0; u < U; u++) acc[r][j][u] = _mm512_setzero_ps();
  const int64_t K = f.K, kstep = 16 * U, kmain = K - K % kstep;
  const int64_t wb = n0 * f.ws;
  const float* x = f.x + m0 * f.xs;
  // One row: a fixed distance ahead in its stream. R rows side by side: the same place in the next R rows,
  // since a fixed distance would mostly land in the rows being walked already.
  const int64_t ahead = R == 1 ? kPrefetch : R * f.ws * esize<WT>();
  for (int64_t k = 0; k < kmain; k += kstep) {
    for (int r = 0; r < R; r++) prefetch_row<WT>(f.w, wb + r * f.ws + k, ahead, kstep * esize<WT>());
    for (int u = 0; u < U; u++) {
      __m512 xv[MT];
      for (int j = 0; j < MT; j++) xv[j] = _mm512_loadu_ps(x + j * f.xs + k + 16 * u);
      for (int r = 0; r < R; r++) {
        const __m512 w = load_w<WT>(f.w, wb + r * f.ws + k + 16 * u);
        for (int j = 0; j < MT; j++) acc[r][j][u] = _mm512_fmadd_ps(w, xv[j], acc[r][j][u]);
      }
    }
  }
  for (int64_t k = kmain; k < K; k += 16) {
    const __mmask16 mask = K - k >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (K - k)) - 1);
    __m512 xv[MT];
    for (int j = 0; j < MT; j++) xv[j] = _mm512_maskz_loadu_ps(mask, x + j * f.xs + k);
    for (int r = 0; r < R; r++) {
      const __m512 w = load_w<WT>(f.w, wb + r * f.ws + k, mask);
      for (int j = 0; j < MT; j++) acc[r][j][0] = _mm512_fmadd_ps(w, xv[j], acc[r][j][0]);
    }
  }
  for (int r = 0; r < R; r++) {
    const float b = f.bias ? f.bias[(n0 + r) * f.bs] : 0.0f;
    for (int j = 0; j < MT; j++) {
      __m512 a = acc[r][j][0];
      for (int u = 1; u < U; u++) a = _mm512_add_ps(a, acc[r][j][u]);
      f.out[(m0 + j) * f.os + n0 + r] = _mm512_reduce_add_ps(a) + b;
    }
  }
}

// Two accumulators (32 values per step) for one activation row: in a standalone harness cycling 1 GB of f16
// matrices on 2 threads, 2 streamed 5-7% faster than 4 or 8 on 4096x4096 and 11008x4096 and the same on
// 4096x11008 (1 was as good; 4 and 8 with the same prefetch distance were the slowest).
constexpr int ONE_ROW_U = 2;
#include "matvec_bands.inc"

void small_m_linear_avx512(const llava::Args& a) {
  run_small_m_linear(parse_small_m_linear(a));
}

}  // namespace
LLAVA_AVX512_END

LLAVA_KERNEL("small_m_linear", llava::ISA_AVX512, small_m_linear_avx512);
#endif
