#include "cache/memory_pool.h"

#include <cstdio>

#include "backend/backend.h"
#include "util/error.h"

namespace hs {

namespace {
size_t align_up(size_t n, size_t a) {
  return (n + a - 1) / a * a;
}
}  // namespace

std::string format_gib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(size_t(1) << 30));
  return buf;
}

MemoryPool::MemoryPool(MemoryKind kind, size_t align_bytes, size_t max_chunk_bytes)
    : kind_(kind), align_bytes_(align_bytes), max_chunk_bytes_(max_chunk_bytes) {
  HS_CHECK(align_bytes_ > 0 && max_chunk_bytes_ >= align_bytes_,
           "memory pool chunks must be at least one alignment unit");
}

MemoryPool::MemoryPool(MemoryPool&& o) noexcept
    : kind_(o.kind_),
      align_bytes_(o.align_bytes_),
      max_chunk_bytes_(o.max_chunk_bytes_),
      regions_(std::move(o.regions_)),
      chunks_(std::move(o.chunks_)),
      backend_(o.backend_),
      placed_(o.placed_) {
  o.backend_ = nullptr;
  o.chunks_.clear();
}

MemoryPool::~MemoryPool() {
  release();
}

void MemoryPool::release() {
  if (!backend_) return;
  for (Chunk& c : chunks_) {
    if (!c.base) continue;
    if (placed_)
      backend_->host_unregister(c.base);
    else if (kind_ == MemoryKind::host)
      backend_->host_free(c.base);
    else
      backend_->device_free(c.base);
    c.base = nullptr;
  }
  backend_ = nullptr;
  placed_ = false;
}

int MemoryPool::reserve(size_t bytes, const std::string& category) {
  HS_CHECK(!backend_, "memory pool: reserve() after allocate()");
  // First fit into the last chunk, in reservation order, so the layout is a pure function of
  // the reservations (the planner computes the same bytes() without allocating).
  size_t offset = chunks_.empty() ? 0 : align_up(chunks_.back().bytes, align_bytes_);
  if (chunks_.empty() || (chunks_.back().bytes > 0 && offset + bytes > max_chunk_bytes_)) {
    chunks_.push_back({});
    offset = 0;
  }
  chunks_.back().bytes = offset + bytes;
  regions_.push_back({chunks_.size() - 1, offset, bytes, category});
  return static_cast<int>(regions_.size() - 1);
}

size_t MemoryPool::bytes() const {
  size_t total = 0;
  for (const Chunk& c : chunks_) total += c.bytes;
  return total;
}

size_t MemoryPool::category_bytes(const std::string& category) const {
  size_t total = 0;
  for (const Region& r : regions_)
    if (r.category == category) total += r.bytes;
  return total;
}

std::string MemoryPool::describe() const {
  std::vector<std::string> seen;
  std::string out;
  for (const Region& r : regions_) {
    bool dup = false;
    for (const auto& s : seen) dup = dup || s == r.category;
    if (dup) continue;
    seen.push_back(r.category);
    out += (out.empty() ? "" : ", ") + r.category + " " +
           format_gib(double(category_bytes(r.category)));
  }
  return out;
}

void MemoryPool::allocate(Backend& backend) {
  HS_CHECK(!backend_, "memory pool allocated twice");
  backend_ = &backend;
  for (size_t i = 0; i < chunks_.size(); ++i) {
    try {
      chunks_[i].base = kind_ == MemoryKind::host ? backend.host_alloc(chunks_[i].bytes)
                                                  : backend.device_alloc(chunks_[i].bytes);
    } catch (const Error& e) {
      release();
      fail("cannot allocate chunk ", i + 1, " of ", chunks_.size(), " (",
           format_gib(double(chunks_[i].bytes)), ") of the ",
           kind_ == MemoryKind::host ? "host" : "device", " pool (", format_gib(double(bytes())),
           " in all): ", e.what());
    }
  }
}

void MemoryPool::place(Backend& backend, void* base) {
  HS_CHECK(!backend_, "memory pool allocated twice");
  HS_CHECK(kind_ == MemoryKind::host, "only a host pool can be placed over given memory");
  backend_ = &backend;
  placed_ = true;
  char* next = static_cast<char*>(base);
  for (size_t i = 0; i < chunks_.size(); ++i) {
    try {
      backend.host_register(next, chunks_[i].bytes);
    } catch (const Error& e) {
      release();
      fail("cannot register chunk ", i + 1, " of ", chunks_.size(), " (",
           format_gib(double(chunks_[i].bytes)), ") of the shared weight pool (",
           format_gib(double(bytes())), " in all): ", e.what());
    }
    chunks_[i].base = next;
    next += chunks_[i].bytes;
  }
}

void* MemoryPool::ptr(int region) const {
  HS_CHECK(backend_, "memory pool: ptr() before allocate()");
  const Region& r = regions_.at(static_cast<size_t>(region));
  return static_cast<char*>(chunks_[r.chunk].base) + r.offset_bytes;
}

}  // namespace hs
