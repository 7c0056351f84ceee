// Per-thread scratch memory for kernels (declared thread_local by the user): grown on demand, never shrunk,
// freed when the thread exits, so after the first call of a given size the hot path allocates nothing (and
// neither faults fresh pages in nor unmaps them again). 64-byte aligned, for aligned vector loads.
// Include it outside ISA target regions (plain code, shared by every variant).
#pragma once
#include <cstdint>
#include <cstdlib>

namespace llava {

struct ScratchBuffer {
  void* raw = nullptr;
  void* p = nullptr;
  size_t cap = 0;  // bytes
  // At least n elements of T; null when the memory cannot be had (the buffer is then empty).
  template <class T = float>
  T* reserve(int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * sizeof(T);
    if (bytes > cap) {
      std::free(raw);
      raw = std::malloc(bytes + 64);
      if (!raw) {
        p = nullptr;
        cap = 0;
        return nullptr;
      }
      p = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(raw) + 63) & ~uintptr_t(63));
      cap = bytes;
    }
    return static_cast<T*>(p);
  }
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(raw); }
};

}  // namespace llava
