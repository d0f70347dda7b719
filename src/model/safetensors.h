// Reading *.safetensors files: a little-endian u64 header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw data. The file is memory-mapped; the
// header is untrusted input and every offset, shape and dtype in it is checked before use.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/mapped_file.h"
#include "util/dtype.h"

namespace hs {

struct TensorView {
  std::string name;
  std::string file;  // the .safetensors file it lives in (for error messages)
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping, valid while the file is open
  size_t bytes = 0;

  int64_t numel() const;
  std::string shape_str() const;  // "[64, 128]"
};

// One memory-mapped .safetensors file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // throws hs::Error naming the file

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }

 private:
  std::string path_;
  MappedFile file_;
  std::map<std::string, TensorView> tensors_;
};

// All tensors of a model directory: model.safetensors, or the shards listed in
// model.safetensors.index.json (each shard checked to hold what the index says it holds).
class TensorStore {
 public:
  explicit TensorStore(const std::string& model_dir);

  bool has(const std::string& name) const { return index_.count(name) > 0; }
  // Throws naming the tensor (and the directory) if it is missing.
  const TensorView& get(const std::string& name) const;
  // As get(), and checks the shape: "wrong shape for tensor X in FILE: [a, b], expected [c, d]".
  const TensorView& get(const std::string& name, const std::vector<int64_t>& shape) const;
  std::vector<std::string> names() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

// Copies a tensor's elements into dst, converted to `to` (dst holds numel() elements).
void read_tensor(const TensorView& t, DType to, void* dst);

}  // namespace hs
