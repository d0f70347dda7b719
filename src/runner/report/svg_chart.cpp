#include "runner/report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hs {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", std::isfinite(v) ? v : 0.0);
  return buf;
}

// A tick label: few digits, no trailing zeros.
std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", std::fabs(v) < 1e-12 ? 0.0 : v);
  return buf;
}

// Round tick spacing for [0, top]: 1, 2 or 5 times a power of ten, about `count` ticks.
double tick_step(double top, int count) {
  if (!(top > 0)) return 1;
  const double raw = top / count, p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

std::string svg_open(int width, int height) {
  // Inline in HTML, an <svg> needs no namespace attribute.
  return "<svg width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) +
         "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
         "\" font-family=\"sans-serif\" font-size=\"11\">";
}

std::string text(double x, double y, const std::string& s, const char* anchor = "start",
                 const char* extra = "") {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor + "\"" + extra +
         ">" + xml_escape(s) + "</text>";
}

std::string rect(double x, double y, double w, double h, const std::string& color,
                 const std::string& title) {
  std::string r = "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" +
                  num(std::max(w, 0.0)) + "\" height=\"" + num(h) + "\" fill=\"" + color + "\"";
  if (title.empty()) return r + "/>";
  return r + "><title>" + xml_escape(title) + "</title></rect>";
}

std::string line(double x1, double y1, double x2, double y2, const char* color,
                 const char* extra = "") {
  return "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" +
         num(y2) + "\" stroke=\"" + color + "\"" + extra + "/>";
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string svg_legend(const std::vector<std::pair<std::string, std::string>>& items, int width) {
  // Items flow left to right, wrapping at the width.
  std::string body;
  double x = 0, y = 4;
  for (const auto& [name, color] : items) {
    const double w = 22 + 6.5 * double(name.size());
    if (x > 0 && x + w > width) {
      x = 0;
      y += 18;
    }
    body += rect(x, y, 11, 11, color, "") + text(x + 15, y + 10, name);
    x += w;
  }
  return svg_open(width, int(y + 18)) + body + "</svg>";
}

std::string svg_stacked_bars(const std::vector<StackedBar>& bars, const std::string& unit,
                             int width) {
  const double label_w = 90, right = 20, bar_h = 18, gap = 8, axis_h = 30;
  const double plot_w = width - label_w - right;
  double top = 0;
  for (const StackedBar& b : bars) {
    double total = 0;
    for (const BarSegment& s : b.segments) total += s.value;
    top = std::max(top, total);
  }
  const double step = tick_step(top, 5);
  top = std::max(step, std::ceil(top / step) * step);
  const double height = double(bars.size()) * (bar_h + gap) + axis_h;
  std::string out = svg_open(width, int(height));
  for (double t = 0; t <= top + step / 2; t += step) {
    const double x = label_w + plot_w * t / top;
    out += line(x, 0, x, height - axis_h + 4, "#ddd");
    out += text(x, height - axis_h + 16, tick_label(t), "middle");
  }
  out += text(label_w + plot_w / 2, height - 2, unit, "middle");
  double y = 0;
  for (const StackedBar& b : bars) {
    out += text(label_w - 6, y + bar_h - 5, b.label, "end");
    double x = label_w;
    for (const BarSegment& s : b.segments) {
      const double w = plot_w * s.value / top;
      out += rect(x, y, w, bar_h, s.color, s.title);
      x += w;
    }
    y += bar_h + gap;
  }
  return out + "</svg>";
}

std::string svg_line_chart(const std::vector<Series>& series, const std::string& x_label,
                           const std::string& y_label, int width, int height) {
  const double left = 60, right = 20, top_pad = 10, bottom = 40;
  const double plot_w = width - left - right, plot_h = height - top_pad - bottom;
  double x_max = 0, y_max = 0, x_min = 0;
  bool any = false;
  for (const Series& s : series)
    for (const auto& [x, y] : s.points) {
      x_min = any ? std::min(x_min, x) : x;
      x_max = any ? std::max(x_max, x) : x;
      y_max = std::max(y_max, y);
      any = true;
    }
  if (!any || x_max <= x_min) x_max = x_min + 1;
  const double ystep = tick_step(y_max, 5);
  y_max = std::max(ystep, std::ceil(y_max / ystep) * ystep);
  const double xstep = tick_step(x_max - x_min, 8);
  auto px = [&](double x) { return left + plot_w * (x - x_min) / (x_max - x_min); };
  auto py = [&](double y) { return top_pad + plot_h * (1 - y / y_max); };
  std::string out = svg_open(width, height);
  for (double t = 0; t <= y_max + ystep / 2; t += ystep) {
    out += line(left, py(t), left + plot_w, py(t), "#e5e5e5");
    out += text(left - 5, py(t) + 4, tick_label(t), "end");
  }
  for (double t = std::ceil(x_min / xstep) * xstep; t <= x_max + xstep / 1e6; t += xstep) {
    out += line(px(t), top_pad + plot_h, px(t), top_pad + plot_h + 4, "#888");
    out += text(px(t), top_pad + plot_h + 16, tick_label(t), "middle");
  }
  out += line(left, top_pad + plot_h, left + plot_w, top_pad + plot_h, "#888");
  out += line(left, top_pad, left, top_pad + plot_h, "#888");
  out += text(left + plot_w / 2, double(height) - 4, x_label, "middle");
  out += text(12, top_pad + plot_h / 2, y_label, "middle",
              (" transform=\"rotate(-90 12 " + num(top_pad + plot_h / 2) + ")\"").c_str());
  for (const Series& s : series) {
    if (s.points.empty()) continue;
    std::string pts;
    for (const auto& [x, y] : s.points) pts += num(px(x)) + "," + num(py(y)) + " ";
    out += "<polyline fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"1.5\"" +
           (s.dashed ? " stroke-dasharray=\"5,4\"" : "") + " points=\"" + pts + "\"><title>" +
           xml_escape(s.name) + "</title></polyline>";
  }
  return out + "</svg>";
}

std::string svg_grouped_bars(const std::vector<BarGroup>& groups,
                             const std::vector<std::pair<std::string, std::string>>& series,
                             const std::string& y_label, int width, int height) {
  const double left = 60, right = 10, top_pad = 10, bottom = 40;
  const double plot_w = width - left - right, plot_h = height - top_pad - bottom;
  double y_max = 0;
  for (const BarGroup& g : groups)
    for (double v : g.values) y_max = std::max(y_max, v);
  const double ystep = tick_step(y_max, 5);
  y_max = std::max(ystep, std::ceil(y_max / ystep) * ystep);
  auto py = [&](double y) { return top_pad + plot_h * (1 - y / y_max); };
  std::string out = svg_open(width, height);
  for (double t = 0; t <= y_max + ystep / 2; t += ystep) {
    out += line(left, py(t), left + plot_w, py(t), "#e5e5e5");
    out += text(left - 5, py(t) + 4, tick_label(t), "end");
  }
  const double group_w = groups.empty() ? plot_w : plot_w / double(groups.size());
  const double bar_w = std::max(1.0, group_w * 0.8 / double(std::max<size_t>(1, series.size())));
  // Label every group while they fit, else every k-th.
  const size_t every = std::max<size_t>(1, size_t(std::ceil(28.0 / group_w)));
  for (size_t g = 0; g < groups.size(); ++g) {
    const double x0 = left + group_w * double(g) + group_w * 0.1;
    for (size_t s = 0; s < series.size() && s < groups[g].values.size(); ++s) {
      const double v = groups[g].values[s];
      out += rect(x0 + bar_w * double(s), py(v), bar_w, py(0) - py(v), series[s].second,
                  groups[g].label + " " + series[s].first + ": " + tick_label(v) + " " + y_label);
    }
    if (g % every == 0)
      out += text(left + group_w * (double(g) + 0.5), top_pad + plot_h + 14, groups[g].label,
                  "middle");
  }
  out += line(left, py(0), left + plot_w, py(0), "#888");
  out += text(12, top_pad + plot_h / 2, y_label, "middle",
              (" transform=\"rotate(-90 12 " + num(top_pad + plot_h / 2) + ")\"").c_str());
  return out + "</svg>";
}

std::string svg_timeline(const std::vector<std::string>& rows, const std::vector<TimeSpan>& spans,
                         double t0, double t1, const std::string& x_label, int width) {
  const double label_w = 80, right = 15, row_h = 22, gap = 6, axis_h = 36;
  const double plot_w = width - label_w - right;
  if (t1 <= t0) t1 = t0 + 1;
  const double height = double(rows.size()) * (row_h + gap) + axis_h;
  auto px = [&](double t) { return label_w + plot_w * (t - t0) / (t1 - t0); };
  std::string out = svg_open(width, int(height));
  const double step = tick_step(t1 - t0, 10);
  for (double t = 0; t <= t1 - t0 + step / 1e6; t += step) {
    out += line(px(t0 + t), 0, px(t0 + t), height - axis_h + 4, "#e5e5e5");
    out += text(px(t0 + t), height - axis_h + 16, tick_label(t), "middle");
  }
  out += text(label_w + plot_w / 2, height - 4, x_label, "middle");
  for (size_t r = 0; r < rows.size(); ++r) {
    const double y = double(r) * (row_h + gap);
    out += rect(label_w, y, plot_w, row_h, "#f6f6f6", "");
    out += text(label_w - 6, y + row_h - 7, rows[r], "end");
  }
  for (const TimeSpan& s : spans) {
    const double y = double(s.row) * (row_h + gap);
    const double x = px(s.start), w = std::max(0.8, px(s.end) - x);
    out += rect(x, y, w, row_h, s.color, s.title);
    if (!s.label.empty() && w > 7.0 * double(s.label.size()) + 4)
      out += text(x + w / 2, y + row_h - 7, s.label, "middle", " fill=\"#fff\" font-size=\"10\"");
  }
  return out + "</svg>";
}

}  // namespace hs
