// Shared by elementwise.cc and elementwise_avx2.cc: op codes (the order of UnaryOp / BinaryOp / CompareOp
// in src/backends/native/elementwise.ts), the scalar row functions the AVX2 variant falls back to for
// strided rows, and the kernel bodies that parse a call and run row functions over it.
#pragma once
#include "../kernel.h"
#include "../strided.h"

namespace llava {

// The ops in code order, once: the enums below and both units' row-function tables expand these lists.
#define LLAVA_UNARY_OPS(X)                                                                                     \
  X(U_NEG) X(U_ABS) X(U_SIGN) X(U_EXP) X(U_LOG) X(U_SQRT) X(U_RSQRT) X(U_SQUARE) X(U_RECIPROCAL) X(U_SIN)    \
  X(U_COS) X(U_TANH) X(U_SIGMOID) X(U_RELU) X(U_GELU) X(U_GELU_TANH) X(U_QUICK_GELU) X(U_SILU) X(U_ERF)
#define LLAVA_BINARY_OPS(X) X(B_ADD) X(B_SUB) X(B_MUL) X(B_DIV) X(B_POW) X(B_MAX) X(B_MIN)
#define LLAVA_ENUM_ITEM(name) name,
// Table entries: unary_row<OP> / binary_row<OP> of the unit that expands them.
#define LLAVA_UNARY_ROW(name) unary_row<name>,
#define LLAVA_BINARY_ROW(name) binary_row<name>,

enum UnaryCode : int { LLAVA_UNARY_OPS(LLAVA_ENUM_ITEM) U_COUNT };
enum BinaryCode : int { LLAVA_BINARY_OPS(LLAVA_ENUM_ITEM) B_COUNT };

// Elements per thread below which a call stays on one thread: cheap ops are memory-bound, transcendental
// ones cost a few cycles per element vectorised (silu over one 11008-wide decode row: ~8 µs on one thread,
// while waking a second thread costs tens of µs and, when the other core is busy, up to milliseconds).
constexpr int64_t kCheapMinPerThread = 1 << 15;
constexpr int64_t kMathMinPerThread = 1 << 14;

static inline bool unary_is_cheap(int op) {
  return op == U_NEG || op == U_ABS || op == U_SIGN || op == U_SQUARE || op == U_RELU || op == U_RECIPROCAL || op == U_SQRT || op == U_RSQRT;
}

RowFn unary_row_scalar(int op);
RowFn binary_row_scalar(int op);

// unary_f32: params op, nd, shape[nd], out (offset, strides), x (offset, strides); buffers [out, x].
void unary_with(const Args& a, RowFn (*select)(int op));
// binary_f32: params op, nd, shape[nd], out, a, b (offset, strides each); buffers [out, a, b].
void binary_with(const Args& a, RowFn (*select)(int op));

}  // namespace llava
