// AVX-512 blocked GEMM for quant_linear with many activation rows (prefill). For now the AVX2 GEMM.
#include "../simd.h"
#include "quant_avx2.h"
#include "quant_avx512.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX512_BEGIN
namespace llava {
namespace wq {

bool quant_gemm_avx512(const QLinear& q) { return quant_gemm_avx2(q); }

}  // namespace wq
}  // namespace llava
LLAVA_AVX512_END
#endif
