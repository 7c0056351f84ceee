// Job contexts shared by the scalar and AVX2 machine probes (probe.cc, probe_avx2.cc).
#pragma once
#include <cstdint>

namespace llava {
namespace probe {

struct FmaCtx {
  int64_t iters;
  float* out;
};

struct ReadCtx {
  const float* buf;
  int64_t n, passes;
  float* out;
};

}  // namespace probe
}  // namespace llava
