// Kernel registry and calling convention of the native backend.
//
// Every kernel is a plain function `void fn(const Args&)`: pointers to the typed arrays that JS passed
// (zero-copy) and a vector of numeric parameters (offsets, shapes, strides, scalars) whose order each
// kernel documents. Kernels register under a name and an ISA level; the JS side resolves the best
// variant the CPU supports (or the naive twin, for tests). Kernels know nothing of N-API or TypeScript.
//
// Rules for ISA-specific files (see simd.h): include every header first, then LLAVA_AVX2_BEGIN; inside,
// use intrinsics, plain C and helpers in an anonymous namespace only — no std:: templates — so that no
// AVX2-compiled inline function can be shared with (and picked by the linker for) scalar code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace llava {

// ISA_AVX512: AVX2/FMA/F16C plus AVX-512 F/BW/DQ/VL and VNNI (int8 dot products; see simd.h).
enum Isa : int { ISA_NAIVE = 0, ISA_SCALAR = 1, ISA_AVX2 = 2, ISA_AVX512 = 3 };

struct Buf {
  uint8_t* p = nullptr;
  size_t bytes = 0;
};

constexpr int kMaxBufs = 12;

struct Args {
  Buf buf[kMaxBufs];
  int nbuf = 0;
  const double* prm = nullptr;
  int nprm = 0;
  const char* name = "";

  // Parameter k as an integer / float (bounds-checked). Out of line on purpose: inline float code compiled
  // inside an AVX2 file could be merged by the linker into scalar callers.
  int64_t i(int k) const;
  double f(int k) const;

  // Pointer to buffer b after checking that bytes [off, off + count) lie inside it.
  uint8_t* checked(int b, int64_t off_bytes, int64_t count_bytes) const;

  // Typed pointer to elements [off, off + count) of buffer b (bounds-checked).
  template <class T>
  T* ptr(int b, int64_t off = 0, int64_t count = 0) const {
    return reinterpret_cast<T*>(checked(b, off * int64_t(sizeof(T)), count * int64_t(sizeof(T))));
  }

  [[noreturn]] void fail(const std::string& msg) const;
};

using KernelFn = void (*)(const Args&);

// Registers fn; returns an arbitrary int so it can initialise a static.
int register_kernel(const char* name, Isa isa, KernelFn fn);

// Largest strided span (in elements) touched by an N-d view: offset + Σ (shape_i − 1)·stride_i, for bounds
// checks of strided kernels. Strides are non-negative in every layout the engine creates.
int64_t strided_extent(int nd, const int64_t* shape, const int64_t* strides);

}  // namespace llava

#define LLAVA_CAT2(a, b) a##b
#define LLAVA_CAT(a, b) LLAVA_CAT2(a, b)
#define LLAVA_KERNEL(name, isa, fn) \
  static const int LLAVA_CAT(llava_reg_, __LINE__) = ::llava::register_kernel(name, isa, fn)
