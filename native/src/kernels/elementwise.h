// Shared by elementwise.cc and elementwise_avx2.cc: op codes (the order of UnaryOp / BinaryOp / CompareOp
// in src/backends/native/elementwise.ts), the scalar row functions the AVX2 variant falls back to for
// strided rows, and the kernel bodies that parse a call and run row functions over it.
#pragma once
#include "../kernel.h"
#include "../strided.h"

namespace llava {

enum UnaryCode : int {
  U_NEG, U_ABS, U_SIGN, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_SQUARE, U_RECIPROCAL, U_SIN, U_COS, U_TANH, U_SIGMOID,
  U_RELU, U_GELU, U_GELU_TANH, U_QUICK_GELU, U_SILU, U_ERF, U_COUNT
};
enum BinaryCode : int { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_COUNT };

// Elements per thread below which a call stays on one thread: cheap ops are memory-bound, transcendental
// ones cost tens of cycles per element.
constexpr int64_t kCheapMinPerThread = 1 << 15;
constexpr int64_t kMathMinPerThread = 1 << 12;

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
