// The report as one self-contained HTML page: the tables of report.h and SVG charts drawn here
// (time by kind and stream, host-to-device GB/s over time, step times against the plan, load
// against compute per layer, one step's timeline, the ranks' balance), with its style inline and
// no script, font or image from anywhere else, so it opens offline and can be mailed.
// Sections have fixed ids: summary, time-by-kind, pcie, step-times, layers, step-timeline,
// ranks.
#pragma once

#include <string>

#include "runner/report/report.h"

namespace hs {

std::string render_html(const Report& r);

}  // namespace hs
