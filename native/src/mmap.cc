// POSIX implementation of mmap.h; on Windows it compiles to "unsupported" so the addon still builds and
// the JavaScript side falls back to reading.
#include "mmap.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace llava {

#if defined(_WIN32)

bool file_mapping_supported() { return false; }

FileMapping map_file(const std::string& path, bool) {
  throw std::runtime_error("mapFile " + path + ": memory-mapping files is not supported on this platform");
}

void unmap_file(void*, size_t) {}

size_t release_pages(void*, size_t) { return 0; }

#else

namespace {

[[noreturn]] void fail(const std::string& path, const char* what, int err) {
  throw std::runtime_error("mapFile " + path + ": " + what + ": " + std::strerror(err));
}

// Closes the descriptor on every path out of map_file; the mapping does not need it once made.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

bool file_mapping_supported() { return true; }

FileMapping map_file(const std::string& path, bool willneed) {
  int flags = O_RDONLY;
#ifdef O_CLOEXEC
  flags |= O_CLOEXEC;
#endif
  Fd f{::open(path.c_str(), flags)};
  if (f.fd < 0) fail(path, "cannot open", errno);
  struct stat st;
  if (::fstat(f.fd, &st) != 0) fail(path, "cannot stat", errno);
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("mapFile " + path + ": not a regular file");
  if (st.st_size <= 0) throw std::runtime_error("mapFile " + path + ": file is empty (nothing to map)");
  if (static_cast<unsigned long long>(st.st_size) > static_cast<unsigned long long>(SIZE_MAX)) {
    throw std::runtime_error("mapFile " + path + ": file is larger than the address space");
  }
  const size_t bytes = static_cast<size_t>(st.st_size);
  // MAP_PRIVATE + PROT_WRITE on a read-only descriptor is allowed: writes stay in this process.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
  if (p == MAP_FAILED) fail(path, "mmap failed", errno);
#ifdef MADV_WILLNEED
  // Advice only: a failure changes nothing about correctness.
  if (willneed) (void)::madvise(p, bytes, MADV_WILLNEED);
#else
  (void)willneed;
#endif
  return FileMapping{p, bytes};
}

void unmap_file(void* data, size_t bytes) {
  if (data) ::munmap(data, bytes);
}

size_t release_pages(void* data, size_t bytes) {
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (page_size <= 0 || data == nullptr || bytes == 0) return 0;
  const uintptr_t page = static_cast<uintptr_t>(page_size);
  // Only whole pages: the partial pages at either end may hold a neighbouring tensor still in use.
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) / page * page;
  if (end <= begin) return 0;
  if (::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) != 0) return 0;
  return end - begin;
}

#endif

}  // namespace llava
