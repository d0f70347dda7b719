#include "engine/reference.h"

#include <cmath>

#include "backend/cpu/ops.h"
#include "util/error.h"

namespace hs {

ReferenceModel::ReferenceModel(const WeightSource& w, DType storage)
    : cfg_(w.config()), storage_(storage) {
  for (const PartSpec& s : global_parts(cfg_)) {
    Tensor t(s.numel());
    w.read(s, DType::f32, t.data());
    store(t);
    globals_[s.part] = std::move(t);
  }
  layers_.resize(cfg_.n_layers);
  for (int l = 0; l < cfg_.n_layers; ++l) {
    for (const PartSpec& s : layer_parts(cfg_, l)) {
      Tensor t(s.numel());
      w.read(s, DType::f32, t.data());
      store(t);
      layers_[l][s.part] = std::move(t);
    }
  }
}

const ReferenceModel::Tensor& ReferenceModel::global(Part p) const {
  return globals_.at(p);
}

const float* ReferenceModel::layer(int l, Part p) const {
  auto it = layers_[l].find(p);
  return it == layers_[l].end() ? nullptr : it->second.data();
}

ReferenceModel::Cache ReferenceModel::new_cache(int64_t capacity_tokens) const {
  Cache c;
  c.k.assign(cfg_.n_layers, std::vector<float>(capacity_tokens * cfg_.kv_dim()));
  c.v.assign(cfg_.n_layers, std::vector<float>(capacity_tokens * cfg_.kv_dim()));
  return c;
}

std::vector<float> ReferenceModel::forward(Cache& cache, const std::vector<int32_t>& tokens) const {
  const ModelConfig& c = cfg_;
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t H = c.hidden, E = c.embed_dim(), Q = c.q_dim(), KV = c.kv_dim(), F = c.ffn_dim;
  const int64_t capacity = static_cast<int64_t>(cache.k[0].size()) / KV;
  HS_CHECK(cache.len + T <= capacity, "reference cache overflow");

  std::vector<int32_t> pos(T);
  for (int64_t t = 0; t < T; ++t) pos[t] = static_cast<int32_t>(cache.len + t);

  // Embedding: x = E[tokens] (projected to hidden for OPT's word_embed_proj_dim) + positions.
  std::vector<float> x(T * H), e(T * E);
  cpu::embed(e.data(), global(Part::tok_embed).data(), tokens.data(), T, E);
  if (c.has_projections()) {
    cpu::linear(x.data(), e.data(), global(Part::project_in).data(), nullptr, T, E, H);
    store(x);
  } else {
    x = e;
  }
  if (c.family == Family::opt) {
    std::vector<int32_t> pos_rows(T);
    for (int64_t t = 0; t < T; ++t) pos_rows[t] = pos[t] + static_cast<int32_t>(c.position_offset);
    cpu::add_rows(x.data(), global(Part::pos_embed).data(), pos_rows.data(), T, H);
    store(x);
  }

  // The norm before attention / FFN: LayerNorm (OPT) or RMSNorm (LLaMA).
  auto norm = [&](int l, Part w, Part b, Tensor& out, const Tensor& in) {
    if (c.norm == NormKind::layernorm)
      cpu::layernorm(out.data(), in.data(), layer(l, w), layer(l, b), T, H, c.norm_eps);
    else
      cpu::rmsnorm(out.data(), in.data(), layer(l, w), T, H, c.norm_eps);
    store(out);
  };

  // The cache as a block table of one block holding every position of this sequence.
  const int32_t slot0 = 0, seq0 = 0;
  std::vector<int32_t> seq(T, seq0);
  cpu::AttentionShape shape{T,
                            c.n_heads,
                            c.n_kv_heads,
                            c.head_dim,
                            capacity,
                            1,
                            c.family == Family::opt ? 1.f : 1.f / std::sqrt(float(c.head_dim))};

  std::vector<float> h(T * H), q(T * Q), k(T * KV), v(T * KV), att(T * Q), o(T * H);
  std::vector<float> f1(T * F), f3(T * F);
  for (int l = 0; l < c.n_layers; ++l) {
    // Attention block: h = norm(x) (pre-norm) or x (OPT post-norm).
    if (c.pre_norm)
      norm(l, Part::attn_norm_w, Part::attn_norm_b, h, x);
    else
      h = x;
    cpu::linear(q.data(), h.data(), layer(l, Part::q_w), layer(l, Part::q_b), T, H, Q);
    cpu::linear(k.data(), h.data(), layer(l, Part::k_w), layer(l, Part::k_b), T, H, KV);
    cpu::linear(v.data(), h.data(), layer(l, Part::v_w), layer(l, Part::v_b), T, H, KV);
    store(q);
    store(k);
    store(v);
    if (c.family == Family::opt) {
      cpu::scale(q.data(), 1.f / std::sqrt(float(c.head_dim)), T * Q);  // HF scales q, then 1.0
    } else {
      cpu::rope(q.data(), pos.data(), T, c.n_heads, c.head_dim, c.rope_theta);
      cpu::rope(k.data(), pos.data(), T, c.n_kv_heads, c.head_dim, c.rope_theta);
      store(k);
    }
    store(q);
    std::copy(k.begin(), k.end(), cache.k[l].begin() + cache.len * KV);
    std::copy(v.begin(), v.end(), cache.v[l].begin() + cache.len * KV);
    cpu::attention(att.data(), q.data(), cache.k[l].data(), cache.v[l].data(), &slot0, seq.data(),
                   pos.data(), shape);
    store(att);
    cpu::linear(o.data(), att.data(), layer(l, Part::o_w), layer(l, Part::o_b), T, Q, H);
    store(o);
    cpu::add(x.data(), x.data(), o.data(), T * H);
    store(x);
    if (!c.pre_norm) norm(l, Part::attn_norm_w, Part::attn_norm_b, x, x);

    // FFN block: OPT fc2(relu(fc1 h)) + b; LLaMA down(silu(gate h) * up h).
    if (c.pre_norm)
      norm(l, Part::ffn_norm_w, Part::ffn_norm_b, h, x);
    else
      h = x;
    cpu::linear(f1.data(), h.data(), layer(l, Part::ffn_in_w), layer(l, Part::ffn_in_b), T, H, F);
    store(f1);
    if (c.ffn == FfnKind::relu) {
      cpu::relu(f1.data(), T * F);
    } else {
      cpu::linear(f3.data(), h.data(), layer(l, Part::ffn_up_w), nullptr, T, H, F);
      store(f3);
      cpu::silu_mul(f1.data(), f1.data(), f3.data(), T * F);
      store(f1);
    }
    cpu::linear(o.data(), f1.data(), layer(l, Part::ffn_out_w), layer(l, Part::ffn_out_b), T, F, H);
    store(o);
    cpu::add(x.data(), x.data(), o.data(), T * H);
    store(x);
    if (!c.pre_norm) norm(l, Part::ffn_norm_w, Part::ffn_norm_b, x, x);
  }
  cache.len += T;

  // Head, on the last token only: final norm, OPT's project_out, then the vocabulary.
  std::vector<float> last(x.end() - H, x.end()), normed(H);
  if (c.has_final_norm()) {
    if (c.norm == NormKind::layernorm)
      cpu::layernorm(normed.data(), last.data(), global(Part::final_norm_w).data(),
                     global(Part::final_norm_b).data(), 1, H, c.norm_eps);
    else
      cpu::rmsnorm(normed.data(), last.data(), global(Part::final_norm_w).data(), 1, H, c.norm_eps);
    store(normed);
  } else {
    normed = last;
  }
  std::vector<float> out_e(E);
  if (c.has_projections()) {
    cpu::linear(out_e.data(), normed.data(), global(Part::project_out).data(), nullptr, 1, H, E);
    store(out_e);
  } else {
    out_e = normed;
  }
  const Tensor& head = c.tie_embeddings ? global(Part::tok_embed) : global(Part::lm_head);
  std::vector<float> logits(c.vocab_size);
  cpu::linear(logits.data(), out_e.data(), head.data(), nullptr, 1, E, c.vocab_size);
  return logits;
}

std::vector<GenResult> ReferenceGenerator::generate(const std::vector<GenRequest>& batch,
                                                    const SamplingParams& sampling,
                                                    const StopFn& stop) {
  const ModelConfig& c = model_.config();
  std::vector<GenResult> results;
  for (size_t i = 0; i < batch.size(); ++i) {
    const GenRequest& r = batch[i];
    GenResult res;
    res.id = r.id;
    res.finish_reason = "length";
    const int64_t budget = generation_budget(c, r);
    ReferenceModel::Cache cache =
        model_.new_cache(static_cast<int64_t>(r.prompt.size()) + std::max<int64_t>(budget, 1));
    std::vector<float> logits = model_.forward(cache, r.prompt);
    const uint64_t key = request_key(r.id);
    for (int64_t step = 0; step < budget; ++step) {
      if (observe_) observe_(i, step, logits.data(), c.vocab_size);
      const int32_t tok =
          next_token(c, r, step, sample_token(logits.data(), c.vocab_size, sampling, key, step));
      res.output.push_back(tok);
      if (may_end(r, step) && is_eos(c, tok)) {
        res.finish_reason = "eos";
        break;
      }
      if (may_end(r, step) && stop && stop(i, res.output)) {
        res.finish_reason = "stop";
        break;
      }
      if (step + 1 < budget) logits = model_.forward(cache, {tok});
    }
    results.push_back(std::move(res));
  }
  return results;
}

}  // namespace hs
