// A node of a parsed tokenizer.json (or tokenizer_config.json) that remembers its file and JSON
// path, so that every complaint says where: "tokenizer.json: model.merges[17]: unknown token".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace hs {

class JsonNode {
 public:
  // Reads and parses a whole JSON file; errors name the file (and line/column for bad JSON).
  static nlohmann::json parse_file(const std::string& file);

  JsonNode(const nlohmann::json& value, std::string file, std::string path = "")
      : value_(&value), file_(std::move(file)), path_(std::move(path)) {}

  const nlohmann::json& json() const { return *value_; }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }

  bool is_null() const { return value_->is_null(); }
  bool is_string() const { return value_->is_string(); }
  bool is_array() const { return value_->is_array(); }
  bool is_object() const { return value_->is_object(); }

  // Member `key` of an object; fails if this is not an object or the key is absent.
  JsonNode at(std::string_view key) const;
  // Member `key`, or nullopt when it is absent or null (optional fields).
  std::optional<JsonNode> find(std::string_view key) const;
  // Element `index` of an array.
  JsonNode at(size_t index) const;
  // Number of elements of an array (fails on anything else).
  size_t array_size() const;

  std::string as_string() const;
  int64_t as_int() const;
  double as_number() const;
  bool as_bool() const;
  // A token id: an integer in [0, 2^31).
  int32_t as_id() const;

  // Optional members with a default for absent / null.
  bool bool_or(std::string_view key, bool fallback) const;
  std::string string_or(std::string_view key, const std::string& fallback) const;

  // Throws hs::Error "FILE: PATH: message" ("FILE: message" at the root).
  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    if (path_.empty()) hs::fail(file_, ": ", args...);
    hs::fail(file_, ": ", path_, ": ", args...);
  }

 private:
  std::string child_path(std::string_view key) const;
  const char* type_name() const;

  const nlohmann::json* value_;
  std::string file_;
  std::string path_;
};

}  // namespace hs
