// Shared by reduce.cc and reduce_avx2.cc: the per-ISA inner loops of reduce_f32 and the driver that plans a
// reduction (which dims are kept or reduced, merged where contiguous) and runs those loops over it.
#pragma once
#include <cstdint>

#include "../kernel.h"

namespace llava {

enum ReduceCode : int { R_SUM, R_MAX, R_MIN, R_ARGMAX, R_ARGMIN, R_COUNT };

struct ReduceLoops {
  // Σ x[i·st] for i < n, accumulated in double.
  double (*sum_row)(const float* x, int64_t n, int64_t st);
  // Largest (is_max) or smallest of x[i·st]; NaN if any element is NaN. *arg = index of the first element
  // equal to the result (first NaN when NaN). n >= 1.
  float (*ext_row)(const float* x, int64_t n, int64_t st, bool is_max, int64_t* arg);
  // acc[j] += x[j] for j < n (x contiguous).
  void (*sum_cols)(double* acc, const float* x, int64_t n);
  // acc[j] = x[j] where x[j] is strictly better than acc[j] or is the first NaN; arg[j] = idx there (arg may
  // be null).
  void (*ext_cols)(float* acc, int32_t* arg, const float* x, int64_t n, bool is_max, int32_t idx);
};

// reduce_f32: params op, nd, x shape[nd], x offset, x strides[nd], out offset, axis mask (bit d: dim d is
// reduced; argmax/argmin take exactly one); buffers [out (f32; i32 for argmax/argmin), x]. out is contiguous
// with x's rank and reduced dims of size 1.
void reduce_with(const Args& a, const ReduceLoops& loops);

// The scalar ext_row (reduce.cc), which the AVX2 variant also runs for strided or short rows.
float ext_row_scalar(const float* x, int64_t n, int64_t st, bool is_max, int64_t* arg);

}  // namespace llava
