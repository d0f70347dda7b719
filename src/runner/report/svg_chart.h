// Small SVG charts for the HTML report, drawn as text: no script, no external file, so a page
// that holds them opens anywhere, offline. Each chart is one <svg> element sized in pixels;
// hovering a bar or span shows its <title>.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hs {

// Text made safe inside XML/HTML elements and attribute values.
std::string xml_escape(const std::string& s);

struct BarSegment {
  double value = 0;
  std::string color, title;
};
struct StackedBar {
  std::string label;
  std::vector<BarSegment> segments;
};
// Horizontal bars, one per row, each a stack of segments; scaled to the largest total.
std::string svg_stacked_bars(const std::vector<StackedBar>& bars, const std::string& unit,
                             int width);

struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points;  // x, y
  bool dashed = false;
};
// Lines over a shared x axis with ticks and a legend; y from 0.
std::string svg_line_chart(const std::vector<Series>& series, const std::string& x_label,
                           const std::string& y_label, int width, int height);

// Bars side by side per category (e.g. load and compute per layer).
struct BarGroup {
  std::string label;
  std::vector<double> values;  // one per series
};
std::string svg_grouped_bars(const std::vector<BarGroup>& groups,
                             const std::vector<std::pair<std::string, std::string>>& series,
                             const std::string& y_label, int width, int height);

// A Gantt chart: spans on rows over one time axis.
struct TimeSpan {
  int row = 0;
  double start = 0, end = 0;
  std::string color, title, label;  // label: drawn inside when it fits
};
std::string svg_timeline(const std::vector<std::string>& rows, const std::vector<TimeSpan>& spans,
                         double t0, double t1, const std::string& x_label, int width);

// A legend of colored squares.
std::string svg_legend(const std::vector<std::pair<std::string, std::string>>& items, int width);

}  // namespace hs
