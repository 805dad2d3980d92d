#include "latentedit/editor.h"
#include "latentedit/discover.h"
#include "latentedit/outputs.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <set>

#include "edit/mlp_kernel.h"
#include "latentedit/directions.h"
#include "latentedit/errors.h"

namespace latentedit {

bool has_latent_classifier(const Models& m) { return m.directions && !m.directions->latent_classifier.empty(); }

Method method_used(const Models& m, Method requested) { return resolve_method(requested, has_latent_classifier(m)); }

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

// What every method needs to know about the targets and the kept attributes.
struct Plan {
  std::vector<int> keep;
  torch::Tensor t_index, t_sign, k_index;
  torch::Tensor k_weight;  // (K) mask weights of the kept attributes; undefined = all 1
};

Plan make_plan(const Models& m, const EditSpec& spec) {
  const int C = static_cast<int>(m.attributes.size());
  Plan p;
  std::vector<int64_t> tidx;
  std::vector<float> sign;
  for (const auto& t : spec.targets) {
    tidx.push_back(t.attribute);
    sign.push_back(t.direction == Direction::kAdd ? 1.f : -1.f);
  }
  if (spec.keep.empty()) {
    std::set<int> tset(tidx.begin(), tidx.end());
    for (int c = 0; c < C; ++c)
      if (!tset.count(c)) p.keep.push_back(c);
  } else {
    p.keep = spec.keep;
  }
  p.t_index = torch::tensor(tidx, torch::kInt64);
  p.t_sign = torch::tensor(sign, torch::kFloat32);
  p.k_index = torch::tensor(std::vector<int64_t>(p.keep.begin(), p.keep.end()), torch::kInt64);
  // The correlation mask (Latent Transformer): 1 - max_t |corr(t, k)|. An explicit keep list
  // means "hold exactly these", so it is not masked.
  if (spec.keep_mask == KeepMask::kCorrelation && spec.keep.empty() && m.directions && !p.keep.empty()) {
    const auto corr = m.directions->correlation.index_select(0, p.t_index).index_select(1, p.k_index).abs();  // (T, K)
    p.k_weight = (1.0 - std::get<0>(corr.max(0))).clamp_min(0.0).contiguous();
  }
  return p;
}

// (N, T): each target's probability in the asked direction (p for add, 1 - p for remove).
torch::Tensor target_progress(const Plan& plan, const torch::Tensor& logits) {
  const torch::Tensor p = torch::sigmoid(logits.detach().index_select(1, plan.t_index));
  return torch::where(plan.t_sign > 0, p, 1 - p);
}

// Per-latent penalty on the (weighted) change of the kept logits.
torch::Tensor penalty_term(torch::Tensor delta, const torch::Tensor& weight, PenaltyKind kind) {
  if (weight.defined()) delta = delta * weight;
  switch (kind) {
    case PenaltyKind::kL2: return delta.norm(2, {1});
    case PenaltyKind::kL1: return delta.abs().mean(1);
    case PenaltyKind::kSquared: return delta.pow(2).mean(1);
  }
  return delta.norm(2, {1});
}

// View e >= 1 of a batch of images for expectation over transformation: a horizontal flip
// (odd e) and a shift of up to 2 px (wrapping), drawn from `g`.
torch::Tensor eot_view(const torch::Tensor& img, int e, at::Generator& g) {
  torch::Tensor v = (e % 2 == 1) ? img.flip({3}) : img;
  const auto sh = torch::randint(-2, 3, {2}, g);
  return torch::roll(v, {sh[0].item<int64_t>(), sh[1].item<int64_t>()}, {2, 3});
}

// Whether any target has a stop probability (its own or target_prob).
bool has_stop_prob(const EditSpec& spec) {
  for (const auto& t : spec.targets)
    if (spec.stop_prob(t)) return true;
  return false;
}

// Per-latent stopping and progress, shared by every method. Returns true when every latent
// has stopped.
struct Stopper {
  const EditSpec& spec;
  const Plan& plan;
  const EditCallback& progress;
  EditResult& r;
  torch::Tensor active;
  bool any_stop = false;

  Stopper(const EditSpec& s, const Plan& p, const EditCallback& cb, EditResult& res, int64_t N)
      : spec(s), plan(p), progress(cb), r(res), active(torch::ones({N}, torch::kBool)) {
    r.stopped_at.assign(N, spec.steps);
    any_stop = has_stop_prob(spec);
  }

  bool observe(int k, const torch::Tensor& logits) {
    const int64_t N = logits.size(0);
    torch::Tensor dir_p;
    if (any_stop || progress) dir_p = target_progress(plan, logits);
    bool all_stopped = false;
    if (any_stop) {
      torch::Tensor reached = torch::ones({N}, torch::kBool);
      // A latent stops when every target reached its stop probability; a target without one
      // runs all the steps, so it keeps the latent going.
      for (size_t t = 0; t < spec.targets.size(); ++t) {
        if (const auto sp = spec.stop_prob(spec.targets[t])) reached &= dir_p.select(1, static_cast<int64_t>(t)) >= *sp;
        else reached.fill_(false);
      }
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
    return all_stopped;
  }
};

// One batch edited together by gradient steps (methods gradient and projected). A latent that
// reaches its stop probability leaves the batch (its state is repeated for the remaining steps):
// each latent's update does not depend on the others (the EOT views and the sketch are drawn per
// step, shared), so the others' results do not change.
EditResult edit_gradient(const Models& m, const torch::Tensor& z0_in, const EditSpec& spec, const EditCallback& progress) {
  const auto t_start = std::chrono::steady_clock::now();
  const int64_t N = z0_in.size(0);
  const int C = static_cast<int>(m.attributes.size());
  EditResult r;
  const Plan plan = make_plan(m, spec);
  r.keep = plan.keep;
  const bool use_penalty = spec.penalty > 0.0 && !r.keep.empty();
  const double shell = std::sqrt(static_cast<double>(m.z_dim));
  const bool projected = spec.method == Method::kProjected && !r.keep.empty();
  const int64_t E = 1 + spec.eot;                                           // views of the target term
  const int64_t R = projected ? std::min<int64_t>(spec.rank, static_cast<int64_t>(r.keep.size())) : 0;  // sketch rows

  torch::Tensor z = z0_in.to(torch::kFloat32).contiguous().clone();  // every latent's current point
  r.z_before = z.clone();
  Stopper stop(spec, plan, progress, r, N);
  std::set<int> record(spec.record_steps.begin(), spec.record_steps.end());
  record.insert(0);
  record.insert(spec.steps);

  torch::Tensor rows = torch::arange(N, torch::kInt64);  // the latents still in the batch
  int64_t n = N;
  torch::Tensor orig_keep, Q;  // of the rows in the batch: kept logits at step 0; the sketch's basis (n, d, R)
  torch::Tensor logits_all, img_all;  // (N, ...): each latent's latest (a stopped latent's, from its last step)
  std::vector<torch::Tensor> hist;
  for (int k = 0; k <= spec.steps; ++k) {
    const bool last = k == spec.steps;
    const bool sketch = R > 0 && !last && (!Q.defined() || k % spec.sketch_every == 0);
    const int64_t copies = last ? 1 : E + (sketch ? R : 0);
    const torch::Tensor zb = n == N ? z : z.index_select(0, rows);
    // Copy 0 is the latent itself; copies 1..E-1 its transformed views; then R sketch rows.
    // The last step only scores z itself.
    torch::Tensor zv = (copies == 1 ? zb : zb.repeat({copies, 1})).detach().set_requires_grad(!last);
    torch::Tensor img, logits, all_logits;
    {
      torch::AutoGradMode mode(!last);
      torch::Tensor all_img = m.generator.forward(zv);
      img = all_img.slice(0, 0, n);
      if (E > 1 && !last) {
        auto g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(k) * 7919ULL + 17);
        std::vector<torch::Tensor> parts = {img};
        for (int64_t e = 1; e < E; ++e) parts.push_back(eot_view(all_img.slice(0, e * n, (e + 1) * n), static_cast<int>(e), g));
        if (sketch) parts.push_back(all_img.slice(0, E * n, copies * n));
        all_img = torch::cat(parts);
      }
      all_logits = m.classifier.forward(all_img);
      logits = all_logits.slice(0, 0, n);
    }
    if (logits.dim() != 2 || logits.size(1) != C)
      throw ModelError("classifier returned shape " + std::to_string(logits.dim()) + "-D, expected (N, " + std::to_string(C) + ")");
    if (n == N) {
      logits_all = logits.detach();
      img_all = img.detach();
    } else {
      logits_all = logits_all.index_copy(0, rows, logits.detach());
      img_all = img_all.index_copy(0, rows, img.detach());
    }
    hist.push_back(logits_all);
    if (record.count(k)) r.images[k] = img_all;
    if (k == 0 && use_penalty) orig_keep = logits.detach().index_select(1, plan.k_index);
    const bool all_stopped = stop.observe(k, logits_all);
    if (last || all_stopped) {
      // Everyone stopped: the remaining steps repeat the current state.
      for (int j = k + 1; j <= spec.steps; ++j) {
        hist.push_back(hist.back());
        if (record.count(j)) r.images[j] = img_all;
      }
      break;
    }

    torch::Tensor score = (logits.index_select(1, plan.t_index) * plan.t_sign).mean(1);  // (n)
    for (int64_t e = 1; e < E; ++e)
      score = score + (all_logits.slice(0, e * n, (e + 1) * n).index_select(1, plan.t_index) * plan.t_sign).mean(1);
    if (E > 1) score = score / static_cast<double>(E);
    if (use_penalty)
      score = score - spec.penalty * penalty_term(logits.index_select(1, plan.k_index) - orig_keep, plan.k_weight, spec.penalty_kind);
    const torch::Tensor z_self = zv.slice(0, 0, n);
    if (spec.prior > 0.0) score = score - spec.prior * (z_self.norm(2, {1}) - shell).pow(2);
    // The course's batch mean divides by the whole batch, also once some latents have stopped.
    torch::Tensor total = spec.batch_mean ? score.sum() / static_cast<double>(N) : score.sum();
    if (sketch) {
      // Sketch of the kept logits' Jacobian row space: R random (mask-weighted) combinations.
      auto g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(k) * 104729ULL + 5);
      // Omega is drawn per step, shared by all latents, so a latent's edit does not depend on
      // what else is in its batch.
      const int64_t K = plan.k_index.size(0);
      const auto kept = all_logits.slice(0, E * n, copies * n).index_select(1, plan.k_index).view({R, n, K});
      auto omega = torch::randn({R, 1, K}, g);
      if (plan.k_weight.defined()) omega = omega * plan.k_weight;
      total = total + (kept * omega).sum();
    }
    const torch::Tensor grads = torch::autograd::grad({total}, {zv})[0];
    torch::Tensor g = copies == 1 ? grads : grads.slice(0, 0, E * n).view({E, n, -1}).sum(0);
    if (sketch) {
      const auto Y = grads.slice(0, E * n, copies * n).view({R, n, -1}).permute({1, 2, 0});  // (n, d, R)
      Q = std::get<0>(torch::linalg::qr(Y));                                               // (n, d, R)
    }
    // Remove the components along the sketched directions: g - Q Q^T g per latent.
    if (R > 0) g = g - Q.matmul(Q.transpose(1, 2).matmul(g.unsqueeze(2))).squeeze(2);
    torch::Tensor update = spec.step_size * g;
    if (stop.any_stop) {
      // The latents that stopped at this step do not move, and leave the batch.
      const torch::Tensor keep_at = stop.active.index_select(0, rows).nonzero().view({-1});
      if (keep_at.size(0) < n) {
        update = update.index_select(0, keep_at);
        rows = rows.index_select(0, keep_at);
        n = rows.size(0);
        if (use_penalty) orig_keep = orig_keep.index_select(0, keep_at);
        if (Q.defined()) Q = Q.index_select(0, keep_at);
      }
    }
    z.index_add_(0, rows, update);
  }
  r.z_after = z.detach();
  r.logits = torch::stack(hist, 0);
  r.probs = torch::sigmoid(r.logits);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return r;
}

// InterFaceGAN: one move along the target normal(s), made orthogonal to the normals of the
// condition attributes (and of the other targets), far enough that each latent reaches signed
// distance `strength` past the target's boundary.
torch::Tensor boundary_move(const EditSpec& spec, const Plan&, const Directions& D, const torch::Tensor& z0) {
  torch::Tensor delta = torch::zeros_like(z0);
  for (size_t ti = 0; ti < spec.targets.size(); ++ti) {
    const Target& t = spec.targets[ti];
    const double s = t.direction == Direction::kAdd ? 1.0 : -1.0;
    const torch::Tensor n = s * D.normals[t.attribute];
    std::vector<int64_t> cond(spec.condition.begin(), spec.condition.end());
    for (const auto& o : spec.targets)
      if (o.attribute != t.attribute) cond.push_back(o.attribute);
    torch::Tensor nc = n;
    if (!cond.empty()) {
      const auto Nc = D.normals.index_select(0, torch::tensor(cond, torch::kInt64));  // (c, d)
      const auto G = Nc.matmul(Nc.t()) + 1e-6 * torch::eye(Nc.size(0));
      nc = n - Nc.t().matmul(torch::linalg::solve(G, Nc.matmul(n), true));
    }
    const double len = nc.norm().item<double>();
    if (len < 1e-3)
      throw UsageError("condition: the target's direction lies within the conditioned attributes' directions; condition on fewer");
    nc = nc / len;
    const double along = n.dot(nc).item<double>();  // > 0: the conditioned move still crosses the boundary
    const auto dist = s * (z0.matmul(D.normals[t.attribute]) + D.offsets[t.attribute]);  // (N) signed distance toward the target
    const auto alpha = ((spec.strength_value(Method::kBoundary) - dist) / along).clamp_min(0.0);
    delta = delta + alpha.unsqueeze(1) * nc.unsqueeze(0);
  }
  return delta;
}

// The latent method: for each latent, Adam (kLatentIterations steps of kLatentRate) on
//   sum_t 10 relu(strength - s_t f_t(z))^2 + sum_k w_k (f_k(z) - f_k(z0))^2
//     + hold_image sum_j v_j (h_j(z) - h_j(z0))^2 + kLatentL2 ||z - z0||^2
// where f is the bundle's latent classifier (an MLP z -> logits fitted to the editing
// classifier), s_t = +1 to add / -1 to remove, w_k the keep mask's weights (1 when uniform or
// keep), and h the latent thumbnail model (z -> the face's 4 x 4 colour thumbnail) when the
// bundle has one, v_j = 1 - max_t |corr(target t, thumbnail value j)|: background, clothes and
// hair colours stay unless the target itself goes with them (Blond_Hair moves the top cells).
// Neither model sees pixels, so the edit cannot exploit the image classifier's adversarial
// directions, and kept logits and colours are held without pinning pixels.
// 100 steps of 0.15 instead of 300 of 0.05 (before 2026-12-06): the same success, drift and fooled
// rate on the 32-latent protocol at a third of the cost (MODEL_CARD, "Default speed").
constexpr int kLatentIterations = 100;
constexpr double kLatentRate = 0.15, kLatentL2 = 0.3;
// The latent passes of at most this many latent x pass rows run in one optimisation (edit_latent).
constexpr int64_t kTogetherRows = 16;

// latent_optimise's loss and Adam written out by hand over mlp_kernel.h's MLPs (no autograd):
// the same function and update as the libtorch code below it, faster on the few rows where
// libtorch's per-operation costs outweigh the arithmetic (the ladders of two latents, 6 rows:
// 0.20 vs 0.35 s per edit without fallbacks; 15 rows 0.38 vs 0.45 s), slower on many, where its
// GEMM is the better kernel (32 rows: 1.9 vs 1.7 s) — so up to kByHandRows rows, within which a row's result does not
// depend on the others. Undefined when a model's weights are not FP32 (bf16 runs the libtorch
// code) or for more rows. f0_keep, h0, v as latent_optimise computes them.
constexpr int64_t kByHandRows = 16;
torch::Tensor latent_optimise_by_hand(const EditSpec& spec, const Plan& plan, const Directions& D, const torch::Tensor& z0_in,
                                      const torch::Tensor& strength, const torch::Tensor& start, int iterations,
                                      const torch::Tensor& f0_keep_in, const torch::Tensor& h0_in, const torch::Tensor& v_in) {
  if (z0_in.size(0) > kByHandRows) return {};
  std::vector<MlpView> members;
  for (const auto& mlp : D.latent_classifier) {
    members.push_back(mlp_view(mlp));
    if (members.back().layers.empty()) return {};
  }
  const bool hold = h0_in.defined();
  const MlpView thumb = hold ? mlp_view(D.thumbnail) : MlpView{};
  if (hold && thumb.layers.empty()) return {};
  const int M = static_cast<int>(z0_in.size(0)), d = static_cast<int>(z0_in.size(1));
  const int C = members[0].out(), H = hold ? thumb.out() : 0;
  for (const auto& mv : members)
    if (mv.in() != d || mv.out() != C) return {};
  if (hold && thumb.in() != d) return {};
  auto vec = [](const torch::Tensor& t, torch::ScalarType type) { return t.to(type).contiguous(); };
  const torch::Tensor z0 = vec(z0_in, torch::kFloat32), s = vec(strength, torch::kFloat32);
  const torch::Tensor ti = vec(plan.t_index, torch::kInt64), ts = vec(plan.t_sign, torch::kFloat32);
  const bool keep = !plan.keep.empty();
  const torch::Tensor ki = keep ? vec(plan.k_index, torch::kInt64) : torch::Tensor();
  const torch::Tensor f0 = keep ? vec(f0_keep_in, torch::kFloat32) : torch::Tensor();
  const torch::Tensor kw = keep && plan.k_weight.defined() ? vec(plan.k_weight, torch::kFloat32) : torch::Tensor();
  const torch::Tensor h0 = hold ? vec(h0_in, torch::kFloat32) : torch::Tensor(), v = hold ? vec(v_in, torch::kFloat32) : torch::Tensor();
  const int T = static_cast<int>(ti.size(0)), K = keep ? static_cast<int>(ki.size(0)) : 0;
  const int64_t* tip = ti.data_ptr<int64_t>();
  const int64_t* kip = keep ? ki.data_ptr<int64_t>() : nullptr;
  const float* tsp = ts.data_ptr<float>();
  const float* sp = s.data_ptr<float>();
  const float* z0p = z0.data_ptr<float>();
  const float* f0p = keep ? f0.data_ptr<float>() : nullptr;
  const float* kwp = kw.defined() ? kw.data_ptr<float>() : nullptr;
  torch::Tensor z = (start.defined() ? vec(start, torch::kFloat32) : z0).clone();
  float* zp = z.data_ptr<float>();
  const size_t nz = static_cast<size_t>(M) * d;
  std::vector<float> f(static_cast<size_t>(M) * C), fm(f.size()), df(f.size()), h(static_cast<size_t>(M) * H), dh(h.size()), g(nz);
  std::vector<float> m1(nz, 0.0f), m2(nz, 0.0f);
  std::vector<MlpTape> tapes(members.size());
  MlpTape thumb_tape;
  const float inv = 1.0f / static_cast<float>(members.size());
  constexpr double b1 = 0.9, b2 = 0.999, eps = 1e-8;  // torch::optim::Adam's defaults
  for (int it = 0; it < iterations; ++it) {
    // f = the members' mean, summed in latent_logits' order.
    for (size_t k = 0; k < members.size(); ++k) {
      mlp_forward(members[k], zp, M, tapes[k], k == 0 ? f.data() : fm.data());
      if (k > 0)
        for (size_t q = 0; q < f.size(); ++q) f[q] += fm[q];
    }
    if (members.size() > 1)
      for (auto& x : f) x /= static_cast<float>(members.size());
    // d loss / d f: 10 relu(s - sign f_t)^2 for the targets, (w (f_k - f0_k))^2 for the kept.
    std::fill(df.begin(), df.end(), 0.0f);
    for (int r = 0; r < M; ++r) {
      float* dfr = df.data() + static_cast<size_t>(r) * C;
      const float* fr = f.data() + static_cast<size_t>(r) * C;
      for (int t = 0; t < T; ++t) {
        const float gap = sp[r] - fr[tip[t]] * tsp[t];
        if (gap > 0.0f) dfr[tip[t]] += -20.0f * gap * tsp[t];
      }
      for (int k = 0; k < K; ++k) {
        const float w = kwp ? kwp[k] : 1.0f;
        dfr[kip[k]] += 2.0f * w * w * (fr[kip[k]] - f0p[static_cast<size_t>(r) * K + k]);
      }
    }
    if (members.size() > 1)
      for (auto& x : df) x *= inv;
    // d loss / d z: the L2 pull, each member, the thumbnail's hold.
    for (size_t q = 0; q < nz; ++q) g[q] = 2.0f * static_cast<float>(kLatentL2) * (zp[q] - z0p[q]);
    for (size_t k = 0; k < members.size(); ++k) mlp_backward(members[k], tapes[k], df.data(), M, g.data());
    if (hold) {
      mlp_forward(thumb, zp, M, thumb_tape, h.data());
      const float* h0p = h0.data_ptr<float>();
      const float* vp = v.data_ptr<float>();
      const float c = 2.0f * static_cast<float>(spec.hold_image);
      for (int r = 0; r < M; ++r)
        for (int j = 0; j < H; ++j) {
          const size_t q = static_cast<size_t>(r) * H + j;
          dh[q] = c * vp[j] * (h[q] - h0p[q]);
        }
      mlp_backward(thumb, thumb_tape, dh.data(), M, g.data());
    }
    // Adam (lr kLatentRate), as torch::optim::Adam updates.
    const double bc1 = 1.0 - std::pow(b1, it + 1), bc2 = 1.0 - std::pow(b2, it + 1);
    const float step = static_cast<float>(kLatentRate / bc1), rb2 = static_cast<float>(std::sqrt(bc2));
    for (size_t q = 0; q < nz; ++q) {
      m1[q] = m1[q] * static_cast<float>(b1) + g[q] * static_cast<float>(1.0 - b1);
      m2[q] = m2[q] * static_cast<float>(b2) + g[q] * g[q] * static_cast<float>(1.0 - b2);
      zp[q] -= step * m1[q] / (std::sqrt(m2[q]) / rb2 + static_cast<float>(eps));
    }
  }
  return z;
}

// The latent method's optimisation for latents z0 (N, d), each to its own target logit
// strength (N), from `start` (N, d; undefined: z0) for `iterations` Adam steps. Adam's update is
// per coordinate and the loss a sum over latents, so each latent's result does not depend on
// the others in the batch. Returns the end points.
torch::Tensor latent_optimise(const EditSpec& spec, const Plan& plan, const Directions& D, const torch::Tensor& z0,
                              const torch::Tensor& strength, const torch::Tensor& start, int iterations) {
  torch::AutoGradMode grad_on(true);
  torch::Tensor f0_keep, h0, v;
  const bool hold_image = !D.thumbnail.empty() && spec.hold_image > 0.0;
  {
    torch::NoGradGuard ng;
    f0_keep = latent_logits(D, z0).index_select(1, plan.k_index);
    if (hold_image) {
      h0 = latent_thumbnail(D, z0);
      v = (1.0 - std::get<0>(D.thumbnail_correlation.index_select(0, plan.t_index).abs().max(0))).clamp_min(0.0);
    }
  }
  if (auto r = latent_optimise_by_hand(spec, plan, D, z0, strength, start, iterations, f0_keep, h0, v); r.defined()) return r;
  const torch::Tensor s = strength.view({-1, 1});
  torch::Tensor z = (start.defined() ? start : z0).clone().requires_grad_(true);
  torch::optim::Adam opt({z}, torch::optim::AdamOptions(kLatentRate));
  for (int it = 0; it < iterations; ++it) {
    const torch::Tensor f = latent_logits(D, z);
    const torch::Tensor t = f.index_select(1, plan.t_index) * plan.t_sign;  // (N, T)
    torch::Tensor loss = 10.0 * torch::relu(s - t).pow(2).sum();
    if (!plan.keep.empty()) {
      torch::Tensor dk = f.index_select(1, plan.k_index) - f0_keep;  // (N, K)
      if (plan.k_weight.defined()) dk = dk * plan.k_weight;
      loss = loss + dk.pow(2).sum();
    }
    if (hold_image) loss = loss + spec.hold_image * ((latent_thumbnail(D, z) - h0).pow(2) * v).sum();
    loss = loss + kLatentL2 * (z - z0).pow(2).sum();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  return z.detach();
}

torch::Tensor latent_move(const EditSpec& spec, const Plan& plan, const Directions& D, const torch::Tensor& z0) {
  const torch::Tensor s = torch::full({z0.size(0)}, spec.strength_value(Method::kLatent));
  return latent_optimise(spec, plan, D, z0, s, {}, kLatentIterations) - z0;
}

// The one-shot methods (boundary, latent): `move` gives each latent's whole move from z0, shown
// as `steps` evenly spaced points of it (so grids and strips show it progressively); a latent
// that reaches its stop probability stays where it is.
using Move = torch::Tensor (*)(const EditSpec&, const Plan&, const Directions&, const torch::Tensor& z0);

EditResult edit_one_shot(const Models& m, const torch::Tensor& z0_in, const EditSpec& spec, const EditCallback& progress, Move move) {
  const auto t_start = std::chrono::steady_clock::now();
  EditResult r;
  const Plan plan = make_plan(m, spec);
  r.keep = plan.keep;
  const torch::Tensor z0 = z0_in.to(torch::kFloat32).contiguous();
  r.z_before = z0.clone();
  const torch::Tensor delta = move(spec, plan, *m.directions, z0);
  torch::NoGradGuard ng;
  const int64_t N = z0.size(0);
  Stopper stop(spec, plan, progress, r, N);
  std::set<int> record(spec.record_steps.begin(), spec.record_steps.end());
  record.insert(0);
  record.insert(spec.steps);
  std::vector<torch::Tensor> hist;
  torch::Tensor z = z0.clone(), frac = torch::zeros({N});
  for (int k = 0; k <= spec.steps; ++k) {
    if (k > 0) frac = torch::where(stop.active, torch::full({N}, static_cast<double>(k) / spec.steps), frac);
    z = z0 + frac.unsqueeze(1) * delta;
    const torch::Tensor img = m.generator.forward(z);
    const torch::Tensor logits = m.classifier.forward(img);
    hist.push_back(logits);
    if (record.count(k)) r.images[k] = img;
    stop.observe(k, logits);
  }
  r.z_after = z;
  r.logits = torch::stack(hist, 0);
  r.probs = torch::sigmoid(r.logits);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return r;
}

EditResult edit_batch(const Models& m, const torch::Tensor& z0, const EditSpec& spec, const EditCallback& progress) {
  switch (spec.method) {
    case Method::kBoundary:
      if (!m.directions)
        throw UsageError("method boundary needs the bundle's attribute directions", Remedy::kFitDirections, m.dir);
      return edit_one_shot(m, z0, spec, progress, boundary_move);
    case Method::kLatent:
      if (!has_latent_classifier(m))
        throw UsageError("method latent needs the bundle's latent classifier", Remedy::kFitDirections, m.dir);
      return edit_one_shot(m, z0, spec, progress, latent_move);
    default: return edit_gradient(m, z0, spec, progress);
  }
}

}  // namespace

// One pass over all latents, in micro-batches.
static EditResult edit_pass(const Models& m, const torch::Tensor& z0, const EditSpec& spec, const EditCallback& progress) {
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

// Renders and scores latents (no gradient) in micro-batches of `mb` (0: all at once).
static std::pair<torch::Tensor, torch::Tensor> render_scored(const Models& m, const torch::Tensor& z, int64_t mb) {
  torch::NoGradGuard ng;
  const int64_t N = z.size(0), b = mb > 0 ? mb : std::max<int64_t>(N, 1);
  std::vector<torch::Tensor> imgs, logits;
  for (int64_t i = 0; i < N; i += b) {
    imgs.push_back(m.generator.forward(z.slice(0, i, std::min(N, i + b))));
    logits.push_back(m.classifier.forward(imgs.back()));
  }
  return {torch::cat(imgs), torch::cat(logits)};
}

// The latent method without stop probabilities (EditSpec::passes, latent first): each latent pass
// moves only the latents no earlier pass put past its threshold, and is judged from one render of
// each latent's end point; the fallback projected passes run on the latents still short; then
// each latent's kept move is rendered once, at `steps` + 1 evenly spaced points from z0.
static EditResult edit_latent(const Models& m, const torch::Tensor& z0_in, const EditSpec& spec, const std::vector<Pass>& passes,
                              const EditCallback& progress) {
  const auto t_start = std::chrono::steady_clock::now();
  const Plan plan = make_plan(m, spec);
  const Directions& D = *m.directions;
  const torch::Tensor z0 = z0_in.to(torch::kFloat32).contiguous();
  const int64_t N = z0.size(0);
  const int P = static_cast<int>(passes.size());
  EditResult r;
  r.keep = plan.keep;
  r.z_before = z0.clone();
  r.ranks.assign(N, 0);
  r.strengths.assign(N, 0.0);
  const bool judged = P > 1 && !spec.targets.empty();
  // A latent's score: its least convinced target's direction-aware probability.
  auto score = [&](const torch::Tensor& logits) { return std::get<0>(target_progress(plan, logits).min(1)); };
  torch::Tensor best = torch::full({N}, -1.0), done = torch::zeros({N}, torch::kBool), z_end = z0.clone();
  // Keeps pass `pass`'s end points `end` (of the latents `redo`) where they score better.
  auto keep_better = [&](int pass, const torch::Tensor& redo, const torch::Tensor& end, const torch::Tensor& logits) {
    const torch::Tensor sc = score(logits);
    const auto better = (sc > best.index_select(0, redo)).nonzero().view({-1});
    const auto dst = redo.index_select(0, better);
    best.index_copy_(0, dst, sc.index_select(0, better));
    done.index_copy_(0, dst, sc.index_select(0, better) >= passes[pass].accept);
    z_end.index_copy_(0, dst, end.index_select(0, better));
    const auto di = dst.accessor<int64_t, 1>();
    for (int64_t k = 0; k < dst.numel(); ++k) {
      r.ranks[di[k]] = passes[pass].method == Method::kLatent ? 0 : passes[pass].rank;
      r.strengths[di[k]] = passes[pass].method == Method::kLatent ? passes[pass].strength : 0.0;
    }
  };
  auto pass_progress = [&](int pass) -> EditCallback {
    if (!progress || P == 1) return progress;
    return [&, pass](const EditProgress& q0) {
      EditProgress q = q0;
      q.pass = pass + 1;
      q.passes = P;
      progress(q);
    };
  };
  int L = 0;  // the latent passes come first
  while (L < P && passes[L].method == Method::kLatent) ++L;
  // A small batch runs every latent pass for every latent in one optimisation: an iteration on a
  // few rows costs what reading the MLPs' weights costs, whatever the rows. A larger one runs them
  // pass by pass, each on the latents no earlier pass put past its threshold.
  const bool together = N * L <= kTogetherRows;
  torch::Tensor ends;  // (L, N, d) when together
  if (together) {
    std::vector<torch::Tensor> s;
    for (int j = 0; j < L; ++j) s.push_back(torch::full({N}, passes[j].strength));
    ends = latent_optimise(spec, plan, D, z0.repeat({L, 1}), torch::cat(s), {}, kLatentIterations).view({L, N, -1});
  }
  int pass = 0;
  for (; pass < L; ++pass) {
    const auto redo = done.logical_not().nonzero().view({-1});
    if (redo.numel() == 0) break;
    const torch::Tensor end = together ? ends[pass].index_select(0, redo)
                                       : latent_optimise(spec, plan, D, z0.index_select(0, redo),
                                                         torch::full({redo.size(0)}, passes[pass].strength), {}, kLatentIterations);
    if (!judged) {
      z_end.index_copy_(0, redo, end);
      for (int64_t i = 0; i < N; ++i) r.strengths[i] = passes[pass].strength;
      continue;
    }
    const torch::Tensor logits = render_scored(m, end, spec.micro_batch).second;
    keep_better(pass, redo, end, logits);
    if (progress) {
      EditProgress q;
      q.step = q.steps = spec.steps;
      q.active = static_cast<int>(redo.numel());
      q.mean_target_prob = target_progress(plan, logits).mean().item<double>();
      pass_progress(pass)(q);
    }
  }
  for (; judged && pass < P; ++pass) {
    const auto redo = done.logical_not().nonzero().view({-1});
    if (redo.numel() == 0) break;
    EditSpec s = spec;
    s.method = Method::kProjected;
    s.rank = passes[pass].rank;
    s.fallback_ranks.clear();
    s.ladder.clear();
    s.record_steps.clear();
    s.target_prob = passes[pass].accept;  // a latent stops once it gets there
    if (s.batch_mean) {  // the course's scaling divides by the whole batch, not by the latents re-run
      s.batch_mean = false;
      s.step_size = spec.step_size / static_cast<double>(N);
    }
    const EditResult e = edit_pass(m, z_end.index_select(0, redo), s, pass_progress(pass));
    keep_better(pass, redo, e.z_after, e.logits[e.logits.size(0) - 1]);
  }
  // The kept moves, shown at steps + 1 evenly spaced points.
  std::set<int> record(spec.record_steps.begin(), spec.record_steps.end());
  record.insert(0);
  record.insert(spec.steps);
  std::vector<torch::Tensor> hist;
  const torch::Tensor delta = z_end - z0;
  for (int k = 0; k <= spec.steps; ++k) {
    auto [img, logits] = render_scored(m, k == spec.steps ? z_end : z0 + (static_cast<double>(k) / spec.steps) * delta, spec.micro_batch);
    hist.push_back(logits);
    if (record.count(k)) r.images[k] = img;
  }
  r.z_after = z_end;
  r.stopped_at.assign(N, spec.steps);
  r.logits = torch::stack(hist, 0);
  r.probs = torch::sigmoid(r.logits);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return r;
}

EditResult edit(const Models& m, const torch::Tensor& z0, const EditSpec& spec, const EditCallback& progress) {
  validate(spec, static_cast<int>(m.attributes.size()));
  if (!spec.moves.empty()) {
    // A move along directions: nothing is optimised; every point of the line is scored.
    if (z0.dim() != 2 || z0.size(1) != m.z_dim) throw UsageError("latents must have shape (N, " + std::to_string(m.z_dim) + ")");
    const std::vector<ResolvedMove> moves = resolve_moves(m, spec);
    EditResult r = move_along(m, z0, moves_delta(moves, m.z_dim), spec.steps, spec.record_steps);
    r.keep = non_targets(edit_targets(m, spec), static_cast<int>(m.attributes.size()));
    return r;
  }
  if (spec.method == Method::kAuto) {
    EditSpec s = spec;
    s.method = method_used(m, spec.method);
    return edit(m, z0, s, progress);
  }
  if (z0.dim() != 2 || z0.size(1) != m.z_dim)
    throw UsageError("latents must have shape (N, " + std::to_string(m.z_dim) + ")");
  const bool ranked = spec.method == Method::kProjected || spec.method == Method::kLatent;
  const std::vector<Pass> passes = spec.passes();
  const bool any_stop = has_stop_prob(spec);  // set: the latent method's one-shot path, no early stop in cascades
  if (spec.method == Method::kLatent && !any_stop) {
    if (!has_latent_classifier(m))
      throw UsageError("method latent needs the bundle's latent classifier", Remedy::kFitDirections, m.dir);
    return edit_latent(m, z0, spec, passes, progress);
  }
  const bool cascade = passes.size() > 1 && !spec.targets.empty();
  // The spec of one pass: its method, rank and strength, and no further passes. After the first,
  // the course's batch-mean scaling still divides by the whole batch, not by the latents re-run.
  const int64_t N = z0.size(0);
  auto pass_spec = [&](const Pass& p, bool first) {
    EditSpec s = spec;
    s.method = p.method;
    s.rank = p.rank;
    if (p.method == Method::kLatent) s.strength = p.strength;
    s.fallback_ranks.clear();
    s.ladder.clear();
    if (cascade && !any_stop) s.target_prob = p.accept;  // a latent stops once it gets there
    if (!first && s.batch_mean) {
      s.batch_mean = false;
      s.step_size = spec.step_size / static_cast<double>(N);
    }
    return s;
  };
  auto pass_progress = [&](size_t pass) -> EditCallback {
    if (!progress || !cascade) return progress;
    return [&, pass](const EditProgress& q0) {
      EditProgress q = q0;
      q.pass = static_cast<int>(pass) + 1;
      q.passes = static_cast<int>(passes.size());
      progress(q);
    };
  };
  EditResult r = edit_pass(m, z0, pass_spec(passes[0], true), pass_progress(0));
  if (!ranked) return r;
  auto kept_as = [&](int64_t i, const Pass& p) {
    r.ranks[i] = p.method == Method::kLatent ? 0 : p.rank;  // 0: a latent pass
    if (spec.method == Method::kLatent) r.strengths[i] = p.method == Method::kLatent ? p.strength : 0.0;
  };
  r.ranks.assign(N, 0);
  if (spec.method == Method::kLatent) r.strengths.assign(N, 0.0);
  for (int64_t i = 0; i < N; ++i) kept_as(i, passes[0]);
  if (!cascade) return r;
  // Fallback passes: the latents whose targets the editing classifier does not put past the kept
  // pass's threshold (Pass::accept) are edited again from their start with the next pass. Each
  // latent's update does not depend on the others (the sketch and the EOT views are drawn per
  // step, shared), so a latent's pass-k result is the same as if every latent had run pass k.
  const Plan plan = make_plan(m, spec);
  // A latent's score: its least convinced target's direction-aware final probability.
  auto score = [&](const torch::Tensor& logits) {
    return std::get<0>(target_progress(plan, logits[logits.size(0) - 1]).min(1));
  };
  torch::Tensor best = score(r.logits);
  torch::Tensor done = best >= passes[0].accept;
  for (size_t pass = 1; pass < passes.size(); ++pass) {
    const auto redo_all = done.logical_not().nonzero().view({-1});
    if (redo_all.numel() == 0) break;
    const EditResult s = edit_pass(m, z0.index_select(0, redo_all), pass_spec(passes[pass], false), pass_progress(pass));
    r.seconds += s.seconds;
    // Keep the new pass where it convinces the editing classifier more (it reached its threshold,
    // or no pass has so far and it came closer).
    const auto s_score = score(s.logits);
    const auto better = (s_score > best.index_select(0, redo_all)).nonzero().view({-1});
    const auto dst = redo_all.index_select(0, better);  // the latents that keep this pass
    best.index_copy_(0, dst, s_score.index_select(0, better));
    done.index_copy_(0, dst, s_score.index_select(0, better) >= passes[pass].accept);
    r.z_after.index_copy_(0, dst, s.z_after.index_select(0, better));
    r.logits.index_copy_(1, dst, s.logits.index_select(1, better));
    for (auto& [step, img] : r.images) img.index_copy_(0, dst, s.images.at(step).index_select(0, better));
    const auto bi = better.accessor<int64_t, 1>(), di = dst.accessor<int64_t, 1>();
    for (int64_t k = 0; k < dst.numel(); ++k) {
      r.stopped_at[di[k]] = s.stopped_at[bi[k]];
      kept_as(di[k], passes[pass]);
    }
  }
  r.probs = torch::sigmoid(r.logits);
  return r;
}

}  // namespace latentedit
