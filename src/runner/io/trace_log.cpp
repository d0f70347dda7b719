#include "runner/io/trace_log.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "util/error.h"

namespace hs {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "trace rows are little-endian");

// Row layout (64 bytes): step i64 | layer i32 | mini_batch i32 | kind i32 | stream i32 |
// bytes i64 | start_ms f64 | end_ms f64 | rank i32 | session i32 | unit i64.
void pack(const TraceRow& r, char* p) {
  auto put = [&p](const auto& v) {
    std::memcpy(p, &v, sizeof v);
    p += sizeof v;
  };
  put(r.event.step);
  put(r.event.layer);
  put(r.event.mini_batch);
  put(static_cast<int32_t>(r.event.kind));
  put(r.event.stream);
  put(r.event.bytes);
  put(r.event.start_ms);
  put(r.event.end_ms);
  put(r.rank);
  put(r.session);
  put(r.unit);
}

TraceRow unpack(const char* p) {
  TraceRow r;
  auto get = [&p](auto& v) {
    std::memcpy(&v, p, sizeof v);
    p += sizeof v;
  };
  int32_t kind = 0;
  get(r.event.step);
  get(r.event.layer);
  get(r.event.mini_batch);
  get(kind);
  r.event.kind = static_cast<TraceKind>(kind);
  get(r.event.stream);
  get(r.event.bytes);
  get(r.event.start_ms);
  get(r.event.end_ms);
  get(r.rank);
  get(r.session);
  get(r.unit);
  return r;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

TraceLog::TraceLog(const std::string& path, int64_t keep_rows) {
  if (!file_exists(path)) PosixFile(path, PosixFile::Mode::create).close();
  file_ = PosixFile(path, PosixFile::Mode::append);
  const int64_t have = static_cast<int64_t>(file_.size_bytes() / kRowBytes);
  rows_ = std::min(have, keep_rows);
  if (file_.size_bytes() != static_cast<uint64_t>(rows_) * kRowBytes)
    file_.truncate(static_cast<uint64_t>(rows_) * kRowBytes);
}

void TraceLog::append(const std::vector<TraceRow>& rows) {
  if (rows.empty()) return;
  std::vector<char> buf(rows.size() * kRowBytes);
  for (size_t i = 0; i < rows.size(); ++i) pack(rows[i], buf.data() + i * kRowBytes);
  file_.write_all(buf.data(), buf.size());
  rows_ += static_cast<int64_t>(rows.size());
}

void TraceLog::read(const std::string& path, int64_t first, int64_t rows, int64_t chunk_rows,
                    const std::function<void(const std::vector<TraceRow>&)>& fn) {
  if (rows <= first) return;
  PosixFile f(path, PosixFile::Mode::read);
  f.seek(static_cast<uint64_t>(first) * kRowBytes);
  std::vector<char> buf;
  std::vector<TraceRow> chunk;
  for (int64_t done = first; done < rows;) {
    const int64_t n = std::min(chunk_rows, rows - done);
    buf.resize(static_cast<size_t>(n) * kRowBytes);
    size_t got = 0;
    while (got < buf.size()) {
      const size_t k = f.read_some(buf.data() + got, buf.size() - got);
      HS_CHECK(k > 0, "trace file '", path, "' holds fewer rows than expected (", rows, ")");
      got += k;
    }
    chunk.clear();
    for (int64_t i = 0; i < n; ++i) chunk.push_back(unpack(buf.data() + i * kRowBytes));
    fn(chunk);
    done += n;
  }
}

}  // namespace hs
