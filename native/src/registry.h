// Registry access for the N-API glue (kernels include kernel.h only).
#pragma once
#include <string>
#include <vector>

#include "kernel.h"

namespace llava {

struct KernelEntry {
  const char* name;
  Isa isa;
  KernelFn fn;
};

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  // AVX-512 foundation, byte/word, dword/qword, vector length (256-bit EVEX forms) and VNNI.
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false, avx512vnni = false;
  bool runs(int isa) const;
};

const std::vector<KernelEntry>& kernel_table();
// Index of the best variant of `name` with isa <= max_isa that this CPU runs, or -1.
int resolve_kernel(const std::string& name, int max_isa);
CpuFeatures cpu_features();

}  // namespace llava
