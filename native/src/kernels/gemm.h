// Packed fp32 GEMM shared declarations: the calling convention of the `gemm_f32` kernel, the parsed call,
// and the interface between the ISA-independent blocking driver (gemm.cc) and the per-ISA micro-kernels
// and packing routines (gemm.cc scalar, gemm_avx2.cc AVX2/FMA/F16C).
//
// gemm_f32 computes, for every batch index,   C[M,N] = (accumulate ? C : 0) + A[M,K]·B[K,N] (+ bias[N])
//   arrays: 0 C f32, 1 A f32, 2 B (f32, or Uint16Array of f16/bf16 bits), 3 bias f32 (any array when unused)
//   params: 0 B type (0 f32, 1 f16, 2 bf16)   1 M   2 N   3 K
//           4 offC  5 rsC  6 csC              7 offA  8 rsA  9 csA
//           10 offB 11 B stride along k  12 B stride along n   (so B = wᵀ of a weight w [N,K] is just strides)
//           13 has bias  14 offBias  15 bias stride           16 accumulate (0/1)
//           17 threads (0: the pool's size)                   18 batch dims nbd (≤ kMaxBatchDims)
//           then per batch dim: size, stride of C, stride of A, stride of B (stride 0 broadcasts)
// Offsets and strides are in elements of each array; strides must be ≥ 0. Every range is bounds-checked
// before any thread starts.
//
// Not here: batching policy of the TS wrappers, matvec (memory-bound small-M paths live with the quant
// kernels), f64.
#pragma once
#include <cstdint>

#include "../kernel.h"

namespace llava {
namespace gemm {

enum BType : int { B_F32 = 0, B_F16 = 1, B_BF16 = 2 };

constexpr int kMaxBatchDims = 8;

struct Call {
  int btype = B_F32;
  int64_t M = 0, N = 0, K = 0;
  float* C = nullptr;
  const float* A = nullptr;
  const void* B = nullptr;  // float or uint16_t elements (btype)
  const float* bias = nullptr;
  int64_t rsC = 0, csC = 0, rsA = 0, csA = 0, rsB = 0, csB = 0, sBias = 0;
  int accumulate = 0;
  int threads = 0;
  int nbd = 0;
  int64_t bsize[kMaxBatchDims] = {}, bsC[kMaxBatchDims] = {}, bsA[kMaxBatchDims] = {}, bsB[kMaxBatchDims] = {};
  int64_t batches = 1;  // product of bsize

  // Element offsets of batch b (row-major over the batch dims).
  void batch_offsets(int64_t b, int64_t* oc, int64_t* oa, int64_t* ob) const;
  // Pointer to B element (k, n) as bytes, for either element size.
  const void* b_at(int64_t k, int64_t n) const {
    const int64_t e = k * rsB + n * csB;
    return btype == B_F32 ? static_cast<const void*>(static_cast<const float*>(B) + e)
                          : static_cast<const void*>(static_cast<const uint16_t*>(B) + e);
  }
};

// Reads and validates the parameters (throws through Args::fail on any bad range).
Call parse_call(const Args& a);

// One ISA's building blocks. Packed layouts: Ã is a sequence of MR-row panels, each stored k-major
// (panel[k·MR + i]); B̃ a sequence of NR-column panels, each k-major (panel[k·NR + j]). Rows/columns
// beyond the valid ones are zero, so the micro-kernel always computes full tiles.
struct MicroOps {
  int mr, nr;          // micro-tile
  int64_t mc, kc, nc;  // cache blocks (upper bounds; the driver evens them out)
  // C tile (m ≤ MR rows, n ≤ NR cols, strides rsc/csc) = (load_c ? C : 0) + Ã_panel·B̃_panel (+ bias[0..n)).
  void (*kernel)(int64_t kc, const float* a, const float* b, float* c, int64_t rsc, int64_t csc, int m, int n,
                 int load_c, const float* bias);
  // Packs the mc×kc block of A at `a` (strides rs along m, cs along k) into MR-row panels. Writes only
  // those panels: threads pack neighbouring pieces of one shared buffer at the same time.
  void (*pack_a)(float* dst, const float* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc);
  // Packs the kc×nc block of B at `b` (element type bt; strides rk along k, rn along n) into NR-col panels.
  void (*pack_b)(float* dst, const void* b, int bt, int64_t rk, int64_t rn, int64_t kc, int64_t nc);
};

// Portable packers (any strides, any B type) for MR/NR of any size; ISA packers use them for layouts they
// do not specialise.
void pack_a_generic(int mr, float* dst, const float* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc);
void pack_b_generic(int nr, float* dst, const void* b, int bt, int64_t rk, int64_t rn, int64_t kc, int64_t nc);

// Runs a parsed call with the given building blocks: blocking, packing, threading.
void run(const Call& c, const MicroOps& ops, const Args& a);

}  // namespace gemm
}  // namespace llava
