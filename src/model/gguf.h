// Reading *.gguf files, llama.cpp's model format. All fields are little-endian:
//
//   "GGUF"  u32 version (2 or 3)  u64 tensor_count  u64 metadata_count
//   metadata_count x { string key; u32 value_type; value }
//   tensor_count   x { string name; u32 n_dims; u64 dims[n_dims]; u32 ggml_type; u64 offset }
//   padding to the alignment (metadata "general.alignment", default 32)
//   data section: each tensor at data_start + offset
//
// where a string is a u64 byte length and the bytes (no terminator), and an array value is a
// u32 element type, a u64 count and the elements.
//
// The file is memory-mapped and everything in it is untrusted: every length, count and offset
// is checked against the file size before it is read or used to allocate, so a corrupt or
// truncated file gives one hs::Error naming the file, the byte offset and the problem. Each
// tensor is checked to have 1..4 positive dims whose product fits, a supported type, a row
// length (dims[0]) made of whole quantisation blocks, an aligned offset, and bytes that lie
// inside the file without overlapping another tensor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/mapped_file.h"

namespace hs {

// ggml tensor type ids (the numbers are the format's). Only these are supported; any other id
// in a file is refused when the file is opened.
enum class GgufType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  BF16 = 30,
};

// "F32", "Q4_K", ... for any ggml type id the format defines, supported or not; nullptr for an
// id it does not define.
const char* gguf_type_name(uint32_t type_id);
inline const char* gguf_type_name(GgufType t) {
  return gguf_type_name(static_cast<uint32_t>(t));
}

// Tensors are stored as blocks of gguf_block_values(t) values taking gguf_block_bytes(t) bytes
// (one value of 4 or 2 bytes for the float types, 32 values for the quantised ones).
int64_t gguf_block_values(GgufType t);
int64_t gguf_block_bytes(GgufType t);

// Metadata value types (the numbers are the format's).
enum class GgufValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
const char* gguf_value_type_name(GgufValueType t);  // "u32", "string", "array", ...

// One metadata value as parsed. Scalars and numeric arrays stay in the mapping and are read
// (and converted) by the getters; strings are copied out once.
struct GgufValue {
  GgufValueType type = GgufValueType::U8;
  GgufValueType elem_type = GgufValueType::U8;  // arrays: the type of every element
  uint64_t count = 0;                           // arrays: number of elements
  const uint8_t* raw = nullptr;                 // scalars and numeric arrays: the first byte
  std::vector<std::string> strings;             // a string (one element) or array of strings
  uint64_t offset = 0;                          // byte offset of the key in the file
};

struct GgufTensor {
  std::string name;
  // GGUF order: dims[0] is the fastest-varying (contiguous) dimension, so a [rows, cols]
  // matrix in row-major terms has dims {cols, rows}.
  std::vector<int64_t> dims;
  GgufType type = GgufType::F32;
  const uint8_t* data = nullptr;  // into the mapping, valid while the file is open
  size_t bytes = 0;

  int64_t numel() const;
  int64_t row_values() const { return dims[0]; }  // a row is one run along dims[0]
  int64_t rows() const { return numel() / dims[0]; }
  std::string dims_str() const;  // "[4096, 32000]", in GGUF order
};

// One memory-mapped .gguf file.
class GgufFile {
 public:
  explicit GgufFile(const std::string& path);  // throws hs::Error naming the file

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment_bytes() const { return alignment_bytes_; }
  uint64_t data_offset() const { return data_offset_; }  // where the data section starts

  // Metadata. Each getter throws hs::Error naming the file, the key and the value's actual type
  // if the key is missing or holds another type. Integer getters take any integer type whose
  // value fits the result; get_f32 takes f32 or f64.
  bool has(const std::string& key) const { return meta_.count(key) > 0; }
  std::vector<std::string> keys() const;  // sorted
  GgufValueType type_of(const std::string& key) const;
  uint32_t get_u32(const std::string& key) const;
  int32_t get_i32(const std::string& key) const;
  uint64_t get_u64(const std::string& key) const;
  int64_t get_i64(const std::string& key) const;
  float get_f32(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  const std::vector<std::string>& get_string_array(const std::string& key) const;
  // An array of any integer type whose elements all fit in i32 (e.g. tokenizer.ggml.token_type).
  std::vector<int32_t> get_i32_array(const std::string& key) const;
  // An array of f32 or f64 (e.g. tokenizer.ggml.scores).
  std::vector<float> get_f32_array(const std::string& key) const;

  // Tensors, in file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find(const std::string& name) const;    // nullptr if absent
  const GgufTensor& tensor(const std::string& name) const;  // throws naming file and tensor

 private:
  void parse(const uint8_t* base, uint64_t file_bytes);
  const GgufValue& value(const std::string& key) const;
  template <typename T>
  T get_integer(const std::string& key, const char* type_name) const;

  std::string path_;
  MappedFile file_;
  uint32_t version_ = 0;
  uint32_t alignment_bytes_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> meta_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;  // name -> position in tensors_
};

}  // namespace hs
