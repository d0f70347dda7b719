#include "model/pretokenizer.h"

#include <algorithm>
#include <utility>

#include "model/tokenizer_byte_level.h"

namespace hs {

namespace {

// The pattern HF's ByteLevel pre-tokenizer splits with when use_regex is true (GPT-2's).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// One stretch of a piece: [begin, end) and whether the split pattern matched it.
struct Span {
  size_t begin, end;
  bool is_match;
};

// The piece cut into alternating non-matching and matching stretches that cover it (HF's
// Pattern::find_matches, with Invert applied).
std::vector<Span> find_spans(const UnicodeRegex& regex, std::string_view text, bool invert) {
  std::vector<Span> spans;
  size_t previous_end = 0;
  for (const auto& [begin, end] : regex.find_all(text)) {
    if (previous_end != begin) spans.push_back({previous_end, begin, invert});
    spans.push_back({begin, end, !invert});
    previous_end = end;
  }
  if (previous_end != text.size()) spans.push_back({previous_end, text.size(), invert});
  return spans;
}

}  // namespace

PreTokenizer PreTokenizer::from_json(const JsonNode& node) {
  PreTokenizer p;
  add_steps(node, p.steps_);
  return p;
}

void PreTokenizer::add_steps(const JsonNode& node, std::vector<Step>& steps) {
  const std::string type = node.at("type").as_string();
  if (type == "Sequence") {
    const JsonNode list = node.at("pretokenizers");
    for (size_t i = 0; i < list.array_size(); ++i) add_steps(list.at(i), steps);
  } else if (type == "ByteLevel") {
    Step step{Step::Kind::kByteLevel, {}, Behavior::kIsolated, false, false};
    step.add_prefix_space = node.bool_or("add_prefix_space", true);
    if (node.bool_or("use_regex", true))
      step.regex.push_back(UnicodeRegex::from_oniguruma(kGpt2Pattern, "ByteLevel GPT-2 regex"));
    steps.push_back(std::move(step));
  } else if (type == "Split") {
    Step step{Step::Kind::kSplit, {}, Behavior::kIsolated, false, false};
    const JsonNode pattern = node.at("pattern");
    const std::string where = cat(node.file(), ": ", pattern.path());
    if (const auto re = pattern.find("Regex")) {
      step.regex.push_back(UnicodeRegex::from_oniguruma(re->as_string(), where));
    } else if (const auto literal = pattern.find("String")) {
      const std::string text = literal->as_string();
      if (text.empty()) literal->fail("an empty split string is not supported");
      step.regex.push_back(UnicodeRegex::literal(text, where));
    } else {
      pattern.fail("expected {\"Regex\": ...} or {\"String\": ...}");
    }
    const JsonNode behavior = node.at("behavior");
    const std::string name = behavior.as_string();
    if (name == "Removed") {
      step.behavior = Behavior::kRemoved;
    } else if (name == "Isolated") {
      step.behavior = Behavior::kIsolated;
    } else if (name == "MergedWithPrevious") {
      step.behavior = Behavior::kMergedWithPrevious;
    } else if (name == "MergedWithNext") {
      step.behavior = Behavior::kMergedWithNext;
    } else if (name == "Contiguous") {
      step.behavior = Behavior::kContiguous;
    } else {
      behavior.fail("split behavior '", name, "' is not supported");
    }
    step.invert = node.bool_or("invert", false);
    steps.push_back(std::move(step));
  } else if (type == "Digits") {
    // HF splits on char::is_numeric, which is the general category N.
    Step step{Step::Kind::kSplit, {}, Behavior::kIsolated, false, false};
    step.regex.push_back(UnicodeRegex("\\p{N}", cat(node.file(), ": ", node.path())));
    step.behavior =
        node.bool_or("individual_digits", false) ? Behavior::kIsolated : Behavior::kContiguous;
    steps.push_back(std::move(step));
  } else {
    node.fail("pre-tokenizer type '", type,
              "' is not supported (supported: ByteLevel, Split, Digits, Sequence)");
  }
}

bool PreTokenizer::has_byte_level() const {
  for (const Step& s : steps_)
    if (s.kind == Step::Kind::kByteLevel) return true;
  return false;
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string> pieces;
  if (!text.empty()) pieces.emplace_back(text);
  std::vector<std::string> next;
  for (const Step& step : steps_) {
    next.clear();
    for (const std::string& piece : pieces) apply(step, piece, next);
    pieces.swap(next);
  }
  return pieces;
}

void PreTokenizer::apply(const Step& step, const std::string& piece,
                         std::vector<std::string>& out) {
  std::string prefixed;
  std::string_view text = piece;
  if (step.kind == Step::Kind::kByteLevel && step.add_prefix_space && text.front() != ' ') {
    prefixed = " " + piece;
    text = prefixed;
  }

  // Stretches to keep, as [begin, end); HF's NormalizedString::split.
  std::vector<std::pair<size_t, size_t>> keep;
  if (step.regex.empty()) {
    keep.emplace_back(0, text.size());
  } else {
    const std::vector<Span> spans = find_spans(step.regex.front(), text, step.invert);
    const Behavior behavior =
        step.kind == Step::Kind::kByteLevel ? Behavior::kIsolated : step.behavior;
    switch (behavior) {
      case Behavior::kIsolated:
        for (const Span& s : spans) keep.emplace_back(s.begin, s.end);
        break;
      case Behavior::kRemoved:
        for (const Span& s : spans)
          if (!s.is_match) keep.emplace_back(s.begin, s.end);
        break;
      case Behavior::kContiguous: {
        bool previous_match = false;
        for (const Span& s : spans) {
          if (!keep.empty() && s.is_match == previous_match) {
            keep.back().second = s.end;
          } else {
            keep.emplace_back(s.begin, s.end);
          }
          previous_match = s.is_match;
        }
        break;
      }
      case Behavior::kMergedWithPrevious: {
        bool previous_match = false;
        for (const Span& s : spans) {
          if (!keep.empty() && s.is_match && !previous_match) {
            keep.back().second = s.end;
          } else {
            keep.emplace_back(s.begin, s.end);
          }
          previous_match = s.is_match;
        }
        break;
      }
      case Behavior::kMergedWithNext: {
        bool previous_match = false;
        for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
          if (!keep.empty() && it->is_match && !previous_match) {
            keep.back().first = it->begin;
          } else {
            keep.emplace_back(it->begin, it->end);
          }
          previous_match = it->is_match;
        }
        std::reverse(keep.begin(), keep.end());
        break;
      }
    }
  }

  for (const auto& [begin, end] : keep) {
    if (begin == end) continue;  // HF drops empty splits
    const std::string_view part = text.substr(begin, end - begin);
    if (step.kind == Step::Kind::kByteLevel) {
      std::string mapped;
      mapped.reserve(part.size() * 2);
      byte_level::encode(part, mapped);
      out.push_back(std::move(mapped));
    } else {
      out.emplace_back(part);
    }
  }
}

}  // namespace hs
