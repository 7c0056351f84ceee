// Elementwise kernels, scalar and naive variants: unary_f32 (every UnaryOp, <cmath> in f32), binary_f32
// (with stride-0 broadcast inputs), compare (f32/i32/u8/bool → bool) and where_f32. Parameter layouts are in
// elementwise.h (unary, binary) and below (compare, where); views are encoded as strided.h describes.
//
// The naive twins compute in double and round once, like the ts backend, one element at a time.
// Not here: vector math (elementwise_avx2.cc), dtype conversion (copy.cc), reductions (reduce.cc).
#include "elementwise.h"

#include <cmath>
#include <cstring>
#include <string>

#include "../convert.h"

namespace llava {
namespace {

template <class T>
static inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// One definition of every unary op for both precisions: T = float (scalar kernel), double (naive twin).
template <class T>
static inline T unary_op(int op, T x) {
  const T half = T(0.5);
  switch (op) {
    case U_NEG: return -x;
    case U_ABS: return std::fabs(x);
    case U_SIGN: return x > 0 ? T(1) : x < 0 ? T(-1) : T(0);
    case U_EXP: return std::exp(x);
    case U_LOG: return std::log(x);
    case U_SQRT: return std::sqrt(x);
    case U_RSQRT: return T(1) / std::sqrt(x);
    case U_SQUARE: return x * x;
    case U_RECIPROCAL: return T(1) / x;
    case U_SIN: return std::sin(x);
    case U_COS: return std::cos(x);
    case U_TANH: return std::tanh(x);
    case U_SIGMOID: return sigmoid(x);
    case U_RELU: return x > 0 ? x : T(0);
    case U_GELU: return half * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
    case U_GELU_TANH: return half * x * (T(1) + std::tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)));
    case U_QUICK_GELU: return x * sigmoid(T(1.702) * x);
    case U_SILU: return x * sigmoid(x);
    default: return std::erf(x);
  }
}

template <class T>
static inline T binary_op(int op, T a, T b) {
  switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return std::pow(a, b);
    case B_MAX: return a != a || b != b ? a + b : a > b ? a : b;
    default: return a != a || b != b ? a + b : a < b ? a : b;
  }
}

template <int OP>
void unary_row(const void*, int64_t n, uint8_t* const* p, const int64_t* st) {
  float* o = reinterpret_cast<float*>(p[0]);
  const float* x = reinterpret_cast<const float*>(p[1]);
  if (st[0] == 1 && st[1] == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = unary_op<float>(OP, x[i]);
  } else {
    for (int64_t i = 0; i < n; i++) o[i * st[0]] = unary_op<float>(OP, x[i * st[1]]);
  }
}

template <int OP>
void binary_row(const void*, int64_t n, uint8_t* const* p, const int64_t* st) {
  float* o = reinterpret_cast<float*>(p[0]);
  const float* a = reinterpret_cast<const float*>(p[1]);
  const float* b = reinterpret_cast<const float*>(p[2]);
  if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = binary_op<float>(OP, a[i], b[i]);
  } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; i++) o[i] = binary_op<float>(OP, a[i], bv);
  } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; i++) o[i] = binary_op<float>(OP, av, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) o[i * st[0]] = binary_op<float>(OP, a[i * st[1]], b[i * st[2]]);
  }
}

struct Code {
  int op;
};

void unary_naive_point(const void* ctx, uint8_t* const* p, int) {
  const int op = static_cast<const Code*>(ctx)->op;
  float x;
  std::memcpy(&x, p[1], 4);
  const float r = static_cast<float>(unary_op<double>(op, x));
  std::memcpy(p[0], &r, 4);
}

void binary_naive_point(const void* ctx, uint8_t* const* p, int) {
  const int op = static_cast<const Code*>(ctx)->op;
  float a, b;
  std::memcpy(&a, p[1], 4);
  std::memcpy(&b, p[2], 4);
  const float r = static_cast<float>(binary_op<double>(op, a, b));
  std::memcpy(p[0], &r, 4);
}

int read_op(const Args& a, int count, const char* kind) {
  const int64_t op = a.i(0);
  if (op < 0 || op >= count) a.fail(std::string("unknown ") + kind + " op code " + std::to_string(op));
  return static_cast<int>(op);
}

void read_unary(const Args& a, Layout* L) {
  int p = 1;
  read_shape(a, &p, L);
  read_operand(a, &p, L, 0, 4, "out");
  read_operand(a, &p, L, 1, 4, "x");
}

void read_binary(const Args& a, Layout* L) {
  int p = 1;
  read_shape(a, &p, L);
  read_operand(a, &p, L, 0, 4, "out");
  read_operand(a, &p, L, 1, 4, "a");
  read_operand(a, &p, L, 2, 4, "b");
}

void unary_scalar(const Args& a) { unary_with(a, unary_row_scalar); }
void binary_scalar(const Args& a) { binary_with(a, binary_row_scalar); }

void unary_naive(const Args& a) {
  const Code c{read_op(a, U_COUNT, "unary")};
  Layout L;
  read_unary(a, &L);
  run_points(L, unary_naive_point, &c, INT64_MAX);
}

void binary_naive(const Args& a) {
  const Code c{read_op(a, B_COUNT, "binary")};
  Layout L;
  read_binary(a, &L);
  run_points(L, binary_naive_point, &c, INT64_MAX);
}

// compare: params op, dtype code (f32, i32, u8 or bool), nd, shape[nd], out, a, b; buffers [out (u8), a, b].
enum CompareCode : int { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE, C_COUNT };

template <class T>
static inline bool compare_op(int op, T a, T b) {
  switch (op) {
    case C_EQ: return a == b;
    case C_NE: return a != b;
    case C_LT: return a < b;
    case C_LE: return a <= b;
    case C_GT: return a > b;
    default: return a >= b;
  }
}

template <class T, int OP>
void compare_row(const void*, int64_t n, uint8_t* const* p, const int64_t* st) {
  uint8_t* o = p[0];
  const T* a = reinterpret_cast<const T*>(p[1]);
  const T* b = reinterpret_cast<const T*>(p[2]);
  if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = compare_op<T>(OP, a[i], b[i]);
  } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
    const T bv = b[0];
    for (int64_t i = 0; i < n; i++) o[i] = compare_op<T>(OP, a[i], bv);
  } else {
    for (int64_t i = 0; i < n; i++) o[i * st[0]] = compare_op<T>(OP, a[i * st[1]], b[i * st[2]]);
  }
}

template <class T>
RowFn compare_pick(int op) {
  switch (op) {
    case C_EQ: return compare_row<T, C_EQ>;
    case C_NE: return compare_row<T, C_NE>;
    case C_LT: return compare_row<T, C_LT>;
    case C_LE: return compare_row<T, C_LE>;
    case C_GT: return compare_row<T, C_GT>;
    default: return compare_row<T, C_GE>;
  }
}

struct CompareCall {
  int op, dt;
};

void read_compare(const Args& a, Layout* L, CompareCall* c) {
  c->op = read_op(a, C_COUNT, "compare");
  const int64_t dt = a.i(1);
  if (dt != DT_F32 && dt != DT_I32 && dt != DT_U8 && dt != DT_BOOL) a.fail("compare: unsupported dtype code " + std::to_string(dt));
  c->dt = static_cast<int>(dt);
  int p = 2;
  read_shape(a, &p, L);
  read_operand(a, &p, L, 0, 1, "out");
  read_operand(a, &p, L, 1, dtype_size(c->dt), "a");
  read_operand(a, &p, L, 2, dtype_size(c->dt), "b");
}

void compare_scalar(const Args& a) {
  Layout L;
  CompareCall c;
  read_compare(a, &L, &c);
  coalesce(&L);
  const RowFn fn = c.dt == DT_F32 ? compare_pick<float>(c.op) : c.dt == DT_I32 ? compare_pick<int32_t>(c.op) : compare_pick<uint8_t>(c.op);
  run_rows(L, fn, nullptr, kCheapMinPerThread);
}

void compare_naive(const Args& a) {
  Layout L;
  CompareCall c;
  read_compare(a, &L, &c);
  run_points(L, [](const void* ctx, uint8_t* const* p, int) {
    const CompareCall* k = static_cast<const CompareCall*>(ctx);
    *p[0] = compare_op<double>(k->op, load_as_double(k->dt, p[1]), load_as_double(k->dt, p[2])) ? 1 : 0;
  }, &c, INT64_MAX);
}

// where_f32: params nd, shape[nd], out, cond, a, b (offset, strides each); buffers [out, cond (u8), a, b].
void read_where(const Args& a, Layout* L) {
  int p = 0;
  read_shape(a, &p, L);
  read_operand(a, &p, L, 0, 4, "out");
  read_operand(a, &p, L, 1, 1, "cond");
  read_operand(a, &p, L, 2, 4, "a");
  read_operand(a, &p, L, 3, 4, "b");
}

void where_row(const void*, int64_t n, uint8_t* const* p, const int64_t* st) {
  float* o = reinterpret_cast<float*>(p[0]);
  const uint8_t* c = p[1];
  const float* x = reinterpret_cast<const float*>(p[2]);
  const float* y = reinterpret_cast<const float*>(p[3]);
  if (st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = c[i] ? x[i] : y[i];
  } else {
    for (int64_t i = 0; i < n; i++) o[i * st[0]] = c[i * st[1]] ? x[i * st[2]] : y[i * st[3]];
  }
}

void where_scalar(const Args& a) {
  Layout L;
  read_where(a, &L);
  coalesce(&L);
  run_rows(L, where_row, nullptr, kCheapMinPerThread);
}

void where_naive(const Args& a) {
  Layout L;
  read_where(a, &L);
  run_points(L, [](const void*, uint8_t* const* p, int) { std::memcpy(p[0], *p[1] ? p[2] : p[3], 4); }, nullptr, INT64_MAX);
}

}  // namespace

RowFn unary_row_scalar(int op) {
  static const RowFn t[U_COUNT] = {LLAVA_UNARY_OPS(LLAVA_UNARY_ROW)};
  return t[op];
}

RowFn binary_row_scalar(int op) {
  static const RowFn t[B_COUNT] = {LLAVA_BINARY_OPS(LLAVA_BINARY_ROW)};
  return t[op];
}

void unary_with(const Args& a, RowFn (*select)(int op)) {
  const int op = read_op(a, U_COUNT, "unary");
  Layout L;
  read_unary(a, &L);
  coalesce(&L);
  run_rows(L, select(op), nullptr, unary_is_cheap(op) ? kCheapMinPerThread : kMathMinPerThread);
}

void binary_with(const Args& a, RowFn (*select)(int op)) {
  const int op = read_op(a, B_COUNT, "binary");
  Layout L;
  read_binary(a, &L);
  coalesce(&L);
  run_rows(L, select(op), nullptr, op == B_POW ? kMathMinPerThread : kCheapMinPerThread);
}

}  // namespace llava

LLAVA_KERNEL("unary_f32", llava::ISA_SCALAR, llava::unary_scalar);
LLAVA_KERNEL("unary_f32", llava::ISA_NAIVE, llava::unary_naive);
LLAVA_KERNEL("binary_f32", llava::ISA_SCALAR, llava::binary_scalar);
LLAVA_KERNEL("binary_f32", llava::ISA_NAIVE, llava::binary_naive);
LLAVA_KERNEL("compare", llava::ISA_SCALAR, llava::compare_scalar);
LLAVA_KERNEL("compare", llava::ISA_NAIVE, llava::compare_naive);
LLAVA_KERNEL("where_f32", llava::ISA_SCALAR, llava::where_scalar);
LLAVA_KERNEL("where_f32", llava::ISA_NAIVE, llava::where_naive);
