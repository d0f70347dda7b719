// Errors in HybridServe carry their context (file, tensor, dataset line) and travel up as
// exceptions; only main() turns them into an exit code.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace hs {

// The message with its control bytes other than newline and tab written as \xNN: messages
// quote names read from files (a GGUF metadata key, a tensor name), and a NUL among them would
// cut what() short, and the place it names with it.
inline std::string printable_message(const std::string& what) {
  std::string out;
  out.reserve(what.size());
  for (const char c : what) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 && c != '\n' && c != '\t') {
      const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 15];
    } else {
      out += c;
    }
  }
  return out;
}

// Any failure caused by input we do not control (model files, datasets, job configs, options).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(printable_message(what)) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<<: cat("tensor ", name, " has ", n, " dims").
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

// Throws hs::Error with the concatenated message.
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(cat(args...));
}

// Checks a condition on untrusted input; throws hs::Error with the message if it does not hold.
#define HS_CHECK(cond, ...)               \
  do {                                    \
    if (!(cond)) ::hs::fail(__VA_ARGS__); \
  } while (0)

}  // namespace hs
