// Shared by attention.cc and attention_avx2.cc: the per-ISA inner loops of attention_f32 and the
// flash-style driver that runs them.
#pragma once
#include <cstdint>

#include "../kernel.h"

namespace llava {

struct AttnLoops {
  // S[qi·ls + j] = scale·(q_qi · k_j) for qi < nq, j < nk; q rows at q + qi·qs, k rows at k + j·ks (D each).
  void (*scores)(float* S, int64_t ls, const float* q, int64_t qs, int64_t nq, const float* k, int64_t ks, int64_t nk,
                 int64_t D, float scale);
  // p[j] = exp(p[j] − m) in place (−inf gives 0); returns Σ p.
  float (*exp_shift)(float* p, int64_t n, float m);
  // o = o·c + Σ_j p[j]·v_j over Dv elements; v rows at v + j·vs.
  void (*accumulate)(float* o, float c, const float* p, int64_t n, const float* v, int64_t vs, int64_t Dv);
  // dst[r·n + i] = decode(src[r·st + i]) for r < rows, i < n: f16 (kind 1) or bf16 (kind 2) keys/values
  // widened exactly, one block at a time, into the task's scratch.
  void (*widen)(float* dst, const uint16_t* src, int64_t st, int64_t rows, int64_t n, int kind);
};

// attention_f32: params B, Hq, Hkv, Tq, Tk, D, Dv, causal, scale, has_mask, then offset + 4 strides of q
// [B, Hq, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv], out [B, Hq, Tq, Dv], then mask offset + 2 strides
// ([B, Tk] u8), then the storage of k and v (0 f32, 1 f16, 2 bf16); buffers [out, q, k, v, mask (any array
// when absent)]. The last dim of q, k, v and out must have stride 1. q and out are f32.
void attention_with(const Args& a, const AttnLoops& f);

}  // namespace llava
