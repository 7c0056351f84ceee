// embedding_rows (layout in quant_common.h): argument parsing, naive twin and scalar variant. Rows are
// decoded exactly as src/backends/ts/linear.ts `embedding` does (f16/bf16 exact, quantized q·d in f32),
// so every variant agrees with ts bit for bit.
//
// Not here: the AVX2 variant (embed_avx2.cc).
#include <string>

#include "quant_common.h"

namespace llava {
namespace wq {

Embed parse_embedding(const Args& a) {
  Embed e;
  e.wtype = static_cast<int>(a.i(0));
  e.n = a.i(1);
  e.D = a.i(2);
  e.V = a.i(3);
  if (e.n < 0 || e.D < 0 || e.V < 0) a.fail("negative shape");
  e.os = a.i(5);
  e.out = a.ptr<float>(0, a.i(4), span(a, e.n, e.D, e.os));
  int64_t es = 0;
  switch (e.wtype) {
    case W_F32: es = 4; break;
    case W_F16: case W_BF16: es = 2; break;
    case W_Q8_0: case W_Q4_0: break;
    default: a.fail("unknown weight type " + std::to_string(e.wtype));
  }
  if (es) {
    const int64_t rs = a.i(7);
    e.wrow = rs * es;
    e.w = a.ptr<uint8_t>(1, a.i(6) * es, span(a, e.V, e.D, rs) * es);
  } else {
    if (e.D % QK != 0) a.fail("quantized rows of " + std::to_string(e.D) + " values are not whole blocks");
    e.wrow = (e.D / QK) * block_bytes(e.wtype);
    e.w = a.ptr<uint8_t>(1, a.i(6), e.V * e.wrow);
  }
  e.is = a.i(9);
  e.ids = a.ptr<int32_t>(2, a.i(8), span(a, e.n, 1, e.is));
  for (int64_t i = 0; i < e.n; i++) {
    const int32_t id = e.ids[i * e.is];
    if (id < 0 || id >= e.V) a.fail("id " + std::to_string(id) + " at position " + std::to_string(i) + " is outside [0, " + std::to_string(e.V) + ")");
  }
  return e;
}

namespace {

struct ECtx {
  const Embed* e;
  EmbedRowFn decode_row;
};

void embed_job(void* c, int tid, int nt) {
  const ECtx& x = *static_cast<ECtx*>(c);
  int64_t b, end;
  llava::split_range(x.e->n, nt, tid, &b, &end);
  for (int64_t i = b; i < end; i++) x.decode_row(*x.e, i);
}

}  // namespace

void run_embedding(const Embed& e, EmbedRowFn decode_row) {
  ECtx ctx{&e, decode_row};
  llava::parallel_run(embed_job, &ctx, threads_for(e.n * e.D, 1 << 15));
}

}  // namespace wq
}  // namespace llava

namespace {

using namespace llava::wq;

void decode_row(const Embed& e, int64_t i) {
  const uint8_t* w = e.w + e.ids[i * e.is] * e.wrow;
  float* o = e.out + i * e.os;
  switch (e.wtype) {
    case W_F32:
      std::memcpy(o, w, e.D * 4);
      break;
    case W_F16:
    case W_BF16:
      for (int64_t d = 0; d < e.D; d++) {
        uint16_t h;
        std::memcpy(&h, w + 2 * d, 2);
        o[d] = e.wtype == W_F16 ? llava::f16_to_f32(h) : llava::bf16_to_f32(h);
      }
      break;
    default: {
      const int64_t bb = block_bytes(e.wtype);
      for (int64_t b = 0; b < e.D / QK; b++) {
        const uint8_t* blk = w + b * bb;
        const float s = get_f16(blk);
        float* ob = o + b * QK;
        if (e.wtype == W_Q8_0) {
          for (int j = 0; j < QK; j++) ob[j] = static_cast<float>(static_cast<int8_t>(blk[2 + j])) * s;
        } else {
          for (int j = 0; j < QK / 2; j++) {
            ob[j] = static_cast<float>((blk[2 + j] & 0xf) - 8) * s;
            ob[j + QK / 2] = static_cast<float>((blk[2 + j] >> 4) - 8) * s;
          }
        }
      }
    }
  }
}

void embedding_naive(const llava::Args& a) {
  const Embed e = parse_embedding(a);
  for (int64_t i = 0; i < e.n; i++) decode_row(e, i);
}

void embedding_scalar(const llava::Args& a) { run_embedding(parse_embedding(a), decode_row); }

}  // namespace

LLAVA_KERNEL("embedding_rows", llava::ISA_NAIVE, embedding_naive);
LLAVA_KERNEL("embedding_rows", llava::ISA_SCALAR, embedding_scalar);
