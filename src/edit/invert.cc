#include "latentedit/invert.h"
#include "edit/option_fields.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>

#include "latentedit/errors.h"

namespace latentedit {

namespace {
// Per-row loss terms of z against targets x (rows aligned).
struct Terms {
  torch::Tensor pixel, feature, total;  // (B)
};

Terms losses(const Models& m, const torch::Tensor& img, const torch::Tensor& x, const torch::Tensor& fx,
             const torch::Tensor& fx_scale, const torch::Tensor& z, const InvertOptions& o) {
  Terms t;
  t.pixel = (img - x).pow(2).mean({1, 2, 3});
  t.total = o.pixel * t.pixel;
  if (o.perceptual > 0) {
    t.feature = (m.classifier.features(img) - fx).pow(2).mean(1) / fx_scale;
    t.total = t.total + o.perceptual * t.feature;
  }
  if (o.prior > 0) t.total = t.total + o.prior * (z.norm(2, 1) - std::sqrt(static_cast<double>(m.z_dim))).pow(2);
  return t;
}

// stylegan2-ada projector's schedule: linear warm-up, cosine ramp-down over the last 25 %.
double learning_rate(const InvertOptions& o, int step) {
  const double t = static_cast<double>(step) / std::max(1, o.steps);
  const double down = std::min(1.0, (1.0 - t) / 0.25);
  const double ramp = 0.5 - 0.5 * std::cos(down * M_PI);
  const double up = o.warmup > 0 ? std::min(1.0, t / o.warmup) : 1.0;
  return o.lr * ramp * up;
}
}  // namespace

std::string inversion_warning(const Models& m, double psnr_db, const std::string& name) {
  if (m.inversion_warning_psnr <= 0 || !(psnr_db < m.inversion_warning_psnr)) return "";
  char b[64];
  std::snprintf(b, sizeof b, "%.1f dB PSNR (below %g dB)", psnr_db, m.inversion_warning_psnr);
  return name + ": the reconstruction is far from the image, " + b + "; this model draws " +
         (m.training_data.empty() ? "other faces" : m.training_data) +
         ", so an edit changes a different face; for photos use a generator trained on photos (e.g. the course's pretrained_celeba.pth)";
}

std::vector<std::string> inversion_warnings(const Models& m, const InvertResult& r, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (size_t i = 0; i < r.psnr.size(); ++i)
    if (std::string w = inversion_warning(m, r.psnr[i], i < names.size() ? names[i] : "image " + std::to_string(i)); !w.empty())
      out.push_back(w);
  return out;
}

std::vector<double> psnr(const torch::Tensor& a, const torch::Tensor& b, double lo, double hi) {
  const torch::Tensor mse = ((a - b) / (hi - lo)).pow(2).flatten(1).mean(1).clamp_min(1e-10);
  const torch::Tensor db = -10.0 * torch::log10(mse);
  return std::vector<double>(db.data_ptr<float>(), db.data_ptr<float>() + db.numel());
}

FieldTable<InvertOptions> invert_fields() {
  using T = InvertOptions;
  using K = FieldKind;
  FieldTable<T> t;
  t.push_back(bound<T>({"steps", K::kInt, "Adam steps per restart", 1, 100000}, [](T& o) -> int& { return o.steps; }));
  t.push_back(bound<T>({"restarts", K::kInt, "Optimisations per image from its best distinct candidates; the best is kept", 1, 64},
                       [](T& o) -> int& { return o.restarts; }));
  t.push_back(bound<T>({"candidates", K::kInt, "Random latents scored to choose the starting points (at least `restarts`)", 1, 65536},
                       [](T& o) -> int& { return o.candidates; }));
  {
    FieldInfo f{"init", K::kChoice,
                "Starting points: search (each image's best of `candidates` random latents) or random (a random latent per restart)"};
    f.choices = {"search", "random"};
    t.push_back({f, [](const T& o) { return nlohmann::json(o.search ? "search" : "random"); },
                 [](T& o, const nlohmann::json& v) { o.search = v == "search"; }});
  }
  t.push_back(bound<T>({"lr", K::kReal, "Adam's peak learning rate (linear warm-up, cosine ramp-down over the last 25%)", 0, 100, true},
                       [](T& o) -> double& { return o.lr; }));
  t.push_back(bound<T>({"warmup", K::kReal, "Fraction of the steps of linear learning-rate warm-up", 0, 1, false, true},
                       [](T& o) -> double& { return o.warmup; }));
  t.push_back(bound<T>({"noise", K::kReal, "Initial latent noise std, decaying to 0 at 75% of the steps", 0, 100}, [](T& o) -> double& { return o.noise; }));
  t.push_back(bound<T>({"pixel", K::kReal, "Weight of the pixel distance", 0, 1e3}, [](T& o) -> double& { return o.pixel; }));
  t.push_back(bound<T>({"perceptual", K::kReal, "Weight of the editing classifier's feature distance", 0, 1e3}, [](T& o) -> double& { return o.perceptual; }));
  t.push_back(bound<T>({"prior", K::kReal, "Weight of (||z|| - sqrt(z_dim))^2", 0, 1e3}, [](T& o) -> double& { return o.prior; }));
  t.push_back(bound<T>({"seed", K::kInt, "Seed of the candidates and the noise", 0, kMaxSeed}, [](T& o) -> uint64_t& { return o.seed; }));
  t.push_back(bound<T>({"batch", K::kInt, "Images optimised together (memory; keep it fixed to reproduce results)", 1, 4096},
                       [](T& o) -> int64_t& { return o.batch; }));
  return t;
}

nlohmann::json to_json(const InvertOptions& o) { return write_fields(invert_fields(), o); }

void validate(const InvertOptions& o) {
  validate_fields(invert_fields(), o);
  if (o.candidates < o.restarts) throw UsageError("candidates: must be at least restarts (" + std::to_string(o.restarts) + ")");
  if (o.pixel == 0 && o.perceptual == 0) throw UsageError("pixel and perceptual are both 0: nothing to match");
}

InvertResult invert(const Models& m, const torch::Tensor& images, const InvertOptions& o,
                    const std::function<void(const InvertProgress&)>& progress) {
  validate(o);
  if (o.perceptual > 0 && !m.classifier.features)
    throw UsageError("the perceptual term needs a course-architecture classifier (this one has no feature layer); set perceptual 0");
  if (images.dim() != 4 || images.size(1) != 3 || images.size(2) != m.image_size || images.size(3) != m.image_size)
    throw UsageError("images must be (N, 3, " + std::to_string(m.image_size) + ", " + std::to_string(m.image_size) + ")");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t N = images.size(0), R = o.restarts, d = m.z_dim;
  const torch::Tensor x_all = images.to(torch::kFloat32).contiguous();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);

  // Candidates: drawn once, scored against every image.
  const torch::Tensor cand_z = torch::randn({o.candidates, d}, gen, torch::kFloat32);
  torch::Tensor cand_img, cand_f;
  {
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> imgs, fs;
    for (int64_t b = 0; b < o.candidates; b += 256) {
      imgs.push_back(m.generator.forward(cand_z.slice(0, b, std::min<int64_t>(b + 256, o.candidates))));
      if (o.perceptual > 0) fs.push_back(m.classifier.features(imgs.back()));
    }
    cand_img = torch::cat(imgs);
    if (o.perceptual > 0) cand_f = torch::cat(fs);
  }

  InvertResult res;
  res.z = torch::empty({N, d});
  res.reconstruction = torch::empty_like(x_all);
  res.psnr.resize(N);
  res.feature_distance.resize(N);
  res.loss.resize(N);
  for (int64_t c0 = 0; c0 < N; c0 += o.batch) {
    const int64_t c1 = std::min(N, c0 + o.batch), B = c1 - c0;
    const torch::Tensor x = x_all.slice(0, c0, c1);
    torch::Tensor fx, fx_scale;
    {
      torch::NoGradGuard ng;
      if (o.perceptual > 0) {
        fx = m.classifier.features(x);
        fx_scale = fx.pow(2).mean(1).clamp_min(1e-8);
      }
      // Start: each image's R best candidates (pixel + feature terms, no prior).
      torch::Tensor score = o.pixel * (cand_img.unsqueeze(0) - x.unsqueeze(1)).pow(2).mean({2, 3, 4});  // (B, K)
      if (o.perceptual > 0) score = score + o.perceptual * (cand_f.unsqueeze(0) - fx.unsqueeze(1)).pow(2).mean(2) / fx_scale.unsqueeze(1);
      // Each image's R best candidates, or (without search) R candidates by position.
      const torch::Tensor best = o.search ? std::get<1>(score.topk(R, 1, /*largest=*/false))
                                          : (torch::arange(B).unsqueeze(1) * R + torch::arange(R).unsqueeze(0)) % o.candidates;  // (B, R)
      // Rows are restart-major: row r*B + i is image i's restart r.
      torch::Tensor z0 = cand_z.index_select(0, best.t().reshape(-1));
      fx = o.perceptual > 0 ? fx.repeat({R, 1}) : fx;
      fx_scale = o.perceptual > 0 ? fx_scale.repeat({R}) : fx_scale;
      const torch::Tensor xr = x.repeat({R, 1, 1, 1});

      torch::Tensor z = z0.clone().set_requires_grad(true);
      torch::optim::Adam opt({z}, torch::optim::AdamOptions(o.lr).betas({0.9, 0.999}));
      for (int k = 0; k < o.steps; ++k) {
        const double lr = learning_rate(o, k);
        for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
        const double t = static_cast<double>(k) / o.steps;
        const double sigma = o.noise * std::pow(std::max(0.0, 1.0 - t / 0.75), 2.0);
        torch::Tensor total;
        {
          torch::AutoGradMode on(true);
          const torch::Tensor zn = sigma > 0 ? z + sigma * torch::randn(z.sizes(), gen, torch::kFloat32) : z * 1.0;
          const torch::Tensor img = m.generator.forward(zn);
          const Terms tr = losses(m, img, xr, fx, fx_scale, zn, o);
          total = tr.total;
          opt.zero_grad();
          tr.total.sum().backward();
          if (progress) {
            InvertProgress p;
            p.step = k + 1;
            p.steps = o.steps;
            p.done = c0;
            p.total = N;
            p.mean_psnr = -10.0 * torch::log10((tr.pixel / std::pow(m.range_hi - m.range_lo, 2)).clamp_min(1e-10)).mean().item<double>();
            progress(p);
          }
        }
        opt.step();
      }
      // Final losses without noise; each image keeps its best restart.
      const torch::Tensor zf = z.detach();
      const torch::Tensor img = m.generator.forward(zf);
      const Terms tr = losses(m, img, xr, fx, fx_scale, zf, o);
      const torch::Tensor pick = std::get<1>(tr.total.view({R, B}).min(0));  // (B)
      const torch::Tensor rows = pick * B + torch::arange(B);
      res.z.slice(0, c0, c1).copy_(zf.index_select(0, rows));
      res.reconstruction.slice(0, c0, c1).copy_(img.index_select(0, rows));
      const torch::Tensor loss = tr.total.index_select(0, rows);
      torch::Tensor fdist = torch::zeros({B});
      if (m.classifier.features) {
        const torch::Tensor fr = m.classifier.features(img.index_select(0, rows)), ft = m.classifier.features(x);
        fdist = (fr - ft).norm(2, 1) / ft.norm(2, 1).clamp_min(1e-8);
      }
      const std::vector<double> p = psnr(img.index_select(0, rows), x, m.range_lo, m.range_hi);
      for (int64_t i = 0; i < B; ++i) {
        res.psnr[c0 + i] = p[i];
        res.feature_distance[c0 + i] = fdist[i].item<double>();
        res.loss[c0 + i] = loss[i].item<double>();
      }
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace latentedit
