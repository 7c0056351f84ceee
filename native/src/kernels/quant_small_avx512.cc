// AVX-512 few-row kernel of quant_linear (decode). For now the AVX2 tiles.
#include "../simd.h"
#include "quant_avx2.h"
#include "quant_avx512.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX512_BEGIN
namespace llava {
namespace wq {

void quant_small_avx512(const QLinear& q) { quant_tiles_avx2(q); }

}  // namespace wq
}  // namespace llava
LLAVA_AVX512_END
#endif
