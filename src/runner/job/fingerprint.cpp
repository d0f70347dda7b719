#include "runner/job/fingerprint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "util/error.h"

namespace hs {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// 64-bit FNV-1a of a file's bytes, as 16 hex digits; "absent" if there is no such file. Not a
// cryptographic hash: it tells an edited or different file from the original, which is all a
// resume check needs.
std::string file_fnv1a64(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "absent";
  uint64_t h = 0xcbf29ce484222325ull;
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::streamsize n = f.gcount();
    for (std::streamsize i = 0; i < n; ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 0x100000001b3ull;
    }
  }
  HS_CHECK(!f.bad(), "error reading '", path, "'");
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

// "name:bytes" of every *.safetensors file, sorted (or of the model itself, a .gguf file):
// catches swapped or re-downloaded weights without reading tens of GB.
std::vector<std::string> weight_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (fs::is_regular_file(dir, ec))
    return {cat(fs::path(dir).filename().string(), ":", fs::file_size(dir, ec))};
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".safetensors") continue;
    out.push_back(cat(e.path().filename().string(), ":", fs::file_size(e.path(), ec)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::map<std::string, std::string>& field_names() {
  static const std::map<std::string, std::string> names = {
      {"format", "journal format"},
      {"model.config_fnv1a64", "model config.json contents"},
      {"model.generation_config_fnv1a64", "model generation_config.json contents"},
      {"model.tokenizer_fnv1a64", "model tokenizer.json contents"},
      {"model.weight_files", "model weight files (name:bytes)"},
      {"input.bytes", "input file size"},
      {"input.fnv1a64", "input file contents"},
      {"generation.max_new_tokens", "--max-new-tokens"},
      {"generation.temperature", "--temperature"},
      {"generation.top_k", "--top-k"},
      {"generation.top_p", "--top-p"},
      {"generation.seed", "--seed"},
      {"generation.stop", "--stop strings"},
      {"generation.system", "--system"},
      {"weights.format", "--weight-format and --weight-group"},
  };
  return names;
}

}  // namespace

json job_fingerprint(const FingerprintInputs& in) {
  std::error_code ec;
  const auto input_bytes = fs::file_size(in.input_path, ec);
  HS_CHECK(!ec, "cannot read input file '", in.input_path, "': ", ec.message());
  const fs::path m(in.model_dir);
  json j{
      {"format", 1},
      {"model.config_fnv1a64", file_fnv1a64((m / "config.json").string())},
      {"model.generation_config_fnv1a64", file_fnv1a64((m / "generation_config.json").string())},
      {"model.tokenizer_fnv1a64", file_fnv1a64((m / "tokenizer.json").string())},
      {"model.weight_files", weight_files(in.model_dir)},
      {"input.bytes", static_cast<uint64_t>(input_bytes)},
      {"input.fnv1a64", file_fnv1a64(in.input_path)},
      {"generation.max_new_tokens", in.max_new_tokens},
      {"generation.temperature", in.sampling.temperature},
      {"generation.top_k", in.sampling.top_k},
      {"generation.top_p", in.sampling.top_p},
      {"generation.seed", in.sampling.seed},
      {"generation.stop", in.stop},
      {"generation.system", in.system},
  };
  const bool native =
      in.weight_format == "native" || in.weight_format == "fp16" || in.weight_format == "bf16";
  if (!native)
    j["weights.format"] = in.weight_format == "int4" || in.weight_format == "auto-lossy"
                              ? cat(in.weight_format, " group ", in.weight_group)
                              : in.weight_format;
  if (in.cache_format != "native" && in.cache_format != "fp16" && in.cache_format != "bf16")
    j["cache.format"] = cat(in.cache_format, " group ", in.cache_group);
  return j;
}

std::vector<std::string> fingerprint_differences(const json& journal, const json& now) {
  std::vector<std::string> out;
  std::map<std::string, bool> keys;
  for (const auto& [k, v] : journal.items()) keys[k] = true;
  for (const auto& [k, v] : now.items()) keys[k] = true;
  for (const auto& [k, unused] : keys) {
    const json a = journal.contains(k) ? journal[k] : json("(absent)");
    const json b = now.contains(k) ? now[k] : json("(absent)");
    if (a == b) continue;
    auto it = field_names().find(k);
    const std::string what = it == field_names().end() ? k : it->second + " (" + k + ")";
    out.push_back(cat(what, ": journal ", a.dump(), ", this run ", b.dump()));
  }
  return out;
}

}  // namespace hs
