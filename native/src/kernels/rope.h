// Shared by rope.cc and rope_avx2.cc: the per-ISA row loop of rope_f32 and its driver.
#pragma once
#include <cstdint>

#include "../kernel.h"

namespace llava {

// One row of h = D/2 pairs, contiguous: out[i] = x[i]·c[i] − x[i+h]·s[i], out[i+h] = x[i+h]·c[i] + x[i]·s[i].
using RopeRow = void (*)(float* out, const float* x, const float* c, const float* s, int64_t h);

// rope_f32: params nd (= 4), shape [B, H, T, D], out (offset, 4 strides), x (offset, 4 strides),
// cos (offset, 4 strides over [B, H, T, D/2]: the H stride is 0), sin (the same); buffers [out, x, cos, sin].
void rope_with(const Args& a, RopeRow row);

}  // namespace llava
