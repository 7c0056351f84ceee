// AVX2 small_m_linear (layout in quant_common.h): decode-time linear for a few activation rows with
// f32/f16/bf16 weights. The weight matrix streams from memory once per call: each thread walks a contiguous
// run of output rows (matvec_bands.inc); a tile of R weight rows is converted 8 values at a time (F16C / bf16
// shift) and used for MT activation rows with U independent accumulators along k (4 rows × 2 activation
// rows; one activation row: one weight row, ONE_ROW_U accumulators, prefetch ahead), for every activation
// row while the tile is in L1.
//
// Not here: argument parsing (matvec.cc); many activation rows (the packed GEMM: the wrapper in
// src/backends/native/quant.ts sends at most SMALL_M_MAX rows here).
#include "../simd.h"
#include "../threadpool.h"
#include "quant_common.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace {

using namespace llava::wq;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

constexpr int64_t kPrefetch = 4096;  // bytes ahead in a one-row weight stream

template <int WT>
constexpr int64_t esize() {
  return WT == W_F32 ? 4 : 2;
}

template <int WT>
inline __m256 load_w(const void* w, int64_t o) {
  if (WT == W_F32) return _mm256_loadu_ps(static_cast<const float*>(w) + o);
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + o));
  if (WT == W_F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <int WT>
inline float load_w1(const void* w, int64_t o) {
  if (WT == W_F32) return static_cast<const float*>(w)[o];
  const uint16_t h = static_cast<const uint16_t*>(w)[o];
  return WT == W_F16 ? _cvtsh_ss(h) : llava::bf16_to_f32(h);
}

// out[m0..m0+MT, n0..n0+R] for rows that all exist; U independent accumulators per (row, activation row)
// along k hide the FMA latency when few rows are in flight.
template <int WT, int R, int MT, int U>
void tile(const FLinear& f, int64_t n0, int64_t m0) {
  __m256 acc[R][MT][U];
  for (int r = 0; r < R; r++)
    for (int j = 0; j < MT; j++)
      for (int u = 0; u < U; u++) acc[r][j][u] = _mm256_setzero_ps();
  const int64_t K = f.K, kstep = 8 * U, kmain = K - K % kstep, k8 = K & ~int64_t(7);
  const int64_t wb = n0 * f.ws;
  const float* x = f.x + m0 * f.xs;
  for (int64_t k = 0; k < kmain; k += kstep) {
    // One row: a fixed distance ahead in its stream (the hardware prefetcher alone leaves DRAM idle between
    // its requests); one line per step covers it, as a step reads at most 64 bytes of weights.
    if (R == 1 && MT == 1) _mm_prefetch(static_cast<const char*>(f.w) + (wb + k) * esize<WT>() + kPrefetch, _MM_HINT_T0);
    for (int u = 0; u < U; u++) {
      __m256 xv[MT];
      for (int j = 0; j < MT; j++) xv[j] = _mm256_loadu_ps(x + j * f.xs + k + 8 * u);
      for (int r = 0; r < R; r++) {
        const __m256 w = load_w<WT>(f.w, wb + r * f.ws + k + 8 * u);
        for (int j = 0; j < MT; j++) acc[r][j][u] = _mm256_fmadd_ps(w, xv[j], acc[r][j][u]);
      }
    }
  }
  for (int64_t k = kmain; k < k8; k += 8) {
    __m256 xv[MT];
    for (int j = 0; j < MT; j++) xv[j] = _mm256_loadu_ps(x + j * f.xs + k);
    for (int r = 0; r < R; r++) {
      const __m256 w = load_w<WT>(f.w, wb + r * f.ws + k);
      for (int j = 0; j < MT; j++) acc[r][j][0] = _mm256_fmadd_ps(w, xv[j], acc[r][j][0]);
    }
  }
  for (int r = 0; r < R; r++) {
    const float b = f.bias ? f.bias[(n0 + r) * f.bs] : 0.0f;
    for (int j = 0; j < MT; j++) {
      __m256 a = acc[r][j][0];
      for (int u = 1; u < U; u++) a = _mm256_add_ps(a, acc[r][j][u]);
      float s = hsum(a);
      for (int64_t k = k8; k < K; k++) s += x[j * f.xs + k] * load_w1<WT>(f.w, wb + r * f.ws + k);
      f.out[(m0 + j) * f.os + n0 + r] = s + b;
    }
  }
}

// Two accumulators (16 values per step) and a prefetch 4 KiB ahead for one activation row: in a standalone
// harness cycling 1 GB of f16 matrices on 2 threads this streamed at 43-50 GB/s against 22-39 GB/s for eight
// accumulators without prefetch (4096x4096 +30%, 11008x4096 +23%, 4096x11008 +90%); four were slower still.
constexpr int ONE_ROW_U = 2;
#include "matvec_bands.inc"

void small_m_linear_avx2(const llava::Args& a) {
  run_small_m_linear(parse_small_m_linear(a));
}

}  // namespace
LLAVA_AVX2_END

LLAVA_KERNEL("small_m_linear", llava::ISA_AVX2, small_m_linear_avx2);
#endif
