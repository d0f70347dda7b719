// The report in a terminal: the run summary and the tables of report.h, aligned as text.
#pragma once

#include <string>

#include "runner/report/report.h"

namespace hs {

std::string render_text(const Report& r);
// One table as aligned text: its title, its note, a header and its rows.
std::string table_text(const ReportTable& t);

}  // namespace hs
