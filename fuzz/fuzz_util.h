// Shared by the libFuzzer targets of this folder (docs/FUZZING.md).
//
// The parsers read files, so each input is written to a file first, in a directory of this
// process's own under the system temp folder (removed at exit). What counts as a finding, beyond
// what ASan, UBSan and libFuzzer report (a crash, a hang, an allocation over -malloc_limit_mb):
// any exception other than hs::Error (a library's exception leaking out of a parser is not the
// "clear error naming the file" the project promises), and an hs::Error whose message does not
// name the place the caller says it must.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "util/error.h"

namespace hs::fuzz {

// This process's scratch directory (created on first use).
const std::string& scratch_dir();

// Writes `bytes` to scratch_dir()/name (replacing it) and returns the path.
std::string write_file(const std::string& name, const uint8_t* data, size_t bytes);
std::string write_file(const std::string& name, const std::string& bytes);

// Removes scratch_dir()/name if it is there.
void remove_file(const std::string& name);

// Reports a finding and aborts (libFuzzer saves the input that led here).
[[noreturn]] void finding(const std::string& what);

// Runs fn. An hs::Error is the expected answer to bad input; its message must hold `must_name`
// (when not empty), else that is a finding. Any other exception propagates, and libFuzzer
// reports it as a crash (uncaught exception) with the input that threw it.
template <typename Fn>
bool expect_clean_error(Fn&& fn, const std::string& must_name = "") {
  try {
    fn();
    return true;
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.empty()) finding("hs::Error with an empty message");
    if (!must_name.empty() && what.find(must_name) == std::string::npos)
      finding("hs::Error does not name '" + must_name + "': " + what);
    return false;
  }
}

}  // namespace hs::fuzz
