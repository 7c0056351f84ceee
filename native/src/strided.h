// Strided N-d views for native kernels: reading a view's layout from the parameter vector with a bounds
// check of everything it can touch, merging dims so that most calls become one or two long rows, and two
// drivers that walk a layout (split across the thread pool when the work is large enough):
//
//   run_rows    fn(ctx, n, ptrs, strides) on every innermost row, rows split into element chunks;
//   run_points  fn(ctx, ptrs, tid) at every index of an "outer" layout (kernels that own whole rows:
//               norms, softmax, rope, gathers).
//
// Parameter encoding of one view (documented once here, used by every kernel): the shape is shared by
// all operands of a call and read first as `nd, shape[0..nd)`; then each operand is `offset, strides[0..nd)`
// in elements of its own typed array. Negative strides are rejected (the engine never creates them).
//
// Not here: the math of any kernel, dtype conversion (copy.cc), reductions (reduce.cc).
#pragma once
#include <cstdint>

#include "kernel.h"

namespace llava {

constexpr int kMaxDims = 16;
constexpr int kMaxOps = 4;

struct Layout {
  int nd = 0;
  int nops = 0;
  int64_t numel = 0;
  int64_t shape[kMaxDims] = {};
  uint8_t* base[kMaxOps] = {};  // element at the view's offset
  int esize[kMaxOps] = {};
  int64_t st[kMaxOps][kMaxDims] = {};  // in elements
};

// Reads `nd, shape[nd]` at params[*p] (advancing *p) into L (no operands yet).
void read_shape(const Args& a, int* p, Layout* L);

// Reads `offset, strides[nd]` of one operand living in buffer `buf` (element size `esize`), checks that the
// view lies inside the buffer and appends it to L. `what` names it in errors. `last_size` >= 0 gives this
// operand another size for the last dim (rope's cos/sin rows are half as long as x's), which only makes
// sense when that dim is then taken off with pop_last_dim.
void read_operand(const Args& a, int* p, Layout* L, int buf, int esize, const char* what, int64_t last_size = -1);

// Pointer to element `off` of a view given directly (shape, strides in elements), after checking that every
// element it reaches lies inside buffer `buf`; `what` names it in errors.
uint8_t* check_view(const Args& a, int buf, int esize, int64_t off, int nd, const int64_t* shape, const int64_t* st, const char* what);
// The same for a vector of n elements with stride st.
uint8_t* check_vector(const Args& a, int buf, int esize, int64_t off, int64_t n, int64_t st, const char* what);

// Drops size-1 dims and merges neighbours that are contiguous with each other in every operand. A layout
// with no dims left becomes one row of one element.
void coalesce(Layout* L);

// Removes the last dim from L (after reading operands whose points own that dim as a row). Returns its
// size; strides of the removed dim are written to `row_st[k]` for each operand.
int64_t pop_last_dim(Layout* L, int64_t* row_st);

using RowFn = void (*)(const void* ctx, int64_t n, uint8_t* const* p, const int64_t* st);
using PointFn = void (*)(const void* ctx, uint8_t* const* p, int tid);

// fn over all elements of a coalesced layout, one call per (part of an) innermost row. Threads are used
// when numel >= 2·min_per_thread; chunks are multiples of 64 elements so vector loops rarely see ragged
// starts.
void run_rows(const Layout& L, RowFn fn, const void* ctx, int64_t min_per_thread);

// fn at every index of L (which may have nd = 0: one point); threads when numel >= 2·min_per_thread.
void run_points(const Layout& L, PointFn fn, const void* ctx, int64_t min_per_thread);

// Row kernels (norms, softmax): L holds out (operand 0) and x (operand 1) over the full shape; fn runs on
// every row of the last dim, seeing contiguous rows (strided ones are gathered into / scattered from
// per-thread scratch). Threads when there are at least 2·min_elems elements.
using RowPairFn = void (*)(const void* ctx, float* out, const float* x, int64_t n);
void run_row_pairs(Layout* L, RowPairFn fn, const void* ctx, int64_t min_elems);

// Number of threads run_points / run_rows will use for `work` units with `min_per_thread` each (kernels
// size per-thread scratch with it).
int threads_for(int64_t work, int64_t min_per_thread);

}  // namespace llava
