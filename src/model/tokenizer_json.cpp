#include "model/tokenizer_json.h"

#include <fstream>
#include <limits>
#include <sstream>

namespace hs {

nlohmann::json JsonNode::parse_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) hs::fail(file, ": cannot open file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) hs::fail(file, ": read error");
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
    hs::fail(file, ": invalid JSON: ", e.what());
  }
}

std::string JsonNode::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : cat(path_, ".", key);
}

const char* JsonNode::type_name() const {
  return value_->type_name();
}

JsonNode JsonNode::at(std::string_view key) const {
  if (!is_object()) fail("expected an object, found ", type_name());
  const auto it = value_->find(key);
  if (it == value_->end()) fail("missing field '", key, "'");
  return JsonNode(*it, file_, child_path(key));
}

std::optional<JsonNode> JsonNode::find(std::string_view key) const {
  if (!is_object()) fail("expected an object, found ", type_name());
  const auto it = value_->find(key);
  if (it == value_->end() || it->is_null()) return std::nullopt;
  return JsonNode(*it, file_, child_path(key));
}

JsonNode JsonNode::at(size_t index) const {
  if (!is_array()) fail("expected an array, found ", type_name());
  if (index >= value_->size()) fail("index ", index, " is out of range");
  return JsonNode((*value_)[index], file_, cat(path_, "[", index, "]"));
}

size_t JsonNode::array_size() const {
  if (!is_array()) fail("expected an array, found ", type_name());
  return value_->size();
}

std::string JsonNode::as_string() const {
  if (!is_string()) fail("expected a string, found ", type_name());
  return value_->get<std::string>();
}

int64_t JsonNode::as_int() const {
  if (value_->is_number_unsigned()) {
    const uint64_t v = value_->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail("integer too large");
    return static_cast<int64_t>(v);
  }
  if (!value_->is_number_integer()) fail("expected an integer, found ", type_name());
  return value_->get<int64_t>();
}

double JsonNode::as_number() const {
  if (!value_->is_number()) fail("expected a number, found ", type_name());
  return value_->get<double>();
}

bool JsonNode::as_bool() const {
  if (!value_->is_boolean()) fail("expected true or false, found ", type_name());
  return value_->get<bool>();
}

int32_t JsonNode::as_id() const {
  const int64_t v = as_int();
  if (v < 0 || v > std::numeric_limits<int32_t>::max()) fail("token id ", v, " is out of range");
  return static_cast<int32_t>(v);
}

bool JsonNode::bool_or(std::string_view key, bool fallback) const {
  const auto node = find(key);
  return node ? node->as_bool() : fallback;
}

std::string JsonNode::string_or(std::string_view key, const std::string& fallback) const {
  const auto node = find(key);
  return node ? node->as_string() : fallback;
}

}  // namespace hs
