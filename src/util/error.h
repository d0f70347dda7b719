// Errors in HybridServe carry their context (file, tensor, dataset line) and travel up as
// exceptions; only main() turns them into an exit code.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace hs {

// Any failure caused by input we do not control (model files, datasets, job configs, options).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
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
