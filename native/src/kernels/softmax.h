// Shared by softmax.cc and softmax_avx2.cc: the per-ISA row loops of softmax_f32 (softmax and
// log-softmax) and cross_entropy_f32 (per-row logsumexp), and their drivers.
#pragma once
#include <cstdint>

#include "../kernel.h"

namespace llava {

struct SoftmaxLoops {
  // out = softmax(x) or, with log, x − logsumexp(x), over one contiguous row (n >= 1).
  void (*softmax)(float* out, const float* x, int64_t n, bool log);
  // max(x) + log Σ exp(x − max(x)) over one contiguous row (n >= 1).
  float (*logsumexp)(const float* x, int64_t n);
};

// softmax_f32: params log, nd, shape[nd], out (offset, strides), x (offset, strides); buffers [out, x].
void softmax_with(const Args& a, const SoftmaxLoops& f);
// cross_entropy_f32: params ignore_index, N, V, logits offset, logits strides (2), targets offset, targets
// stride, out offset, out stride; buffers [out, logits, targets (i32)]. out[n] = logsumexp(logits[n]) −
// logits[n, t[n]], or 0 where t[n] = ignore_index; any other target outside [0, V) is an error.
void cross_entropy_with(const Args& a, const SoftmaxLoops& f);

}  // namespace llava
