// The pre-tokenizer of tokenizer.json: cuts text (between added tokens) into the words that BPE
// encodes one by one. Supported steps, as HF `tokenizers` defines them:
//   ByteLevel {add_prefix_space, use_regex}: optional leading space, the GPT-2 regex split,
//       then every byte mapped to its byte-level character;
//   Split {pattern: Regex | String, behavior, invert}: all five behaviors;
//   Digits {individual_digits}; Sequence of the above.
// Anything else is refused at load, naming the step.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer_json.h"
#include "model/unicode_regex.h"

namespace hs {

class PreTokenizer {
 public:
  // `node` is tokenizer.json's "pre_tokenizer" (not null).
  static PreTokenizer from_json(const JsonNode& node);

  // The words of `text`, in order, none empty. `text` is valid UTF-8.
  std::vector<std::string> split(std::string_view text) const;

  // Whether some step maps text to byte-level characters (what byte-level BPE needs).
  bool has_byte_level() const;

 private:
  // What happens to the pieces a split pattern finds (HF's SplitDelimiterBehavior).
  enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
  struct Step {
    enum class Kind { kByteLevel, kSplit } kind;
    std::vector<UnicodeRegex> regex;  // zero or one: the split pattern
    Behavior behavior = Behavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel only
  };

  static void add_steps(const JsonNode& node, std::vector<Step>& steps);
  static void apply(const Step& step, const std::string& piece, std::vector<std::string>& out);

  std::vector<Step> steps_;
};

}  // namespace hs
