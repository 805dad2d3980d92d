#include "latentedit/directions.h"
#include "edit/option_fields.h"

#include <cmath>

#include "latentedit/attributes.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "data/faces.h"

namespace latentedit {

namespace {
// Pearson correlation of each column of a (N, A) with each column of b (N, B) -> (A, B).
torch::Tensor cross_correlation(const torch::Tensor& a0, const torch::Tensor& b0) {
  const auto a = a0.to(torch::kFloat64), b = b0.to(torch::kFloat64);
  const auto ac = a - a.mean(0, true), bc = b - b.mean(0, true);
  const auto sa = ac.pow(2).mean(0).sqrt().clamp_min(1e-9), sb = bc.pow(2).mean(0).sqrt().clamp_min(1e-9);
  return (ac.t().matmul(bc) / static_cast<double>(a.size(0)) / sa.unsqueeze(1) / sb.unsqueeze(0)).to(torch::kFloat32).contiguous();
}

// The attributes' correlation from 0/1 labels (N, C) -> (C, C), 1 on the diagonal. An attribute
// that never varies centres to exact zeros, so it correlates with nothing.
torch::Tensor correlation_of(const torch::Tensor& labels) {
  auto corr = cross_correlation(labels, labels);
  corr.diagonal().fill_(1.0);
  return corr;
}

// The editing classifier's logits of the generated faces G(z), 512 faces at a time; with
// `thumbnails`, also each face's kThumbnail x kThumbnail colour thumbnail (area means), flattened.
torch::Tensor classifier_logits(const Models& m, const torch::Tensor& z, torch::Tensor* thumbnails = nullptr) {
  const int64_t N = z.size(0);
  std::vector<torch::Tensor> out, thumbs;
  for (int64_t i = 0; i < N; i += 512) {
    const torch::Tensor img = generate(m, z.slice(0, i, std::min(N, i + 512)));
    out.push_back(classify(m.classifier, img));
    if (thumbnails) thumbs.push_back(torch::adaptive_avg_pool2d(img, {kThumbnail, kThumbnail}).flatten(1));
  }
  if (thumbnails) *thumbnails = torch::cat(thumbs);
  return torch::cat(out);
}

// Regresses y on z with an MLP (depth hidden layers of `hidden` units, SiLU), AdamW on batches of
// 256 for `epochs` epochs, learning rate warmed up to 2e-3 then cosine-decayed; returns the
// Linear layers' weights and biases in order. Deterministic for a given seed and thread count.
Mlp fit_mlp(const torch::Tensor& z, const torch::Tensor& y, int hidden, int depth, int epochs, uint64_t seed,
            const std::function<void(int)>& on_epoch) {
  torch::AutoGradMode grad_on(true);  // the caller may be under a NoGradGuard
  const int64_t n = z.size(0);
  torch::manual_seed(seed);  // the layers' initialisation
  torch::nn::Sequential net;
  int64_t in = z.size(1);
  for (int l = 0; l < depth; ++l) {
    net->push_back(torch::nn::Linear(in, hidden));
    net->push_back(torch::nn::SiLU());
    in = hidden;
  }
  net->push_back(torch::nn::Linear(in, y.size(1)));
  const int64_t bs = std::min<int64_t>(256, n), per_epoch = n / bs, total = per_epoch * epochs;
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(1e-4));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 2);
  int64_t step = 0;
  for (int ep = 0; ep < epochs; ++ep) {
    const auto perm = torch::randperm(n, gen, torch::kInt64);
    for (int64_t b = 0; b < per_epoch; ++b, ++step) {
      // 30 % linear warm-up from 1/25 of the peak, then cosine decay to 0 (a one-cycle schedule).
      const double f = static_cast<double>(step) / std::max<int64_t>(1, total), warm = 0.3;
      const double lr = f < warm ? 2e-3 * (0.04 + 0.96 * f / warm) : 2e-3 * 0.5 * (1 + std::cos(M_PI * (f - warm) / (1 - warm)));
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      const auto idx = perm.slice(0, b * bs, (b + 1) * bs);
      const auto loss = torch::mse_loss(net->forward(z.index_select(0, idx)), y.index_select(0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    if (on_epoch) on_epoch(ep + 1);
  }
  torch::NoGradGuard no_grad;
  Mlp out;
  for (const auto& mod : net->children())
    if (auto lin = mod->as<torch::nn::Linear>()) {
      out.weights.push_back(lin->weight.detach().clone().contiguous());
      out.biases.push_back(lin->bias.detach().clone().contiguous());
    }
  return out;
}

// The MLP in its weights' precision (set_precision may make them bfloat16); z and the result float32.
torch::Tensor run_mlp(const Mlp& mlp, const torch::Tensor& z) {
  torch::Tensor h = z.to(mlp.weights[0].scalar_type());
  for (size_t i = 0; i < mlp.weights.size(); ++i) {
    h = torch::linear(h, mlp.weights[i], mlp.biases[i]);
    if (i + 1 < mlp.weights.size()) h = torch::silu(h);
  }
  return h.to(torch::kFloat32);
}

// The tensors of `mlp` named like an nn.Sequential's state_dict: NAME.0.weight, NAME.0.bias, NAME.2...
void add_mlp_tensors(NamedTensors& t, const std::string& name, const Mlp& mlp) {
  for (size_t i = 0; i < mlp.weights.size(); ++i) {
    const std::string k = name + "." + std::to_string(2 * i);
    t.push_back({k + ".weight", mlp.weights[i]});
    t.push_back({k + ".bias", mlp.biases[i]});
  }
}

// Fits the latent classifier and the latent thumbnail model (DirectionsOptions) on the same
// labelled latents: layers, held-out sign agreement, held-out R^2 and the thumbnail's correlation
// with the attributes.
void fit_latent_models(const Models& m, const DirectionsOptions& o, Directions& out,
                       const std::function<void(const std::string&)>& progress) {
  const int64_t N = o.latent_samples;
  if (progress) progress("latent classifier: labelling " + std::to_string(N) + " latents");
  const torch::Tensor z = sample_latents(o.seed + 1, N, m.z_dim);
  torch::Tensor thumbs;
  const torch::Tensor y = classifier_logits(m, z, &thumbs).clamp(-12.0, 12.0).detach();
  const int64_t n_val = std::max<int64_t>(1, N / 20), n_train = N - n_val;
  const auto zt = z.slice(0, 0, n_train), zv = z.slice(0, n_train), yv = y.slice(0, n_train);
  // Members differ only in their initialisation and batch order (seed + 100 m; member 0 is the
  // single classifier of earlier bundles).
  for (int k = 0; k < o.latent_members; ++k) {
    const std::string who = o.latent_members == 1 ? "latent classifier" : "latent classifier " + std::to_string(k + 1) + "/" + std::to_string(o.latent_members);
    out.latent_classifier.push_back(fit_mlp(zt, y.slice(0, 0, n_train), o.latent_hidden, o.latent_depth, o.latent_epochs, o.seed + 100 * k,
                                            [&](int ep) { if (progress) progress(who + ": epoch " + std::to_string(ep) + "/" + std::to_string(o.latent_epochs)); }));
  }
  torch::NoGradGuard no_grad;
  out.latent_agreement = ((latent_logits(out, zv) > 0) == (yv > 0)).to(torch::kFloat32).mean(0).contiguous();
  if (o.thumbnail_epochs == 0) return;
  out.thumbnail = fit_mlp(zt, thumbs.slice(0, 0, n_train), o.latent_hidden, o.latent_depth, o.thumbnail_epochs, o.seed + 3,
          [&](int ep) { if (progress) progress("latent thumbnail: epoch " + std::to_string(ep) + "/" + std::to_string(o.thumbnail_epochs)); });
  const auto tv = thumbs.slice(0, n_train);
  const auto err = (latent_thumbnail(out, zv) - tv).pow(2).mean(0);
  out.thumbnail_r2 = (1 - err / tv.var(0, false).clamp_min(1e-12)).contiguous();
  out.thumbnail_correlation = cross_correlation(y.slice(0, 0, n_train), thumbs.slice(0, 0, n_train));
}
}  // namespace

torch::Tensor latent_logits(const Directions& d, const torch::Tensor& z) {
  if (d.latent_classifier.empty()) throw UsageError("the bundle's directions have no latent classifier", Remedy::kFitDirections);
  torch::Tensor sum = run_mlp(d.latent_classifier[0], z);
  for (size_t k = 1; k < d.latent_classifier.size(); ++k) sum = sum + run_mlp(d.latent_classifier[k], z);
  return d.latent_classifier.size() == 1 ? sum : sum / static_cast<double>(d.latent_classifier.size());
}

torch::Tensor latent_thumbnail(const Directions& d, const torch::Tensor& z) {
  if (d.thumbnail.empty()) throw UsageError("the bundle's directions have no latent thumbnail model", Remedy::kFitDirections);
  return run_mlp(d.thumbnail, z);
}

FieldTable<DirectionsOptions> directions_fields() {
  using T = DirectionsOptions;
  using K = FieldKind;
  FieldTable<T> t;
  t.push_back(bound<T>({"samples", K::kInt, "Latents sampled and labelled by the editing classifier", 100, 1e7}, [](T& o) -> int64_t& { return o.samples; }));
  t.push_back(bound<T>({"seed", K::kInt, "Seed of those latents", 0, kMaxSeed}, [](T& o) -> uint64_t& { return o.seed; }));
  t.push_back(bound<T>({"confidence", K::kReal, "Use a label only when p >= this or p <= 1 - this", 0.5, 1, true, true},
                       [](T& o) -> double& { return o.confidence; }));
  {
    FieldInfo f{"l2", K::kReal, "Ridge weight on the boundary weights", 0, 1e3};
    f.flag = false;
    t.push_back(bound<T>(f, [](T& o) -> double& { return o.l2; }));
    f = {"iterations", K::kInt, "L-BFGS iterations of the boundary fit", 1, 1e5};
    f.flag = false;
    t.push_back(bound<T>(f, [](T& o) -> int& { return o.iterations; }));
  }
  {
    FieldInfo f{"correlation_from", K::kChoice,
                "samples: the classifier's labels of the generator's samples (any bundle); procedural: the procedural faces' labels "
                "(bundles trained on them; the 40 CelebA attributes)"};
    f.choices = {"samples", "procedural"};
    t.push_back(bound<T>(f, [](T& o) -> std::string& { return o.correlation_from; }));
  }
  {
    FieldInfo f{"latent_samples", K::kInt,
                "Generated faces the latent classifier (method latent) and the latent thumbnail model are fitted on (0: none)", 0, 1e7};
    f.rule = [](const nlohmann::json& v) { return v.get<int64_t>() != 0 && v.get<int64_t>() < 100 ? "must be 0 (none) or at least 100" : ""; };
    t.push_back(bound<T>(f, [](T& o) -> int64_t& { return o.latent_samples; }));
  }
  t.push_back(bound<T>({"latent_epochs", K::kInt, "Epochs of the latent classifier's training", 1, 1000}, [](T& o) -> int& { return o.latent_epochs; }));
  t.push_back(bound<T>({"latent_hidden", K::kInt, "Units per hidden layer of the latent classifier", 1, 4096}, [](T& o) -> int& { return o.latent_hidden; }));
  t.push_back(bound<T>({"latent_depth", K::kInt, "Hidden layers of the latent classifier", 1, 8}, [](T& o) -> int& { return o.latent_depth; }));
  t.push_back(bound<T>({"latent_members", K::kInt, "MLPs in the latent classifier's ensemble (their logits averaged)", 1, 16},
                       [](T& o) -> int& { return o.latent_members; }));
  t.push_back(bound<T>({"thumbnail_epochs", K::kInt, "Epochs of the latent thumbnail model (0: none)", 0, 1000},
                       [](T& o) -> int& { return o.thumbnail_epochs; }));
  return t;
}

nlohmann::json to_json(const DirectionsOptions& o) { return write_fields(directions_fields(), o); }
void validate(const DirectionsOptions& o) { validate_fields(directions_fields(), o); }

Directions fit_directions(const Models& m, const DirectionsOptions& o, const std::function<void(const std::string&)>& progress) {
  validate(o);
  const int64_t C = static_cast<int64_t>(m.attributes.size()), N = o.samples, d = m.z_dim;
  if (progress) progress("sampling " + std::to_string(N) + " latents");
  const torch::Tensor z = sample_latents(o.seed, N, d);
  const torch::Tensor p = torch::sigmoid(classifier_logits(m, z));  // (N, C)
  const torch::Tensor y = (p > 0.5).to(torch::kFloat32);
  const torch::Tensor mask = ((p >= o.confidence) | (p <= 1 - o.confidence)).to(torch::kFloat32);
  // Class-balanced weights per attribute: each side of a boundary weighs half.
  const auto pos = (y * mask).sum(0), neg = ((1 - y) * mask).sum(0);
  const auto w = mask * (y / pos.clamp_min(1) + (1 - y) / neg.clamp_min(1)) * 0.5;  // (N, C), columns sum to 1

  if (progress) progress("fitting " + std::to_string(C) + " boundaries");
  torch::Tensor W = torch::zeros({C, d}, torch::requires_grad());
  torch::Tensor b = torch::zeros({C}, torch::requires_grad());
  torch::optim::LBFGS opt({W, b}, torch::optim::LBFGSOptions(1.0).max_iter(o.iterations).line_search_fn("strong_wolfe"));
  auto closure = [&]() {
    opt.zero_grad();
    const auto logits = z.matmul(W.t()) + b;
    const auto l = (torch::binary_cross_entropy_with_logits(logits, y, {}, {}, at::Reduction::None) * w).sum() +
                   o.l2 * W.pow(2).sum();
    l.backward();
    return l;
  };
  opt.step(closure);
  torch::NoGradGuard ng;
  const auto norm = W.norm(2, {1}).clamp_min(1e-12);
  Directions out;
  out.normals = (W / norm.unsqueeze(1)).detach().contiguous();
  out.offsets = (b / norm).detach().contiguous();
  const auto pred = (z.matmul(out.normals.t()) + out.offsets > 0).to(torch::kFloat32);
  out.accuracy = (((pred == y).to(torch::kFloat32) * mask).sum(0) / mask.sum(0).clamp_min(1)).contiguous();
  if (o.correlation_from == "samples") {
    out.correlation = correlation_of(y);
  } else if (o.correlation_from == "procedural") {
    if (m.attributes != celeba_attributes())
      throw UsageError("correlation_from \"procedural\" needs the 40 CelebA attributes; use \"samples\"");
    torch::Tensor labels = torch::empty({N, C});
    auto acc = labels.accessor<float, 2>();
    for (int64_t i = 0; i < N; ++i) {
      const auto l = face_labels(sample_face_spec(o.seed, static_cast<uint64_t>(i)));
      for (int64_t c = 0; c < C; ++c) acc[i][c] = l[c] > 0 ? 1.f : 0.f;
    }
    out.correlation = correlation_of(labels);
  } else {
    throw UsageError("correlation_from: expected \"samples\" or \"procedural\", got \"" + o.correlation_from + "\"");
  }
  if (o.latent_samples > 0) fit_latent_models(m, o, out, progress);
  return out;
}

NamedTensors directions_tensors(const Directions& d) {
  NamedTensors t = {{"normals", d.normals}, {"offsets", d.offsets}, {"correlation", d.correlation}, {"accuracy", d.accuracy}};
  for (size_t k = 0; k < d.latent_classifier.size(); ++k) add_mlp_tensors(t, latent_classifier_name(k), d.latent_classifier[k]);
  if (!d.latent_classifier.empty()) t.push_back({"latent_classifier.agreement", d.latent_agreement});
  add_mlp_tensors(t, "latent_thumbnail", d.thumbnail);
  if (!d.thumbnail.empty()) {
    t.push_back({"latent_thumbnail.r2", d.thumbnail_r2});
    t.push_back({"latent_thumbnail.correlation", d.thumbnail_correlation});
  }
  return t;
}

}  // namespace latentedit
