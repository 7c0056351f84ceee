// Shared by the ggml harnesses of the benchmarks (decode_matvec.cpp, prefill_mulmat.cpp): the weight dtype
// names the benches pass on the command line, as ggml types.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ggml.h"

static ggml_type parse_type(const std::string& s) {
  if (s == "f16") return GGML_TYPE_F16;
  if (s == "bf16") return GGML_TYPE_BF16;
  if (s == "q8_0") return GGML_TYPE_Q8_0;
  if (s == "q4_0") return GGML_TYPE_Q4_0;
  std::fprintf(stderr, "unknown dtype %s\n", s.c_str());
  std::exit(2);
}
