// Prefill matmul through ggml's CPU backend, for `npm run bench -- qgemm` (bench/llamacpp.ts builds it
// against the ggml source that node-llama-cpp ships; nothing of ggml is kept in this repository).
//
//   prefill_mulmat <reps> <spec>...     spec = dtype:m:n:k:threads[:plain], dtype f16|bf16|q8_0|q4_0
//
// For each spec: one weight matrix [n, k] (ggml ne = {k, n}) and m f32 activation rows, one graph with a
// single ggml_mul_mat, computed through the CPU backend as llama.cpp runs a model: the weight lives in the
// CPU backend's extra ("repack") buffer type when that type takes it (q4_0 on AVX2 machines is repacked
// into interleaved 8-row blocks at load), unless the spec ends in ":plain". Prints
// "dtype m n k threads us mode" with the median over `reps` computes (after one warm-up), mode = repack|plain.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "harness.h"

static void fill(std::vector<float>& v, uint32_t seed) {
  uint32_t s = seed;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = (static_cast<int32_t>(s >> 8) - (1 << 23)) * (1.0f / (1 << 23));
  }
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <reps> <dtype:m:n:k:threads[:plain]>...\n", argv[0]);
    return 2;
  }
  ggml_backend_t backend = ggml_backend_cpu_init();
  const int reps = std::atoi(argv[1]);
  for (int a = 2; a < argc; a++) {
    char dt[16], mode[16] = "";
    long m, n, k;
    int threads;
    const int got = std::sscanf(argv[a], "%15[^:]:%ld:%ld:%ld:%d:%15s", dt, &m, &n, &k, &threads, mode);
    if (got < 5) {
      std::fprintf(stderr, "bad spec %s\n", argv[a]);
      return 2;
    }
    const bool plain = std::strcmp(mode, "plain") == 0;
    const ggml_type type = parse_type(dt);
    ggml_backend_cpu_set_n_threads(backend, threads);

    std::vector<float> wsrc(static_cast<size_t>(n) * k), xsrc(static_cast<size_t>(m) * k);
    fill(wsrc, 12345);
    fill(xsrc, 777);
    const size_t bytes = ggml_row_size(type, k) * n;
    std::vector<uint8_t> wbytes(bytes);
    if (type == GGML_TYPE_F16) ggml_fp32_to_fp16_row(wsrc.data(), reinterpret_cast<ggml_fp16_t*>(wbytes.data()), n * k);
    else if (type == GGML_TYPE_BF16) ggml_fp32_to_bf16_row(wsrc.data(), reinterpret_cast<ggml_bf16_t*>(wbytes.data()), n * k);
    else ggml_quantize_chunk(type, wsrc.data(), wbytes.data(), 0, n, k, nullptr);

    // Two contexts: the weight (its own buffer type) and the activations + output (plain CPU memory).
    ggml_init_params wp = {ggml_tensor_overhead() * 4, nullptr, true};
    ggml_context* wctx = ggml_init(wp);
    ggml_init_params gp = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), nullptr, true};
    ggml_context* gctx = ggml_init(gp);
    ggml_tensor* w = ggml_new_tensor_2d(wctx, type, k, n);
    ggml_tensor* x = ggml_new_tensor_2d(gctx, GGML_TYPE_F32, k, m);
    ggml_tensor* y = ggml_mul_mat(gctx, w, x);
    ggml_cgraph* gf = ggml_new_graph(gctx);
    ggml_build_forward_expand(gf, y);

    ggml_backend_buffer_type_t wbuft = ggml_backend_cpu_buffer_type();
    bool repacked = false;
    if (!plain) {
      // The repack type takes the weight only where it has a kernel for it; llama.cpp's loader asks each
      // extra type's supports_op with the weight placed in it, which is what this probe buffer does.
      ggml_backend_reg_t reg = ggml_backend_cpu_reg();
      ggml_backend_dev_t dev = ggml_backend_reg_dev_get(reg, 0);
      auto get = reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts"));
      for (ggml_backend_buffer_type_t* b = get ? get(dev) : nullptr; b && *b && !repacked; b++) {
        ggml_backend_buffer_t probe = ggml_backend_buft_alloc_buffer(*b, 0);
        if (!probe) continue;
        w->buffer = probe;
        if (ggml_backend_dev_supports_op(dev, y)) {
          wbuft = *b;
          repacked = true;
        }
        w->buffer = nullptr;
        ggml_backend_buffer_free(probe);
      }
    }
    ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, wbuft);
    ggml_backend_buffer_t gbuf = ggml_backend_alloc_ctx_tensors_from_buft(gctx, ggml_backend_cpu_buffer_type());
    if (!wbuf || !gbuf) {
      std::fprintf(stderr, "buffer allocation failed\n");
      return 1;
    }
    ggml_backend_tensor_set(w, wbytes.data(), 0, bytes);
    ggml_backend_tensor_set(x, xsrc.data(), 0, xsrc.size() * sizeof(float));

    std::vector<double> us;
    for (int r = 0; r <= reps; r++) {
      const auto t0 = std::chrono::steady_clock::now();
      if (ggml_backend_graph_compute(backend, gf) != GGML_STATUS_SUCCESS) {
        std::fprintf(stderr, "graph compute failed\n");
        return 1;
      }
      const auto t1 = std::chrono::steady_clock::now();
      if (r > 0) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    std::sort(us.begin(), us.end());
    std::printf("%s %ld %ld %ld %d %.1f %s\n", dt, m, n, k, threads, us[us.size() / 2], repacked ? "repack" : "plain");
    std::fflush(stdout);
    ggml_backend_buffer_free(wbuf);
    ggml_backend_buffer_free(gbuf);
    ggml_free(wctx);
    ggml_free(gctx);
  }
  ggml_backend_free(backend);
  return 0;
}
