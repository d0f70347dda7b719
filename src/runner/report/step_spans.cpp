#include "runner/report/step_spans.h"

#include <algorithm>

namespace hs {

void StepTracker::add(const TraceRow& r) {
  const TraceEvent& e = r.event;
  const auto same_lane = [&](const auto& x) { return x.rank == r.rank && x.session == r.session; };

  // Close what this row shows to be complete: another unit of the lane, or a step two behind.
  for (size_t i = 0; i < open_steps_.size();) {
    const StepSpan& s = open_steps_[i];
    if (same_lane(s) && (s.unit != r.unit || s.step < e.step - 1)) {
      on_step_(s);
      open_steps_.erase(open_steps_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  for (size_t i = 0; i < open_units_.size();) {
    if (same_lane(open_units_[i]) && open_units_[i].unit != r.unit) {
      on_unit_(open_units_[i]);
      open_units_.erase(open_units_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }

  auto step = std::find_if(open_steps_.begin(), open_steps_.end(), [&](const StepSpan& s) {
    return same_lane(s) && s.unit == r.unit && s.step == e.step;
  });
  if (step == open_steps_.end()) {
    StepSpan s;
    s.rank = r.rank;
    s.session = r.session;
    s.unit = r.unit;
    s.step = e.step;
    s.start_ms = e.start_ms;
    s.end_ms = e.end_ms;
    open_steps_.push_back(s);
    step = open_steps_.end() - 1;
  }
  step->start_ms = std::min(step->start_ms, e.start_ms);
  step->end_ms = std::max(step->end_ms, e.end_ms);
  ++step->events;

  auto unit = std::find_if(open_units_.begin(), open_units_.end(),
                           [&](const UnitSpan& u) { return same_lane(u) && u.unit == r.unit; });
  if (unit == open_units_.end()) {
    UnitSpan u;
    u.rank = r.rank;
    u.session = r.session;
    u.unit = r.unit;
    open_units_.push_back(u);
    unit = open_units_.end() - 1;
  }
  if (e.step == 0) {
    unit->prefill_start_ms =
        unit->has_prefill ? std::min(unit->prefill_start_ms, e.start_ms) : e.start_ms;
    unit->prefill_end_ms = unit->has_prefill ? std::max(unit->prefill_end_ms, e.end_ms) : e.end_ms;
    unit->has_prefill = true;
  } else {
    if (!unit->has_decode) {
      unit->decode_start_ms = e.start_ms;
      unit->decode_end_ms = e.end_ms;
      unit->first_decode_step = unit->last_decode_step = e.step;
    }
    unit->decode_start_ms = std::min(unit->decode_start_ms, e.start_ms);
    unit->decode_end_ms = std::max(unit->decode_end_ms, e.end_ms);
    unit->first_decode_step = std::min(unit->first_decode_step, e.step);
    unit->last_decode_step = std::max(unit->last_decode_step, e.step);
    unit->has_decode = true;
  }
}

void StepTracker::finish() {
  for (const StepSpan& s : open_steps_) on_step_(s);
  for (const UnitSpan& u : open_units_) on_unit_(u);
  open_steps_.clear();
  open_units_.clear();
}

}  // namespace hs
