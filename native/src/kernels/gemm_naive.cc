// Naive twin of gemm_f32 (see gemm.h for the calling convention): the obvious triple loop over strided
// operands with the dot product accumulated in double. Tests compare the packed variants against it;
// it is never chosen for speed.
#include "../half.h"
#include "gemm.h"

namespace {

using llava::gemm::Call;

float b_value(const Call& c, int64_t e) {
  if (c.btype == llava::gemm::B_F32) return static_cast<const float*>(c.B)[e];
  const uint16_t h = static_cast<const uint16_t*>(c.B)[e];
  return c.btype == llava::gemm::B_F16 ? llava::f16_to_f32(h) : llava::bf16_to_f32(h);
}

void gemm_naive(const llava::Args& a) {
  const Call c = llava::gemm::parse_call(a);
  if (c.M == 0 || c.N == 0 || c.batches == 0) return;
  for (int64_t b = 0; b < c.batches; b++) {
    int64_t oc, oa, ob;
    c.batch_offsets(b, &oc, &oa, &ob);
    for (int64_t i = 0; i < c.M; i++) {
      for (int64_t j = 0; j < c.N; j++) {
        double s = 0;
        for (int64_t k = 0; k < c.K; k++) {
          s += static_cast<double>(c.A[oa + i * c.rsA + k * c.csA]) * b_value(c, ob + k * c.rsB + j * c.csB);
        }
        if (c.bias) s += c.bias[j * c.sBias];
        float* p = c.C + oc + i * c.rsC + j * c.csC;
        *p = c.accumulate ? static_cast<float>(*p + s) : static_cast<float>(s);
      }
    }
  }
}

}  // namespace

LLAVA_KERNEL("gemm_f32", llava::ISA_NAIVE, gemm_naive);
