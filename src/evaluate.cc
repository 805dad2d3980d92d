#include "latentedit/evaluate.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "latentedit/attributes.h"
#include "latentedit/dataset.h"
#include "latentedit/errors.h"

namespace latentedit {
using json = nlohmann::json;

EditSpec course_baseline() {
  EditSpec s;
  s.penalty = 0.1;
  s.penalty_kind = PenaltyKind::kL2;
  s.steps = 10;
  s.step_size = 0.1 / 8.0;  // course: gradient of the mean over 8 latents
  return s;
}

double frechet_distance(const torch::Tensor& a0, const torch::Tensor& b0) {
  const auto a = a0.to(torch::kFloat64), b = b0.to(torch::kFloat64);
  const auto mu1 = a.mean(0), mu2 = b.mean(0);
  const auto c1 = torch::cov(a.t()), c2 = torch::cov(b.t());
  // tr(sqrt(c1 c2)) via the symmetric form sqrt(c1)^(1/2) c2 sqrt(c1)^(1/2).
  auto sqrtm = [](const torch::Tensor& c) {
    auto [w, v] = torch::linalg::eigh(c, "L");
    return v.matmul(torch::diag(w.clamp_min(0).sqrt())).matmul(v.t());
  };
  const auto s1 = sqrtm(c1);
  const auto inner = s1.matmul(c2).matmul(s1);
  auto [w, v] = torch::linalg::eigh((inner + inner.t()) / 2, "L");
  const double tr_sqrt = w.clamp_min(0).sqrt().sum().item<double>();
  return (mu1 - mu2).pow(2).sum().item<double>() + c1.trace().item<double>() + c2.trace().item<double>() - 2 * tr_sqrt;
}

namespace {
struct Stats {
  double success = 0, drift = 0, fooled = 0, pixel = 0, target_gain = 0;
  int64_t n = 0;
  json to_json() const {
    return {{"n", n}, {"success", success}, {"drift", drift}, {"fooled", fooled}, {"pixel_change", pixel},
            {"auditor_target_change", target_gain}};
  }
};

// Edits `z` (chunked) for one target and measures it with the auditor.
Stats measure(const Models& m, const torch::Tensor& z, const torch::Tensor& aud_before, int attr, Direction dir,
              EditSpec spec) {
  spec.targets = {{attr, dir, spec.targets.empty() ? std::nullopt : spec.targets[0].stop_prob}};
  Stats s;
  const int64_t N = z.size(0), C = static_cast<int64_t>(m.attributes.size());
  std::vector<int64_t> others;
  for (int64_t c = 0; c < C; ++c)
    if (c != attr) others.push_back(c);
  const auto oi = torch::tensor(others);
  for (int64_t i = 0; i < N; i += 128) {
    const auto zc = z.slice(0, i, std::min(N, i + 128));
    const EditResult r = edit(m, zc, spec);
    const auto& first = r.images.begin()->second;
    const auto& last = r.images.rbegin()->second;
    const auto after = torch::sigmoid(classify(*m.auditor, last));
    const auto before = aud_before.slice(0, i, std::min(N, i + 128));
    const auto pa = after.select(1, attr);
    const auto ok = dir == Direction::kAdd ? pa > 0.5 : pa < 0.5;
    const auto cls_p = r.probs[r.probs.size(0) - 1].select(1, attr);
    const auto done = dir == Direction::kAdd ? cls_p > 0.5 : cls_p < 0.5;
    s.success += ok.sum().item<double>();
    s.fooled += (done & ~ok).sum().item<double>();
    s.drift += (after.index_select(1, oi) - before.index_select(1, oi)).abs().mean(1).sum().item<double>();
    s.pixel += ((last - first).abs().mean({1, 2, 3}) / (m.range_hi - m.range_lo)).sum().item<double>();
    s.target_gain += (pa - before.select(1, attr)).sum().item<double>() * (dir == Direction::kAdd ? 1 : -1);
    s.n += zc.size(0);
  }
  if (s.n) {
    s.success /= s.n;
    s.fooled /= s.n;
    s.drift /= s.n;
    s.pixel /= s.n;
    s.target_gain /= s.n;
  }
  return s;
}

json accuracy(const Network& net, const Dataset& d, const std::vector<std::string>& names) {
  const auto logits = classify(net, to_model_range(d.images));
  const auto acc = ((logits > 0).to(torch::kFloat32) == d.labels).to(torch::kFloat64).mean(0);
  json per = json::object();
  for (size_t c = 0; c < names.size(); ++c) per[names[c]] = acc[static_cast<int64_t>(c)].item<double>();
  return {{"mean", acc.mean().item<double>()}, {"min", acc.min().item<double>()}, {"per_attribute", per}};
}

std::string fmt_row(const char* name, const char* dir, const Stats& a, const Stats& b) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%-20s %-6s %4lld | %5.1f%% %5.3f %5.1f%% %5.3f | %5.1f%% %5.3f %5.1f%%\n", name, dir,
                static_cast<long long>(a.n), 100 * a.success, a.drift, 100 * a.fooled, a.pixel, 100 * b.success, b.drift,
                100 * b.fooled);
  return buf;
}
}  // namespace

json evaluate(const Models& m, const EvalOptions& o, std::string* table, const EvalCallback& progress) {
  if (!m.auditor)
    throw ModelError("the bundle has no auditor; evaluate needs an independent classifier "
                     "(train one with `latentedit train classifier --role auditor --out BUNDLE`)");
  if (o.seeds < 1) throw UsageError("--seeds must be positive");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t C = static_cast<int64_t>(m.attributes.size());
  std::vector<int> attrs = o.attributes;
  if (attrs.empty())
    for (int c = 0; c < C; ++c) attrs.push_back(c);
  const auto z = sample_latents(o.seed, o.seeds, m.z_dim);
  const auto aud_before = torch::sigmoid(classify(*m.auditor, generate(m, z)));

  json report;
  report["model"] = m.name;
  auto spec_json = [](const EditSpec& s) {
    return json{{"steps", s.steps}, {"step_size", s.step_size}, {"penalty", s.penalty},
                {"penalty_kind", s.penalty_kind == PenaltyKind::kL2 ? "l2" : s.penalty_kind == PenaltyKind::kL1 ? "l1" : "squared"},
                {"prior", s.prior}, {"target_prob", s.targets.empty() || !s.targets[0].stop_prob ? json(nullptr) : json(*s.targets[0].stop_prob)}};
  };
  report["settings"] = {{"seeds", o.seeds}, {"seed", o.seed}, {"edit", spec_json(o.edit)},
                        {"baseline", spec_json(o.baseline)},
                        {"baseline_note", "course C1W4: 10 steps of 0.1 on the mean over 8 latents = per-latent step 0.0125"}};
  std::string tab;
  tab += "attribute            dir       n |  default: success drift  fooled pixel |  course: success drift fooled\n";
  json rows = json::array();
  Stats sum_e, sum_b;
  int entries = 0, done = 0;
  const int total = static_cast<int>(attrs.size());
  for (int a : attrs) {
    if (a < 0 || a >= C) throw UsageError("attribute index out of range");
    for (Direction dir : {Direction::kAdd, Direction::kRemove}) {
      const auto absent = aud_before.select(1, a) < 0.5;
      const auto sel = (dir == Direction::kAdd ? absent : ~absent).nonzero().view({-1});
      if (sel.numel() < o.min_latents) continue;
      const auto zs = z.index_select(0, sel), bs = aud_before.index_select(0, sel);
      const Stats e = measure(m, zs, bs, a, dir, o.edit), b = measure(m, zs, bs, a, dir, o.baseline);
      const char* dn = dir == Direction::kAdd ? "add" : "remove";
      rows.push_back({{"attribute", m.attributes[a]}, {"direction", dn}, {"edit", e.to_json()}, {"baseline", b.to_json()}});
      tab += fmt_row(m.attributes[a].c_str(), dn, e, b);
      for (auto [acc, s] : {std::pair<Stats*, const Stats*>{&sum_e, &e}, {&sum_b, &b}}) {
        acc->success += s->success;
        acc->drift += s->drift;
        acc->fooled += s->fooled;
        acc->pixel += s->pixel;
        acc->target_gain += s->target_gain;
        acc->n += s->n;
      }
      ++entries;
    }
    if (progress) progress(++done, total, m.attributes[a]);
  }
  for (Stats* s : {&sum_e, &sum_b})
    if (entries) {
      s->success /= entries;
      s->drift /= entries;
      s->fooled /= entries;
      s->pixel /= entries;
      s->target_gain /= entries;
    }
  report["per_attribute"] = rows;
  report["summary"] = {{"entries", entries}, {"edit", sum_e.to_json()}, {"baseline", sum_b.to_json()},
                       {"better_than_baseline", sum_e.success > sum_b.success && sum_e.drift < sum_b.drift}};
  char buf[300];
  std::snprintf(buf, sizeof buf, "%-20s %-6s %4lld | %5.1f%% %5.3f %5.1f%% %5.3f | %5.1f%% %5.3f %5.1f%%   (mean of %d entries)\n",
                "MEAN", "", static_cast<long long>(sum_e.n), 100 * sum_e.success, sum_e.drift, 100 * sum_e.fooled,
                sum_e.pixel, 100 * sum_b.success, sum_b.drift, 100 * sum_b.fooled, entries);
  tab += buf;
  const auto t_edit = std::chrono::steady_clock::now();

  // Classifier accuracy on held-out procedural faces (only for CelebA-attribute bundles).
  const bool celeba = m.attributes == celeba_attributes();
  if (o.heldout > 0 && celeba) {
    const Dataset held = render_dataset(o.heldout_seed, 0, o.heldout);
    report["heldout"] = {{"faces", o.heldout}, {"dataset_seed", o.heldout_seed},
                         {"classifier", accuracy(m.classifier, held, m.attributes)},
                         {"auditor", accuracy(*m.auditor, held, m.attributes)}};
    std::snprintf(buf, sizeof buf, "held-out accuracy (%lld faces): classifier %.2f%% (min %.2f%%), auditor %.2f%% (min %.2f%%)\n",
                  static_cast<long long>(o.heldout), 100 * report["heldout"]["classifier"]["mean"].get<double>(),
                  100 * report["heldout"]["classifier"]["min"].get<double>(), 100 * report["heldout"]["auditor"]["mean"].get<double>(),
                  100 * report["heldout"]["auditor"]["min"].get<double>());
    tab += buf;
  }
  // Generated vs rendered faces: attribute frequencies (auditor) and Frechet distance.
  if (o.samples > 1 && celeba && m.auditor->features) {
    const auto zs = sample_latents(o.seed + 1, o.samples, m.z_dim);
    torch::Tensor gen_img = generate(m, zs);
    const Dataset ren = render_dataset(o.heldout_seed + 1, 0, o.samples);
    const auto ren_img = to_model_range(ren.images, m.range_lo, m.range_hi);
    const auto fg = (torch::sigmoid(classify(*m.auditor, gen_img)) > 0.5).to(torch::kFloat64).mean(0);
    const auto fr = (torch::sigmoid(classify(*m.auditor, ren_img)) > 0.5).to(torch::kFloat64).mean(0);
    const auto fl = ren.labels.to(torch::kFloat64).mean(0);
    json freq = json::object();
    for (int64_t c = 0; c < C; ++c)
      freq[m.attributes[c]] = {{"data_labels", fl[c].item<double>()}, {"rendered_auditor", fr[c].item<double>()},
                               {"generated_auditor", fg[c].item<double>()}};
    const auto gap = (fg - fr).abs();
    torch::Tensor feat_g, feat_r;
    {
      torch::NoGradGuard ng;
      feat_g = m.auditor->features(gen_img);
      feat_r = m.auditor->features(ren_img);
    }
    const double fd = frechet_distance(feat_g, feat_r);
    // Reference: the distance between two independent sets of rendered faces.
    const Dataset ren2 = render_dataset(o.heldout_seed + 2, 0, o.samples);
    torch::Tensor feat_r2;
    {
      torch::NoGradGuard ng;
      feat_r2 = m.auditor->features(to_model_range(ren2.images, m.range_lo, m.range_hi));
    }
    const double fd_ref = frechet_distance(feat_r2, feat_r);
    report["generated_vs_rendered"] = {{"samples", o.samples}, {"frequencies", freq},
                                       {"max_frequency_gap", gap.max().item<double>()},
                                       {"mean_frequency_gap", gap.mean().item<double>()},
                                       {"worst_attribute", m.attributes[gap.argmax().item<int64_t>()]},
                                       {"attributes_within_0.05", (gap <= 0.05).sum().item<int64_t>()},
                                       {"frechet_auditor_features", fd}, {"frechet_rendered_vs_rendered", fd_ref}};
    std::snprintf(buf, sizeof buf,
                  "generated vs rendered (%lld each, auditor): frequency gap mean %.3f max %.3f (%s), %lld/40 within 0.05; "
                  "Frechet distance %.3f (rendered vs rendered: %.3f)\n",
                  static_cast<long long>(o.samples), gap.mean().item<double>(), gap.max().item<double>(),
                  m.attributes[gap.argmax().item<int64_t>()].c_str(), static_cast<long long>((gap <= 0.05).sum().item<int64_t>()), fd, fd_ref);
    tab += buf;
  }
  const auto t_end = std::chrono::steady_clock::now();
  report["timings"] = {{"edits_s", std::chrono::duration<double>(t_edit - t0).count()},
                       {"total_s", std::chrono::duration<double>(t_end - t0).count()}};
  if (table) *table = tab;
  return report;
}

}  // namespace latentedit
