// A pool of host or device memory laid out before it is allocated: the engine reserves every
// buffer it will ever use (weights, cache blocks, staging, the device working set), the pool
// packs them into chunks, and one allocate() takes exactly bytes() from the backend. So the
// memory a run uses is known, exactly, before anything big is allocated, and the planner can
// compute the same number without allocating at all.
//
// Chunks are at most max_chunk_bytes (1 GiB by default): pinning one multi-GiB buffer can fail
// where several smaller ones succeed. A region never spans chunks; a region larger than the
// limit gets a chunk of its own (cache arrays are cut into segments below the limit by their
// owner, so only a huge single tensor, e.g. a 128k-token embedding table, does this).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hs {

class Backend;

enum class MemoryKind { host, device };

class MemoryPool {
 public:
  static constexpr size_t kDefaultMaxChunkBytes = size_t(1) << 30;

  // align_bytes: regions start at multiples of it (device: 256, what cuBLAS and vectorized
  // kernels like; host: 1, so the pool is exactly the sum of its regions, as plans count it).
  MemoryPool(MemoryKind kind, size_t align_bytes, size_t max_chunk_bytes = kDefaultMaxChunkBytes);
  ~MemoryPool();
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;
  MemoryPool(MemoryPool&& o) noexcept;
  MemoryPool& operator=(MemoryPool&&) = delete;

  // Reserves `bytes` under a category ("weights", "cache", ...) and returns the region's id.
  // Only before allocate().
  int reserve(size_t bytes, const std::string& category);

  // Bytes allocate() takes: the sum of the chunks (regions plus alignment padding).
  size_t bytes() const;
  // Bytes reserved under a category (without padding), for messages that say where memory goes.
  size_t category_bytes(const std::string& category) const;
  // "weights 1.20 GiB, cache 3.00 GiB, ..." in reservation order.
  std::string describe() const;
  size_t num_chunks() const { return chunks_.size(); }

  // Takes every chunk from the backend (host_alloc or device_alloc). Throws hs::Error naming
  // the chunk that could not be had; what was taken so far is given back.
  void allocate(Backend& backend);
  // Lays the chunks one after another over `base`, memory of at least bytes() that the caller
  // owns and keeps mapped (a node's shared weight segment), and registers each chunk with the
  // backend (Backend::host_register) so copies read it as they read allocate()'s. Host pools
  // only. The pool unregisters the chunks when it goes; it never frees them. Throws hs::Error
  // naming the chunk that could not be registered; those registered so far are undone.
  void place(Backend& backend, void* base);
  bool allocated() const { return backend_ != nullptr; }
  void* ptr(int region) const;

  MemoryKind kind() const { return kind_; }

 private:
  struct Region {
    size_t chunk, offset_bytes, bytes;
    std::string category;
  };
  struct Chunk {
    size_t bytes = 0;
    void* base = nullptr;
  };
  void release();

  MemoryKind kind_;
  size_t align_bytes_;
  size_t max_chunk_bytes_;
  std::vector<Region> regions_;
  std::vector<Chunk> chunks_;
  Backend* backend_ = nullptr;
  bool placed_ = false;  // chunks are the caller's memory (place()), registered, not allocated
};

// Bytes as GiB for messages: 1.50 GiB.
std::string format_gib(double bytes);

}  // namespace hs
