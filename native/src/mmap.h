// Read-only-in-effect memory mappings of whole files, for checkpoint readers that hand out tensors as views
// over the OS page cache instead of copying them into fresh memory.
//
// The mapping is PROT_READ|PROT_WRITE with MAP_PRIVATE: a write through a tensor view copies that page
// (copy-on-write) and never reaches the file, and never faults as a read-only mapping would.
//
// Limitation (shared with every mmap-based loader): if another process truncates the file while it is
// mapped, touching a page past the new end raises SIGBUS. Replacing the file by rename is safe (the mapping
// keeps the old inode); writing into the file in place is visible through pages not yet copied.
//
// Not here: N-API (addon.cc owns the ArrayBuffer and its finalizer) and any format knowledge.
#pragma once

#include <cstddef>
#include <string>

namespace llava {

// Whether this platform maps files (false on Windows, where callers read instead).
bool file_mapping_supported();

struct FileMapping {
  void* data = nullptr;
  size_t bytes = 0;
};

// Maps all of `path`. `willneed`: ask the kernel to start reading the file ahead (MADV_WILLNEED).
// Throws std::runtime_error naming the file and the errno text (missing, unreadable, not a regular file,
// empty, mmap failure).
FileMapping map_file(const std::string& path, bool willneed);

// Releases a mapping from map_file (called by the ArrayBuffer finalizer).
void unmap_file(void* data, size_t bytes);

// Drops this process's resident pages wholly inside [data, data + bytes) of a mapping (MADV_DONTNEED), so
// that memory read once (e.g. weights quantized at load) stops counting in the process's RSS. The contents
// stay readable: a later access faults the page back in from the file. Copy-on-write pages (written through
// a view) are discarded with the rest and read back from the file. Returns the bytes released (0 where the
// platform cannot).
size_t release_pages(void* data, size_t bytes);

}  // namespace llava
