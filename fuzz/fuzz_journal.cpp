// Resuming from a damaged journal (runner/io/journal.h, runner/job/job_output.h): the scan of
// its records, the replay of the header, session, dispatch and unit records, the rows done, and
// the reopen that cuts a torn tail. The job's fingerprint is taken from the input's own header
// record when it has one, so mutations get past the check that the journal is this job's.
//
// The records carry CRC-32s, which random mutations almost never keep right; so when the first
// input byte is odd, the rest is first given correct checksums (every record whose length fits
// the input), letting the fuzzer reach the payloads' JSON and what the replay does with it.
// Seeds: journals of a finished, a killed and a resumed job, written by tools/fuzz_seeds.py.
#include <cstring>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "runner/io/crc32.h"
#include "runner/job/job_output.h"

namespace {

using json = nlohmann::json;

// Gives every record of `j` (a journal: 8-byte magic, then "HSRC" u32 type u64 length payload
// u32 crc) the checksum it should have, as far as records fit.
void fix_checksums(std::string& j) {
  size_t at = 8;
  while (at + 16 <= j.size() && std::memcmp(j.data() + at, "HSRC", 4) == 0) {
    uint64_t n = 0;
    std::memcpy(&n, j.data() + at + 8, 8);
    if (n > j.size() - at - 16 || j.size() - at - 16 - n < 4) break;
    uint32_t c = hs::crc32(j.data() + at + 4, 4);
    c = hs::crc32(j.data() + at + 8, 8, c);
    c = hs::crc32(j.data() + at + 16, n, c);
    std::memcpy(j.data() + at + 16 + n, &c, 4);
    at += 16 + n + 4;
  }
}

// The fingerprint in the first record's payload, if it holds one.
json fingerprint_of(const std::string& j) {
  if (j.size() < 24 || std::memcmp(j.data() + 8, "HSRC", 4) != 0) return json::object();
  uint64_t n = 0;
  std::memcpy(&n, j.data() + 16, 8);
  if (n > j.size() - 24) return json::object();
  const json h = json::parse(j.begin() + 24, j.begin() + 24 + static_cast<long>(n), nullptr, false);
  if (!h.is_object() || !h.contains("fingerprint")) return json::object();
  return h["fingerprint"];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string journal(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) fix_checksums(journal);
  for (const char* name : {"out.jsonl", "out.jsonl.trace"}) hs::fuzz::remove_file(name);
  const std::string path = hs::fuzz::write_file("out.jsonl.journal", journal);
  const std::string output = hs::fuzz::scratch_dir() + "/out.jsonl";
  hs::JobOutputRequest req{output,
                           /*resume=*/true,
                           /*overwrite=*/false,
                           fingerprint_of(journal),
                           "hybridserve run --resume",
                           "2025-01-01T00:00:00Z",
                           2};
  hs::fuzz::expect_clean_error(
      [&] {
        const hs::JobOutput out = hs::open_job_output(req);
        // As a resumed job does next: which rows are done, for an input of at most 4096 rows.
        if (out.replayed_units > 0) hs::replay_done_rows(path, data[0] & 2, 4096);
      },
      "out.jsonl");
  return 0;
}
