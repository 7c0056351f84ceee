// Turning AVX2/FMA/F16C code generation on for one file without compiler flags, so the addon builds with
// the toolchain's default target (no -march=native) and still contains fast paths that are chosen at run
// time by CPU detection. On other architectures LLAVA_HAVE_AVX2 is 0 and such files compile to nothing.
//
// LLAVA_AVX512_BEGIN/END do the same for the AVX-512 level (F/BW/DQ/VL + VNNI): its files register under
// ISA_AVX512 and are chosen only on CPUs with all of those. They mostly use 256-bit EVEX forms (32 vector
// registers, masked tails, vpdpbusd) where that keeps the AVX2 file's data layout.
#pragma once

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define LLAVA_HAVE_AVX2 1
#if defined(__clang__)
#define LLAVA_AVX2_BEGIN \
  _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c\"))), apply_to = function)")
#define LLAVA_AVX2_END _Pragma("clang attribute pop")
#define LLAVA_AVX512_BEGIN                                                                                 \
  _Pragma(                                                                                                 \
      "clang attribute push(__attribute__((target(\"avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni\"))), apply_to = function)")
#define LLAVA_AVX512_END _Pragma("clang attribute pop")
#else
#define LLAVA_AVX2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define LLAVA_AVX2_END _Pragma("GCC pop_options")
// GCC 12's AVX-512 headers fill unused upper lanes from _mm512_undefined_*(), which its own flow analysis
// then reports as uninitialized in 512-bit casts and conversions: those two warnings are off in AVX-512 regions.
#define LLAVA_AVX512_BEGIN                                                                                 \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni\")") \
      _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")                 \
          _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define LLAVA_AVX512_END _Pragma("GCC diagnostic pop") _Pragma("GCC pop_options")
#endif
#include <immintrin.h>
#else
#define LLAVA_HAVE_AVX2 0
#define LLAVA_AVX2_BEGIN
#define LLAVA_AVX2_END
#define LLAVA_AVX512_BEGIN
#define LLAVA_AVX512_END
#endif
