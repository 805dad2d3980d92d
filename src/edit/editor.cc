#include "latentedit/editor.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <set>

#include "latentedit/errors.h"

namespace latentedit {

torch::Tensor sample_latents(uint64_t seed, int64_t n, int64_t z_dim) {
  // A private generator seeded like torch.manual_seed(seed): the same stream as Python's
  // torch.manual_seed(seed); torch.randn(n, z_dim), without touching the global generator.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn({n, z_dim}, gen, torch::kFloat32);
}

torch::Tensor generate(const Models& m, const torch::Tensor& z) {
  torch::NoGradGuard ng;
  return m.generator.forward(z);
}

torch::Tensor classify(const Network& classifier, const torch::Tensor& images, int64_t batch) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); i += batch)
    out.push_back(classifier.forward(images.slice(0, i, std::min(images.size(0), i + batch))));
  return torch::cat(out, 0);
}

namespace {
// Per-latent penalty on the change of the kept logits.
torch::Tensor penalty_term(const torch::Tensor& delta, PenaltyKind kind) {
  switch (kind) {
    case PenaltyKind::kL2: return delta.norm(2, {1});
    case PenaltyKind::kL1: return delta.abs().mean(1);
    case PenaltyKind::kSquared: return delta.pow(2).mean(1);
  }
  return delta.norm(2, {1});
}
}  // namespace

namespace {
// One batch edited together (no micro-batching).
EditResult edit_batch(const Models& m, const torch::Tensor& z0_in, const EditSpec& spec, const EditCallback& progress) {
  const auto t_start = std::chrono::steady_clock::now();
  const int64_t N = z0_in.size(0);
  const int C = static_cast<int>(m.attributes.size());

  EditResult r;
  std::vector<int64_t> tidx;
  std::vector<float> sign;
  for (const auto& t : spec.targets) {
    tidx.push_back(t.attribute);
    sign.push_back(t.direction == Direction::kAdd ? 1.f : -1.f);
  }
  if (spec.keep.empty()) {
    std::set<int> tset(tidx.begin(), tidx.end());
    for (int c = 0; c < C; ++c)
      if (!tset.count(c)) r.keep.push_back(c);
  } else {
    r.keep = spec.keep;
  }
  const torch::Tensor t_index = torch::tensor(tidx, torch::kInt64);
  const torch::Tensor t_sign = torch::tensor(sign, torch::kFloat32);
  const torch::Tensor k_index = torch::tensor(std::vector<int64_t>(r.keep.begin(), r.keep.end()), torch::kInt64);
  const bool use_penalty = spec.penalty > 0.0 && !r.keep.empty();
  const double shell = std::sqrt(static_cast<double>(m.z_dim));

  torch::Tensor z = z0_in.to(torch::kFloat32).contiguous().clone();
  r.z_before = z.clone();
  torch::Tensor active = torch::ones({N}, torch::kBool);
  r.stopped_at.assign(N, spec.steps);
  bool any_stop = false;
  for (const auto& t : spec.targets) any_stop = any_stop || spec.stop_prob(t).has_value();
  std::set<int> record(spec.record_steps.begin(), spec.record_steps.end());
  record.insert(0);
  record.insert(spec.steps);

  torch::Tensor orig_keep;
  std::vector<torch::Tensor> hist;
  for (int k = 0; k <= spec.steps; ++k) {
    const bool last = k == spec.steps;
    torch::Tensor zv = z.detach().set_requires_grad(!last);
    torch::Tensor img, logits;
    {
      torch::AutoGradMode mode(!last);
      img = m.generator.forward(zv);
      logits = m.classifier.forward(img);
    }
    if (logits.dim() != 2 || logits.size(1) != C)
      throw ModelError("classifier returned shape " + std::to_string(logits.dim()) + "-D, expected (N, " + std::to_string(C) + ")");
    hist.push_back(logits.detach());  // a fresh tensor every step: no copy needed
    if (record.count(k)) r.images[k] = img.detach();
    if (k == 0 && use_penalty) orig_keep = logits.detach().index_select(1, k_index);

    // Per-latent stopping: every target with a stop probability has reached it.
    torch::Tensor dir_p;
    if (any_stop || progress) {
      const torch::Tensor p = torch::sigmoid(logits.detach().index_select(1, t_index));  // (N, T)
      dir_p = torch::where(t_sign > 0, p, 1 - p);
    }
    bool all_stopped = false;
    if (any_stop) {
      torch::Tensor reached = torch::ones({N}, torch::kBool);
      for (size_t t = 0; t < spec.targets.size(); ++t)
        if (const auto sp = spec.stop_prob(spec.targets[t])) reached &= dir_p.select(1, static_cast<int64_t>(t)) >= *sp;
      const torch::Tensor newly = active & reached;
      if (newly.any().item<bool>()) {
        const auto nl = newly.accessor<bool, 1>();
        for (int64_t i = 0; i < N; ++i)
          if (nl[i]) r.stopped_at[i] = k;
        active &= ~reached;
      }
      all_stopped = !active.any().item<bool>();
    }
    if (progress) {
      EditProgress ep;
      ep.step = k;
      ep.steps = spec.steps;
      ep.active = static_cast<int>(active.sum().item<int64_t>());
      ep.mean_target_prob = dir_p.mean().item<double>();
      progress(ep);
    }
    if (last || all_stopped) {
      if (!last) {
        // Everyone stopped: the remaining steps repeat the current state.
        for (int j = k + 1; j <= spec.steps; ++j) {
          hist.push_back(hist.back());
          if (record.count(j)) r.images[j] = img.detach();
        }
      }
      break;
    }

    torch::Tensor score = (logits.index_select(1, t_index) * t_sign).mean(1);  // (N)
    if (use_penalty)
      score = score - spec.penalty * penalty_term(logits.index_select(1, k_index) - orig_keep, spec.penalty_kind);
    if (spec.prior > 0.0) score = score - spec.prior * (zv.norm(2, {1}) - shell).pow(2);
    const torch::Tensor total = spec.batch_mean ? score.mean() : score.sum();
    const torch::Tensor g = torch::autograd::grad({total}, {zv})[0];
    z = any_stop ? z + spec.step_size * g * active.unsqueeze(1).to(torch::kFloat32) : z + spec.step_size * g;
  }
  r.z_after = z.detach();
  r.logits = torch::stack(hist, 0);
  r.probs = torch::sigmoid(r.logits);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return r;
}

}  // namespace

EditResult edit(const Models& m, const torch::Tensor& z0, const EditSpec& spec, const EditCallback& progress) {
  validate(spec, static_cast<int>(m.attributes.size()));
  if (z0.dim() != 2 || z0.size(1) != m.z_dim)
    throw UsageError("latents must have shape (N, " + std::to_string(m.z_dim) + ")");
  const int64_t N = z0.size(0), mb = spec.micro_batch;
  if (mb <= 0 || N <= mb) return edit_batch(m, z0, spec, progress);
  // Latents are independent (each has its own gradient), so chunks can be edited one after
  // the other. The course's batch-mean scaling divides each gradient by N: a step of
  // step_size / N on per-latent gradients is the same update.
  EditSpec chunk_spec = spec;
  if (spec.batch_mean) {
    chunk_spec.batch_mean = false;
    chunk_spec.step_size = spec.step_size / static_cast<double>(N);
  }
  const int64_t chunks = (N + mb - 1) / mb;
  std::vector<EditResult> parts;
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = c * mb, e = std::min(N, b + mb);
    EditCallback cb;
    if (progress)
      cb = [&, c](const EditProgress& p) {
        EditProgress q = p;
        q.step = static_cast<int>(c * spec.steps + p.step);
        q.steps = static_cast<int>(chunks * spec.steps);
        progress(q);
      };
    parts.push_back(edit_batch(m, z0.slice(0, b, e), chunk_spec, cb));
  }
  EditResult r;
  std::vector<torch::Tensor> zb, za, lg;
  for (const auto& p : parts) {
    zb.push_back(p.z_before);
    za.push_back(p.z_after);
    lg.push_back(p.logits);
    r.stopped_at.insert(r.stopped_at.end(), p.stopped_at.begin(), p.stopped_at.end());
    r.seconds += p.seconds;
  }
  r.z_before = torch::cat(zb);
  r.z_after = torch::cat(za);
  r.logits = torch::cat(lg, 1);
  r.probs = torch::sigmoid(r.logits);
  for (const auto& [step, img] : parts[0].images) {
    std::vector<torch::Tensor> ims;
    for (const auto& p : parts) ims.push_back(p.images.at(step));
    r.images[step] = torch::cat(ims);
  }
  r.keep = parts[0].keep;
  return r;
}

}  // namespace latentedit
