// small_m_linear (layout in quant_common.h): argument parsing, naive twin and scalar variant of the
// few-row linear with f32/f16/bf16 weights (decode: one pass over the weight matrix per call).
// Float results are compared with ts under a tolerance (summation order is free here).
//
// Not here: the AVX2 kernel (matvec_avx2.cc); the packed GEMM for many rows (another family).
#include <string>

#include "quant_common.h"

namespace llava {
namespace wq {

FLinear parse_small_m_linear(const Args& a) {
  FLinear f;
  f.wtype = static_cast<int>(a.i(0));
  f.M = a.i(1);
  f.N = a.i(2);
  f.K = a.i(3);
  if (f.M < 0 || f.N < 0 || f.K < 0) a.fail("negative shape");
  f.xs = a.i(5);
  f.x = a.ptr<float>(1, a.i(4), span(a, f.M, f.K, f.xs));
  f.ws = a.i(7);
  const int64_t wspan = span(a, f.N, f.K, f.ws);
  if (f.wtype == W_F32) f.w = a.ptr<float>(2, a.i(6), wspan);
  else if (f.wtype == W_F16 || f.wtype == W_BF16) f.w = a.ptr<uint16_t>(2, a.i(6), wspan);
  else a.fail("weight type " + std::to_string(f.wtype) + " is not f32 (0), f16 (1) or bf16 (2)");
  f.os = a.i(9);
  if (f.N > 0 && f.os < f.N) a.fail("output row stride is smaller than N");
  f.out = a.ptr<float>(0, a.i(8), span(a, f.M, f.N, f.os));
  f.bias = nullptr;
  f.bs = 0;
  if (a.i(10)) {
    f.bs = a.i(12);
    f.bias = a.ptr<float>(3, a.i(11), span(a, f.N, 1, f.bs));
  }
  return f;
}

}  // namespace wq
}  // namespace llava

namespace {

using namespace llava::wq;

inline float wval(const FLinear& f, int64_t n, int64_t k) {
  const int64_t o = n * f.ws + k;
  if (f.wtype == W_F32) return static_cast<const float*>(f.w)[o];
  const uint16_t h = static_cast<const uint16_t*>(f.w)[o];
  return f.wtype == W_F16 ? llava::f16_to_f32(h) : llava::bf16_to_f32(h);
}

void small_m_linear_naive(const llava::Args& a) {
  const FLinear f = parse_small_m_linear(a);
  for (int64_t m = 0; m < f.M; m++) {
    for (int64_t n = 0; n < f.N; n++) {
      float s = 0.0f;
      for (int64_t k = 0; k < f.K; k++) s += f.x[m * f.xs + k] * wval(f, n, k);
      if (f.bias) s += f.bias[n * f.bs];
      f.out[m * f.os + n] = s;
    }
  }
}

struct FCtx {
  const FLinear* f;
};

// Each weight row is decoded once and used for every activation row.
void rows_job(void* c, int tid, int nt) {
  const FLinear& f = *static_cast<FCtx*>(c)->f;
  int64_t b, e;
  llava::split_range(f.N, nt, tid, &b, &e);
  for (int64_t n = b; n < e; n++) {
    float acc[8];
    for (int64_t m0 = 0; m0 < f.M; m0 += 8) {
      const int64_t mt = f.M - m0 < 8 ? f.M - m0 : 8;
      for (int64_t j = 0; j < mt; j++) acc[j] = 0.0f;
      for (int64_t k = 0; k < f.K; k++) {
        const float w = wval(f, n, k);
        for (int64_t j = 0; j < mt; j++) acc[j] += f.x[(m0 + j) * f.xs + k] * w;
      }
      for (int64_t j = 0; j < mt; j++) f.out[(m0 + j) * f.os + n] = f.bias ? acc[j] + f.bias[n * f.bs] : acc[j];
    }
  }
}

void small_m_linear_scalar(const llava::Args& a) {
  const FLinear f = parse_small_m_linear(a);
  FCtx ctx{&f};
  llava::parallel_run(rows_job, &ctx, threads_for(f.N * f.K * (f.M ? f.M : 1), 1 << 15));
}

}  // namespace

LLAVA_KERNEL("small_m_linear", llava::ISA_NAIVE, small_m_linear_naive);
LLAVA_KERNEL("small_m_linear", llava::ISA_SCALAR, small_m_linear_scalar);
