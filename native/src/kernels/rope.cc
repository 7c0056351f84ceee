// rope_f32: rotary position embedding in the rotate_half layout (parameters in rope.h), for x [B, H, T, D]
// of any strides and cos/sin [B, T, D/2] broadcast over heads. The driver walks (b, h, t) rows across
// threads; rows with non-unit strides are gathered so the row loops see contiguous data. Scalar row loop and
// naive twin (double) here; the AVX2 row loop is in rope_avx2.cc.
//
// Not here: building the cos/sin tables (ops/attention.ts), backward (the op rotates by −sin).
#include "rope.h"

#include <string>
#include <vector>

#include "../strided.h"

namespace llava {
namespace {

void rope_scalar_row(float* out, const float* x, const float* c, const float* s, int64_t h) {
  for (int64_t i = 0; i < h; i++) {
    const float x1 = x[i], x2 = x[i + h];
    out[i] = x1 * c[i] - x2 * s[i];
    out[i + h] = x2 * c[i] + x1 * s[i];
  }
}

void rope_naive_row(float* out, const float* x, const float* c, const float* s, int64_t h) {
  for (int64_t i = 0; i < h; i++) {
    const double x1 = x[i], x2 = x[i + h];
    out[i] = static_cast<float>(x1 * c[i] - x2 * s[i]);
    out[i + h] = static_cast<float>(x2 * c[i] + x1 * s[i]);
  }
}

void rope_scalar(const Args& a) { rope_with(a, rope_scalar_row); }
void rope_naive(const Args& a) { rope_with(a, rope_naive_row); }

struct Call {
  RopeRow row;
  int64_t h;
  int64_t st[4];  // row strides of out, x, cos, sin
  std::vector<float>* scratch;
};

void point(const void* cp, uint8_t* const* p, int tid) {
  const Call* c = static_cast<const Call*>(cp);
  float* out = reinterpret_cast<float*>(p[0]);
  const float* src[3] = {reinterpret_cast<const float*>(p[1]), reinterpret_cast<const float*>(p[2]),
                         reinterpret_cast<const float*>(p[3])};
  const int64_t h = c->h, D = 2 * h;
  if (c->st[0] == 1 && c->st[1] == 1 && c->st[2] == 1 && c->st[3] == 1) return c->row(out, src[0], src[1], src[2], h);
  // Gather x (D), cos (h), sin (h) and compute into D more floats, then scatter.
  float* s = c->scratch->data() + 4 * D * tid;
  const int64_t len[3] = {D, h, h};
  float* dst[3] = {s, s + D, s + D + h};
  for (int k = 0; k < 3; k++) {
    for (int64_t i = 0; i < len[k]; i++) dst[k][i] = src[k][i * c->st[k + 1]];
  }
  float* o = s + 2 * D;
  c->row(o, dst[0], dst[1], dst[2], h);
  for (int64_t i = 0; i < D; i++) out[i * c->st[0]] = o[i];
}

}  // namespace

void rope_with(const Args& a, RopeRow row) {
  int p = 0;
  Layout L;
  read_shape(a, &p, &L);
  if (L.nd != 4) a.fail("x must be [B, H, T, D], got rank " + std::to_string(L.nd));
  const int64_t D = L.shape[3];
  if (D % 2) a.fail("head dim " + std::to_string(D) + " is odd");
  read_operand(a, &p, &L, 0, 4, "out");
  read_operand(a, &p, &L, 1, 4, "x");
  read_operand(a, &p, &L, 2, 4, "cos", D / 2);
  read_operand(a, &p, &L, 3, 4, "sin", D / 2);
  Call c{row, D / 2, {}, nullptr};
  pop_last_dim(&L, c.st);
  coalesce(&L);
  if (D == 0) return;
  const int64_t per = ((1 << 14) + D - 1) / D;
  std::vector<float> scratch;
  if (!(c.st[0] == 1 && c.st[1] == 1 && c.st[2] == 1 && c.st[3] == 1)) scratch.resize(static_cast<size_t>(4 * D * threads_for(L.numel, per)));
  c.scratch = &scratch;
  run_points(L, point, &c, per);
}

}  // namespace llava

LLAVA_KERNEL("rope_f32", llava::ISA_SCALAR, llava::rope_scalar);
LLAVA_KERNEL("rope_f32", llava::ISA_NAIVE, llava::rope_naive);
