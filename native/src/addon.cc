// The only N-API file: exposes the kernel registry to JavaScript.
//
//   kernels()                       -> ["name:isa", ...]   (isa 0 naive, 1 scalar, 2 avx2, 3 avx512)
//   resolve(name, maxIsa)           -> kernel id or -1
//   call(id, arrays, params, n)     runs kernel `id` on typed arrays (zero-copy) and params[0..n)
//   setThreads(n) / threads()       pool size
//   cpu()                           -> { avx2, fma, f16c, avx512, arch }
//   mallocTuned()                   -> whether the malloc retention below is active
//   mapFile(path, willneed?)        -> { handle, bytes, maxView }: a private mapping of the whole file (mmap.h)
//   mapView(handle, offset, length) -> ArrayBuffer over a range of it (both absent where files cannot be mapped)
//   mapRelease(view)                -> bytes of the view's resident pages handed back to the OS (view stays valid)
//
// Typed arrays are passed by pointer: the kernel reads and writes JS memory directly. Kernel errors
// (std::exception) become JS exceptions.
#include <napi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "mmap.h"
#include "registry.h"
#include "threadpool.h"

namespace {

using namespace llava;

Napi::Value Kernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& t = kernel_table();
  Napi::Array out = Napi::Array::New(env, t.size());
  for (size_t k = 0; k < t.size(); k++) {
    out.Set(static_cast<uint32_t>(k), Napi::String::New(env, std::string(t[k].name) + ":" + std::to_string(t[k].isa)));
  }
  return out;
}

Napi::Value Resolve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "resolve(name: string, maxIsa: number)");
  }
  return Napi::Number::New(env, resolve_kernel(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int32Value()));
}

Napi::Value Call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsArray() || !info[2].IsTypedArray() || !info[3].IsNumber()) {
    throw Napi::TypeError::New(env, "call(id: number, arrays: TypedArray[], params: Float64Array, count: number)");
  }
  const int id = info[0].As<Napi::Number>().Int32Value();
  const auto& t = kernel_table();
  if (id < 0 || static_cast<size_t>(id) >= t.size()) throw Napi::RangeError::New(env, "call: unknown kernel id");
  Args a;
  a.name = t[id].name;
  Napi::Array arrays = info[1].As<Napi::Array>();
  const uint32_t nb = arrays.Length();
  if (nb > static_cast<uint32_t>(kMaxBufs)) throw Napi::RangeError::New(env, "call: too many arrays");
  for (uint32_t k = 0; k < nb; k++) {
    Napi::Value v = arrays.Get(k);
    if (!v.IsTypedArray()) throw Napi::TypeError::New(env, std::string("call ") + a.name + ": argument " + std::to_string(k) + " is not a typed array");
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    a.buf[k].p = static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset();
    a.buf[k].bytes = ta.ByteLength();
  }
  a.nbuf = static_cast<int>(nb);
  Napi::TypedArray pt = info[2].As<Napi::TypedArray>();
  if (pt.TypedArrayType() != napi_float64_array) throw Napi::TypeError::New(env, "call: params must be a Float64Array");
  Napi::Float64Array params = pt.As<Napi::Float64Array>();
  const int np = info[3].As<Napi::Number>().Int32Value();
  if (np < 0 || static_cast<size_t>(np) > params.ElementLength()) throw Napi::RangeError::New(env, "call: bad parameter count");
  a.prm = params.Data();
  a.nprm = np;
  try {
    t[id].fn(a);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return env.Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "setThreads(n: number)");
  set_pool_threads(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), pool_threads());
}

Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pool_threads()); }

Napi::Value Cpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures f = cpu_features();
  Napi::Object o = Napi::Object::New(env);
  o.Set("avx2", f.avx2);
  o.Set("fma", f.fma);
  o.Set("f16c", f.f16c);
  o.Set("avx512", f.runs(ISA_AVX512));
#if defined(__x86_64__) || defined(_M_X64)
  o.Set("arch", "x64");
#elif defined(__aarch64__)
  o.Set("arch", "arm64");
#else
  o.Set("arch", "other");
#endif
  return o;
}

// Tensor storage is JS ArrayBuffers (calloc/free). glibc hands every block over ~128 KB–32 MB straight
// back to the kernel on free and maps fresh pages for the next one, so each new activation pays a page
// fault per 4 KB on first write — about 12 µs each on the virtual machines we measured, several times the
// cost of the kernel itself for mid-sized outputs. Keeping blocks up to 32 MB in the heap and not trimming
// its top below 256 MB lets freed tensors' memory be reused without faults. LLAVA_MALLOC_TUNE=0 opts out.
bool TuneMalloc() {
#if defined(__GLIBC__)
  const char* v = std::getenv("LLAVA_MALLOC_TUNE");
  if (v && std::strcmp(v, "0") == 0) return false;
  return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1;
#else
  return false;
#endif
}

const bool malloc_tuned = TuneMalloc();

Napi::Value MallocTuned(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), malloc_tuned); }

// File mappings. A whole file is mapped once (mapFile) and shared by views: each view is an external
// ArrayBuffer over a byte range of it, holding a reference; the handle returned by mapFile holds one too.
// The mapping is unmapped when the handle and every view have been garbage-collected — V8 runs a buffer's
// finalizer only once no typed array over it is reachable, so a live tensor keeps its pages mapped.
//
// Why views rather than one ArrayBuffer over the file: Node's V8 cannot wrap external memory of more than
// 4 GiB in one ArrayBuffer, and checkpoint shards are commonly 5 GB. Views are capped at kMaxView bytes.
//
// Mappings are not reported as external memory: their pages belong to the page cache and are reclaimable,
// and reporting gigabytes would only make V8 collect more often.
struct SharedMapping {
  FileMapping m;
  size_t refs;
};

// Live mappings: mapView accepts only a handle found here (an External from elsewhere is rejected).
// Touched only on the JS thread (calls and finalizers), so no lock.
std::unordered_set<SharedMapping*>& live_mappings() {
  static std::unordered_set<SharedMapping*> s;
  return s;
}

void release_mapping(SharedMapping* s) {
  if (--s->refs > 0) return;
  live_mappings().erase(s);
  unmap_file(s->m.data, s->m.bytes);
  delete s;
}

constexpr size_t kMaxView = size_t{1} << 31;

// mapFile(path, willneed?) -> { handle, bytes, maxView }
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "mapFile(path: string, willneed?: boolean)");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const bool willneed = info.Length() > 1 && info[1].ToBoolean().Value();
  FileMapping m;
  try {
    m = map_file(path, willneed);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  auto* s = new SharedMapping{m, 1};
  live_mappings().insert(s);
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::External<SharedMapping>::New(env, s, [](Napi::Env, SharedMapping* p) { release_mapping(p); }));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(m.bytes)));
  o.Set("maxView", Napi::Number::New(env, static_cast<double>(kMaxView)));
  return o;
}

// mapView(handle, byteOffset, byteLength) -> ArrayBuffer over that range of the mapping (bounds-checked).
Napi::Value MapView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsExternal() || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "mapView(handle, byteOffset: number, byteLength: number)");
  }
  auto* s = info[0].As<Napi::External<SharedMapping>>().Data();
  if (live_mappings().count(s) == 0) throw Napi::TypeError::New(env, "mapView: not a mapping from mapFile");
  const double off = info[1].As<Napi::Number>().DoubleValue();
  const double len = info[2].As<Napi::Number>().DoubleValue();
  const double size = static_cast<double>(s->m.bytes);
  // Range checks before any conversion to size_t (a huge or fractional double must not wrap).
  if (!(off >= 0 && len > 0 && len <= static_cast<double>(kMaxView) && off + len <= size &&
        off == static_cast<double>(static_cast<size_t>(off)) && len == static_cast<double>(static_cast<size_t>(len)))) {
    char msg[200];
    if (len > static_cast<double>(kMaxView)) {
      std::snprintf(msg, sizeof msg, "mapView: %.17g bytes exceeds the %zu-byte view limit", len, kMaxView);
    } else {
      std::snprintf(msg, sizeof msg, "mapView: range of %.17g bytes at %.17g is not inside the %zu-byte mapping", len, off, s->m.bytes);
    }
    throw Napi::RangeError::New(env, msg);
  }
  s->refs++;
  uint8_t* p = static_cast<uint8_t*>(s->m.data) + static_cast<size_t>(off);
  return Napi::ArrayBuffer::New(env, p, static_cast<size_t>(len), [s](Napi::Env, void*) { release_mapping(s); });
}

// mapRelease(arrayBuffer) -> bytes released: the resident pages of a view from mapView go back to the OS
// (mmap.h release_pages); the view stays valid. Only a buffer lying inside a live mapping is accepted, so
// ordinary memory can never be discarded by mistake.
Napi::Value MapRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "mapRelease(view: ArrayBuffer)");
  Napi::ArrayBuffer b = info[0].As<Napi::ArrayBuffer>();
  const auto* p = static_cast<const uint8_t*>(b.Data());
  const size_t len = b.ByteLength();
  for (SharedMapping* s : live_mappings()) {
    const auto* base = static_cast<const uint8_t*>(s->m.data);
    if (p != nullptr && p >= base && len <= s->m.bytes && static_cast<size_t>(p - base) <= s->m.bytes - len) {
      return Napi::Number::New(env, static_cast<double>(release_pages(const_cast<uint8_t*>(p), len)));
    }
  }
  throw Napi::TypeError::New(env, "mapRelease: the buffer is not a view of a file mapping");
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("kernels", Napi::Function::New(env, Kernels));
  exports.Set("resolve", Napi::Function::New(env, Resolve));
  exports.Set("call", Napi::Function::New(env, Call));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("threads", Napi::Function::New(env, Threads));
  exports.Set("cpu", Napi::Function::New(env, Cpu));
  exports.Set("mallocTuned", Napi::Function::New(env, MallocTuned));
  if (file_mapping_supported()) {
    exports.Set("mapFile", Napi::Function::New(env, MapFile));
    exports.Set("mapView", Napi::Function::New(env, MapView));
    exports.Set("mapRelease", Napi::Function::New(env, MapRelease));
  }
  return exports;
}

}  // namespace

NODE_API_MODULE(llava_native, Init)
