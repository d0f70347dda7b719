#include "model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace hs {
namespace {

using json = nlohmann::json;

// A header larger than this is not a plausible safetensors header (the format's own
// implementation refuses above 100 MB); checking it first keeps a corrupt length from making
// us parse gigabytes of tensor data as JSON.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

bool parse_st_dtype(const std::string& s, DType* out) {
  if (s == "F32")
    *out = DType::f32;
  else if (s == "F16")
    *out = DType::f16;
  else if (s == "BF16")
    *out = DType::bf16;
  else
    return false;
  return true;
}

// Multiplies without overflow; false if the product does not fit.
bool mul_ok(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return false;
  *out = a * b;
  return true;
}

}  // namespace

int64_t TensorView::numel() const {
  return shape_numel(shape);
}

std::string TensorView::shape_str() const {
  return shape_text(shape);
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), file_(path) {
  const uint64_t file_bytes = file_.bytes();
  HS_CHECK(file_bytes >= 8, path, ": truncated safetensors file (", file_bytes,
           " bytes, shorter than the 8-byte header length)");
  const uint8_t* base = file_.data();
  {
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | base[i];  // little-endian
    HS_CHECK(header_bytes <= kMaxHeaderBytes, path, ": header length ", header_bytes,
             " is implausible (corrupt file?)");
    HS_CHECK(header_bytes <= file_bytes - 8, path, ": header length ", header_bytes,
             " points past the end of the file (", file_bytes, " bytes): truncated or corrupt");
    const char* hdr = reinterpret_cast<const char*>(base + 8);
    json j = json::parse(hdr, hdr + header_bytes, nullptr, /*allow_exceptions=*/false);
    HS_CHECK(!j.is_discarded(), path, ": header is not valid JSON");
    HS_CHECK(j.is_object(), path, ": header must be a JSON object");

    const uint64_t data_start = 8 + header_bytes;
    const uint64_t data_bytes = file_bytes - data_start;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      const std::string& name = it.key();
      const json& e = it.value();
      const std::string where = cat(path, ": tensor '", name, "'");
      HS_CHECK(e.is_object(), where, ": entry must be an object");
      HS_CHECK(e.contains("dtype") && e["dtype"].is_string(), where, ": missing dtype");
      HS_CHECK(e.contains("shape") && e["shape"].is_array(), where, ": missing shape");
      HS_CHECK(e.contains("data_offsets") && e["data_offsets"].is_array() &&
                   e["data_offsets"].size() == 2,
               where, ": data_offsets must be [begin, end]");
      TensorView t;
      t.name = name;
      t.file = path;
      const std::string dt = e["dtype"].get<std::string>();
      HS_CHECK(parse_st_dtype(dt, &t.dtype), where, ": dtype ", dt,
               " is not supported (F32, F16 or BF16)");
      uint64_t numel = 1;
      for (const json& d : e["shape"]) {
        HS_CHECK(d.is_number_unsigned(), where, ": shape entries must be non-negative integers");
        const uint64_t dim = d.get<uint64_t>();
        HS_CHECK(dim < (1ull << 40) && mul_ok(numel, dim, &numel), where, ": shape overflows");
        t.shape.push_back(static_cast<int64_t>(dim));
      }
      const json& off = e["data_offsets"];
      HS_CHECK(off[0].is_number_unsigned() && off[1].is_number_unsigned(), where,
               ": data_offsets must be non-negative integers");
      const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
      HS_CHECK(begin <= end, where, ": data_offsets [", begin, ", ", end, "] are reversed");
      HS_CHECK(end <= data_bytes, where, ": data_offsets [", begin, ", ", end,
               "] point past the end of the file (data section is ", data_bytes,
               " bytes): truncated or corrupt");
      uint64_t expect = 0;
      HS_CHECK(mul_ok(numel, dtype_bytes(t.dtype), &expect) && expect == end - begin, where,
               ": shape ", t.shape_str(), " of ", dt, " needs ", expect,
               " bytes but data_offsets hold ", end - begin);
      t.data = base + data_start + begin;
      t.bytes = end - begin;
      ranges.emplace_back(begin, end);
      tensors_.emplace(name, std::move(t));
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
      HS_CHECK(ranges[i].first >= ranges[i - 1].second, path,
               ": tensors overlap in the data section (corrupt header)");
  }
}

TensorStore::TensorStore(const std::string& model_dir) : dir_(model_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  const fs::path single = dir / "model.safetensors";
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (fs::exists(index_path)) {
    std::ifstream f(index_path);
    json j = json::parse(f, nullptr, /*allow_exceptions=*/false);
    const std::string src = index_path.string();
    HS_CHECK(!j.is_discarded() && j.is_object(), src, ": invalid JSON");
    HS_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), src,
             ": missing 'weight_map'");
    std::map<std::string, SafetensorsFile*> opened;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      HS_CHECK(it.value().is_string(), src, ": weight_map['", it.key(), "'] must be a file name");
      const std::string shard = it.value().get<std::string>();
      HS_CHECK(shard.find('/') == std::string::npos && shard.find("..") == std::string::npos, src,
               ": weight_map['", it.key(), "'] names '", shard, "', which is not a file in ",
               model_dir);
      if (!opened.count(shard)) {
        HS_CHECK(fs::exists(dir / shard), src, ": shard '", shard, "' (holding tensor '", it.key(),
                 "') does not exist");
        files_.push_back(std::make_unique<SafetensorsFile>((dir / shard).string()));
        opened[shard] = files_.back().get();
      }
      const auto& ts = opened[shard]->tensors();
      auto t = ts.find(it.key());
      HS_CHECK(t != ts.end(), src, ": tensor '", it.key(), "' is listed in shard '", shard,
               "' but that file does not hold it");
      index_[it.key()] = &t->second;
    }
  } else if (fs::exists(single)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single.string()));
    for (const auto& [name, t] : files_.back()->tensors()) index_[name] = &t;
  } else {
    fail(model_dir, ": no model.safetensors or model.safetensors.index.json found");
  }
}

const TensorView& TensorStore::get(const std::string& name) const {
  auto it = index_.find(name);
  HS_CHECK(it != index_.end(), dir_, ": missing tensor '", name, "'");
  return *it->second;
}

const TensorView& TensorStore::get(const std::string& name,
                                   const std::vector<int64_t>& shape) const {
  const TensorView& t = get(name);
  if (t.shape != shape) {
    TensorView expect;
    expect.shape = shape;
    fail(t.file, ": wrong shape for tensor '", name, "': ", t.shape_str(), ", expected ",
         expect.shape_str());
  }
  return t;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  for (const auto& kv : index_) out.push_back(kv.first);
  return out;
}

void read_tensor(const TensorView& t, DType to, void* dst) {
  convert(t.dtype, t.data, to, dst, static_cast<size_t>(t.numel()));
}

}  // namespace hs
