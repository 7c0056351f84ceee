// Decode matvec through ggml's CPU backend, for `npm run bench -- decode` (bench/llamacpp.ts builds it
// against the ggml source that node-llama-cpp ships; nothing of ggml is kept in this repository).
//
//   decode_matvec <count_mb> <reps> <spec>...     spec = dtype:n:k:threads, dtype f16|bf16|q8_0|q4_0
//
// For each spec: `count` distinct weight matrices [n, k] (ggml ne = {k, n}) filling at least count_mb MiB,
// one f32 activation row, one graph of `count` independent mul_mat nodes (so each matrix streams from
// memory once per pass, as the TypeScript side cycles its matrices); prints "dtype n k threads us" with
// the median over `reps` passes of (pass time / count).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"
#include "harness.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <count_mb> <reps> <dtype:n:k:threads>...\n", argv[0]);
    return 2;
  }
  ggml_cpu_init();
  const double count_mb = std::atof(argv[1]);
  const int reps = std::atoi(argv[2]);
  for (int a = 3; a < argc; a++) {
    char dt[16];
    long n, k;
    int threads;
    if (std::sscanf(argv[a], "%15[^:]:%ld:%ld:%d", dt, &n, &k, &threads) != 4) {
      std::fprintf(stderr, "bad spec %s\n", argv[a]);
      return 2;
    }
    const ggml_type type = parse_type(dt);
    const size_t row = ggml_row_size(type, k), bytes = row * n;
    const int count = std::max(1, static_cast<int>(count_mb * 1048576.0 / bytes + 0.999));

    // Weights: one matrix from a cheap generator, converted with ggml's own routines, copied `count` times.
    std::vector<float> src(static_cast<size_t>(n) * k);
    uint32_t s = 12345;
    for (auto& v : src) {
      s = s * 1664525u + 1013904223u;
      v = (static_cast<int32_t>(s >> 8) - (1 << 23)) * (1.0f / (1 << 23));
    }
    std::vector<uint8_t> one(bytes);
    if (type == GGML_TYPE_F16) ggml_fp32_to_fp16_row(src.data(), reinterpret_cast<ggml_fp16_t*>(one.data()), n * k);
    else if (type == GGML_TYPE_BF16) ggml_fp32_to_bf16_row(src.data(), reinterpret_cast<ggml_bf16_t*>(one.data()), n * k);
    else ggml_quantize_chunk(type, src.data(), one.data(), 0, n, k, nullptr);

    const size_t graph = count + 16;
    const size_t mem = static_cast<size_t>(count) * (bytes + n * 4 + 2 * ggml_tensor_overhead()) + k * 4 +
                       ggml_graph_overhead_custom(graph, false) + (64u << 20);
    ggml_init_params ip = {mem, nullptr, false};
    ggml_context* ctx = ggml_init(ip);
    if (!ctx) {
      std::fprintf(stderr, "ggml_init of %zu bytes failed\n", mem);
      return 1;
    }
    ggml_tensor* x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, 1);
    for (long i = 0; i < k; i++) static_cast<float*>(x->data)[i] = src[i] * 0.5f;
    ggml_cgraph* gf = ggml_new_graph_custom(ctx, graph, false);
    for (int c = 0; c < count; c++) {
      ggml_tensor* w = ggml_new_tensor_2d(ctx, type, k, n);
      std::memcpy(w->data, one.data(), bytes);
      ggml_build_forward_expand(gf, ggml_mul_mat(ctx, w, x));
    }
    std::vector<double> us;
    for (int r = 0; r <= reps; r++) {
      const auto t0 = std::chrono::steady_clock::now();
      ggml_graph_compute_with_ctx(ctx, gf, threads);
      const auto t1 = std::chrono::steady_clock::now();
      if (r > 0) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / count);
    }
    std::sort(us.begin(), us.end());
    std::printf("%s %ld %ld %d %.1f\n", dt, n, k, threads, us[us.size() / 2]);
    std::fflush(stdout);
    ggml_free(ctx);
  }
  return 0;
}
