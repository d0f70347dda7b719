// GGUF files built byte by byte here, from the published layout: a well-formed file reads back
// with the values written, dequantisation matches the format's closed-form formulas on
// hand-made blocks, and every kind of corrupt or truncated file gives one hs::Error naming the
// file and the problem, never a crash or an out-of-bounds read.
#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <stdexcept>

#include "model/gguf.h"
#include "model/gguf_dequant.h"
#include "test_support.h"
#include "util/error.h"

namespace hs {
namespace {

// Value type ids and ggml type ids as the format numbers them (written out here rather than
// taken from gguf.h, so the test checks the reader against the format).
enum : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
enum : uint32_t {
  kTypeF32 = 0,
  kTypeF16 = 1,
  kTypeQ4_0 = 2,
  kTypeQ4_1 = 3,
  kTypeQ8_0 = 8,
  kTypeQ4_K = 12,
  kTypeBF16 = 30
};

// Appends v's little-endian bytes (the test host is little-endian, as the reader requires).
template <typename T>
void put(std::string& b, T v) {
  b.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void put_str(std::string& b, const std::string& s) {
  put<uint64_t>(b, s.size());
  b += s;
}

// One metadata entry, encoded: key, value type, value.
template <typename T>
std::string kv(const std::string& key, uint32_t type, T v) {
  std::string b;
  put_str(b, key);
  put<uint32_t>(b, type);
  put<T>(b, v);
  return b;
}

std::string kv_str(const std::string& key, const std::string& v) {
  std::string b;
  put_str(b, key);
  put<uint32_t>(b, kString);
  put_str(b, v);
  return b;
}

std::string kv_str_array(const std::string& key, const std::vector<std::string>& v) {
  std::string b;
  put_str(b, key);
  put<uint32_t>(b, kArray);
  put<uint32_t>(b, kString);
  put<uint64_t>(b, v.size());
  for (const std::string& s : v) put_str(b, s);
  return b;
}

template <typename T>
std::string kv_array(const std::string& key, uint32_t elem_type, const std::vector<T>& v) {
  std::string b;
  put_str(b, key);
  put<uint32_t>(b, kArray);
  put<uint32_t>(b, elem_type);
  put<uint64_t>(b, v.size());
  for (T x : v) put<T>(b, x);
  return b;
}

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type;
  std::string data;  // the tensor's bytes
  // Written as is if set; else the next aligned free offset, and dims.size().
  std::optional<uint64_t> offset = std::nullopt;
  std::optional<uint32_t> n_dims = std::nullopt;
};

// A built file and where its parts start, for cutting it short at a chosen place.
struct Built {
  std::string bytes;
  size_t metadata_at = 0;
  size_t tensor_infos_at = 0;
  size_t data_at = 0;
  std::vector<uint64_t> offsets;  // each tensor's offset as written
};

Built build(const std::vector<std::string>& metadata, const std::vector<TensorSpec>& tensors,
            uint32_t alignment = 32, uint32_t version = 3) {
  Built f;
  std::string& b = f.bytes;
  b += "GGUF";
  put<uint32_t>(b, version);
  put<uint64_t>(b, tensors.size());
  put<uint64_t>(b, metadata.size());
  f.metadata_at = b.size();
  for (const std::string& e : metadata) b += e;
  f.tensor_infos_at = b.size();
  uint64_t next = 0;
  for (const TensorSpec& t : tensors) {
    const uint64_t offset = t.offset.value_or(next);
    next = (offset + t.data.size() + alignment - 1) / alignment * alignment;
    f.offsets.push_back(offset);
    put_str(b, t.name);
    put<uint32_t>(b, t.n_dims.value_or(static_cast<uint32_t>(t.dims.size())));
    for (uint64_t d : t.dims) put<uint64_t>(b, d);
    put<uint32_t>(b, t.type);
    put<uint64_t>(b, offset);
  }
  f.data_at = (b.size() + alignment - 1) / alignment * alignment;
  b.resize(f.data_at, '\0');
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t end = f.data_at + f.offsets[i] + tensors[i].data.size();
    if (end > b.size() && f.offsets[i] < (1u << 20)) b.resize(end, '\0');
    if (f.offsets[i] < (1u << 20))
      b.replace(f.data_at + f.offsets[i], tensors[i].data.size(), tensors[i].data);
  }
  return f;
}

std::string write_gguf(const std::string& bytes, const std::string& name = "model.gguf") {
  const std::string path = test::temp_dir() + "/" + name;
  test::write_file(path, bytes);
  return path;
}

// Expects opening these bytes to throw hs::Error whose message holds the path and every part.
void expect_error(const std::string& bytes, const std::vector<std::string>& parts) {
  const std::string path = write_gguf(bytes, "bad.gguf");
  try {
    GgufFile f(path);
    ADD_FAILURE() << "no error for a bad file; expected: " << parts[0];
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    for (const std::string& p : parts) EXPECT_NE(what.find(p), std::string::npos) << what;
  }
}

std::string f32_bytes(const std::vector<float>& v) {
  std::string b;
  for (float x : v) put<float>(b, x);
  return b;
}

std::string u16_bytes(const std::vector<uint16_t>& v) {
  std::string b;
  for (uint16_t x : v) put<uint16_t>(b, x);
  return b;
}

// fp16 bit patterns of values exact in fp16 (sign, exponent 15-biased, mantissa).
constexpr uint16_t kHalf = 0x3800;        // 0.5
constexpr uint16_t kTwo = 0x4000;         // 2.0
constexpr uint16_t kQuarter = 0x3400;     // 0.25
constexpr uint16_t kMinusOne = 0xbc00;    // -1.0
constexpr uint16_t kMinusThree = 0xc200;  // -3.0

// Q8_0 block: f16 d, then 32 int8 values.
std::string q8_0_block(uint16_t d, const std::vector<int8_t>& q) {
  std::string b;
  put<uint16_t>(b, d);
  for (int8_t x : q) put<int8_t>(b, x);
  return b;
}

// Q4_0 / Q4_1 quants: value j in the low nibble of byte j, value j + 16 in its high nibble.
std::string nibbles(const std::vector<uint8_t>& q) {
  std::string b;
  for (int j = 0; j < 16; ++j) b += static_cast<char>(q[j] | (q[j + 16] << 4));
  return b;
}

std::vector<int8_t> q8_ramp() {
  std::vector<int8_t> q(32);
  for (int i = 0; i < 32; ++i) q[i] = static_cast<int8_t>(i * 8 - 128);  // -128 .. 120
  return q;
}

std::vector<uint8_t> q4_pattern() {
  std::vector<uint8_t> q(32);
  for (int i = 0; i < 32; ++i) q[i] = static_cast<uint8_t>((i * 7 + 3) % 16);
  return q;
}

// A small well-formed file: one tensor of each supported type, metadata of every kind.
std::vector<std::string> every_kind_of_metadata() {
  return {
      kv_str("general.architecture", "llama"),
      kv<uint8_t>("t.u8", kU8, 200),
      kv<int8_t>("t.i8", kI8, -5),
      kv<uint16_t>("t.u16", kU16, 60000),
      kv<int16_t>("t.i16", kI16, -30000),
      kv<uint32_t>("t.u32", kU32, 4000000000u),
      kv<int32_t>("t.i32", kI32, -2000000000),
      kv<float>("t.f32", kF32, 1.5f),
      kv<uint8_t>("t.bool", kBool, 1),
      kv_str("t.string", "hello, world"),
      kv<uint64_t>("t.u64", kU64, 1ull << 40),
      kv<int64_t>("t.i64", kI64, -(1ll << 40)),
      kv<double>("t.f64", kF64, 0.25),
      kv_str_array("tokenizer.ggml.tokens", {"<s>", "hello", "", "\xc3\xa9"}),
      kv_array<int32_t>("tokenizer.ggml.token_type", kI32, {3, 1, -1, 6}),
      kv_array<float>("tokenizer.ggml.scores", kF32, {0.f, -1.25f, 2.5f, -1e9f}),
  };
}

std::vector<TensorSpec> one_tensor_of_each_type() {
  std::vector<TensorSpec> t;
  t.push_back({"f32", {3, 2}, kTypeF32, f32_bytes({1, 2, 3, 4, 5, -6.5f})});
  t.push_back({"f16", {4}, kTypeF16, u16_bytes({0x3c00, 0xc000, 0x3555, 0x7bff})});
  t.push_back({"bf16", {2, 2}, kTypeBF16, u16_bytes({0x3f80, 0xc040, 0x3eab, 0x0000})});
  t.push_back({"q8_0",
               {32, 2},
               kTypeQ8_0,
               q8_0_block(kHalf, q8_ramp()) + q8_0_block(kMinusThree, q8_ramp())});
  t.push_back({"q4_0", {32}, kTypeQ4_0, u16_bytes({kTwo}) + nibbles(q4_pattern())});
  t.push_back({"q4_1", {32}, kTypeQ4_1, u16_bytes({kQuarter, kMinusOne}) + nibbles(q4_pattern())});
  return t;
}

TEST(GgufRead, AWellFormedV3FileReadsBackWithTheValuesWritten) {
  const auto specs = one_tensor_of_each_type();
  const Built built = build(every_kind_of_metadata(), specs);
  const std::string path = write_gguf(built.bytes);
  GgufFile f(path);

  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment_bytes(), 32u);
  EXPECT_EQ(f.data_offset(), built.data_at);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(f.keys().size(), every_kind_of_metadata().size());

  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_u32("t.u8"), 200u);
  EXPECT_EQ(f.get_i32("t.i8"), -5);
  EXPECT_EQ(f.get_u32("t.u16"), 60000u);
  EXPECT_EQ(f.get_i32("t.i16"), -30000);
  EXPECT_EQ(f.get_u32("t.u32"), 4000000000u);
  EXPECT_EQ(f.get_i32("t.i32"), -2000000000);
  EXPECT_EQ(f.get_f32("t.f32"), 1.5f);
  EXPECT_TRUE(f.get_bool("t.bool"));
  EXPECT_EQ(f.get_string("t.string"), "hello, world");
  EXPECT_EQ(f.get_u64("t.u64"), 1ull << 40);
  EXPECT_EQ(f.get_i64("t.i64"), -(1ll << 40));
  EXPECT_EQ(f.get_f32("t.f64"), 0.25f);
  EXPECT_EQ(f.type_of("t.i16"), GgufValueType::I16);
  EXPECT_EQ(f.type_of("tokenizer.ggml.tokens"), GgufValueType::ARRAY);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens"),
            (std::vector<std::string>{"<s>", "hello", "", "\xc3\xa9"}));
  EXPECT_EQ(f.get_i32_array("tokenizer.ggml.token_type"), (std::vector<int32_t>{3, 1, -1, 6}));
  EXPECT_EQ(f.get_f32_array("tokenizer.ggml.scores"),
            (std::vector<float>{0.f, -1.25f, 2.5f, -1e9f}));
  // Integer getters take any integer type whose value fits.
  EXPECT_EQ(f.get_u64("t.u8"), 200u);
  EXPECT_EQ(f.get_i64("t.u32"), 4000000000ll);

  ASSERT_EQ(f.tensors().size(), specs.size());
  const std::vector<GgufType> types = {GgufType::F32,  GgufType::F16,  GgufType::BF16,
                                       GgufType::Q8_0, GgufType::Q4_0, GgufType::Q4_1};
  const std::vector<size_t> bytes = {6 * 4, 4 * 2, 4 * 2, 2 * 34, 18, 20};
  const uint8_t* first = f.tensors()[0].data;
  for (size_t i = 0; i < specs.size(); ++i) {
    const GgufTensor& t = f.tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, specs[i].name);  // file order
    EXPECT_EQ(&f.tensor(t.name), &t);
    EXPECT_EQ(t.dims, std::vector<int64_t>(specs[i].dims.begin(), specs[i].dims.end()));
    EXPECT_EQ(t.type, types[i]);
    EXPECT_EQ(t.bytes, bytes[i]);
    EXPECT_EQ(t.data - first, static_cast<ptrdiff_t>(built.offsets[i] - built.offsets[0]));
    EXPECT_EQ(std::memcmp(t.data, specs[i].data.data(), t.bytes), 0);
  }
  EXPECT_EQ(f.tensor("q8_0").numel(), 64);
  EXPECT_EQ(f.tensor("q8_0").rows(), 2);
  EXPECT_EQ(f.tensor("f32").dims_str(), "[3, 2]");
  EXPECT_EQ(f.find("absent"), nullptr);
}

TEST(GgufRead, Version2HasTheSameLayoutAndReads) {
  const Built built = build({kv_str("general.name", "v2")}, one_tensor_of_each_type(), 32, 2);
  GgufFile f(write_gguf(built.bytes));
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.get_string("general.name"), "v2");
  EXPECT_EQ(f.tensors().size(), 6u);
}

TEST(GgufRead, AFileWithoutTensorsMayEndBeforeTheDataSection) {
  Built built = build({kv_str("general.name", "x")}, {});
  built.bytes.resize(built.tensor_infos_at);
  GgufFile f(write_gguf(built.bytes));
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_TRUE(f.has("general.name"));
  EXPECT_FALSE(f.has("general.nothing"));
}

TEST(GgufRead, ANonDefaultAlignmentPlacesTheDataSectionAndTheTensors) {
  const std::vector<std::string> meta = {kv<uint32_t>("general.alignment", kU32, 64)};
  const Built built = build(
      meta,
      {{"a", {4}, kTypeF32, f32_bytes({1, 2, 3, 4})}, {"b", {2}, kTypeF32, f32_bytes({5, 6})}}, 64);
  ASSERT_EQ(built.offsets[1], 64u);  // 16 bytes of "a", padded to 64
  GgufFile f(write_gguf(built.bytes));
  EXPECT_EQ(f.alignment_bytes(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.data_offset(), built.data_at);
  EXPECT_EQ(f.tensor("b").data - f.tensor("a").data, 64);
  float b[2];
  dequantize(f.tensor("b"), b);
  EXPECT_EQ(b[0], 5.f);
  EXPECT_EQ(b[1], 6.f);
}

TEST(GgufRead, MetadataGettersNameTheKeyAndTheActualType) {
  GgufFile f(write_gguf(build(every_kind_of_metadata(), {}).bytes));
  const auto message = [&](auto get) {
    try {
      get();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string missing = message([&] { f.get_u32("llama.block_count"); });
  EXPECT_NE(missing.find(f.path()), std::string::npos) << missing;
  EXPECT_NE(missing.find("'llama.block_count' is missing"), std::string::npos) << missing;
  EXPECT_NE(message([&] { f.get_u32("t.string"); }).find("'t.string' is string, expected u32"),
            std::string::npos);
  EXPECT_NE(message([&] { f.get_u32("t.i8"); }).find("'t.i8' = -5 (i8) does not fit in u32"),
            std::string::npos);
  EXPECT_NE(message([&] { f.get_i32("t.u32"); }).find("does not fit in i32"), std::string::npos);
  EXPECT_NE(message([&] { f.get_f32("t.u32"); }).find("is u32, expected f32"), std::string::npos);
  EXPECT_NE(message([&] { f.get_bool("t.u8"); }).find("is u8, expected bool"), std::string::npos);
  EXPECT_NE(message([&] {
              f.get_string("tokenizer.ggml.tokens");
            }).find("is array of string, expected string"),
            std::string::npos);
  EXPECT_NE(message([&] {
              f.get_string_array("tokenizer.ggml.scores");
            }).find("is array of f32, expected array of string"),
            std::string::npos);
  EXPECT_NE(
      message([&] { f.get_i32_array("tokenizer.ggml.scores"); }).find("expected array of i32"),
      std::string::npos);
  EXPECT_NE(message([&] {
              f.get_f32_array("tokenizer.ggml.token_type");
            }).find("is array of i32, expected array of f32"),
            std::string::npos);
  const std::string no_tensor = message([&] { f.tensor("output.weight"); });
  EXPECT_NE(no_tensor.find("missing tensor 'output.weight'"), std::string::npos) << no_tensor;
}

TEST(GgufRead, IntegerArraysOfAnyTypeReadAsI32WhenTheyFit) {
  const std::vector<std::string> meta = {
      kv_array<uint8_t>("small", kU8, {1, 255}),
      kv_array<int64_t>("wide", kI64, {-7, 1ll << 40}),
  };
  GgufFile f(write_gguf(build(meta, {}).bytes));
  EXPECT_EQ(f.get_i32_array("small"), (std::vector<int32_t>{1, 255}));
  try {
    f.get_i32_array("wide");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("element 1 = 1099511627776 does not fit in i32"),
              std::string::npos)
        << e.what();
  }
}

// --- dequantisation against the closed-form formulas -----------------------------------------

TEST(GgufDequantize, Q8_0IsScaleTimesInt8) {
  GgufFile f(write_gguf(build({}, one_tensor_of_each_type()).bytes));
  const GgufTensor& t = f.tensor("q8_0");
  std::vector<float> out(64);
  dequantize(t, out.data());
  const std::vector<int8_t> q = q8_ramp();
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(out[i], 0.5f * q[i]) << i;       // block 0: d = 0.5
    EXPECT_EQ(out[32 + i], -3.f * q[i]) << i;  // block 1: d = -3
  }
  EXPECT_EQ(out[0], -64.f);  // q = -128
}

TEST(GgufDequantize, Q4_0IsScaleTimesNibbleMinus8WithLowNibblesFirst) {
  GgufFile f(write_gguf(build({}, one_tensor_of_each_type()).bytes));
  std::vector<float> out(32);
  dequantize(f.tensor("q4_0"), out.data());
  const std::vector<uint8_t> q = q4_pattern();
  for (int i = 0; i < 32; ++i) EXPECT_EQ(out[i], 2.f * (q[i] - 8)) << i;
}

TEST(GgufDequantize, Q4_0NibbleOrderOnOneByte) {
  // Byte 0 = 0xF1: low nibble 1 is value 0, high nibble 15 is value 16; every other byte 0x88
  // (nibble 8, value 0).
  std::string block = u16_bytes({kTwo}) + std::string(16, '\x88');
  block[2] = '\xf1';
  GgufFile f(write_gguf(build({}, {{"w", {32}, kTypeQ4_0, block}}).bytes));
  std::vector<float> out(32);
  dequantize(f.tensor("w"), out.data());
  for (int i = 0; i < 32; ++i) {
    const float expect = i == 0 ? 2.f * (1 - 8) : i == 16 ? 2.f * (15 - 8) : 0.f;
    EXPECT_EQ(out[i], expect) << i;
  }
}

TEST(GgufDequantize, Q4_1IsScaleTimesNibblePlusMin) {
  GgufFile f(write_gguf(build({}, one_tensor_of_each_type()).bytes));
  std::vector<float> out(32);
  dequantize(f.tensor("q4_1"), out.data());
  const std::vector<uint8_t> q = q4_pattern();
  for (int i = 0; i < 32; ++i) EXPECT_EQ(out[i], 0.25f * q[i] - 1.f) << i;
}

TEST(GgufDequantize, FloatTypesGiveTheirIeeeValues) {
  GgufFile f(write_gguf(build({}, one_tensor_of_each_type()).bytes));
  std::vector<float> out(6);
  dequantize(f.tensor("f32"), out.data());
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 4, 5, -6.5f}));
  out.resize(4);
  dequantize(f.tensor("f16"), out.data());
  EXPECT_EQ(out, (std::vector<float>{1.f, -2.f, 0.333251953125f, 65504.f}));
  dequantize(f.tensor("bf16"), out.data());
  EXPECT_EQ(out, (std::vector<float>{1.f, -3.f, 0.333984375f, 0.f}));
}

TEST(GgufDequantize, ARowRangeIsThoseRowsOfTheWholeTensor) {
  GgufFile f(write_gguf(build({}, one_tensor_of_each_type()).bytes));
  for (const char* name : {"q8_0", "f32", "bf16"}) {
    SCOPED_TRACE(name);
    const GgufTensor& t = f.tensor(name);
    std::vector<float> all(t.numel()), second(t.row_values());
    dequantize(t, all.data());
    dequantize_rows(t, 1, 1, second.data());
    EXPECT_EQ(second, std::vector<float>(all.begin() + t.row_values(), all.end()));
    EXPECT_THROW(dequantize_rows(t, 1, 2, second.data()), std::out_of_range);
    EXPECT_THROW(dequantize_rows(t, -1, 1, second.data()), std::out_of_range);
  }
}

// --- untrusted input -------------------------------------------------------------------------

Built good_file() {
  return build({kv_str("general.name", "tiny model")},
               {{"w", {32}, kTypeQ8_0, q8_0_block(kHalf, q8_ramp())}});
}

TEST(GgufUntrusted, WrongMagic) {
  std::string b = good_file().bytes;
  b.replace(0, 4, "GGML");
  expect_error(b, {"not a GGUF file", "47 47 4d 4c"});
}

TEST(GgufUntrusted, UnsupportedVersions) {
  for (uint32_t v : {1u, 4u}) {
    std::string b = good_file().bytes;
    std::memcpy(&b[4], &v, 4);
    expect_error(b, {cat("GGUF version ", v, " is not supported")});
  }
  std::string b = good_file().bytes;
  const uint32_t big_endian_3 = 0x03000000;
  std::memcpy(&b[4], &big_endian_3, 4);
  expect_error(b, {"big-endian"});
}

TEST(GgufUntrusted, EmptyFile) {
  expect_error("", {"empty file"});
}

TEST(GgufUntrusted, TruncatedInsideTheHeader) {
  expect_error(good_file().bytes.substr(0, 3), {"byte 0", "the magic", "truncated"});
  expect_error(good_file().bytes.substr(0, 10), {"byte 8", "the tensor count", "truncated"});
}

TEST(GgufUntrusted, TruncatedInsideAMetadataString) {
  const Built f = good_file();
  // key (8 + 12) and value type (4) of "general.name", the value's length (8), 3 of 10 bytes.
  const size_t cut = f.metadata_at + 8 + 12 + 4 + 8 + 3;
  expect_error(f.bytes.substr(0, cut),
               {cat("byte ", cut - 3), "string value of 'general.name' needs 10 bytes",
                "only 3 left", "truncated"});
}

TEST(GgufUntrusted, TruncatedInsideTheTensorTable) {
  const std::string name = "blk.0.attn_q.weight";
  const Built f = build({}, {{name, {32}, kTypeF32, f32_bytes(std::vector<float>(32))}});
  // The name (8 + 19) and n_dims (4) are there; the dims are cut after 5 of their 8 bytes.
  const size_t cut = f.tensor_infos_at + 8 + name.size() + 4 + 5;
  expect_error(f.bytes.substr(0, cut),
               {cat("byte ", cut - 5, ": dims of tensor '", name, "' (info at byte ",
                    f.tensor_infos_at, ") needs 8 bytes"),
                "truncated"});
  // Cut so early that even the smallest tensor info cannot fit.
  expect_error(f.bytes.substr(0, f.tensor_infos_at + 10),
               {"tensor count 1 is impossible", "truncated or corrupt"});
}

TEST(GgufUntrusted, TruncatedInsideTheTensorData) {
  const Built f = good_file();
  expect_error(f.bytes.substr(0, f.bytes.size() - 1),
               {"tensor 'w'", "34 bytes", "runs past the end of the file"});
}

TEST(GgufUntrusted, EveryPrefixOfAFileIsRefusedNamingTheFile) {
  const Built f = build(every_kind_of_metadata(), one_tensor_of_each_type());
  const std::string path = write_gguf("", "prefix.gguf");
  for (size_t n = 0; n < f.bytes.size(); ++n) {
    test::write_file(path, f.bytes.substr(0, n));
    try {
      GgufFile g(path);
      ADD_FAILURE() << "no error for the first " << n << " bytes";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

TEST(GgufUntrusted, HugeMetadataCount) {
  std::string b = good_file().bytes;
  const uint64_t huge = 1ull << 60;
  std::memcpy(&b[16], &huge, 8);
  expect_error(b, {"byte 24", "metadata count 1152921504606846976 is impossible"});
}

TEST(GgufUntrusted, HugeTensorCount) {
  std::string b = good_file().bytes;
  const uint64_t huge = ~0ull;
  std::memcpy(&b[8], &huge, 8);
  expect_error(b, {"tensor count 18446744073709551615 is impossible"});
}

TEST(GgufUntrusted, HugeKeyLength) {
  const Built f = good_file();
  std::string b = f.bytes;
  const uint64_t huge = 1ull << 62;
  std::memcpy(&b[f.metadata_at], &huge, 8);
  expect_error(b, {cat("byte ", f.metadata_at + 8), "key of metadata entry 0",
                   "needs 4611686018427387904 bytes"});
}

TEST(GgufUntrusted, HugeStringValueLength) {
  const Built f = good_file();
  std::string b = f.bytes;
  const uint64_t huge = ~0ull;
  std::memcpy(&b[f.metadata_at + 8 + 12 + 4], &huge, 8);
  expect_error(b, {"string value of 'general.name' needs 18446744073709551615 bytes"});
}

TEST(GgufUntrusted, HugeArrayCounts) {
  for (uint32_t elem : {kString, kF32, kU64}) {
    std::string entry;
    put_str(entry, "tokenizer.ggml.tokens");
    put<uint32_t>(entry, kArray);
    put<uint32_t>(entry, elem);
    put<uint64_t>(entry, 1ull << 61);
    expect_error(build({entry}, {}).bytes,
                 {"element count of array 'tokenizer.ggml.tokens' 2305843009213693952 is "
                  "impossible"});
  }
}

TEST(GgufUntrusted, NestedArraysAndUnknownValueTypesAreRefused) {
  std::string nested;
  put_str(nested, "a");
  put<uint32_t>(nested, kArray);
  put<uint32_t>(nested, kArray);
  put<uint64_t>(nested, 0);
  expect_error(build({nested}, {}).bytes, {"'a' is an array of arrays"});
  expect_error(build({kv<uint32_t>("b", 13, 0)}, {}).bytes, {"'b' has unknown value type 13"});
}

TEST(GgufUntrusted, DuplicateKeysAndTensorNames) {
  const std::string name = kv_str("general.name", "x");
  expect_error(build({name, name}, {}).bytes, {"'general.name' appears twice"});
  const TensorSpec w = {"w", {2}, kTypeF32, f32_bytes({1, 2})};
  expect_error(build({}, {w, w}).bytes, {"tensor 'w'", "appears earlier"});
}

TEST(GgufUntrusted, HugeNDims) {
  TensorSpec w = {"w", {32}, kTypeF32, f32_bytes(std::vector<float>(32))};
  w.n_dims = 1000000;
  expect_error(build({}, {w}).bytes, {"tensor 'w'", "n_dims 1000000 is outside 1..4"});
  w.n_dims = 0;
  expect_error(build({}, {w}).bytes, {"tensor 'w'", "n_dims 0 is outside 1..4"});
}

TEST(GgufUntrusted, ZeroAndOverflowingDims) {
  expect_error(build({}, {{"w", {4, 0}, kTypeF32, ""}}).bytes, {"tensor 'w'", "dims[1] is 0"});
  expect_error(build({}, {{"w", {1ull << 32, 1ull << 32}, kTypeF32, ""}}).bytes,
               {"tensor 'w'", "dims[1] = 4294967296 makes the element count overflow"});
  // Fits in int64 as a count but not as F32 bytes.
  expect_error(build({}, {{"w", {1ull << 62}, kTypeF32, ""}}).bytes,
               {"tensor 'w'", "byte size overflows"});
}

TEST(GgufUntrusted, TensorOffsetPastTheEnd) {
  TensorSpec w = {"w", {32}, kTypeQ8_0, q8_0_block(kHalf, q8_ramp())};
  w.offset = 1 << 20;
  expect_error(build({}, {w}).bytes,
               {"tensor 'w'", "data at offset 1048576 (34 bytes", "runs past the end"});
  w.offset = ~0ull - 31;  // aligned, and offset + bytes wraps around
  expect_error(build({}, {w}).bytes, {"tensor 'w'", "runs past the end"});
}

TEST(GgufUntrusted, MisalignedTensorOffset) {
  TensorSpec w = {"w", {2}, kTypeF32, f32_bytes({1, 2})};
  w.offset = 4;
  expect_error(build({}, {w}).bytes,
               {"tensor 'w'", "data offset 4 is not a multiple of the alignment (32 bytes)"});
}

TEST(GgufUntrusted, NonDefaultAlignmentIsHonouredWhenCheckingOffsets) {
  const std::vector<std::string> meta = {kv<uint32_t>("general.alignment", kU32, 64)};
  TensorSpec w = {"w", {2}, kTypeF32, f32_bytes({1, 2})};
  w.offset = 32;  // aligned to the default 32, not to the 64 this file asks for
  expect_error(build(meta, {w}, 64).bytes,
               {"data offset 32 is not a multiple of the alignment (64 bytes)"});
  expect_error(build({kv<uint32_t>("general.alignment", kU32, 48)}, {}, 48).bytes,
               {"general.alignment 48 is not a power of two"});
  expect_error(build({kv_str("general.alignment", "64")}, {}).bytes,
               {"'general.alignment' is string, expected u32"});
}

TEST(GgufUntrusted, UnsupportedTensorTypes) {
  expect_error(
      build({}, {{"blk.0.ffn_down.weight", {256}, kTypeQ4_K, std::string(144, '\0')}}).bytes,
      {"tensor 'blk.0.ffn_down.weight'",
       "type Q4_K (12) is not supported; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1"});
  expect_error(build({}, {{"w", {1}, 99, std::string(4, '\0')}}).bytes,
               {"type 99 (not a ggml type) is not supported"});
}

TEST(GgufUntrusted, RowsMustHoldWholeBlocks) {
  // 64 values, but rows of 16: a Q8_0 block of 32 would straddle two rows.
  expect_error(build({}, {{"w", {16, 4}, kTypeQ8_0, std::string(68, '\0')}}).bytes,
               {"tensor 'w'", "row length dims[0] = 16 is not a multiple of the Q8_0 block of 32"});
}

TEST(GgufUntrusted, OverlappingTensors) {
  TensorSpec a = {"a", {16}, kTypeF32, f32_bytes(std::vector<float>(16))};
  TensorSpec b = {"b", {2}, kTypeF32, f32_bytes({1, 2})};
  a.offset = 0;
  b.offset = 32;  // inside a's 64 bytes
  expect_error(build({}, {a, b}).bytes, {"tensors 'a' and 'b' overlap"});
}

}  // namespace
}  // namespace hs
