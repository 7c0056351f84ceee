// AVX2 variants of the machine probes (see probe.cc for the calling convention).
#include "../kernel.h"
#include "../simd.h"
#include "../threadpool.h"
#include "probe.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace {

using llava::probe::FmaCtx;
using llava::probe::ReadCtx;

void fma_job(void* c, int tid, int) {
  FmaCtx* x = static_cast<FmaCtx*>(c);
  __m256 acc[12];
  for (int j = 0; j < 12; j++) acc[j] = _mm256_set1_ps(1.0f + j * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < x->iters; i++) {
    acc[0] = _mm256_fmadd_ps(acc[0], a, b);
    acc[1] = _mm256_fmadd_ps(acc[1], a, b);
    acc[2] = _mm256_fmadd_ps(acc[2], a, b);
    acc[3] = _mm256_fmadd_ps(acc[3], a, b);
    acc[4] = _mm256_fmadd_ps(acc[4], a, b);
    acc[5] = _mm256_fmadd_ps(acc[5], a, b);
    acc[6] = _mm256_fmadd_ps(acc[6], a, b);
    acc[7] = _mm256_fmadd_ps(acc[7], a, b);
    acc[8] = _mm256_fmadd_ps(acc[8], a, b);
    acc[9] = _mm256_fmadd_ps(acc[9], a, b);
    acc[10] = _mm256_fmadd_ps(acc[10], a, b);
    acc[11] = _mm256_fmadd_ps(acc[11], a, b);
  }
  __m256 s = acc[0];
  for (int j = 1; j < 12; j++) s = _mm256_add_ps(s, acc[j]);
  float lanes[8];
  _mm256_storeu_ps(lanes, s);
  x->out[tid] = lanes[0] + lanes[7];
}

void read_job(void* c, int tid, int nt) {
  ReadCtx* x = static_cast<ReadCtx*>(c);
  int64_t b, e;
  llava::split_range(x->n, nt, tid, &b, &e);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int64_t p = 0; p < x->passes; p++) {
    int64_t i = b;
    for (; i + 32 <= e; i += 32) {
      s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x->buf + i));
      s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x->buf + i + 8));
      s2 = _mm256_add_ps(s2, _mm256_loadu_ps(x->buf + i + 16));
      s3 = _mm256_add_ps(s3, _mm256_loadu_ps(x->buf + i + 24));
    }
    for (; i < e; i++) s0 = _mm256_add_ps(s0, _mm256_set1_ps(x->buf[i]));
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  x->out[tid] = lanes[0] + lanes[3] + lanes[7];
}

void probe_fma_avx2(const llava::Args& a) {
  const int nt = static_cast<int>(a.i(1));
  FmaCtx ctx{a.i(0), a.ptr<float>(0, 0, nt)};
  llava::parallel_run(fma_job, &ctx, nt);
}

void probe_read_avx2(const llava::Args& a) {
  const int64_t n = a.i(0);
  const int nt = static_cast<int>(a.i(2));
  ReadCtx ctx{a.ptr<float>(0, 0, n), n, a.i(1), a.ptr<float>(1, 0, nt)};
  llava::parallel_run(read_job, &ctx, nt);
}

}  // namespace
LLAVA_AVX2_END

LLAVA_KERNEL("probe_fma", llava::ISA_AVX2, probe_fma_avx2);
LLAVA_KERNEL("probe_read", llava::ISA_AVX2, probe_read_avx2);
#endif
