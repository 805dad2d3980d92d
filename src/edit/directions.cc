#include "latentedit/directions.h"

#include <cmath>

#include "latentedit/attributes.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/faces.h"

namespace latentedit {

namespace {
torch::Tensor correlation_of(const torch::Tensor& labels) {  // (N, C) 0/1 -> (C, C)
  const auto x = labels.to(torch::kFloat64);
  const auto c = x - x.mean(0, true);
  const auto cov = c.t().matmul(c) / static_cast<double>(x.size(0));
  const auto sd = cov.diagonal().clamp_min(1e-12).sqrt();
  auto corr = cov / sd.unsqueeze(0) / sd.unsqueeze(1);
  // An attribute that never varies correlates with nothing.
  const auto constant = cov.diagonal() < 1e-10;
  corr = corr.masked_fill(constant.unsqueeze(0) | constant.unsqueeze(1), 0.0);
  corr.diagonal().fill_(1.0);
  return corr.to(torch::kFloat32);
}
}  // namespace

Directions fit_directions(const Models& m, const DirectionsOptions& o, const std::function<void(const std::string&)>& progress) {
  if (o.samples < 100) throw UsageError("samples must be at least 100 (got " + std::to_string(o.samples) + ")");
  if (!(o.confidence > 0.5 && o.confidence < 1.0)) throw UsageError("confidence must be in (0.5, 1)");
  const int64_t C = static_cast<int64_t>(m.attributes.size()), N = o.samples, d = m.z_dim;
  if (progress) progress("sampling " + std::to_string(N) + " latents");
  const torch::Tensor z = sample_latents(o.seed, N, d);
  std::vector<torch::Tensor> ps;
  for (int64_t i = 0; i < N; i += 512) ps.push_back(torch::sigmoid(classify(m.classifier, generate(m, z.slice(0, i, std::min(N, i + 512))))));
  const torch::Tensor p = torch::cat(ps);  // (N, C)
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
  return out;
}

NamedTensors directions_tensors(const Directions& d) {
  return {{"normals", d.normals}, {"offsets", d.offsets}, {"correlation", d.correlation}, {"accuracy", d.accuracy}};
}

}  // namespace latentedit
