// quant_linear and quantize_rows: argument parsing (shared with the AVX2 file), naive twins and scalar
// variants. Layouts are documented in quant_common.h; results follow src/engine/quant.ts bit for bit.
//
// Not here: the AVX2 kernels (quant_avx2.cc), float-weight matvec (matvec*.cc), embedding (embed*.cc).
#include <string>

#include "../threadpool.h"
#include "quant_common.h"

namespace llava {
namespace wq {

static void check_wtype_quant(const Args& a, int wtype) {
  if (wtype != W_Q8_0 && wtype != W_Q4_0) a.fail("weight type " + std::to_string(wtype) + " is not q8_0 (3) or q4_0 (4)");
}

int64_t span(const Args& a, int64_t rows, int64_t len, int64_t stride) {
  if (rows < 0 || len < 0 || stride < 0) a.fail("negative size or stride");
  return rows == 0 || len == 0 ? 0 : (rows - 1) * stride + len;
}

static int64_t scratch_head(int64_t M, int64_t nb) { return (M * nb * Q8_BYTES + 31) & ~int64_t(31); }

int64_t quant_linear_scratch(int64_t M, int64_t K) {
  const int64_t nb = K / QK, nbp = (nb + 7) & ~int64_t(7);
  return scratch_head(M, nb) + M * nbp * 8;
}

QLinear parse_quant_linear(const Args& a) {
  QLinear q;
  q.wtype = static_cast<int>(a.i(0));
  check_wtype_quant(a, q.wtype);
  q.M = a.i(1);
  q.N = a.i(2);
  q.K = a.i(3);
  if (q.M < 0 || q.N < 0 || q.K < 0) a.fail("negative shape");
  if (q.K % QK != 0) a.fail("K = " + std::to_string(q.K) + " is not a multiple of 32");
  q.nb = q.K / QK;
  q.nbp = (q.nb + 7) & ~int64_t(7);
  q.wrow = q.nb * block_bytes(q.wtype);
  q.xs = a.i(5);
  q.x = a.ptr<float>(1, a.i(4), span(a, q.M, q.K, q.xs));
  q.w = a.ptr<uint8_t>(2, a.i(6), q.N * q.wrow);
  q.os = a.i(8);
  if (q.N > 0 && q.os < q.N) a.fail("output row stride is smaller than N");
  q.out = a.ptr<float>(0, a.i(7), span(a, q.M, q.N, q.os));
  q.bias = nullptr;
  q.bs = 0;
  if (a.i(9)) {
    q.bs = a.i(11);
    q.bias = a.ptr<float>(3, a.i(10), span(a, q.N, 1, q.bs));
  }
  q.gemm_min = a.nprm > 12 && a.i(12) >= 0 ? a.i(12) : GEMM_MIN_M;
  uint8_t* s = a.ptr<uint8_t>(4, 0, quant_linear_scratch(q.M, q.K));
  q.xq = s;
  const int64_t f = scratch_head(q.M, q.nb);
  q.dx = reinterpret_cast<float*>(s + f);
  q.xs8 = reinterpret_cast<int32_t*>(s + f + q.M * q.nbp * 4);
  if (reinterpret_cast<uintptr_t>(q.dx) % 4 != 0) a.fail("scratch buffer is not 4-byte aligned");
  return q;
}

Quantize parse_quantize(const Args& a) {
  Quantize q;
  q.wtype = static_cast<int>(a.i(0));
  check_wtype_quant(a, q.wtype);
  q.N = a.i(1);
  q.K = a.i(2);
  if (q.N < 0 || q.K < 0) a.fail("negative shape");
  if (q.K % QK != 0) a.fail("K = " + std::to_string(q.K) + " is not a multiple of 32");
  q.xs = a.i(4);
  q.x = a.ptr<float>(1, a.i(3), span(a, q.N, q.K, q.xs));
  q.out = a.ptr<uint8_t>(0, a.i(5), q.N * (q.K / QK) * block_bytes(q.wtype));
  return q;
}

}  // namespace wq
}  // namespace llava

namespace {

using namespace llava::wq;

void quantize_row(int wtype, const float* x, int64_t K, uint8_t* y) {
  const int64_t bb = block_bytes(wtype);
  for (int64_t b = 0; b < K / QK; b++) {
    if (wtype == W_Q8_0) quantize_block_q8_0(x + b * QK, y + b * bb);
    else quantize_block_q4_0(x + b * QK, y + b * bb);
  }
}

// ---- naive twins: one thread, the specification's loops ----

void quant_linear_naive(const llava::Args& a) {
  const QLinear q = parse_quant_linear(a);
  for (int64_t m = 0; m < q.M; m++) quantize_row(W_Q8_0, q.x + m * q.xs, q.K, q.xq + m * q.nb * Q8_BYTES);
  for (int64_t m = 0; m < q.M; m++) {
    for (int64_t n = 0; n < q.N; n++) {
      float v = dot_row(q.wtype, q.xq + m * q.nb * Q8_BYTES, q.w + n * q.wrow, q.nb);
      if (q.bias) v = v + q.bias[n * q.bs];
      q.out[m * q.os + n] = v;
    }
  }
}

void quantize_rows_naive(const llava::Args& a) {
  const Quantize q = parse_quantize(a);
  const int64_t rb = (q.K / QK) * block_bytes(q.wtype);
  for (int64_t r = 0; r < q.N; r++) quantize_row(q.wtype, q.x + r * q.xs, q.K, q.out + r * rb);
}

// ---- scalar variants: the same arithmetic, threaded ----

struct QLCtx {
  const QLinear* q;
};

void ql_quantize_job(void* c, int tid, int nt) {
  const QLinear& q = *static_cast<QLCtx*>(c)->q;
  int64_t b, e;
  llava::split_range(q.M, nt, tid, &b, &e);
  for (int64_t m = b; m < e; m++) quantize_row(W_Q8_0, q.x + m * q.xs, q.K, q.xq + m * q.nb * Q8_BYTES);
}

void ql_dot_job(void* c, int tid, int nt) {
  const QLinear& q = *static_cast<QLCtx*>(c)->q;
  int64_t b, e;
  llava::split_range(q.N, nt, tid, &b, &e);
  for (int64_t n = b; n < e; n++) {
    const uint8_t* wr = q.w + n * q.wrow;
    const float bias = q.bias ? q.bias[n * q.bs] : 0.0f;
    for (int64_t m = 0; m < q.M; m++) {
      float v = dot_row(q.wtype, q.xq + m * q.nb * Q8_BYTES, wr, q.nb);
      if (q.bias) v = v + bias;
      q.out[m * q.os + n] = v;
    }
  }
}

void quant_linear_scalar(const llava::Args& a) {
  const QLinear q = parse_quant_linear(a);
  QLCtx ctx{&q};
  llava::parallel_run(ql_quantize_job, &ctx, threads_for(q.M * q.K, 1 << 16));
  llava::parallel_run(ql_dot_job, &ctx, threads_for(q.N * q.M * q.K, 1 << 16));
}

struct QCtx {
  const Quantize* q;
};

void quantize_job(void* c, int tid, int nt) {
  const Quantize& q = *static_cast<QCtx*>(c)->q;
  const int64_t rb = (q.K / QK) * block_bytes(q.wtype);
  int64_t b, e;
  llava::split_range(q.N, nt, tid, &b, &e);
  for (int64_t r = b; r < e; r++) quantize_row(q.wtype, q.x + r * q.xs, q.K, q.out + r * rb);
}

void quantize_rows_scalar(const llava::Args& a) {
  const Quantize q = parse_quantize(a);
  QCtx ctx{&q};
  llava::parallel_run(quantize_job, &ctx, threads_for(q.N * q.K, 1 << 16));
}

}  // namespace

LLAVA_KERNEL("quant_linear", llava::ISA_NAIVE, quant_linear_naive);
LLAVA_KERNEL("quant_linear", llava::ISA_SCALAR, quant_linear_scalar);
LLAVA_KERNEL("quantize_rows", llava::ISA_NAIVE, quantize_rows_naive);
LLAVA_KERNEL("quantize_rows", llava::ISA_SCALAR, quantize_rows_scalar);
