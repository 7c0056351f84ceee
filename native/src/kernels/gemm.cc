// Packed fp32 GEMM, portable part: parameter parsing and validation (every range is checked before any
// thread starts), the generic packers used for any stride and B type, and the scalar micro-kernel with
// its registration. See gemm.h for the calling convention, gemm_driver.cc for blocking and threading,
// gemm_avx2.cc for the AVX2/FMA building blocks and gemm_naive.cc for the naive twin.
//
// Not here: cache blocking, threading, ISA-specific code.
#include "gemm.h"

#include <string>

#include "../half.h"

namespace llava {
namespace gemm {

namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

std::string dims(int nd, const int64_t* shape, const int64_t* strides) {
  std::string s = "[";
  for (int d = 0; d < nd; d++) s += (d ? "," : "") + std::to_string(shape[d]);
  s += "] strides [";
  for (int d = 0; d < nd; d++) s += (d ? "," : "") + std::to_string(strides[d]);
  return s + "]";
}

// Checks that an operand's strided extent lies in its array; returns the element pointer.
template <class T>
T* operand(const Args& a, int buf, const char* what, int64_t off, int nd, const int64_t* shape, const int64_t* strides) {
  const int64_t ext = strided_extent(nd, shape, strides);
  const int64_t have = buf < a.nbuf ? static_cast<int64_t>(a.buf[buf].bytes / sizeof(T)) : -1;
  if (have < 0) a.fail(std::string(what) + " array missing");
  if (off < 0 || (ext > 0 && off + ext > have)) {
    a.fail(std::string(what) + " " + dims(nd, shape, strides) + " from offset " + std::to_string(off) + " needs " +
           std::to_string(off + ext) + " elements, its array has " + std::to_string(have));
  }
  return a.ptr<T>(buf, off, ext);
}

}  // namespace

void Call::batch_offsets(int64_t b, int64_t* oc, int64_t* oa, int64_t* ob) const {
  int64_t c = 0, x = 0, y = 0;
  for (int d = nbd - 1; d >= 0; d--) {
    const int64_t i = b % bsize[d];
    b /= bsize[d];
    c += i * bsC[d];
    x += i * bsA[d];
    y += i * bsB[d];
  }
  *oc = c;
  *oa = x;
  *ob = y;
}

Call parse_call(const Args& a) {
  Call c;
  c.btype = static_cast<int>(a.i(0));
  if (c.btype < B_F32 || c.btype > B_BF16) a.fail("B type " + std::to_string(c.btype) + " is not 0 (f32), 1 (f16) or 2 (bf16)");
  c.M = a.i(1), c.N = a.i(2), c.K = a.i(3);
  if (c.M < 0 || c.N < 0 || c.K < 0) a.fail("negative size M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K));
  const int64_t offC = a.i(4), offA = a.i(7), offB = a.i(10), offBias = a.i(14);
  c.rsC = a.i(5), c.csC = a.i(6), c.rsA = a.i(8), c.csA = a.i(9), c.rsB = a.i(11), c.csB = a.i(12);
  const bool has_bias = a.i(13) != 0;
  c.sBias = a.i(15);
  c.accumulate = a.i(16) != 0;
  c.threads = static_cast<int>(a.i(17));
  c.nbd = static_cast<int>(a.i(18));
  if (c.nbd < 0 || c.nbd > kMaxBatchDims) a.fail(std::to_string(c.nbd) + " batch dims (at most " + std::to_string(kMaxBatchDims) + ")");
  int64_t shC[kMaxBatchDims + 2], shA[kMaxBatchDims + 2], shB[kMaxBatchDims + 2];
  int64_t stC[kMaxBatchDims + 2], stA[kMaxBatchDims + 2], stB[kMaxBatchDims + 2];
  for (int d = 0; d < c.nbd; d++) {
    c.bsize[d] = a.i(19 + 4 * d);
    c.bsC[d] = a.i(20 + 4 * d), c.bsA[d] = a.i(21 + 4 * d), c.bsB[d] = a.i(22 + 4 * d);
    if (c.bsize[d] < 0) a.fail("negative batch size");
    c.batches *= c.bsize[d];
    shC[d] = shA[d] = shB[d] = c.bsize[d];
    stC[d] = c.bsC[d], stA[d] = c.bsA[d], stB[d] = c.bsB[d];
  }
  const int nd = c.nbd + 2;
  shC[c.nbd] = c.M, shC[c.nbd + 1] = c.N, stC[c.nbd] = c.rsC, stC[c.nbd + 1] = c.csC;
  shA[c.nbd] = c.M, shA[c.nbd + 1] = c.K, stA[c.nbd] = c.rsA, stA[c.nbd + 1] = c.csA;
  shB[c.nbd] = c.K, shB[c.nbd + 1] = c.N, stB[c.nbd] = c.rsB, stB[c.nbd + 1] = c.csB;
  for (int d = 0; d < nd; d++) {
    if (stC[d] < 0 || stA[d] < 0 || stB[d] < 0) a.fail("negative strides are not supported");
  }
  if (has_bias && c.sBias < 0) a.fail("negative bias stride");
  if (c.M == 0 || c.N == 0 || c.batches == 0) return c;  // nothing is touched
  c.C = operand<float>(a, 0, "C", offC, nd, shC, stC);
  if (c.K > 0) {
    c.A = operand<float>(a, 1, "A", offA, nd, shA, stA);
    if (c.btype == B_F32) {
      c.B = operand<float>(a, 2, "B (f32)", offB, nd, shB, stB);
    } else {
      c.B = operand<uint16_t>(a, 2, c.btype == B_F16 ? "B (f16)" : "B (bf16)", offB, nd, shB, stB);
    }
  }
  if (has_bias) {
    const int64_t n = c.N;
    c.bias = operand<float>(a, 3, "bias", offBias, 1, &n, &c.sBias);
  }
  return c;
}

// ---- portable packers and micro-kernel ----

namespace {

struct LoadF32 {
  static float get(const void* p, int64_t e) { return static_cast<const float*>(p)[e]; }
};
struct LoadF16 {
  static float get(const void* p, int64_t e) { return f16_to_f32(static_cast<const uint16_t*>(p)[e]); }
};
struct LoadBF16 {
  static float get(const void* p, int64_t e) { return bf16_to_f32(static_cast<const uint16_t*>(p)[e]); }
};

template <class L>
void pack_b_as(int nr, float* dst, const void* b, int64_t rk, int64_t rn, int64_t kc, int64_t nc) {
  for (int64_t p = 0; p < nc; p += nr) {
    const int64_t cols = min64(nr, nc - p);
    for (int64_t k = 0; k < kc; k++) {
      float* d = dst + k * nr;
      int64_t j = 0;
      for (; j < cols; j++) d[j] = L::get(b, k * rk + (p + j) * rn);
      for (; j < nr; j++) d[j] = 0.0f;
    }
    dst += nr * kc;
  }
}

}  // namespace

void pack_a_generic(int mr, float* dst, const float* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc) {
  for (int64_t p = 0; p < mc; p += mr) {
    const int64_t rows = min64(mr, mc - p);
    for (int64_t k = 0; k < kc; k++) {
      float* d = dst + k * mr;
      int64_t i = 0;
      for (; i < rows; i++) d[i] = a[(p + i) * rs + k * cs];
      for (; i < mr; i++) d[i] = 0.0f;
    }
    dst += mr * kc;
  }
}

void pack_b_generic(int nr, float* dst, const void* b, int bt, int64_t rk, int64_t rn, int64_t kc, int64_t nc) {
  if (bt == B_F32) pack_b_as<LoadF32>(nr, dst, b, rk, rn, kc, nc);
  else if (bt == B_F16) pack_b_as<LoadF16>(nr, dst, b, rk, rn, kc, nc);
  else pack_b_as<LoadBF16>(nr, dst, b, rk, rn, kc, nc);
}

namespace {

constexpr int kScalarMR = 4, kScalarNR = 8;

// Plain loops the compiler vectorises for the baseline target (SSE2 on x64, NEON on arm64).
void kernel_scalar(int64_t kc, const float* a, const float* b, float* c, int64_t rsc, int64_t csc, int m, int n,
                   int load_c, const float* bias) {
  float acc[kScalarMR][kScalarNR] = {};
  for (int64_t k = 0; k < kc; k++) {
    const float* ak = a + k * kScalarMR;
    const float* bk = b + k * kScalarNR;
    for (int i = 0; i < kScalarMR; i++) {
      const float ai = ak[i];
      for (int j = 0; j < kScalarNR; j++) acc[i][j] += ai * bk[j];
    }
  }
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < n; j++) {
      float v = acc[i][j];
      if (bias) v += bias[j];
      float* p = c + i * rsc + j * csc;
      *p = load_c ? *p + v : v;
    }
  }
}

void pack_a_scalar(float* dst, const float* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc) {
  pack_a_generic(kScalarMR, dst, a, rs, cs, mc, kc);
}
void pack_b_scalar(float* dst, const void* b, int bt, int64_t rk, int64_t rn, int64_t kc, int64_t nc) {
  pack_b_generic(kScalarNR, dst, b, bt, rk, rn, kc, nc);
}

const MicroOps kScalarOps = {kScalarMR, kScalarNR, 128, 256, 2048, kernel_scalar, pack_a_scalar, pack_b_scalar};

}  // namespace

}  // namespace gemm
}  // namespace llava

namespace {

void gemm_scalar(const llava::Args& a) {
  const llava::gemm::Call c = llava::gemm::parse_call(a);
  llava::gemm::run(c, llava::gemm::kScalarOps, a);
}

}  // namespace

LLAVA_KERNEL("gemm_f32", llava::ISA_SCALAR, gemm_scalar);
