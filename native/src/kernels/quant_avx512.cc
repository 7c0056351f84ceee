// quant_linear at ISA_AVX512 (layouts in quant_common.h): the AVX2 activation quantization, then the
// AVX-512 GEMM (many rows) or few-row kernel (quant_avx512.h says which file holds which).
#include "../simd.h"
#include "quant_avx2.h"
#include "quant_avx512.h"
#include "quant_common.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX512_BEGIN
namespace {

using namespace llava::wq;

// Rows from which the AVX-512 GEMM beats the few-row kernel when the call does not set gemmMinRows
// (bench qgemm --m 2,3,4,5,8 --gemm-min-rows 1, 4096x4096 and 11008x4096): q8_0 from 3 rows (1.3× at 3,
// 1.6× at 4), q4_0 from 5 (the few-row kernel is ahead at 3, even at 4).
constexpr int64_t GEMM_MIN_Q8_0 = 3;
constexpr int64_t GEMM_MIN_Q4_0 = 5;

void quant_linear_avx512(const llava::Args& a) {
  const QLinear q = parse_quant_linear(a);
  if (q.N == 0 || q.M == 0) return;
  quantize_activations_avx2(q);
  const bool given = a.nprm > 12 && a.i(12) >= 0;
  const int64_t gemm_min = given ? q.gemm_min : q.wtype == W_Q8_0 ? GEMM_MIN_Q8_0 : GEMM_MIN_Q4_0;
  if (q.M >= gemm_min && quant_gemm_avx512(q)) return;
  quant_small_avx512(q);
}

}  // namespace
LLAVA_AVX512_END

LLAVA_KERNEL("quant_linear", llava::ISA_AVX512, quant_linear_avx512);
#endif
