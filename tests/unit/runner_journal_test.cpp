// The journal and its checksum: the CRC-32 check value of the standard (outside reference),
// records read back whole, and a journal cut at every byte or corrupted anywhere replays exactly
// the records before the damage.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "runner/io/crc32.h"
#include "runner/io/journal.h"
#include "test_support.h"

namespace hs {
namespace {

std::vector<JournalRecord> read_all(const std::string& path, JournalScan* scan = nullptr) {
  std::vector<JournalRecord> out;
  JournalScan s = scan_journal(path, [&](const JournalRecord& r) { out.push_back(r); });
  if (scan) *scan = s;
  return out;
}

TEST(Crc32, StandardCheckValues) {
  // CRC-32/ISO-HDLC check value ("123456789") and zlib.crc32(b"") / zlib.crc32(b"a").
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(crc32("", 0), 0u);
  EXPECT_EQ(crc32("a", 1), 0xE8B7BE43u);
  // Continuing a CRC equals one CRC over the concatenation.
  EXPECT_EQ(crc32("6789", 4, crc32("12345", 5)), 0xCBF43926u);
}

TEST(Journal, RecordsReadBackInOrder) {
  const std::string path = test::temp_dir() + "/j";
  {
    Journal j = Journal::create(path);
    j.append(JournalRecordType::header, R"({"format":1})");
    j.append(JournalRecordType::unit, std::string(1000, 'x'));
    j.append(JournalRecordType::unit, "");
    j.sync();
  }
  JournalScan scan;
  auto recs = read_all(path, &scan);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].type, JournalRecordType::header);
  EXPECT_EQ(recs[0].payload, R"({"format":1})");
  EXPECT_EQ(recs[1].payload, std::string(1000, 'x'));
  EXPECT_EQ(recs[2].payload, "");
  EXPECT_TRUE(scan.has_magic);
  EXPECT_EQ(scan.valid_bytes, scan.file_bytes);
  EXPECT_EQ(scan.stop_reason, "");
  // 8 magic + 3 * (16 head + 4 crc) + payloads: the documented layout.
  EXPECT_EQ(scan.file_bytes, 8u + 3 * 20 + 12 + 1000 + 0);
}

TEST(Journal, EveryCutReplaysTheWholeRecordsBeforeIt) {
  const std::string dir = test::temp_dir();
  const std::string full = dir + "/full";
  std::vector<uint64_t> ends;  // file size after each record
  {
    Journal j = Journal::create(full);
    for (int i = 0; i < 4; ++i) {
      j.append(JournalRecordType::unit, std::string(static_cast<size_t>(10 + i), 'a' + i));
      ends.push_back(std::filesystem::file_size(full));
    }
  }
  const std::string bytes = test::read_file(full);
  for (size_t cut = 0; cut <= bytes.size(); ++cut) {
    const std::string path = dir + "/cut";
    test::write_file(path, bytes.substr(0, cut));
    JournalScan scan;
    auto recs = read_all(path, &scan);
    size_t whole = 0;
    while (whole < ends.size() && ends[whole] <= cut) ++whole;
    ASSERT_EQ(recs.size(), whole) << "cut at " << cut;
    EXPECT_EQ(scan.valid_bytes, whole ? ends[whole - 1] : (cut >= 8 ? 8u : 0u));
    EXPECT_EQ(scan.stop_reason.empty(), cut == 8 || (whole && ends[whole - 1] == cut))
        << "cut at " << cut << ": " << scan.stop_reason;
    EXPECT_FALSE(scan.foreign);
    if (scan.has_magic) {  // reopening cuts the torn tail off; appends then follow the last whole
      Journal j = Journal::reopen(path, scan.valid_bytes);
      j.append(JournalRecordType::session, "next");
      j.sync();
      auto again = read_all(path);
      ASSERT_EQ(again.size(), whole + 1);
      EXPECT_EQ(again.back().payload, "next");
    }
  }
}

TEST(Journal, CorruptionStopsReplayAtTheDamagedRecord) {
  const std::string dir = test::temp_dir();
  const std::string path = dir + "/j";
  {
    Journal j = Journal::create(path);
    for (int i = 0; i < 3; ++i) j.append(JournalRecordType::unit, std::string(20, 'a' + i));
  }
  const std::string bytes = test::read_file(path);
  const size_t record_bytes = 16 + 20 + 4;
  for (size_t pos = 8; pos < bytes.size(); ++pos) {
    std::string bad = bytes;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x40);
    test::write_file(path, bad);
    JournalScan scan;
    auto recs = read_all(path, &scan);
    EXPECT_EQ(recs.size(), (pos - 8) / record_bytes) << "flipped byte " << pos;
    EXPECT_NE(scan.stop_reason, "") << "flipped byte " << pos;
  }
}

TEST(Journal, ForeignFileIsRecognised) {
  const std::string path = test::temp_dir() + "/notes.txt";
  test::write_file(path, "id,prompt\n1,hello\n");
  JournalScan scan;
  EXPECT_TRUE(read_all(path, &scan).empty());
  EXPECT_TRUE(scan.foreign);
  EXPECT_FALSE(scan.has_magic);
}

}  // namespace
}  // namespace hs
