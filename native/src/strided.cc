// Strided layouts: parameter parsing with bounds checks, dim merging and the row / point drivers
// (see strided.h). Compiled for the baseline ISA; AVX2 kernels pass their row functions in by pointer.
#include "strided.h"

#include <string>
#include <vector>

#include "threadpool.h"

namespace llava {
namespace {

std::string dims_str(int nd, const int64_t* v) {
  std::string s = "[";
  for (int d = 0; d < nd; d++) s += (d ? ", " : "") + std::to_string(v[d]);
  return s + "]";
}

// Walks the indices of dims [0, nd) of L like an odometer, keeping one element offset per operand.
struct Odometer {
  const Layout& L;
  int nd;  // dims walked (the row driver walks all but the last)
  int64_t idx[kMaxDims] = {};
  int64_t off[kMaxOps] = {};

  Odometer(const Layout& l, int ndims, int64_t start) : L(l), nd(ndims) {
    for (int d = nd - 1; d >= 0; d--) {
      idx[d] = start % L.shape[d];
      start /= L.shape[d];
      for (int k = 0; k < L.nops; k++) off[k] += idx[d] * L.st[k][d];
    }
  }
  void pointers(uint8_t** p) const {
    for (int k = 0; k < L.nops; k++) p[k] = L.base[k] + off[k] * L.esize[k];
  }
  void next() {
    for (int d = nd - 1; d >= 0; d--) {
      for (int k = 0; k < L.nops; k++) off[k] += L.st[k][d];
      if (++idx[d] < L.shape[d]) return;
      for (int k = 0; k < L.nops; k++) off[k] -= L.st[k][d] * L.shape[d];
      idx[d] = 0;
    }
  }
};

}  // namespace

void read_shape(const Args& a, int* p, Layout* L) {
  const int64_t nd = a.i((*p)++);
  if (nd < 0 || nd > kMaxDims) a.fail("rank " + std::to_string(nd) + " is outside [0, " + std::to_string(kMaxDims) + "]");
  L->nd = static_cast<int>(nd);
  L->nops = 0;
  L->numel = 1;
  for (int d = 0; d < L->nd; d++) {
    const int64_t s = a.i((*p)++);
    if (s < 0) a.fail("negative size in shape");
    L->shape[d] = s;
    if (s && L->numel > INT64_MAX / s) a.fail("shape too large");
    L->numel *= s;
  }
}

uint8_t* check_view(const Args& a, int buf, int esize, int64_t off, int nd, const int64_t* shape, const int64_t* st, const char* what) {
  int64_t extent = 1;  // elements from the offset to the last one reachable, inclusive
  bool empty = false;
  for (int d = 0; d < nd; d++) {
    if (shape[d] < 0) a.fail(std::string(what) + ": negative size");
    if (st[d] < 0) a.fail(std::string(what) + ": negative stride");
    if (shape[d] == 0) empty = true;
    int64_t span;
    if (__builtin_mul_overflow(shape[d] > 0 ? shape[d] - 1 : 0, st[d], &span) || __builtin_add_overflow(extent, span, &extent)) {
      a.fail(std::string(what) + ": strides too large for shape " + dims_str(nd, shape));
    }
  }
  if (off < 0) a.fail(std::string(what) + ": negative offset");
  if (empty) extent = 0;
  int64_t bytes, off_bytes, end;
  if (__builtin_mul_overflow(extent, int64_t(esize), &bytes) || __builtin_mul_overflow(off, int64_t(esize), &off_bytes) ||
      __builtin_add_overflow(off_bytes, bytes, &end)) {
    a.fail(std::string(what) + ": view too large");
  }
  if (buf < 0 || buf >= a.nbuf) a.fail(std::string(what) + ": buffer " + std::to_string(buf) + " missing");
  if (end > static_cast<int64_t>(a.buf[buf].bytes)) {
    a.fail(std::string(what) + " (shape " + dims_str(nd, shape) + ", strides " + dims_str(nd, st) + ", offset " + std::to_string(off) +
           ") reaches element " + std::to_string(off + extent - 1) + " of a buffer of " + std::to_string(a.buf[buf].bytes / esize) +
           " elements");
  }
  return a.checked(buf, off_bytes, bytes);
}

void read_operand(const Args& a, int* p, Layout* L, int buf, int esize, const char* what, int64_t last_size) {
  if (L->nops >= kMaxOps) a.fail("too many operands");
  const int k = L->nops++;
  const int64_t off = a.i((*p)++);
  int64_t shape[kMaxDims];
  for (int d = 0; d < L->nd; d++) {
    shape[d] = L->shape[d];
    L->st[k][d] = a.i((*p)++);
  }
  if (last_size >= 0 && L->nd > 0) shape[L->nd - 1] = last_size;
  L->esize[k] = esize;
  L->base[k] = check_view(a, buf, esize, off, L->nd, shape, L->st[k], what);
}

uint8_t* check_vector(const Args& a, int buf, int esize, int64_t off, int64_t n, int64_t st, const char* what) {
  return check_view(a, buf, esize, off, 1, &n, &st, what);
}

void coalesce(Layout* L) {
  int out = 0;
  for (int d = 0; d < L->nd; d++) {
    if (L->shape[d] == 1) continue;
    if (out > 0) {
      bool merge = true;
      for (int k = 0; k < L->nops; k++) merge = merge && L->st[k][out - 1] == L->st[k][d] * L->shape[d];
      if (merge) {
        L->shape[out - 1] *= L->shape[d];
        for (int k = 0; k < L->nops; k++) L->st[k][out - 1] = L->st[k][d];
        continue;
      }
    }
    L->shape[out] = L->shape[d];
    for (int k = 0; k < L->nops; k++) L->st[k][out] = L->st[k][d];
    out++;
  }
  if (out == 0) {
    L->shape[0] = L->numel == 0 ? 0 : 1;
    for (int k = 0; k < L->nops; k++) L->st[k][0] = 0;
    out = 1;
  }
  L->nd = out;
}

int64_t pop_last_dim(Layout* L, int64_t* row_st) {
  if (L->nd == 0) {
    for (int k = 0; k < L->nops; k++) row_st[k] = 0;
    return 1;
  }
  L->nd--;
  for (int k = 0; k < L->nops; k++) row_st[k] = L->st[k][L->nd];
  const int64_t n = L->shape[L->nd];
  L->numel = 1;
  for (int d = 0; d < L->nd; d++) L->numel *= L->shape[d];
  return n;
}

int threads_for(int64_t work, int64_t min_per_thread) {
  int nt = pool_threads();
  if (min_per_thread < 1) min_per_thread = 1;
  const int64_t maxt = work / min_per_thread;
  if (maxt < nt) nt = maxt < 1 ? 1 : static_cast<int>(maxt);
  return nt;
}

void run_rows(const Layout& L, RowFn fn, const void* ctx, int64_t min_per_thread) {
  if (L.numel == 0) return;
  const int64_t inner = L.shape[L.nd - 1];
  int64_t st[kMaxOps];
  for (int k = 0; k < L.nops; k++) st[k] = L.st[k][L.nd - 1];
  const int64_t chunk = 64;
  const int64_t nchunks = (L.numel + chunk - 1) / chunk;
  parallel_for(nchunks, (min_per_thread + chunk - 1) / chunk, [&](int64_t cb, int64_t ce, int) {
    int64_t b = cb * chunk;
    const int64_t e = ce * chunk < L.numel ? ce * chunk : L.numel;
    Odometer od(L, L.nd - 1, b / inner);
    int64_t pos = b % inner;
    uint8_t* p[kMaxOps];
    while (b < e) {
      const int64_t n = inner - pos < e - b ? inner - pos : e - b;
      od.pointers(p);
      for (int k = 0; k < L.nops; k++) p[k] += pos * st[k] * L.esize[k];
      fn(ctx, n, p, st);
      b += n;
      pos = 0;
      od.next();
    }
  });
}

void run_row_pairs(Layout* L, RowPairFn fn, const void* ctx, int64_t min_elems) {
  int64_t rs[kMaxOps];
  const int64_t n = pop_last_dim(L, rs);
  coalesce(L);
  if (L->numel == 0 || n == 0) return;
  const int64_t per = (min_elems + n - 1) / n;
  const bool gather = rs[0] != 1 || rs[1] != 1;
  std::vector<float> scratch(gather ? static_cast<size_t>(2 * n * threads_for(L->numel, per)) : 0);
  struct Ctx {
    RowPairFn fn;
    const void* ctx;
    int64_t n, so, sx;
    float* scratch;
  } c{fn, ctx, n, rs[0], rs[1], scratch.data()};
  run_points(*L, [](const void* cp, uint8_t* const* p, int tid) {
    const Ctx* k = static_cast<const Ctx*>(cp);
    float* out = reinterpret_cast<float*>(p[0]);
    const float* x = reinterpret_cast<const float*>(p[1]);
    if (k->so == 1 && k->sx == 1) return k->fn(k->ctx, out, x, k->n);
    float* xs = k->scratch + 2 * k->n * tid;
    float* os = xs + k->n;
    for (int64_t i = 0; i < k->n; i++) xs[i] = x[i * k->sx];
    k->fn(k->ctx, os, xs, k->n);
    for (int64_t i = 0; i < k->n; i++) out[i * k->so] = os[i];
  }, &c, per);
}

void run_points(const Layout& L, PointFn fn, const void* ctx, int64_t min_per_thread) {
  if (L.numel == 0) return;
  parallel_for(L.numel, min_per_thread, [&](int64_t b, int64_t e, int tid) {
    Odometer od(L, L.nd, b);
    uint8_t* p[kMaxOps];
    for (int64_t i = b; i < e; i++) {
      od.pointers(p);
      fn(ctx, p, tid);
      od.next();
    }
  });
}

}  // namespace llava
