// AVX2/FMA/F16C building blocks of the packed GEMM (driver and calling convention: gemm.cc, gemm.h):
// a 6×16 micro-kernel and packers that transpose 8×8 blocks in registers and convert f16/bf16 weights
// to f32 while packing (the only place half weights become f32: one KC×NC tile at a time).
//
// Micro-kernel: 6 rows × 16 columns = 12 ymm accumulators, plus 2 ymm for the B̃ row and 1 for the
// broadcast A value (15 of 16 registers). Each k step issues 12 FMAs against 2 vector loads and 6
// broadcasts, so the two FMA pipes, not the load ports, set the pace; 12 independent chains cover the
// 4-cycle FMA latency on both pipes.
//
// Not here: blocking, threading, scalar fallbacks for unusual strides (gemm.cc).
#include "../kernel.h"
#include "../simd.h"
#include "gemm.h"

#if LLAVA_HAVE_AVX2
LLAVA_AVX2_BEGIN
namespace {

using llava::gemm::B_BF16;
using llava::gemm::B_F16;
using llava::gemm::B_F32;

constexpr int MR = 6, NR = 16;

// Cache blocks. KC = 256: a B̃ panel (KC×NR×4 = 16 KB) stays in a 32 KB L1 while Ã panels stream past;
// MC = 144: Ã (MC×KC×4 = 144 KB) fits in a 512 KB L2 with room for C tiles and the next B̃ panel;
// NC = 4080: B̃ (4 MB) lives in L3 and is reused by every MC block.
constexpr int64_t kMC = 144, kKC = 256, kNC = 4080;

// One k step in assembly: accumulators ymm0..ymm11 (row i in ymm(2i), ymm(2i+1)), B̃ row in ymm12/13,
// broadcasts alternate ymm14/15 so consecutive rows do not wait on one register. Written in asm because
// GCC's allocator spills and shuffles the 12 accumulators of the intrinsic version.
#define LLAVA_GEMM_STEP(i)                                   \
  "vmovaps 64*" #i "(%[b]), %%ymm12\n\t"                     \
  "vmovaps 64*" #i "+32(%[b]), %%ymm13\n\t"                  \
  "vbroadcastss 24*" #i "(%[a]), %%ymm14\n\t"                \
  "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"                 \
  "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"                 \
  "vbroadcastss 24*" #i "+4(%[a]), %%ymm15\n\t"              \
  "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"                 \
  "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"                 \
  "vbroadcastss 24*" #i "+8(%[a]), %%ymm14\n\t"              \
  "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"                 \
  "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"                 \
  "vbroadcastss 24*" #i "+12(%[a]), %%ymm15\n\t"             \
  "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"                 \
  "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"                 \
  "vbroadcastss 24*" #i "+16(%[a]), %%ymm14\n\t"             \
  "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"                 \
  "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"                 \
  "vbroadcastss 24*" #i "+20(%[a]), %%ymm15\n\t"             \
  "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"                \
  "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"

void kernel_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t rsc, int64_t csc, int m, int n,
                 int load_c, const float* bias) {
  alignas(32) float t[MR * NR];
  int64_t iters = kc / 4, left = kc % 4;
  // The C tile is touched only after kc steps; fetching it now hides a cache miss per row (C is usually
  // far larger than L2) behind the whole k loop.
  for (int i = 0; i < m; i++) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * rsc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * rsc + (n - 1) * csc), _MM_HINT_T0);
  }
  __asm__ volatile(
      "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
      "vxorps %%ymm1, %%ymm1, %%ymm1\n\t"
      "vxorps %%ymm2, %%ymm2, %%ymm2\n\t"
      "vxorps %%ymm3, %%ymm3, %%ymm3\n\t"
      "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"
      "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"
      "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"
      "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"
      "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"
      "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"
      "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"
      "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"
      "test %[iters], %[iters]\n\t"
      "jz 2f\n\t"
      ".p2align 5\n"
      "1:\n\t"
      "prefetcht0 384(%[a])\n\t"
      LLAVA_GEMM_STEP(0)
      LLAVA_GEMM_STEP(1)
      LLAVA_GEMM_STEP(2)
      LLAVA_GEMM_STEP(3)
      "add $96, %[a]\n\t"
      "add $256, %[b]\n\t"
      "dec %[iters]\n\t"
      "jnz 1b\n"
      "2:\n\t"
      "test %[left], %[left]\n\t"
      "jz 4f\n"
      "3:\n\t"
      LLAVA_GEMM_STEP(0)
      "add $24, %[a]\n\t"
      "add $64, %[b]\n\t"
      "dec %[left]\n\t"
      "jnz 3b\n"
      "4:\n\t"
      "vmovaps %%ymm0, 0(%[t])\n\t"
      "vmovaps %%ymm1, 32(%[t])\n\t"
      "vmovaps %%ymm2, 64(%[t])\n\t"
      "vmovaps %%ymm3, 96(%[t])\n\t"
      "vmovaps %%ymm4, 128(%[t])\n\t"
      "vmovaps %%ymm5, 160(%[t])\n\t"
      "vmovaps %%ymm6, 192(%[t])\n\t"
      "vmovaps %%ymm7, 224(%[t])\n\t"
      "vmovaps %%ymm8, 256(%[t])\n\t"
      "vmovaps %%ymm9, 288(%[t])\n\t"
      "vmovaps %%ymm10, 320(%[t])\n\t"
      "vmovaps %%ymm11, 352(%[t])\n\t"
      : [a] "+r"(a), [b] "+r"(b), [iters] "+r"(iters), [left] "+r"(left)
      : [t] "r"(t)
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
        "xmm13", "xmm14", "xmm15", "cc", "memory");
  if (m == MR && n == NR && csc == 1) {
    __m256 bv0 = _mm256_setzero_ps(), bv1 = bv0;
    if (bias) {
      bv0 = _mm256_loadu_ps(bias);
      bv1 = _mm256_loadu_ps(bias + 8);
    }
    for (int i = 0; i < MR; i++) {
      float* row = c + i * rsc;
      __m256 x0 = _mm256_load_ps(t + i * NR), x1 = _mm256_load_ps(t + i * NR + 8);
      if (bias) {
        x0 = _mm256_add_ps(x0, bv0);
        x1 = _mm256_add_ps(x1, bv1);
      }
      if (load_c) {
        x0 = _mm256_add_ps(_mm256_loadu_ps(row), x0);
        x1 = _mm256_add_ps(_mm256_loadu_ps(row + 8), x1);
      }
      _mm256_storeu_ps(row, x0);
      _mm256_storeu_ps(row + 8, x1);
    }
    return;
  }
  // Edge tile or strided C: write only the valid part (same order of additions as above).
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < n; j++) {
      float v = t[i * NR + j];
      if (bias) v += bias[j];
      float* p = c + i * rsc + j * csc;
      *p = load_c ? *p + v : v;
    }
  }
}

#undef LLAVA_GEMM_STEP

// In-register transpose: afterwards r[j][i] is what r[i][j] was.
inline void transpose8(__m256* r) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20), r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20), r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31), r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31), r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// 8 consecutive B elements (element index e) as floats.
inline __m256 load8(const void* b, int bt, int64_t e) {
  if (bt == B_F32) return _mm256_loadu_ps(static_cast<const float*>(b) + e);
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(b) + e));
  if (bt == B_F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

inline float load1(const void* b, int bt, int64_t e) {
  if (bt == B_F32) return static_cast<const float*>(b)[e];
  const uint16_t h = static_cast<const uint16_t*>(b)[e];
  if (bt == B_F16) return _cvtsh_ss(h);
  return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(static_cast<int>(h) << 16)));
}

void pack_a_avx2(float* dst, const float* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc) {
  if (cs != 1) {
    llava::gemm::pack_a_generic(MR, dst, a, rs, cs, mc, kc);
    return;
  }
  // Rows contiguous along k (the usual activation layout): transpose 6(+2 zero)×8 blocks. Each transposed
  // column is stored as 8 floats at a 6-float pitch, the 2 extra floats being overwritten by the next
  // store; the last of each 8 is stored masked so that nothing lands past the panel.
  const __m256i first6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
  for (int64_t p = 0; p < mc; p += MR) {
    const int rows = static_cast<int>(mc - p < MR ? mc - p : MR);
    const float* r[MR];
    for (int i = 0; i < MR; i++) r[i] = a + (p + (i < rows ? i : 0)) * rs;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 v[8];
      for (int i = 0; i < MR; i++) v[i] = i < rows ? _mm256_loadu_ps(r[i] + k) : _mm256_setzero_ps();
      v[6] = v[7] = _mm256_setzero_ps();
      transpose8(v);
      float* d = dst + k * MR;
      for (int j = 0; j < 7; j++) _mm256_storeu_ps(d + j * MR, v[j]);
      _mm256_maskstore_ps(d + 7 * MR, first6, v[7]);
    }
    for (; k < kc; k++) {
      for (int i = 0; i < MR; i++) dst[k * MR + i] = i < rows ? r[i][k] : 0.0f;
    }
    dst += MR * kc;
  }
}

void pack_b_avx2(float* dst, const void* b, int bt, int64_t rk, int64_t rn, int64_t kc, int64_t nc) {
  if (rn == 1) {
    // B rows contiguous along n ([K, N] layout): copy (and convert) 16 values per k and panel, for 8
    // panels at a time, so that each row of B is read in 512-byte runs (panel by panel, every k would
    // touch a new row per 64 bytes: twice as slow from memory).
    const int64_t full = nc / NR * NR;
    constexpr int64_t kGroup = 8 * NR;
    for (int64_t g = 0; g < full; g += kGroup) {
      const int64_t ge = g + kGroup < full ? g + kGroup : full;
      for (int64_t k = 0; k < kc; k++) {
        float* d = dst + g * kc + k * NR;
        for (int64_t p = g; p < ge; p += NR, d += NR * kc) {
          _mm256_store_ps(d, load8(b, bt, k * rk + p));
          _mm256_store_ps(d + 8, load8(b, bt, k * rk + p + 8));
        }
      }
    }
    if (full < nc) {
      const size_t esz = bt == B_F32 ? 4 : 2;
      llava::gemm::pack_b_generic(NR, dst + full * kc, static_cast<const uint8_t*>(b) + full * esz, bt, rk, rn, kc, nc - full);
    }
    return;
  }
  if (rk != 1) {
    llava::gemm::pack_b_generic(NR, dst, b, bt, rk, rn, kc, nc);
    return;
  }
  // B = wᵀ with w rows contiguous along k (weights [N, K]): transpose two 8×8 blocks per 8 k steps.
  for (int64_t p = 0; p < nc; p += NR) {
    const int cols = static_cast<int>(nc - p < NR ? nc - p : NR);
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 lo[8], hi[8];
      for (int i = 0; i < 8; i++) lo[i] = i < cols ? load8(b, bt, (p + i) * rn + k) : _mm256_setzero_ps();
      for (int i = 0; i < 8; i++) hi[i] = i + 8 < cols ? load8(b, bt, (p + 8 + i) * rn + k) : _mm256_setzero_ps();
      transpose8(lo);
      transpose8(hi);
      float* d = dst + k * NR;
      for (int j = 0; j < 8; j++) {
        _mm256_store_ps(d + j * NR, lo[j]);
        _mm256_store_ps(d + j * NR + 8, hi[j]);
      }
    }
    for (; k < kc; k++) {
      for (int j = 0; j < NR; j++) dst[k * NR + j] = j < cols ? load1(b, bt, (p + j) * rn + k) : 0.0f;
    }
    dst += NR * kc;
  }
}

const llava::gemm::MicroOps kAvx2Ops = {MR, NR, kMC, kKC, kNC, kernel_6x16, pack_a_avx2, pack_b_avx2};

void gemm_avx2(const llava::Args& a) {
  const llava::gemm::Call c = llava::gemm::parse_call(a);
  llava::gemm::run(c, kAvx2Ops, a);
}

}  // namespace
LLAVA_AVX2_END

LLAVA_KERNEL("gemm_f32", llava::ISA_AVX2, gemm_avx2);
#endif
