// AVX2 small_m_linear (layout in quant_common.h): decode-time linear for a few activation rows with
// f32/f16/bf16 weights. The weight matrix streams from memory once per call, so the kernel is about keeping
// enough independent loads in flight: each thread takes a contiguous band of output rows and walks R rows
// at once (R·MT = 8 accumulators: 8 rows for one activation row, 4×2, 2×3, 2×4), converting each 8-value
// weight chunk once (F16C / bf16 shift) and using it for MT activation rows. More than 4 activation rows
// are taken 4 at a time over the same band, which is then L2-resident.
//
// Not here: argument parsing (matvec.cc); large M (the packed GEMM declines nothing to us: the wrapper
// in src/backends/native/quant.ts sends only small M here).
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

// out[m0..m0+MT, n0..n0+R] for rows that all exist.
template <int WT, int R, int MT>
void tile(const FLinear& f, int64_t n0, int64_t m0) {
  __m256 acc[R][MT];
  for (int r = 0; r < R; r++)
    for (int j = 0; j < MT; j++) acc[r][j] = _mm256_setzero_ps();
  const int64_t K = f.K, k8 = K & ~int64_t(7);
  const int64_t wb = n0 * f.ws;
  const float* x = f.x + m0 * f.xs;
  for (int64_t k = 0; k < k8; k += 8) {
    __m256 xv[MT];
    for (int j = 0; j < MT; j++) xv[j] = _mm256_loadu_ps(x + j * f.xs + k);
    for (int r = 0; r < R; r++) {
      const __m256 w = load_w<WT>(f.w, wb + r * f.ws + k);
      for (int j = 0; j < MT; j++) acc[r][j] = _mm256_fmadd_ps(w, xv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < R; r++) {
    const float b = f.bias ? f.bias[(n0 + r) * f.bs] : 0.0f;
    for (int j = 0; j < MT; j++) {
      float s = hsum(acc[r][j]);
      for (int64_t k = k8; k < K; k++) s += x[j * f.xs + k] * load_w1<WT>(f.w, wb + r * f.ws + k);
      f.out[(m0 + j) * f.os + n0 + r] = s + b;
    }
  }
}

template <int WT, int R, int MT>
void band(const FLinear& f, int64_t n_begin, int64_t n_end, int64_t m0) {
  int64_t n = n_begin;
  for (; n + R <= n_end; n += R) tile<WT, R, MT>(f, n, m0);
  for (; n < n_end; n++) tile<WT, 1, MT>(f, n, m0);
}

template <int WT>
void run_band(const FLinear& f, int64_t b, int64_t e) {
  int64_t m0 = 0;
  for (; m0 + 4 <= f.M; m0 += 4) band<WT, 2, 4>(f, b, e, m0);
  switch (f.M - m0) {
    case 1: band<WT, 8, 1>(f, b, e, m0); break;
    case 2: band<WT, 4, 2>(f, b, e, m0); break;
    case 3: band<WT, 2, 3>(f, b, e, m0); break;
    default: break;
  }
}

struct FCtx {
  const FLinear* f;
};

void band_job(void* c, int tid, int nt) {
  const FLinear& f = *static_cast<FCtx*>(c)->f;
  // Bands are multiples of 8 rows so that only the last one has a ragged end.
  int64_t b, e;
  llava::split_range((f.N + 7) / 8, nt, tid, &b, &e);
  b *= 8;
  e = e * 8 < f.N ? e * 8 : f.N;
  if (b >= e) return;
  switch (f.wtype) {
    case W_F32: run_band<W_F32>(f, b, e); break;
    case W_F16: run_band<W_F16>(f, b, e); break;
    default: run_band<W_BF16>(f, b, e); break;
  }
}

void small_m_linear_avx2(const llava::Args& a) {
  const FLinear f = parse_small_m_linear(a);
  if (f.M == 0 || f.N == 0) return;
  FCtx ctx{&f};
  llava::parallel_run(band_job, &ctx, threads_for(f.N * f.K * f.M, 1 << 15));
}

}  // namespace
LLAVA_AVX2_END

LLAVA_KERNEL("small_m_linear", llava::ISA_AVX2, small_m_linear_avx2);
#endif
