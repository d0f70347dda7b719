// A whole model file mapped read-only: its bytes are read in place (safetensors, GGUF), never
// copied. Also the one way shapes are counted and written in messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hs {

class MappedFile {
 public:
  // Throws hs::Error naming the file when it cannot be opened, is not a regular file or cannot
  // be mapped. An empty file maps to no bytes (data() is null): its reader says what it lacks.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return static_cast<const uint8_t*>(map_); }
  uint64_t bytes() const { return bytes_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* map_ = nullptr;
  uint64_t bytes_ = 0;
};

int64_t shape_numel(const std::vector<int64_t>& dims);     // the product (1 for no dims)
std::string shape_text(const std::vector<int64_t>& dims);  // "[64, 128]"

}  // namespace hs
