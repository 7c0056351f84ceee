// index_select: out = x gathered along `axis` at idx (i32), for any non-quantized dtype (the kernel moves
// elements, it does not compute), x any strided view, out contiguous. Every index is checked against the
// axis size before anything is written.
//
// Params: element size (1, 2, 4 or 8 bytes), axis, nd, x shape[nd], x offset, x strides[nd], out offset,
// idx offset, idx stride, idx length; buffers [out, x, idx]. Scalar (block copies: memcpy when the dims after
// `axis` are contiguous in x) and naive (element by element) variants; no SIMD variant (memory moves).
#include <cstring>
#include <string>

#include "../kernel.h"
#include "../strided.h"
#include "../threadpool.h"

namespace llava {
namespace {

struct Gather {
  int es = 4, axis = 0;
  Layout x;                 // x's full layout (operand 0)
  const int32_t* idx = nullptr;
  int64_t idx_st = 0, n = 0;  // indices
  uint8_t* out = nullptr;
  int64_t outer = 1, inner = 1, out_numel = 0;
};

void read_gather(const Args& a, Gather* g) {
  const int64_t es = a.i(0), axis = a.i(1);
  if (es != 1 && es != 2 && es != 4 && es != 8) a.fail("element size " + std::to_string(es) + " is not 1, 2, 4 or 8");
  g->es = static_cast<int>(es);
  int p = 2;
  read_shape(a, &p, &g->x);
  if (axis < 0 || axis >= g->x.nd) a.fail("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(g->x.nd));
  g->axis = static_cast<int>(axis);
  read_operand(a, &p, &g->x, 1, g->es, "x");
  const int64_t out_off = a.i(p++), idx_off = a.i(p++);
  g->idx_st = a.i(p++);
  g->n = a.i(p++);
  g->idx = reinterpret_cast<const int32_t*>(check_vector(a, 2, 4, idx_off, g->n, g->idx_st, "idx"));
  for (int d = 0; d < g->axis; d++) g->outer *= g->x.shape[d];
  for (int d = g->axis + 1; d < g->x.nd; d++) g->inner *= g->x.shape[d];
  g->out_numel = g->outer * g->n * g->inner;
  int64_t bytes;
  if (__builtin_mul_overflow(g->out_numel, int64_t(g->es), &bytes)) a.fail("output too large");
  g->out = a.checked(0, out_off * g->es, bytes);
  const int64_t size = g->x.shape[g->axis];
  for (int64_t i = 0; i < g->n; i++) {
    const int64_t v = g->idx[i * g->idx_st];
    if (v < 0 || v >= size) a.fail("index " + std::to_string(v) + " at position " + std::to_string(i) + " is outside [0, " + std::to_string(size) + ")");
  }
}

template <class T>
void copy_block(T* dst, const T* src, const Layout& in, int64_t count) {
  if (in.nd == 1 && in.st[0][0] == 1) {
    std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(T));
    return;
  }
  int64_t idx[kMaxDims] = {};
  int64_t off = 0;
  for (int64_t e = 0; e < count; e++) {
    dst[e] = src[off];
    for (int d = in.nd - 1; d >= 0; d--) {
      off += in.st[0][d];
      if (++idx[d] < in.shape[d]) break;
      off -= in.st[0][d] * in.shape[d];
      idx[d] = 0;
    }
  }
}

template <class T>
void gather(const Gather& g) {
  // The dims after `axis`, merged: each selected slice is one block of `inner` elements.
  Layout in;
  in.nd = g.x.nd - g.axis - 1;
  in.nops = 1;
  in.numel = g.inner;
  for (int d = 0; d < in.nd; d++) {
    in.shape[d] = g.x.shape[g.axis + 1 + d];
    in.st[0][d] = g.x.st[0][g.axis + 1 + d];
  }
  coalesce(&in);
  const T* x = reinterpret_cast<const T*>(g.x.base[0]);
  T* out = reinterpret_cast<T*>(g.out);
  const int64_t ast = g.x.st[0][g.axis];
  const int64_t tasks = g.outer * g.n;
  const int64_t per = g.inner > 0 ? ((int64_t(1) << 16) + g.inner - 1) / g.inner : tasks + 1;
  parallel_for(tasks, per, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; t++) {
      int64_t o = t / g.n, off = 0;
      const int64_t i = t % g.n;
      for (int d = g.axis - 1; d >= 0; d--) {
        off += (o % g.x.shape[d]) * g.x.st[0][d];
        o /= g.x.shape[d];
      }
      copy_block<T>(out + t * g.inner, x + off + int64_t(g.idx[i * g.idx_st]) * ast, in, g.inner);
    }
  });
}

void index_select_scalar(const Args& a) {
  Gather g;
  read_gather(a, &g);
  if (g.out_numel == 0) return;
  switch (g.es) {
    case 1: return gather<uint8_t>(g);
    case 2: return gather<uint16_t>(g);
    case 4: return gather<uint32_t>(g);
    default: return gather<uint64_t>(g);
  }
}

// Naive twin: every output element from its own unravelled index.
void index_select_naive(const Args& a) {
  Gather g;
  read_gather(a, &g);
  const int nd = g.x.nd;
  for (int64_t e = 0; e < g.out_numel; e++) {
    int64_t rem = e, off = 0;
    for (int d = nd - 1; d >= 0; d--) {
      const int64_t size = d == g.axis ? g.n : g.x.shape[d];
      int64_t k = rem % size;
      rem /= size;
      if (d == g.axis) k = g.idx[k * g.idx_st];
      off += k * g.x.st[0][d];
    }
    std::memcpy(g.out + e * g.es, g.x.base[0] + off * g.es, g.es);
  }
}

}  // namespace
}  // namespace llava

LLAVA_KERNEL("index_select", llava::ISA_SCALAR, llava::index_select_scalar);
LLAVA_KERNEL("index_select", llava::ISA_NAIVE, llava::index_select_naive);
