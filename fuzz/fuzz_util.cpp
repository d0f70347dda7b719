#include "fuzz_util.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hs::fuzz {

const std::string& scratch_dir() {
  // Never destroyed: the exit handler that removes the directory runs after static destructors.
  static const std::string* dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/hs-fuzz-XXXXXX";
    if (!::mkdtemp(pattern.data())) finding("cannot create a scratch directory under " + pattern);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return new std::string(pattern);
  }();
  return *dir;
}

std::string write_file(const std::string& name, const uint8_t* data, size_t bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) finding("cannot write " + path);
  return path;
}

std::string write_file(const std::string& name, const std::string& bytes) {
  return write_file(name, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

void remove_file(const std::string& name) {
  std::error_code ec;
  std::filesystem::remove(scratch_dir() + "/" + name, ec);
}

void finding(const std::string& what) {
  // Control bytes (a NUL in a metadata key, say) are written escaped, so the line is whole.
  std::string line = "FUZZ FINDING: ";
  for (const char c : what) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
      line += hex;
    } else {
      line += c;
    }
  }
  std::fprintf(stderr, "%s\n", line.c_str());
  std::abort();
}

}  // namespace hs::fuzz
