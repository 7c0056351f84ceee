// The only N-API file: exposes the kernel registry to JavaScript.
//
//   kernels()                       -> ["name:isa", ...]   (isa 0 naive, 1 scalar, 2 avx2)
//   resolve(name, maxIsa)           -> kernel id or -1
//   call(id, arrays, params, n)     runs kernel `id` on typed arrays (zero-copy) and params[0..n)
//   setThreads(n) / threads()       pool size
//   cpu()                           -> { avx2, fma, f16c }
//   mallocTuned()                   -> whether the malloc retention below is active
//   mapFile(path, willneed?)        -> ArrayBuffer over a private mapping of the whole file (mmap.h);
//                                      absent on platforms that cannot map files
//
// Typed arrays are passed by pointer: the kernel reads and writes JS memory directly. Kernel errors
// (std::exception) become JS exceptions.
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <string>
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

// The ArrayBuffer owns the mapping: V8 calls the finalizer only once no typed array over the buffer is
// reachable, so tensor views keep their file pages mapped. The mapping is not reported as external memory:
// its pages belong to the page cache and are reclaimable, and reporting gigabytes would only make V8
// collect more often.
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
  const size_t bytes = m.bytes;
  return Napi::ArrayBuffer::New(env, m.data, bytes, [bytes](Napi::Env, void* data) { unmap_file(data, bytes); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("kernels", Napi::Function::New(env, Kernels));
  exports.Set("resolve", Napi::Function::New(env, Resolve));
  exports.Set("call", Napi::Function::New(env, Call));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("threads", Napi::Function::New(env, Threads));
  exports.Set("cpu", Napi::Function::New(env, Cpu));
  exports.Set("mallocTuned", Napi::Function::New(env, MallocTuned));
  if (file_mapping_supported()) exports.Set("mapFile", Napi::Function::New(env, MapFile));
  return exports;
}

}  // namespace

NODE_API_MODULE(llava_native, Init)
