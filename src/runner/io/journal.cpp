#include "runner/io/journal.h"

#include <cstring>
#include <vector>

#include "runner/io/crc32.h"
#include "util/error.h"

namespace hs {
namespace {

constexpr char kMagic[8] = {'H', 'S', 'J', 'R', 'N', 'L', '1', '\n'};
constexpr char kRecordMarker[4] = {'H', 'S', 'R', 'C'};
constexpr size_t kRecordHeadBytes = 4 + 4 + 8;  // marker, type, payload_bytes
constexpr size_t kRecordTailBytes = 4;          // crc

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the journal layout is little-endian; add byte swaps for this platform");

uint32_t record_crc(uint32_t type, uint64_t payload_bytes, const std::string& payload) {
  uint32_t c = crc32(&type, sizeof type);
  c = crc32(&payload_bytes, sizeof payload_bytes, c);
  return crc32(payload.data(), payload.size(), c);
}

// Reads exactly `bytes` unless the file ends first; returns how many were read.
size_t read_fully(PosixFile& f, void* data, size_t bytes) {
  size_t got = 0;
  while (got < bytes) {
    const size_t n = f.read_some(static_cast<char*>(data) + got, bytes - got);
    if (n == 0) break;
    got += n;
  }
  return got;
}

}  // namespace

JournalScan scan_journal(const std::string& path,
                         const std::function<void(const JournalRecord&)>& on_record) {
  PosixFile f(path, PosixFile::Mode::read);
  JournalScan scan;
  scan.file_bytes = f.size_bytes();
  char magic[sizeof kMagic];
  const size_t got = read_fully(f, magic, sizeof magic);
  if (std::memcmp(magic, kMagic, got) != 0) {
    scan.foreign = true;
    scan.stop_reason = "the file is not a HybridServe journal";
    return scan;
  }
  if (got < sizeof kMagic) {
    scan.stop_reason = "the journal was cut short within its first bytes";
    return scan;
  }
  scan.has_magic = true;
  uint64_t offset = sizeof kMagic;
  scan.valid_bytes = offset;
  for (;;) {
    char head[kRecordHeadBytes];
    const size_t h = read_fully(f, head, sizeof head);
    if (h == 0) break;  // clean end
    if (h < sizeof head) {
      scan.stop_reason = cat("torn record at byte ", offset, " (header cut short)");
      break;
    }
    if (std::memcmp(head, kRecordMarker, sizeof kRecordMarker) != 0) {
      scan.stop_reason = cat("corrupt record at byte ", offset, " (no record marker)");
      break;
    }
    uint32_t type = 0;
    uint64_t payload_bytes = 0;
    std::memcpy(&type, head + 4, 4);
    std::memcpy(&payload_bytes, head + 8, 8);
    if (payload_bytes > scan.file_bytes - offset) {
      scan.stop_reason = cat("torn record at byte ", offset, " (payload cut short)");
      break;
    }
    JournalRecord r{static_cast<JournalRecordType>(type), std::string(payload_bytes, '\0'), offset};
    uint32_t crc = 0;
    if (read_fully(f, r.payload.data(), payload_bytes) < payload_bytes ||
        read_fully(f, &crc, sizeof crc) < sizeof crc) {
      scan.stop_reason = cat("torn record at byte ", offset, " (cut short)");
      break;
    }
    if (crc != record_crc(type, payload_bytes, r.payload)) {
      scan.stop_reason = cat("corrupt record at byte ", offset, " (checksum mismatch)");
      break;
    }
    offset += kRecordHeadBytes + payload_bytes + kRecordTailBytes;
    scan.valid_bytes = offset;
    ++scan.records;
    on_record(r);
  }
  return scan;
}

Journal Journal::create(const std::string& path) {
  PosixFile f(path, PosixFile::Mode::create);
  f.write_all(kMagic, sizeof kMagic);
  f.sync();
  sync_parent_directory(path);
  return Journal(std::move(f));
}

Journal Journal::reopen(const std::string& path, uint64_t valid_bytes) {
  PosixFile f(path, PosixFile::Mode::append);
  if (f.size_bytes() != valid_bytes) {
    f.truncate(valid_bytes);
    f.sync();
  }
  return Journal(std::move(f));
}

void Journal::append(JournalRecordType type, const std::string& payload) {
  // One write() per record: a crash leaves at most this record torn, never an earlier one.
  const uint32_t t = static_cast<uint32_t>(type);
  const uint64_t n = payload.size();
  const uint32_t crc = record_crc(t, n, payload);
  std::vector<char> buf(kRecordHeadBytes + payload.size() + kRecordTailBytes);
  std::memcpy(buf.data(), kRecordMarker, 4);
  std::memcpy(buf.data() + 4, &t, 4);
  std::memcpy(buf.data() + 8, &n, 8);
  std::memcpy(buf.data() + kRecordHeadBytes, payload.data(), payload.size());
  std::memcpy(buf.data() + kRecordHeadBytes + payload.size(), &crc, 4);
  file_.write_all(buf.data(), buf.size());
}

void Journal::sync() {
  file_.sync();
}

}  // namespace hs
