#include "plan/step_schedule.h"

#include "util/error.h"

namespace hs {

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::weights:
      return "weights";
    case OpKind::cache_load:
      return "cache_load";
    case OpKind::indices:
      return "indices";
    case OpKind::embed:
      return "embed";
    case OpKind::recompute:
      return "recompute";
    case OpKind::layer:
      return "layer";
    case OpKind::store:
      return "store";
    case OpKind::head:
      return "head";
    case OpKind::expand:
      return "expand";
    case OpKind::exchange:
      return "exchange";
  }
  return "?";
}

namespace {

// Builds the list in order; the per-layer and per-item tables hold the index of the operation
// that last did each thing (-1: none in this step).
// The planner builds thousands of lists while it searches, so the builder refills the tables
// and the list it is given, keeping their memory, rather than allocating them anew each time.
class Builder {
 public:
  Builder(const StepShape& s, StepSchedule& out)
      : s_(s), L_(s.layers), M_(s.mini_batches()), out_(out) {
    const size_t items = static_cast<size_t>(L_ * M_);
    weights_ready_.assign(static_cast<size_t>(L_), -1);
    layer_done_.assign(static_cast<size_t>(L_), -1);
    cache_ready_.assign(items, -1);
    computed_.assign(items, -1);
    stored_.assign(items, -1);
    loaded_.assign(items, false);
    item_cache_.assign(items, 0);
    out_.ops.clear();
    out_.ops.reserve(5 * items + static_cast<size_t>(M_) + static_cast<size_t>(L_) + 1);
  }

  void build() {
    out_.turns = working_set_turns(M_, s_.host_cache, s_.host_sets);
    for (int64_t i = 0; i < L_ * M_; ++i)  // H2D cache bytes per item
      if (host(i)) item_cache_[static_cast<size_t>(i)] = s_.load_bytes[static_cast<size_t>(i % M_)];
    const std::vector<WeightSlice> slices =
        weight_slices(L_, M_, s_.streamed, s_.layer_bytes, item_cache_, s_.stored_on_device);

    if (L_ > 0 && s_.streamed[0]) weights({0, 0, s_.bytes_of(0), -1}, -1);
    for (int64_t i = 0; i < L_ * M_; ++i)
      if (host(i) && out_.turns[static_cast<size_t>(i)].previous < 0) load(i);
    indices_ = add(op(OpKind::indices, Stream::compute, -1, -1), {});
    for (int64_t mb = 0; mb < M_; ++mb) add(op(OpKind::embed, Stream::compute, -1, mb), {});

    if (L_ * M_ > 0) load(0);
    int32_t last_load = L_ > 0 && host(0) ? cache_ready_[0] : -1;  // for the slices' waits
    for (int64_t l = 0; l < L_; ++l) {
      for (int64_t mb = 0; mb < M_; ++mb) {
        const int64_t item = l * M_ + mb, next = item + 1;
        if (next < L_ * M_) {
          load(next);
          if (host(next) && cache_ready_[static_cast<size_t>(next)] >= 0)
            last_load = cache_ready_[static_cast<size_t>(next)];
        }
        if (slices[static_cast<size_t>(item)].layer >= 0)
          weights(slices[static_cast<size_t>(item)], last_load);
        item_compute(l, mb);
        if (s_.store_bytes[static_cast<size_t>(mb)] > 0) {
          StepOp o = op(OpKind::store, Stream::cache_out, l, mb);
          o.bytes = s_.store_bytes[static_cast<size_t>(mb)];
          o.host = host(item);
          stored_[static_cast<size_t>(item)] = add(o, {computed_[static_cast<size_t>(item)]});
        }
        if (l == L_ - 1) add(op(OpKind::head, Stream::compute, -1, mb), {});
      }
    }
  }

 private:
  bool host(int64_t item) const { return s_.host_cache[static_cast<size_t>(item / M_)]; }

  static StepOp op(OpKind k, Stream s, int64_t layer, int64_t mb) {
    StepOp o;
    o.kind = k;
    o.stream = s;
    o.layer = static_cast<int32_t>(layer);
    o.mb = static_cast<int32_t>(mb);
    return o;
  }

  int32_t add(StepOp o, std::initializer_list<int32_t> waits) {
    size_t n = 0;
    for (int32_t w : waits) {
      if (w < 0) continue;
      HS_CHECK(n < o.waits.size(), "internal: a step operation waits for more than ",
               o.waits.size(), " others");
      o.waits[n++] = w;
    }
    out_.ops.push_back(o);
    return static_cast<int32_t>(out_.ops.size() - 1);
  }

  // The item before this one on its working set: its layer op and its write-back.
  int32_t previous_computed(int64_t item) const {
    const int64_t p = out_.turns[static_cast<size_t>(item)].previous;
    return p < 0 ? -1 : computed_[static_cast<size_t>(p)];
  }
  int32_t previous_stored(int64_t item) const {
    const int64_t p = out_.turns[static_cast<size_t>(item)].previous;
    return p < 0 ? -1 : stored_[static_cast<size_t>(p)];
  }

  // The item's cache load, once, if it has blocks to load.
  void load(int64_t item) {
    if (loaded_[static_cast<size_t>(item)]) return;
    loaded_[static_cast<size_t>(item)] = true;
    const int64_t mb = item % M_;
    const int64_t bytes = s_.load_bytes[static_cast<size_t>(mb)];
    if (bytes <= 0) return;
    const bool from_host = host(item);
    StepOp o =
        op(OpKind::cache_load, from_host ? Stream::cache_in : Stream::cache_dev, item / M_, mb);
    o.bytes = bytes;
    o.host = from_host;
    cache_ready_[static_cast<size_t>(item)] = add(
        o, {previous_computed(item), previous_stored(item), from_host ? last_slice_ : indices_});
  }

  void weights(const WeightSlice& w, int32_t after) {
    StepOp o = op(OpKind::weights, Stream::weights, w.layer, -1);
    o.begin = w.begin;
    o.end = w.end;
    o.bytes = w.end - w.begin;
    const int32_t reader = w.begin == 0 && w.buffer_reader >= 0
                               ? layer_done_[static_cast<size_t>(w.buffer_reader)]
                               : -1;
    const int32_t i = add(o, {after, reader});
    if (o.bytes > 0) last_slice_ = i;
    if (w.end != s_.bytes_of(w.layer)) return;
    int32_t& ready = weights_ready_[static_cast<size_t>(w.layer)];
    if (!s_.expand && s_.exchange_bytes == 0) {
      ready = i;  // the latest slice that ends the layer (an empty one after it waits longer)
    } else if (ready < 0) {  // exchanged and expanded once, after the first completing slice
      ready = i;
      if (s_.exchange_bytes > 0 && s_.bytes_of(w.layer) > 0) {  // stored layers are every rank's
        StepOp x = op(OpKind::exchange, Stream::expand, w.layer, -1);
        x.bytes = s_.exchange_bytes;
        ready = add(x, {ready});
      }
      if (s_.expand) {
        StepOp e = op(OpKind::expand, Stream::expand, w.layer, -1);
        e.bytes = s_.layer_bytes + s_.exchange_bytes;
        ready = add(e, {ready});
      }
    }
  }

  // The item's recompute (if it loads checkpoints) and layer, after its inputs: its layer's
  // weights, its cache blocks and a working set the write-back before it has finished reading.
  void item_compute(int64_t l, int64_t mb) {
    const int64_t item = l * M_ + mb;
    const std::initializer_list<int32_t> inputs = {weights_ready_[static_cast<size_t>(l)],
                                                   cache_ready_[static_cast<size_t>(item)],
                                                   previous_stored(item)};
    bool waited = false;
    if (s_.recompute_rows[static_cast<size_t>(mb)] > 0) {
      add(op(OpKind::recompute, Stream::compute, l, mb), inputs);
      waited = true;
    }
    const int32_t i = waited ? add(op(OpKind::layer, Stream::compute, l, mb), {})
                             : add(op(OpKind::layer, Stream::compute, l, mb), inputs);
    computed_[static_cast<size_t>(item)] = i;
    if (mb == M_ - 1) layer_done_[static_cast<size_t>(l)] = i;
  }

  const StepShape& s_;
  const int64_t L_, M_;
  StepSchedule& out_;
  // Kept between lists (per thread): see the class comment.
  static thread_local std::vector<int32_t> weights_ready_, layer_done_;       // by layer
  static thread_local std::vector<int32_t> cache_ready_, computed_, stored_;  // by item
  static thread_local std::vector<bool> loaded_;
  static thread_local std::vector<int64_t> item_cache_;
  int32_t last_slice_ = -1;  // the latest weight slice that moves bytes
  int32_t indices_ = -1;
};

thread_local std::vector<int32_t> Builder::weights_ready_, Builder::layer_done_,
    Builder::cache_ready_, Builder::computed_, Builder::stored_;
thread_local std::vector<bool> Builder::loaded_;
thread_local std::vector<int64_t> Builder::item_cache_;

}  // namespace

void step_schedule(const StepShape& shape, StepSchedule& out) {
  const size_t L = static_cast<size_t>(shape.layers), M = shape.load_bytes.size();
  HS_CHECK(shape.streamed.size() == L && shape.host_cache.size() == L &&
               shape.store_bytes.size() == M && shape.recompute_rows.size() == M,
           "internal: a step shape of ", L, " layers and ", M,
           " mini-batches has tables of other sizes");
  Builder(shape, out).build();
}

StepSchedule step_schedule(const StepShape& shape) {
  StepSchedule out;
  step_schedule(shape, out);
  return out;
}

namespace {

// Whether two shapes list the same operations, bytes aside: the same layers and homes, and the
// same mini-batches loading, storing and recomputing something.
bool same_operations(const StepShape& a, const StepShape& b) {
  if (a.layers != b.layers || a.streamed != b.streamed || a.host_cache != b.host_cache ||
      a.host_sets != b.host_sets || a.layer_bytes != b.layer_bytes || a.expand != b.expand ||
      a.exchange_bytes != b.exchange_bytes || a.stored_on_device != b.stored_on_device ||
      a.mini_batches() != b.mini_batches())
    return false;
  for (size_t mb = 0; mb < a.load_bytes.size(); ++mb)
    if ((a.load_bytes[mb] > 0) != (b.load_bytes[mb] > 0) ||
        (a.store_bytes[mb] > 0) != (b.store_bytes[mb] > 0) ||
        (a.recompute_rows[mb] > 0) != (b.recompute_rows[mb] > 0))
      return false;
  return true;
}

// The bytes of `shape` into a list built for a shape with the same operations. The weight
// slices move with the loads' bytes (plan.h: weight_slices); a slice's waits depend on whether
// it moves bytes, starts its layer or ends it, so where any of that changes, false: the list
// must be built again.
bool refresh_bytes(const StepShape& shape, StepSchedule& out) {
  const int64_t L = shape.layers, M = shape.mini_batches();
  std::vector<int64_t> item_cache(static_cast<size_t>(L * M), 0);
  for (int64_t i = 0; i < L * M; ++i)
    if (shape.host_cache[static_cast<size_t>(i / M)])
      item_cache[static_cast<size_t>(i)] = shape.load_bytes[static_cast<size_t>(i % M)];
  const std::vector<WeightSlice> slices =
      weight_slices(L, M, shape.streamed, shape.layer_bytes, item_cache, shape.stored_on_device);
  size_t next = 0;  // the next item whose slice the list's next weights operation is
  bool first = L > 0 && shape.streamed[0];  // layer 0 whole, first: its bytes never change
  for (StepOp& op : out.ops) {
    if (op.kind == OpKind::cache_load) op.bytes = shape.load_bytes[static_cast<size_t>(op.mb)];
    if (op.kind == OpKind::store) op.bytes = shape.store_bytes[static_cast<size_t>(op.mb)];
    if (op.kind != OpKind::weights) continue;
    if (first) {
      first = false;
      continue;
    }
    while (next < slices.size() && slices[next].layer < 0) ++next;
    if (next == slices.size()) return false;
    const WeightSlice& w = slices[next++];
    if (w.layer != op.layer || (w.end > w.begin) != (op.bytes > 0) ||
        (w.begin == 0) != (op.begin == 0) ||
        (w.end == shape.bytes_of(w.layer)) != (op.end == shape.bytes_of(op.layer)))
      return false;
    op.begin = w.begin;
    op.end = w.end;
    op.bytes = w.end - w.begin;
  }
  return true;
}

}  // namespace

const StepSchedule& StepScheduler::schedule(const StepShape& shape) {
  if (!built_ || !same_operations(shape, shape_) || !refresh_bytes(shape, schedule_))
    step_schedule(shape, schedule_);
  shape_ = shape;
  built_ = true;
  return schedule_;
}

}  // namespace hs
