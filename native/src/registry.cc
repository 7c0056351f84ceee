// Kernel registry, argument accessors and CPU feature detection.
#include "registry.h"

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace llava {
namespace {

std::vector<KernelEntry>& table() {
  static std::vector<KernelEntry> t;
  return t;
}

}  // namespace

int register_kernel(const char* name, Isa isa, KernelFn fn) {
  table().push_back(KernelEntry{name, isa, fn});
  return static_cast<int>(table().size());
}

const std::vector<KernelEntry>& kernel_table() { return table(); }

int resolve_kernel(const std::string& name, int max_isa) {
  const CpuFeatures cpu = cpu_features();
  int best = -1;
  int best_isa = -1;
  const auto& t = table();
  for (size_t k = 0; k < t.size(); k++) {
    if (name != t[k].name) continue;
    const int isa = t[k].isa;
    if (isa > max_isa) continue;
    if (!cpu.runs(isa)) continue;
    if (isa > best_isa) {
      best = static_cast<int>(k);
      best_isa = isa;
    }
  }
  // The naive twin is only chosen when asked for (max_isa == naive) or when it is all there is.
  return best;
}

CpuFeatures cpu_features() {
  CpuFeatures f;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = __builtin_cpu_supports("f16c");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
#endif
  return f;
}

bool CpuFeatures::runs(int isa) const {
  const bool v2 = avx2 && fma && f16c;
  if (isa == ISA_AVX2) return v2;
  if (isa == ISA_AVX512) return v2 && avx512f && avx512bw && avx512dq && avx512vl && avx512vnni;
  return true;
}

int64_t Args::i(int k) const {
  if (k < 0 || k >= nprm) fail("parameter " + std::to_string(k) + " missing (" + std::to_string(nprm) + " given)");
  return static_cast<int64_t>(prm[k]);
}

double Args::f(int k) const {
  if (k < 0 || k >= nprm) fail("parameter " + std::to_string(k) + " missing (" + std::to_string(nprm) + " given)");
  return prm[k];
}

uint8_t* Args::checked(int b, int64_t off, int64_t count) const {
  if (b < 0 || b >= nbuf) fail("buffer " + std::to_string(b) + " missing (" + std::to_string(nbuf) + " given)");
  const Buf& x = buf[b];
  if (off < 0 || count < 0 || static_cast<uint64_t>(off) + static_cast<uint64_t>(count) > x.bytes) {
    fail("access outside buffer " + std::to_string(b) + ": bytes [" + std::to_string(off) + ", " +
         std::to_string(off + count) + ") of " + std::to_string(x.bytes));
  }
  return x.p + off;
}

void Args::fail(const std::string& msg) const {
  throw std::runtime_error(std::string("native kernel ") + name + ": " + msg);
}

int64_t strided_extent(int nd, const int64_t* shape, const int64_t* strides) {
  int64_t e = 0;
  for (int d = 0; d < nd; d++) {
    if (shape[d] == 0) return 0;
    e += (shape[d] - 1) * strides[d];
  }
  return e + 1;
}

}  // namespace llava
