// Shared by norm.cc and norm_avx2.cc: the per-ISA row loops of layer_norm_f32 / rms_norm_f32 and the
// drivers that parse a call and run them over every row.
#pragma once
#include <cstdint>

#include "../kernel.h"

namespace llava {

struct NormLoops {
  // out = (x − mean)/sqrt(var + eps)·w + b over one contiguous row (w, b may be null).
  void (*layer_norm)(float* out, const float* x, int64_t n, const float* w, const float* b, float eps);
  // out = (x·(1/sqrt(mean(x²) + eps)))·w (w may be null).
  void (*rms_norm)(float* out, const float* x, int64_t n, const float* w, float eps);
};

// layer_norm_f32: params eps, has_w, w offset, w stride, has_b, b offset, b stride, nd, shape[nd],
// out (offset, strides), x (offset, strides); buffers [out, x, w, b] (any array where w/b are absent).
void layer_norm_with(const Args& a, const NormLoops& f);
// rms_norm_f32: params eps, has_w, w offset, w stride, nd, shape[nd], out, x; buffers [out, x, w].
void rms_norm_with(const Args& a, const NormLoops& f);

}  // namespace llava
