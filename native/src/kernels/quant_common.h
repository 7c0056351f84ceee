// Shared by the weight-format kernels (quant*.cc, matvec*.cc, embed*.cc): weight type codes, the argument
// layouts of quant_linear / small_m_linear / embedding_rows / quantize_rows (parsed and bounds-checked once,
// before any parallel region), and the scalar block routines of the q8_0/q4_0 specification
// (src/engine/quant.ts) that the naive and scalar variants share.
//
// Not here: SIMD code (the *_avx2.cc files), threading policy.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../half.h"
#include "../kernel.h"
#include "../threadpool.h"

namespace llava {
namespace wq {

// Weight type codes (src/backends/native/quant.ts passes the same numbers).
enum WType : int { W_F32 = 0, W_F16 = 1, W_BF16 = 2, W_Q8_0 = 3, W_Q4_0 = 4 };

constexpr int QK = 32;
constexpr int Q8_BYTES = 34;
constexpr int Q4_BYTES = 18;

static inline int64_t block_bytes(int wtype) { return wtype == W_Q8_0 ? Q8_BYTES : Q4_BYTES; }

// Threads worth waking for `work` units when each thread should get at least `min_per_thread`.
static inline int threads_for(int64_t work, int64_t min_per_thread) {
  const int64_t t = work / min_per_thread;
  const int pool = pool_threads();
  return t < 1 ? 1 : t > pool ? pool : static_cast<int>(t);
}

// Elements spanned by `rows` rows of `len` values at row stride `stride` (0 when empty); fails on negatives.
int64_t span(const Args& a, int64_t rows, int64_t len, int64_t stride);

// quant_linear: out[m, n] = dot(q8_0(x[m]), w[n]) (+ bias[n]) for q8_0/q4_0 w.
//   buffers: 0 out f32, 1 x f32, 2 w bytes, 3 bias f32 (any length when absent), 4 scratch bytes
//   params:  0 wtype, 1 M, 2 N, 3 K, 4 xOff, 5 xRowStride, 6 wByteOff, 7 outOff, 8 outRowStride,
//            9 hasBias, 10 biasOff, 11 biasStride, [12 gemmMinRows: from how many rows the AVX2 variant takes
//            the blocked GEMM; absent or negative: GEMM_MIN_M — a tuning knob for the benchmark]
//   scratch: quantized x rows (M·nb blocks of 34 bytes) at 0, then (from a 32-byte aligned offset) f32 scales
//            dx[M][nbp] and int32 8·Σqx[M][nbp] for the vector kernels, rows padded with zeros to nbp = nb
//            rounded up to 8: quant_linear_scratch(M, K) bytes (src/backends/native/quant.ts mirrors it).
// Activation rows from which the AVX2 quant_linear takes the blocked GEMM (quant_gemm_avx2.cc): below,
// repacking the weights costs more than it saves (bench qgemm --m N --gemm-min-rows R finds the crossover).
constexpr int64_t GEMM_MIN_M = 8;

struct QLinear {
  int wtype;
  int64_t gemm_min;
  int64_t M, N, K, nb, nbp, wrow;
  const float* x;
  int64_t xs;
  const uint8_t* w;
  float* out;
  int64_t os;
  const float* bias;  // null when absent
  int64_t bs;
  uint8_t* xq;    // M·nb q8_0 blocks
  float* dx;      // [M][nbp]
  int32_t* xs8;   // [M][nbp]
};
int64_t quant_linear_scratch(int64_t M, int64_t K);
QLinear parse_quant_linear(const Args& a);

// small_m_linear: out[m, n] = Σ_k x[m, k]·w[n, k] (+ bias[n]) for f32/f16/bf16 w with unit stride along k.
//   buffers: 0 out f32, 1 x f32, 2 w (Float32Array or Uint16Array), 3 bias f32 (any length when absent)
//   params:  0 wtype, 1 M, 2 N, 3 K, 4 xOff, 5 xRowStride, 6 wOff, 7 wRowStride, 8 outOff, 9 outRowStride,
//            10 hasBias, 11 biasOff, 12 biasStride
struct FLinear {
  int wtype;
  int64_t M, N, K;
  const float* x;
  int64_t xs;
  const void* w;  // float* or uint16_t*
  int64_t ws;
  float* out;
  int64_t os;
  const float* bias;
  int64_t bs;
};
FLinear parse_small_m_linear(const Args& a);

// embedding_rows: out[i, :] = decode(weight[ids[i], :]).
//   buffers: 0 out f32, 1 weight (Float32Array, Uint16Array or block bytes), 2 ids i32
//   params:  0 wtype, 1 n, 2 D, 3 V, 4 outOff, 5 outRowStride, 6 wOff (elements; bytes for q8_0/q4_0),
//            7 wRowStride (elements; ignored for quantized rows, which are contiguous), 8 idsOff, 9 idsStride
// Every id is checked against [0, V) before any row is written.
struct Embed {
  int wtype;
  int64_t n, D, V;
  float* out;
  int64_t os;
  const uint8_t* w;  // base of row 0 (bytes)
  int64_t wrow;      // bytes between rows
  const int32_t* ids;
  int64_t is;
};
Embed parse_embedding(const Args& a);
// Decodes rows of `e` over the thread pool with `decode_row` (the scalar or AVX2 row decoder).
using EmbedRowFn = void (*)(const Embed& e, int64_t i);
void run_embedding(const Embed& e, EmbedRowFn decode_row);

// quantize_rows: out rows (q8_0|q4_0) = quantize(x rows).
//   buffers: 0 out bytes, 1 x f32;  params: 0 wtype, 1 N, 2 K, 3 xOff, 4 xRowStride, 5 outByteOff
struct Quantize {
  int wtype;
  int64_t N, K;
  const float* x;
  int64_t xs;
  uint8_t* out;
};
Quantize parse_quantize(const Args& a);

// ---- scalar specification (src/engine/quant.ts), shared by the naive and scalar variants ----

static inline void put_f16(uint8_t* p, float d) {
  const uint16_t h = f32_to_f16(d);
  p[0] = static_cast<uint8_t>(h & 0xff);
  p[1] = static_cast<uint8_t>(h >> 8);
}
static inline float get_f16(const uint8_t* p) { return f16_to_f32(static_cast<uint16_t>(p[0] | (p[1] << 8))); }

// One q8_0 block from 32 floats. NaN anywhere makes amax NaN (as Math.max does in the spec).
static inline void quantize_block_q8_0(const float* x, uint8_t* y) {
  float amax = 0.0f;
  bool nan = false;
  for (int j = 0; j < QK; j++) {
    const float a = std::fabs(x[j]);
    if (a != a) nan = true;
    if (a > amax) amax = a;
  }
  if (nan) amax = NAN;
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  put_f16(y, d);
  for (int j = 0; j < QK; j++) {
    const float v = x[j] * id;
    const int q = std::isfinite(v) ? static_cast<int>(std::nearbyint(v)) : -128;
    y[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
  }
}

static inline int q4_nibble(float v) {
  if (!(v > 0.0f)) return 0;
  if (v >= 15.0f) return 15;
  return static_cast<int>(v);
}

// One q4_0 block from 32 floats: scale from the first value of largest magnitude (NaN never wins).
static inline void quantize_block_q4_0(const float* x, uint8_t* y) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < QK; j++) {
    const float a = std::fabs(x[j]);
    if (amax < a) {
      amax = a;
      max = x[j];
    }
  }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(y, d);
  for (int j = 0; j < QK / 2; j++) {
    const int q0 = q4_nibble(x[j] * id + 8.5f);
    const int q1 = q4_nibble(x[j + QK / 2] * id + 8.5f);
    y[2 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

// Exact integer dot of one q8_0 activation block with one weight block.
static inline int32_t block_isum(int wtype, const uint8_t* xb, const uint8_t* wb) {
  const int8_t* qx = reinterpret_cast<const int8_t*>(xb + 2);
  int32_t s = 0;
  if (wtype == W_Q8_0) {
    const int8_t* qw = reinterpret_cast<const int8_t*>(wb + 2);
    for (int j = 0; j < QK; j++) s += int32_t(qx[j]) * int32_t(qw[j]);
  } else {
    for (int j = 0; j < QK / 2; j++) {
      const int b = wb[2 + j];
      s += int32_t(qx[j]) * ((b & 0xf) - 8) + int32_t(qx[j + QK / 2]) * ((b >> 4) - 8);
    }
  }
  return s;
}

// The reference accumulation of quant.ts `dotQ8_0Row` (f32, block by block, no FMA: -ffp-contract=off).
static inline float dot_row(int wtype, const uint8_t* xq, const uint8_t* wrow, int64_t nb) {
  const int64_t wb = block_bytes(wtype);
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* xb = xq + b * Q8_BYTES;
    const uint8_t* w = wrow + b * wb;
    const float d = get_f16(xb) * get_f16(w);
    acc = acc + d * static_cast<float>(block_isum(wtype, xb, w));
  }
  return acc;
}

}  // namespace wq
}  // namespace llava
