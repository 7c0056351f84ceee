// copy: strided N-d copy with dtype conversion among f32/f64/f16/bf16/i32/u8/bool (semantics in
// convert.h), for `copy`, `contiguous`, `to`, `cat` and writes into strided views (KV-cache slices).
//
// Params: src dtype, dst dtype, nd, shape[nd], out offset, out strides[nd], src offset, src strides[nd];
// buffers: [out, src]. Scalar (typed loops; memcpy for same-dtype contiguous rows) and naive (element by
// element through a double) here, with 32 × 32 tiles for sources transposed in their last two dims; F16C/AVX2
// rows for f32 ↔ f16/bf16 in copy_avx2.cc.
// Not here: q8_0/q4_0 dequantization (the ts backend does it), fill (fill.cc).
#include <cstring>
#include <string>

#include "../convert.h"
#include "../strided.h"
#include "../threadpool.h"

namespace llava {
namespace {

// Below this many elements per thread a copy is not worth splitting (memory-bound, ~10 µs of work).
constexpr int64_t kMinPerThread = 1 << 16;

template <class T>
void raw_strided(int64_t n, uint8_t* out, int64_t so, const uint8_t* src, int64_t ss) {
  T* o = reinterpret_cast<T*>(out);
  const T* s = reinterpret_cast<const T*>(src);
  if (ss == 0) {
    const T v = s[0];
    for (int64_t i = 0; i < n; i++) o[i * so] = v;
    return;
  }
  for (int64_t i = 0; i < n; i++) o[i * so] = s[i * ss];
}

template <int S, int D>
void copy_row(const void*, int64_t n, uint8_t* const* p, const int64_t* st) {
  uint8_t* out = p[0];
  const uint8_t* src = p[1];
  constexpr int ss = S == DT_F32 || S == DT_I32 ? 4 : S == DT_F64 ? 8 : S == DT_F16 || S == DT_BF16 ? 2 : 1;
  constexpr int ds = D == DT_F32 || D == DT_I32 ? 4 : D == DT_F64 ? 8 : D == DT_F16 || D == DT_BF16 ? 2 : 1;
  if (S == D || (S == DT_BOOL && D == DT_U8)) {
    if (st[0] == 1 && st[1] == 1) {
      std::memcpy(out, src, static_cast<size_t>(n) * ds);
    } else if (ds == 8) {
      raw_strided<uint64_t>(n, out, st[0], src, st[1]);
    } else if (ds == 4) {
      raw_strided<uint32_t>(n, out, st[0], src, st[1]);
    } else if (ds == 2) {
      raw_strided<uint16_t>(n, out, st[0], src, st[1]);
    } else {
      raw_strided<uint8_t>(n, out, st[0], src, st[1]);
    }
    return;
  }
  const int64_t so = st[0] * ds, sb = st[1] * ss;
  for (int64_t i = 0; i < n; i++) store_from_double(D, out + i * so, load_as_double(S, src + i * sb));
}

template <int S>
RowFn pick_dst(int d) {
  switch (d) {
    case DT_F32: return copy_row<S, DT_F32>;
    case DT_F64: return copy_row<S, DT_F64>;
    case DT_F16: return copy_row<S, DT_F16>;
    case DT_BF16: return copy_row<S, DT_BF16>;
    case DT_I32: return copy_row<S, DT_I32>;
    case DT_U8: return copy_row<S, DT_U8>;
    default: return copy_row<S, DT_BOOL>;
  }
}

struct Types {
  int src, dst;
};

void naive_point(const void* ctx, uint8_t* const* p, int) {
  const Types* t = static_cast<const Types*>(ctx);
  store_from_double(t->dst, p[0], load_as_double(t->src, p[1]));
}

void read_copy(const Args& a, Layout* L, int* src, int* dst) {
  const int64_t s = a.i(0), d = a.i(1);
  if (s < 0 || s >= DT_COUNT || d < 0 || d >= DT_COUNT) a.fail("unknown dtype code " + std::to_string(s < 0 || s >= DT_COUNT ? s : d));
  *src = static_cast<int>(s);
  *dst = static_cast<int>(d);
  int p = 2;
  read_shape(a, &p, L);
  read_operand(a, &p, L, 0, dtype_size(*dst), "out");
  read_operand(a, &p, L, 1, dtype_size(*src), "src");
}

void copy_scalar(const Args& a) { copy_with(a, copy_row_scalar); }

// Naive twin: every element through a double, in logical order, one thread, no dim merging.
void copy_naive(const Args& a) {
  Layout L;
  Types t{};
  read_copy(a, &L, &t.src, &t.dst);
  run_points(L, naive_point, &t, INT64_MAX);
}

}  // namespace

RowFn copy_row_scalar(int s, int d) {
  switch (s) {
    case DT_F32: return pick_dst<DT_F32>(d);
    case DT_F64: return pick_dst<DT_F64>(d);
    case DT_F16: return pick_dst<DT_F16>(d);
    case DT_BF16: return pick_dst<DT_BF16>(d);
    case DT_I32: return pick_dst<DT_I32>(d);
    case DT_U8: return pick_dst<DT_U8>(d);
    default: return pick_dst<DT_BOOL>(d);
  }
}

// A source transposed in its last two dims (stride 1 on the second-to-last) read row by row would touch a
// new cache line per element; 32 × 32 tiles keep both sides' lines in L1. Returns false when the layout
// is not of that kind.
bool copy_tiled(const Layout& L, RowFn fn) {
  const int nd = L.nd;
  if (nd < 2 || L.st[0][nd - 1] != 1 || L.st[1][nd - 1] <= 1 || L.st[1][nd - 2] != 1) return false;
  const int64_t R = L.shape[nd - 2], C = L.shape[nd - 1];
  if (R < 16 || C < 16) return false;
  constexpr int64_t T = 32;
  const int64_t tr = (R + T - 1) / T, tc = (C + T - 1) / T, batch = L.numel / (R * C);
  parallel_for(batch * tr * tc, (kMinPerThread + T * T - 1) / (T * T), [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; t++) {
      int64_t rest = t / (tr * tc), off[2] = {0, 0};
      for (int d = nd - 3; d >= 0; d--) {
        const int64_t i = rest % L.shape[d];
        rest /= L.shape[d];
        for (int k = 0; k < 2; k++) off[k] += i * L.st[k][d];
      }
      const int64_t i0 = (t / tc) % tr * T, j0 = t % tc * T;
      const int64_t ni = R - i0 < T ? R - i0 : T, nj = C - j0 < T ? C - j0 : T;
      const int64_t st[2] = {1, L.st[1][nd - 1]};
      for (int64_t i = i0; i < i0 + ni; i++) {
        uint8_t* p[2] = {L.base[0] + (off[0] + i * L.st[0][nd - 2] + j0) * L.esize[0],
                         L.base[1] + (off[1] + i + j0 * L.st[1][nd - 1]) * L.esize[1]};
        fn(nullptr, nj, p, st);
      }
    }
  });
  return true;
}

void copy_with(const Args& a, RowFn (*select)(int src, int dst)) {
  Layout L;
  int src, dst;
  read_copy(a, &L, &src, &dst);
  coalesce(&L);
  if (L.numel == 0) return;
  const RowFn fn = select(src, dst);
  if (!copy_tiled(L, fn)) run_rows(L, fn, nullptr, kMinPerThread);
}

}  // namespace llava

LLAVA_KERNEL("copy", llava::ISA_SCALAR, llava::copy_scalar);
LLAVA_KERNEL("copy", llava::ISA_NAIVE, llava::copy_naive);
