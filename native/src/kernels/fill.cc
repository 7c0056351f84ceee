// fill_f32: out[off + i] = value for a contiguous run. Params: off, n, value. The smallest kernel, kept as
// the example of the calling convention (and the fast path of the `fill` wrapper).
//
// fill: out = value for any strided view of any non-quantized dtype, the value converted exactly as the
// ts writer does (convert.h). Params: dtype, value, nd, shape[nd], offset, strides[nd]; buffers: [out].
#include <cstring>
#include <string>

#include "../convert.h"
#include "../kernel.h"
#include "../strided.h"

namespace {

using namespace llava;

void fill_f32(const Args& a) {
  const int64_t off = a.i(0), n = a.i(1);
  const float v = static_cast<float>(a.f(2));
  float* out = a.ptr<float>(0, off, n);
  for (int64_t i = 0; i < n; i++) out[i] = v;
}

struct Pattern {
  uint8_t bytes[8];
};

template <class T>
void fill_row(const void* ctx, int64_t n, uint8_t* const* p, const int64_t* st) {
  T v;
  std::memcpy(&v, static_cast<const Pattern*>(ctx)->bytes, sizeof(T));
  T* o = reinterpret_cast<T*>(p[0]);
  const int64_t s = st[0];
  if (s == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = v;
  } else {
    for (int64_t i = 0; i < n; i++) o[i * s] = v;
  }
}

void read_fill(const Args& a, Layout* L, int* dt, Pattern* pat) {
  const int64_t d = a.i(0);
  if (d < 0 || d >= DT_COUNT) a.fail("unknown dtype code " + std::to_string(d));
  *dt = static_cast<int>(d);
  std::memset(pat->bytes, 0, sizeof pat->bytes);
  store_from_double(*dt, pat->bytes, a.f(1));
  int p = 2;
  read_shape(a, &p, L);
  read_operand(a, &p, L, 0, dtype_size(*dt), "out");
}

void fill_scalar(const Args& a) {
  Layout L;
  int dt;
  Pattern pat;
  read_fill(a, &L, &dt, &pat);
  coalesce(&L);
  const int size = dtype_size(dt);
  RowFn fn = size == 8 ? fill_row<uint64_t> : size == 4 ? fill_row<uint32_t> : size == 2 ? fill_row<uint16_t> : fill_row<uint8_t>;
  run_rows(L, fn, &pat, 1 << 17);
}

// Naive twin: converts the value at every element.
void fill_naive(const Args& a) {
  Layout L;
  int dt;
  Pattern pat;
  read_fill(a, &L, &dt, &pat);
  struct {
    int dt;
    double v;
  } ctx{dt, a.f(1)};
  run_points(L, [](const void* c, uint8_t* const* p, int) {
    const auto* x = static_cast<const decltype(ctx)*>(c);
    store_from_double(x->dt, p[0], x->v);
  }, &ctx, INT64_MAX);
}

}  // namespace

LLAVA_KERNEL("fill_f32", llava::ISA_SCALAR, fill_f32);
LLAVA_KERNEL("fill_f32", llava::ISA_NAIVE, fill_f32);
LLAVA_KERNEL("fill", llava::ISA_SCALAR, fill_scalar);
LLAVA_KERNEL("fill", llava::ISA_NAIVE, fill_naive);
