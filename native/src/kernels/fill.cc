// fill_f32: out[off + i·stride] = value for a contiguous run. Params: off, n, value.
// The smallest kernel, kept as the example of the calling convention.
#include "../kernel.h"

namespace {

void fill_f32(const llava::Args& a) {
  const int64_t off = a.i(0), n = a.i(1);
  const float v = static_cast<float>(a.f(2));
  float* out = a.ptr<float>(0, off, n);
  for (int64_t i = 0; i < n; i++) out[i] = v;
}

}  // namespace

LLAVA_KERNEL("fill_f32", llava::ISA_SCALAR, fill_f32);
LLAVA_KERNEL("fill_f32", llava::ISA_NAIVE, fill_f32);
