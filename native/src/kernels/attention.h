// Shared by attention.cc and the per-ISA attention files: the inner loops of attention_f32 and the
// flash-style driver that runs them.
#pragma once
#include <cstdint>

#include "../kernel.h"

namespace llava {

// Storage of keys and values: 0 f32, 1 f16, 2 bf16 (element offsets below count elements of that storage).
struct AttnLoops {
  // S[r·ls + j] = scale·(q[r] · k_j) for r < nq, j < nk; q[r] points at D floats, key j at element j·ks of
  // k. Half keys are decoded exactly in the loop (no widened copy).
  void (*scores)(float* S, int64_t ls, const float* const* q, int64_t nq, const void* k, int64_t ks, int kind, int64_t nk,
                 int64_t D, float scale);
  // p[j] = exp(p[j] − m) in place (−inf gives 0); returns Σ p.
  float (*exp_shift)(float* p, int64_t n, float m);
  // o = o·c + Σ_j p[j]·v_j over Dv elements; value j at element j·vs of v, decoded like the keys.
  void (*accumulate)(float* o, float c, const float* p, int64_t n, const void* v, int64_t vs, int kind, int64_t Dv);
  // dst[r·n + i] = decode(src[r·st + i]) for r < rows, i < n (kind 1 or 2): tasks with several query rows
  // widen each key/value block once instead of decoding it once per row.
  void (*widen)(float* dst, const uint16_t* src, int64_t st, int64_t rows, int64_t n, int kind);
};

// attention_f32: params B, Hq, Hkv, Tq, Tk, D, Dv, causal, scale, has_mask, then offset + 4 strides of q
// [B, Hq, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv], out [B, Hq, Tq, Dv], then mask offset + 2 strides
// ([B, Tk] u8), then the storage of k and v (0 f32, 1 f16, 2 bf16); buffers [out, q, k, v, mask (any array
// when absent)]. The last dim of q, k, v and out must have stride 1. q and out are f32.
void attention_with(const Args& a, const AttnLoops& f);

// The AVX2 loops (attention_avx2.cc), for the AVX-512 file to reuse the ones it does not replace.
const AttnLoops& attention_loops_avx2();

}  // namespace llava
