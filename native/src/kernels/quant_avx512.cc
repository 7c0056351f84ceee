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

void quant_linear_avx512(const llava::Args& a) {
  const QLinear q = parse_quant_linear(a);
  if (q.N == 0 || q.M == 0) return;
  quantize_activations_avx2(q);
  if (q.M >= q.gemm_min && quant_gemm_avx512(q)) return;
  quant_small_avx512(q);
}

}  // namespace
LLAVA_AVX512_END

LLAVA_KERNEL("quant_linear", llava::ISA_AVX512, quant_linear_avx512);
#endif
