// Machine probes for the benchmarks (not used by models):
//   probe_fma(out f32[threads], params: iterations, threads)  — fp32 FMA throughput: 12 independent
//     8-wide FMA chains per thread, so the two FMA pipes stay busy; FLOPs = iterations·12·8·2 per thread.
//   probe_read(buf f32, out f32[threads], params: n, passes, threads) — streaming read bandwidth: each
//     thread sums its contiguous share of buf, `passes` times.
// The scalar variants exist so the bench runs everywhere; their numbers are not the machine's peak.
#include "../kernel.h"
#include "../simd.h"
#include "../threadpool.h"
#include "probe.h"

namespace {

using llava::probe::FmaCtx;
using llava::probe::ReadCtx;

void fma_scalar_job(void* c, int tid, int) {
  FmaCtx* x = static_cast<FmaCtx*>(c);
  float acc[12];
  for (int j = 0; j < 12; j++) acc[j] = 1.0f + j * 1e-3f;
  const float a = 0.999999f, b = 1e-7f;
  for (int64_t i = 0; i < x->iters; i++)
    for (int j = 0; j < 12; j++) acc[j] = acc[j] * a + b;
  float s = 0;
  for (int j = 0; j < 12; j++) s += acc[j];
  x->out[tid] = s;
}

void read_scalar_job(void* c, int tid, int nt) {
  ReadCtx* x = static_cast<ReadCtx*>(c);
  int64_t b, e;
  llava::split_range(x->n, nt, tid, &b, &e);
  float s = 0;
  for (int64_t p = 0; p < x->passes; p++)
    for (int64_t i = b; i < e; i++) s += x->buf[i];
  x->out[tid] = s;
}

void probe_fma_scalar(const llava::Args& a) {
  const int nt = static_cast<int>(a.i(1));
  FmaCtx ctx{a.i(0), a.ptr<float>(0, 0, nt)};
  llava::parallel_run(fma_scalar_job, &ctx, nt);
}

void probe_read_scalar(const llava::Args& a) {
  const int64_t n = a.i(0);
  const int nt = static_cast<int>(a.i(2));
  ReadCtx ctx{a.ptr<float>(0, 0, n), n, a.i(1), a.ptr<float>(1, 0, nt)};
  llava::parallel_run(read_scalar_job, &ctx, nt);
}

}  // namespace

LLAVA_KERNEL("probe_fma", llava::ISA_SCALAR, probe_fma_scalar);
LLAVA_KERNEL("probe_fma", llava::ISA_NAIVE, probe_fma_scalar);
LLAVA_KERNEL("probe_read", llava::ISA_SCALAR, probe_read_scalar);
LLAVA_KERNEL("probe_read", llava::ISA_NAIVE, probe_read_scalar);
