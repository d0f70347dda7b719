// The journal of a job: an append-only file beside the output (OUT.journal) that is the durable
// record of every finished request. The results file is rebuilt from it; a resumed job replays
// it. A crash can only cut the last record short, and replay drops such a torn record.
//
// Layout (all integers little-endian):
//   file   = magic "HSJRNL1\n" (8 bytes), then records
//   record = "HSRC" | u32 type | u64 payload_bytes | payload | u32 crc
//   crc    = CRC-32 (runner/io/crc32.h) of the type, payload_bytes and payload bytes
// Payloads are JSON text (UTF-8), so any tool can read a journal; docs/OUTPUT.md lists fields.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "runner/io/posix_file.h"

namespace hs {

enum class JournalRecordType : uint32_t {
  header = 1,    // first record: format version and the job's fingerprint
  session = 2,   // a run (first or resumed) started
  unit = 3,      // the results of one finished work unit
  dispatch = 4,  // a work unit handed to a rank (a unit without results names what was lost)
};

struct JournalRecord {
  JournalRecordType type;
  std::string payload;
  uint64_t offset = 0;  // where the record starts in the file
};

// What a scan found: records [0, valid_bytes) are whole and intact.
struct JournalScan {
  bool has_magic = false;  // false: empty, torn within the magic, or not a journal at all
  bool foreign = false;    // the file does not start with the journal magic
  uint64_t valid_bytes = 0;
  uint64_t file_bytes = 0;
  int64_t records = 0;
  std::string stop_reason;  // why the scan stopped before file_bytes ("" if it did not)
};

// Reads every whole, intact record in order and hands it to on_record. Stops at the first
// record that is torn (cut short) or corrupt (bad marker or checksum). Throws hs::Error only if
// the file cannot be read.
JournalScan scan_journal(const std::string& path,
                         const std::function<void(const JournalRecord&)>& on_record);

class Journal {
 public:
  // A new journal (an existing file is replaced), its magic on disk.
  static Journal create(const std::string& path);
  // An existing journal, opened for appending after its first `valid_bytes` (from a scan):
  // a torn tail is cut off first.
  static Journal reopen(const std::string& path, uint64_t valid_bytes);

  void append(JournalRecordType type, const std::string& payload);
  void sync();  // appended records are on disk when this returns
  const std::string& path() const { return file_.path(); }

 private:
  explicit Journal(PosixFile f) : file_(std::move(f)) {}
  PosixFile file_;
};

}  // namespace hs
