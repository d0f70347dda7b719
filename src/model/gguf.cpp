#include "model/gguf.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string_view>
#include <type_traits>

#include "util/dtype.h"
#include "util/error.h"

namespace hs {
namespace {

// Fields are read with memcpy straight from the mapping, which is right only on a
// little-endian host (every target of this project).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF fields are little-endian");

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kDefaultAlignmentBytes = 32;
constexpr uint32_t kMaxDims = 4;  // ggml tensors have at most 4 dimensions
constexpr const char* kSupportedTypes = "F32, F16, BF16, Q8_0, Q4_0, Q4_1";

// The smallest possible encodings, used to refuse a count that the rest of the file cannot
// hold before anything is allocated for it.
constexpr uint64_t kMinMetadataEntryBytes = 8 + 4 + 1;       // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset
constexpr uint64_t kMinStringBytes = 8;                      // the length of an empty string

// Multiplies without overflow; false if the product does not fit.
bool mul_ok(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return false;
  *out = a * b;
  return true;
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", p[i]);
    s += (i ? " " : "") + std::string(buf);
  }
  return s;
}

// Reads fields front to back, checking each against the end of the file before touching it,
// so a failure names the byte offset where the file stopped making sense.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* base, uint64_t file_bytes)
      : path_(path), base_(base), file_bytes_(file_bytes) {}

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return file_bytes_ - pos_; }

  const uint8_t* take(uint64_t n, std::string_view what) {
    HS_CHECK(n <= left(), path_, ": byte ", pos_, ": ", what, " needs ", n,
             " bytes but the file has only ", left(), " left (truncated or corrupt)");
    const uint8_t* p = base_ + pos_;
    pos_ += n;
    return p;
  }

  template <typename T>
  T read(std::string_view what) {
    return load<T>(take(sizeof(T), what));
  }

  std::string str(std::string_view what) {
    const uint64_t len = read<uint64_t>(what);
    const uint8_t* p = take(len, what);
    return std::string(reinterpret_cast<const char*>(p), len);
  }

  // Fails unless `count` items of at least `min_bytes` each fit in the rest of the file; a
  // corrupt count then cannot drive a huge allocation or a long loop.
  void check_count(uint64_t count, uint64_t min_bytes, std::string_view what) const {
    HS_CHECK(count <= left() / min_bytes, path_, ": byte ", pos_, ": ", what, " ", count,
             " is impossible: each takes at least ", min_bytes, " bytes and only ", left(),
             " bytes are left (truncated or corrupt)");
  }

 private:
  const std::string& path_;
  const uint8_t* base_;
  uint64_t file_bytes_;
  uint64_t pos_ = 0;
};

// What the reader needs to know of each metadata value type, indexed by its id.
struct ValueTypeInfo {
  const char* name;
  uint64_t bytes;  // of one value; 0 for string and array, whose size is in the file
  bool is_integer;
};
constexpr ValueTypeInfo kValueTypes[] = {
    {"u8", 1, true},      {"i8", 1, true},     {"u16", 2, true},  {"i16", 2, true},
    {"u32", 4, true},     {"i32", 4, true},    {"f32", 4, false}, {"bool", 1, false},
    {"string", 0, false}, {"array", 0, false}, {"u64", 8, true},  {"i64", 8, true},
    {"f64", 8, false},
};

const ValueTypeInfo& value_type_info(GgufValueType t) {
  return kValueTypes[static_cast<uint32_t>(t)];
}
uint64_t value_bytes(GgufValueType t) {
  return value_type_info(t).bytes;
}
bool is_integer(GgufValueType t) {
  return value_type_info(t).is_integer;
}

// An integer metadata value widened without loss: signed types in `s`, unsigned ones in `u`.
struct WideInt {
  bool is_signed = false;
  int64_t s = 0;
  uint64_t u = 0;
};

std::ostream& operator<<(std::ostream& os, const WideInt& v) {
  return v.is_signed ? os << v.s : os << v.u;
}

WideInt read_int(GgufValueType t, const uint8_t* p) {
  WideInt v;
  v.is_signed = t == GgufValueType::I8 || t == GgufValueType::I16 || t == GgufValueType::I32 ||
                t == GgufValueType::I64;
  switch (t) {
    case GgufValueType::U8:
      v.u = load<uint8_t>(p);
      break;
    case GgufValueType::I8:
      v.s = load<int8_t>(p);
      break;
    case GgufValueType::U16:
      v.u = load<uint16_t>(p);
      break;
    case GgufValueType::I16:
      v.s = load<int16_t>(p);
      break;
    case GgufValueType::U32:
      v.u = load<uint32_t>(p);
      break;
    case GgufValueType::I32:
      v.s = load<int32_t>(p);
      break;
    case GgufValueType::U64:
      v.u = load<uint64_t>(p);
      break;
    case GgufValueType::I64:
      v.s = load<int64_t>(p);
      break;
    default:
      break;
  }
  return v;
}

template <typename T>
bool fits(const WideInt& v) {
  constexpr uint64_t max = static_cast<uint64_t>(std::numeric_limits<T>::max());
  if (!v.is_signed) return v.u <= max;
  if (v.s >= 0) return static_cast<uint64_t>(v.s) <= max;
  return std::is_signed_v<T> && v.s >= static_cast<int64_t>(std::numeric_limits<T>::min());
}

template <typename T>
T narrow(const WideInt& v) {
  return v.is_signed ? static_cast<T>(v.s) : static_cast<T>(v.u);
}

float read_float(GgufValueType t, const uint8_t* p) {
  return t == GgufValueType::F32 ? load<float>(p) : static_cast<float>(load<double>(p));
}

// "u32", "string", "array of i32": the type as an error message should name it.
std::string describe(const GgufValue& v) {
  if (v.type != GgufValueType::ARRAY) return gguf_value_type_name(v.type);
  return cat("array of ", gguf_value_type_name(v.elem_type));
}

GgufValueType checked_value_type(uint32_t id, const std::string& path, uint64_t at,
                                 const std::string& key) {
  HS_CHECK(id < std::size(kValueTypes), path, ": byte ", at, ": metadata key '", key,
           "' has unknown value type ", id, " (the format has 0..12)");
  return static_cast<GgufValueType>(id);
}

// Reads one array value: u32 element type, u64 count, then the elements. Arrays of strings are
// copied out; numeric arrays stay in the mapping.
void read_array(Cursor& c, const std::string& path, const std::string& key, GgufValue* v) {
  const uint64_t at = c.pos();
  const std::string what = cat("array '", key, "'");
  v->elem_type = checked_value_type(c.read<uint32_t>(what), path, at, key);
  HS_CHECK(v->elem_type != GgufValueType::ARRAY, path, ": byte ", at, ": metadata key '", key,
           "' is an array of arrays, which this reader does not support");
  v->count = c.read<uint64_t>(what);
  if (v->elem_type == GgufValueType::STRING) {
    c.check_count(v->count, kMinStringBytes, cat("element count of ", what));
    v->strings.reserve(v->count);
    const std::string elem_what = cat("a string in ", what);
    for (uint64_t i = 0; i < v->count; ++i) v->strings.push_back(c.str(elem_what));
    return;
  }
  const uint64_t elem_bytes = value_bytes(v->elem_type);
  c.check_count(v->count, elem_bytes, cat("element count of ", what));
  v->raw = c.take(v->count * elem_bytes, what);
}

GgufValue read_value(Cursor& c, const std::string& path, const std::string& key,
                     GgufValueType type) {
  GgufValue v;
  v.type = type;
  if (type == GgufValueType::STRING) {
    v.strings.push_back(c.str(cat("string value of '", key, "'")));
  } else if (type == GgufValueType::ARRAY) {
    read_array(c, path, key, &v);
  } else {
    v.raw = c.take(value_bytes(type), cat("value of '", key, "'"));
  }
  return v;
}

struct Header {
  uint32_t version = 0;
  uint64_t tensor_count = 0;
  uint64_t metadata_count = 0;
};

Header read_header(Cursor& c, const std::string& path) {
  const uint8_t* magic = c.take(4, "the magic");
  HS_CHECK(std::memcmp(magic, kMagic, 4) == 0, path, ": not a GGUF file: it starts with bytes ",
           hex_bytes(magic, 4), ", expected 'GGUF' (",
           hex_bytes(reinterpret_cast<const uint8_t*>(kMagic), 4), ")");
  Header h;
  h.version = c.read<uint32_t>("the version");
  // A big-endian file (allowed since version 3) has its version bytes swapped.
  HS_CHECK(h.version != 0x02000000u && h.version != 0x03000000u, path,
           ": byte 4: this is a big-endian GGUF file; only little-endian files are supported");
  HS_CHECK(h.version == 2 || h.version == 3, path, ": byte 4: GGUF version ", h.version,
           " is not supported (versions 2 and 3 are)");
  h.tensor_count = c.read<uint64_t>("the tensor count");
  h.metadata_count = c.read<uint64_t>("the metadata count");
  return h;
}

// A tensor as its info record describes it, before its bytes are placed in the data section.
struct TensorInfo {
  GgufTensor tensor;
  uint64_t offset = 0;  // relative to the data section
  std::string where;    // "tensor 'name' (info at byte N)", for messages
};

std::string type_id_str(uint32_t id) {
  const char* name = gguf_type_name(id);
  return name ? cat(name, " (", id, ")") : cat(id, " (not a ggml type)");
}

bool is_supported(uint32_t id) {
  switch (static_cast<GgufType>(id)) {
    case GgufType::F32:
    case GgufType::F16:
    case GgufType::BF16:
    case GgufType::Q8_0:
    case GgufType::Q4_0:
    case GgufType::Q4_1:
      return true;
  }
  return false;
}

// Reads the dims and checks them: 1..4 of them, each positive, product within int64.
std::vector<int64_t> read_dims(Cursor& c, const std::string& path, const std::string& where) {
  const uint32_t n_dims = c.read<uint32_t>(cat("n_dims of ", where));
  HS_CHECK(n_dims >= 1 && n_dims <= kMaxDims, path, ": ", where, ": n_dims ", n_dims,
           " is outside 1..", kMaxDims);
  std::vector<int64_t> dims;
  uint64_t numel = 1;
  for (uint32_t j = 0; j < n_dims; ++j) {
    const uint64_t d = c.read<uint64_t>(cat("dims of ", where));
    HS_CHECK(d >= 1, path, ": ", where, ": dims[", j, "] is 0; dimensions must be positive");
    HS_CHECK(mul_ok(numel, d, &numel) && numel <= uint64_t{INT64_MAX}, path, ": ", where, ": dims[",
             j, "] = ", d, " makes the element count overflow");
    dims.push_back(static_cast<int64_t>(d));
  }
  return dims;
}

// Reads one tensor info record and checks everything that does not depend on where the data
// section starts: dims, type, whole blocks per row, byte size.
TensorInfo read_tensor_info(Cursor& c, const std::string& path, uint64_t index) {
  TensorInfo info;
  const uint64_t at = c.pos();
  GgufTensor& t = info.tensor;
  t.name = c.str(cat("name of tensor ", index));
  info.where = cat("tensor '", t.name, "' (info at byte ", at, ")");
  t.dims = read_dims(c, path, info.where);
  const uint32_t type_id = c.read<uint32_t>(cat("type of ", info.where));
  HS_CHECK(is_supported(type_id), path, ": ", info.where, ": type ", type_id_str(type_id),
           " is not supported; supported: ", kSupportedTypes);
  t.type = static_cast<GgufType>(type_id);
  const int64_t block = gguf_block_values(t.type);
  HS_CHECK(t.dims[0] % block == 0, path, ": ", info.where, ": row length dims[0] = ", t.dims[0],
           " is not a multiple of the ", gguf_type_name(t.type), " block of ", block, " values");
  uint64_t bytes = 0;
  HS_CHECK(mul_ok(static_cast<uint64_t>(t.numel() / block), gguf_block_bytes(t.type), &bytes), path,
           ": ", info.where, ": byte size overflows");
  t.bytes = bytes;
  info.offset = c.read<uint64_t>(cat("offset of ", info.where));
  return info;
}

// Points the tensor at its bytes after checking they are aligned and inside the file.
void place_tensor(TensorInfo* info, const uint8_t* base, uint64_t file_bytes, uint64_t data_offset,
                  uint32_t alignment_bytes, const std::string& path) {
  GgufTensor& t = info->tensor;
  HS_CHECK(info->offset % alignment_bytes == 0, path, ": ", info->where, ": data offset ",
           info->offset, " is not a multiple of the alignment (", alignment_bytes, " bytes)");
  const uint64_t data_bytes = file_bytes > data_offset ? file_bytes - data_offset : 0;
  HS_CHECK(t.bytes <= data_bytes && info->offset <= data_bytes - t.bytes, path, ": ", info->where,
           ": data at offset ", info->offset, " (", t.bytes, " bytes for ", t.dims_str(), " ",
           gguf_type_name(t.type), ") runs past the end of the file: the data section starts at ",
           "byte ", data_offset, " and holds ", data_bytes, " bytes (truncated or corrupt)");
  t.data = base + data_offset + info->offset;
}

void check_no_overlap(const std::vector<GgufTensor>& tensors, const std::string& path) {
  std::vector<const GgufTensor*> by_start;
  for (const GgufTensor& t : tensors) by_start.push_back(&t);
  std::sort(by_start.begin(), by_start.end(),
            [](const GgufTensor* a, const GgufTensor* b) { return a->data < b->data; });
  for (size_t i = 1; i < by_start.size(); ++i)
    HS_CHECK(by_start[i - 1]->data + by_start[i - 1]->bytes <= by_start[i]->data, path,
             ": tensors '", by_start[i - 1]->name, "' and '", by_start[i]->name,
             "' overlap in the data section (corrupt file)");
}

}  // namespace

const char* gguf_type_name(uint32_t type_id) {
  // Ids 4, 5 and 31..33 were types the format has since removed; their names are not listed.
  static const char* const kNames[] = {
      "F32",     "F16",   "Q4_0",   "Q4_1",  nullptr, nullptr,  "Q5_0",  "Q5_1",    "Q8_0",
      "Q8_1",    "Q2_K",  "Q3_K",   "Q4_K",  "Q5_K",  "Q6_K",   "Q8_K",  "IQ2_XXS", "IQ2_XS",
      "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8",    "I16",     "I32",
      "I64",     "F64",   "IQ1_M",  "BF16",  nullptr, nullptr,  nullptr, "TQ1_0",   "TQ2_0"};
  return type_id < std::size(kNames) ? kNames[type_id] : nullptr;
}

int64_t gguf_block_values(GgufType t) {
  switch (t) {
    case GgufType::F32:
    case GgufType::F16:
    case GgufType::BF16:
      return 1;
    case GgufType::Q8_0:
    case GgufType::Q4_0:
    case GgufType::Q4_1:
      return 32;
  }
  return 1;
}

int64_t gguf_block_bytes(GgufType t) {
  switch (t) {
    case GgufType::F32:
      return 4;
    case GgufType::F16:
      return 2;
    case GgufType::BF16:
      return 2;
    case GgufType::Q8_0:
      return 2 + 32;  // f16 d, 32 x int8
    case GgufType::Q4_0:
      return 2 + 16;  // f16 d, 32 x 4 bits
    case GgufType::Q4_1:
      return 2 + 2 + 16;  // f16 d, f16 m, 32 x 4 bits
  }
  return 0;
}

const char* gguf_value_type_name(GgufValueType t) {
  return static_cast<uint32_t>(t) < std::size(kValueTypes) ? value_type_info(t).name : "?";
}

int64_t GgufTensor::numel() const {
  return shape_numel(dims);
}

std::string GgufTensor::dims_str() const {
  return shape_text(dims);
}

GgufFile::GgufFile(const std::string& path) : path_(path), file_(path) {
  HS_CHECK(file_.bytes() > 0, path, ": empty file, not a GGUF file");
  parse(file_.data(), file_.bytes());
}

void GgufFile::parse(const uint8_t* base, uint64_t file_bytes) {
  Cursor c(path_, base, file_bytes);
  const Header h = read_header(c, path_);
  version_ = h.version;

  c.check_count(h.metadata_count, kMinMetadataEntryBytes, "metadata count");
  for (uint64_t i = 0; i < h.metadata_count; ++i) {
    const uint64_t at = c.pos();
    std::string key = c.str(cat("key of metadata entry ", i));
    const uint32_t type_id = c.read<uint32_t>(cat("value type of '", key, "'"));
    GgufValue v = read_value(c, path_, key, checked_value_type(type_id, path_, at, key));
    v.offset = at;
    auto [it, inserted] = meta_.emplace(key, std::move(v));
    HS_CHECK(inserted, path_, ": byte ", at, ": metadata key '", key,
             "' appears twice (first at byte ", it->second.offset, ")");
  }
  alignment_bytes_ =
      has("general.alignment") ? get_u32("general.alignment") : kDefaultAlignmentBytes;
  HS_CHECK(alignment_bytes_ != 0 && (alignment_bytes_ & (alignment_bytes_ - 1)) == 0, path_,
           ": general.alignment ", alignment_bytes_, " is not a power of two");

  c.check_count(h.tensor_count, kMinTensorInfoBytes, "tensor count");
  std::vector<TensorInfo> infos;
  infos.reserve(h.tensor_count);
  for (uint64_t i = 0; i < h.tensor_count; ++i) infos.push_back(read_tensor_info(c, path_, i));

  // The data section starts at the first multiple of the alignment after the tensor infos. A
  // file without tensors may end before it.
  data_offset_ = (c.pos() + alignment_bytes_ - 1) / alignment_bytes_ * alignment_bytes_;
  for (TensorInfo& info : infos) {
    place_tensor(&info, base, file_bytes, data_offset_, alignment_bytes_, path_);
    const std::string& name = info.tensor.name;
    HS_CHECK(tensor_index_.emplace(name, tensors_.size()).second, path_, ": ", info.where,
             ": a tensor of this name appears earlier in the file");
    tensors_.push_back(std::move(info.tensor));
  }
  check_no_overlap(tensors_, path_);
}

std::vector<std::string> GgufFile::keys() const {
  std::vector<std::string> out;
  for (const auto& kv : meta_) out.push_back(kv.first);
  return out;
}

const GgufValue& GgufFile::value(const std::string& key) const {
  auto it = meta_.find(key);
  HS_CHECK(it != meta_.end(), path_, ": metadata key '", key, "' is missing");
  return it->second;
}

GgufValueType GgufFile::type_of(const std::string& key) const {
  return value(key).type;
}

template <typename T>
T GgufFile::get_integer(const std::string& key, const char* type_name) const {
  const GgufValue& v = value(key);
  HS_CHECK(is_integer(v.type), path_, ": metadata key '", key, "' is ", describe(v), ", expected ",
           type_name);
  const WideInt w = read_int(v.type, v.raw);
  HS_CHECK(fits<T>(w), path_, ": metadata key '", key, "' = ", w, " (", describe(v),
           ") does not fit in ", type_name);
  return narrow<T>(w);
}

uint32_t GgufFile::get_u32(const std::string& key) const {
  return get_integer<uint32_t>(key, "u32");
}
int32_t GgufFile::get_i32(const std::string& key) const {
  return get_integer<int32_t>(key, "i32");
}
uint64_t GgufFile::get_u64(const std::string& key) const {
  return get_integer<uint64_t>(key, "u64");
}
int64_t GgufFile::get_i64(const std::string& key) const {
  return get_integer<int64_t>(key, "i64");
}

float GgufFile::get_f32(const std::string& key) const {
  const GgufValue& v = value(key);
  HS_CHECK(v.type == GgufValueType::F32 || v.type == GgufValueType::F64, path_, ": metadata key '",
           key, "' is ", describe(v), ", expected f32");
  return read_float(v.type, v.raw);
}

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = value(key);
  HS_CHECK(v.type == GgufValueType::BOOL, path_, ": metadata key '", key, "' is ", describe(v),
           ", expected bool");
  return v.raw[0] != 0;
}

const std::string& GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = value(key);
  HS_CHECK(v.type == GgufValueType::STRING, path_, ": metadata key '", key, "' is ", describe(v),
           ", expected string");
  return v.strings[0];
}

const std::vector<std::string>& GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = value(key);
  HS_CHECK(v.type == GgufValueType::ARRAY && v.elem_type == GgufValueType::STRING, path_,
           ": metadata key '", key, "' is ", describe(v), ", expected array of string");
  return v.strings;
}

std::vector<int32_t> GgufFile::get_i32_array(const std::string& key) const {
  const GgufValue& v = value(key);
  HS_CHECK(v.type == GgufValueType::ARRAY && is_integer(v.elem_type), path_, ": metadata key '",
           key, "' is ", describe(v), ", expected array of i32");
  const uint64_t elem_bytes = value_bytes(v.elem_type);
  std::vector<int32_t> out(v.count);
  for (uint64_t i = 0; i < v.count; ++i) {
    const WideInt w = read_int(v.elem_type, v.raw + i * elem_bytes);
    HS_CHECK(fits<int32_t>(w), path_, ": metadata key '", key, "': element ", i, " = ", w,
             " does not fit in i32");
    out[i] = narrow<int32_t>(w);
  }
  return out;
}

std::vector<float> GgufFile::get_f32_array(const std::string& key) const {
  const GgufValue& v = value(key);
  HS_CHECK(v.type == GgufValueType::ARRAY &&
               (v.elem_type == GgufValueType::F32 || v.elem_type == GgufValueType::F64),
           path_, ": metadata key '", key, "' is ", describe(v), ", expected array of f32");
  const uint64_t elem_bytes = value_bytes(v.elem_type);
  std::vector<float> out(v.count);
  for (uint64_t i = 0; i < v.count; ++i) out[i] = read_float(v.elem_type, v.raw + i * elem_bytes);
  return out;
}

const GgufTensor* GgufFile::find(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::tensor(const std::string& name) const {
  const GgufTensor* t = find(name);
  HS_CHECK(t != nullptr, path_, ": missing tensor '", name, "'");
  return *t;
}

}  // namespace hs
