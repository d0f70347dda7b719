#include "runner/report/text_report.h"

#include <algorithm>

#include "util/error.h"

namespace hs {
namespace {

// Display width of UTF-8 text: code points (the tables hold no wide characters).
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

std::string pad(const std::string& s, size_t w, bool right) {
  const std::string fill(w > width(s) ? w - width(s) : 0, ' ');
  return right ? fill + s : s + fill;
}

}  // namespace

std::string table_text(const ReportTable& t) {
  std::string out = t.title + "\n";
  if (!t.note.empty()) out += "(" + t.note + ")\n";
  if (t.rows.empty()) return out + "  (none)\n";
  std::vector<size_t> w(t.header.size(), 0);
  for (size_t c = 0; c < t.header.size(); ++c) w[c] = width(t.header[c]);
  for (const auto& row : t.rows)
    for (size_t c = 0; c < row.size() && c < w.size(); ++c) w[c] = std::max(w[c], width(row[c]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l = " ";
    for (size_t c = 0; c < cells.size() && c < w.size(); ++c)
      l += " " + pad(cells[c], w[c], c < t.numeric.size() && t.numeric[c]);
    while (!l.empty() && l.back() == ' ') l.pop_back();
    return l + "\n";
  };
  out += line(t.header);
  for (const auto& row : t.rows) out += line(row);
  return out;
}

std::string render_text(const Report& r) {
  const ReportTable summary = summary_table(r);
  std::string out = "hybridserve report: " + r.info.path + "\n";
  size_t w = 0;
  for (const auto& row : summary.rows) w = std::max(w, width(row[0]));
  for (const auto& row : summary.rows) out += "  " + pad(row[0], w, false) + "  " + row[1] + "\n";
  for (const ReportTable& t : {kinds_table(r), streams_table(r), layers_table(r), ranks_table(r)})
    out += "\n" + table_text(t);
  return out;
}

}  // namespace hs
