// Storage dtypes as the native kernels number them, and element conversion with exactly the semantics of
// the `ts` backend's reader/writer (src/backends/ts/elementwise.ts): values pass through a double; f16/bf16
// targets round to f32 first and then to nearest even; i32 targets truncate and wrap like a JS Int32Array
// store (NaN/±inf → 0); u8 keeps the low 8 bits of that; bool is v != 0 (NaN is true, as in C and torch).
//
// Also the shared pieces of the copy kernel (copy.cc) that its AVX2 variant (copy_avx2.cc) reuses.
// Not here: quantized formats (q8_0/q4_0 stay in the ts backend), the kernels themselves.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "half.h"
#include "kernel.h"
#include "strided.h"

namespace llava {

// Codes shared with src/backends/native/elementwise.ts (DTYPE_CODE).
enum DtypeCode : int { DT_F32 = 0, DT_F64 = 1, DT_F16 = 2, DT_BF16 = 3, DT_I32 = 4, DT_U8 = 5, DT_BOOL = 6, DT_COUNT = 7 };

static inline int dtype_size(int dt) {
  static const int sizes[DT_COUNT] = {4, 8, 2, 2, 4, 1, 1};
  return sizes[dt];
}

// JS ToInt32 of trunc(v): what `int32Array[i] = Math.trunc(v)` stores.
static inline int32_t js_to_int32(double v) {
  if (!std::isfinite(v)) return 0;
  const double t = std::trunc(v);
  if (t >= -2147483648.0 && t <= 2147483647.0) return static_cast<int32_t>(t);
  double m = std::fmod(t, 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return static_cast<int32_t>(static_cast<uint32_t>(m));
}

static inline double load_as_double(int dt, const uint8_t* p) {
  switch (dt) {
    case DT_F32: { float v; std::memcpy(&v, p, 4); return v; }
    case DT_F64: { double v; std::memcpy(&v, p, 8); return v; }
    case DT_F16: { uint16_t v; std::memcpy(&v, p, 2); return f16_to_f32(v); }
    case DT_BF16: { uint16_t v; std::memcpy(&v, p, 2); return bf16_to_f32(v); }
    case DT_I32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    default: return *p;
  }
}

static inline void store_from_double(int dt, uint8_t* p, double v) {
  switch (dt) {
    case DT_F32: { const float f = static_cast<float>(v); std::memcpy(p, &f, 4); return; }
    case DT_F64: std::memcpy(p, &v, 8); return;
    case DT_F16: { const uint16_t h = f32_to_f16(static_cast<float>(v)); std::memcpy(p, &h, 2); return; }
    case DT_BF16: { const uint16_t h = f32_to_bf16(static_cast<float>(v)); std::memcpy(p, &h, 2); return; }
    case DT_I32: { const int32_t i = js_to_int32(v); std::memcpy(p, &i, 4); return; }
    case DT_U8: *p = static_cast<uint8_t>(js_to_int32(v) & 0xff); return;
    default: *p = v != 0 ? 1 : 0; return;  // NaN is true
  }
}

// Row function of the scalar copy for (src, dst) dtypes; the AVX2 variant handles its fast cases and
// hands the rest to these.
RowFn copy_row_scalar(int src, int dst);

// The copy kernel body shared by the scalar and AVX2 registrations: parses and checks
// [src dtype, dst dtype, nd, shape…, out offset, out strides…, src offset, src strides…] with buffers
// [out, src], then runs `select(src, dst)` over the rows.
void copy_with(const Args& a, RowFn (*select)(int src, int dst));

}  // namespace llava
