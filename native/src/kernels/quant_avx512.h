// AVX-512 (F/BW/DQ/VL + VNNI) pieces of quant_linear, chosen at run time on CPUs that have all of them
// (ISA_AVX512, see simd.h). quant_avx512.cc registers the kernel and splits the work: activation rows are
// quantized as the AVX2 variant does (same bits), then many rows (prefill) go to the blocked GEMM and few
// rows (decode) to the few-row kernel. Both must stay bit-identical to src/engine/quant.ts, like the AVX2
// ones: integer block sums are exact, and per output the f32 accumulation runs block by block in the
// specification's order.
//
// Not here: argument layouts and the scalar specification (quant_common.h), the AVX2 variants.
#pragma once
#include "../simd.h"
#include "quant_common.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX512_BEGIN
namespace llava {
namespace wq {

// Blocked GEMM for q.M ≥ q.gemm_min rows whose activations are already quantized (quant_gemm_avx512.cc).
// Returns false, having written nothing, when it cannot run (the caller then runs the few-row kernel).
bool quant_gemm_avx512(const QLinear& q);

// The few-row kernel (decode) for already quantized activations (quant_small_avx512.cc).
void quant_small_avx512(const QLinear& q);

}  // namespace wq
}  // namespace llava
LLAVA_AVX512_END
#endif
