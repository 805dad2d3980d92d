#include "latentedit/evaluate.h"
#include "edit/option_fields.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "latentedit/attributes.h"
#include "latentedit/dataset.h"
#include "latentedit/errors.h"
#include "latentedit/image.h"
#include "latentedit/outputs.h"
#include "latentedit/spec.h"
#include "edit/messages.h"

#include <opencv2/imgproc.hpp>

namespace latentedit {
using json = nlohmann::json;

EditSpec course_baseline() {
  EditSpec s = course_spec();
  s.step_size = 0.1 / 8.0;  // course: gradient of the mean over 8 latents
  return s;
}

FieldTable<EvalOptions> eval_fields() {
  using T = EvalOptions;
  using K = FieldKind;
  FieldTable<T> t;
  t.push_back(bound<T>({"seeds", K::kInt, "Latents per attribute", 1, 100000}, [](T& o) -> int64_t& { return o.seeds; }));
  t.push_back(bound<T>({"seed", K::kInt, "Seed of those latents", 0, kMaxSeed}, [](T& o) -> uint64_t& { return o.seed; }));
  t.push_back(bound<T>({"heldout", K::kInt, "Held-out procedural faces for classifier accuracy (0 = skip)", 0, 1000000},
                       [](T& o) -> int64_t& { return o.heldout; }));
  t.push_back(bound<T>({"samples", K::kInt, "Generated and rendered faces for frequencies / Frechet distance (0 = skip)", 0, 1000000},
                       [](T& o) -> int64_t& { return o.samples; }));
  {
    FieldInfo f{"methods", K::kNames,
                "Sweep these methods (gradient, projected, boundary, latent: without EOT; NAME+eotN: with N EOT views), one curve each, "
                "other settings from the edit settings; default: only the edit settings' own point"};
    t.push_back({f, [](const T& o) { return nlohmann::json(o.methods); }, [](T& o, const nlohmann::json& v) {
                   o.methods = v.is_string() ? std::vector<std::string>{v.get<std::string>()} : v.get<std::vector<std::string>>();
                 }});
  }
  auto strengths = [&](const char* name, const char* help, double lo, double hi, std::vector<double> T::*member) {
    FieldInfo f{name, K::kRealList, help, lo, hi, true};
    f.max_items = 64;
    t.push_back(bound<T>(f, [member](T& o) -> std::vector<double>& { return o.*member; }));
  };
  strengths("strengths", "Strengths swept for gradient/projected: steps x step size", 0, 1000, &T::strengths);
  strengths("boundary_strengths", "Strengths swept for boundary: distance in z past the boundary", 0, 100, &T::boundary_strengths);
  strengths("latent_strengths", "Strengths swept for latent: the target logit reached", 0, 100, &T::latent_strengths);
  return t;
}

nlohmann::json to_json(const EvalOptions& o) { return write_fields(eval_fields(), o); }
void validate(const EvalOptions& o) { validate_fields(eval_fields(), o); }

void add_eval_points(EvalOptions& e, const Models& m, const EditSpec& spec) {
  validate(e);
  auto strength_of = [](const EditSpec& s) { return one_shot(s.method) ? s.strength_value(s.method) : s.steps * s.step_size; };
  if (e.methods.empty()) {
    const Method used = method_used(m, spec.method);  // what auto means for this bundle
    EditSpec shown = spec;
    shown.method = used;
    e.points.push_back({to_string(used), "default (" + to_string(used) + ")", strength_of(shown), spec});
  }
  for (const auto& name : e.methods) {
    // NAME or NAME+eotN: the method without EOT, or with N extra EOT views.
    EditSpec p = spec;
    const auto plus = name.find('+');
    try {
      p.method = parse_method(name.substr(0, plus));
    } catch (const UsageError&) {
      throw UsageError("methods: unknown method '" + name.substr(0, plus) + "'; use gradient, projected, boundary or latent (+eotN)");
    }
    if (p.method == Method::kAuto) throw UsageError("methods: auto is the default, not a curve; sweep latent and projected (or give no methods)");
    p.eot = 0;
    if (plus != std::string::npos) {
      const std::string mod = name.substr(plus + 1);
      int n = -1;
      char extra = 0;
      if (std::sscanf(mod.c_str(), "eot%d%c", &n, &extra) != 1 || n < 0 || n > 64)
        throw UsageError("methods: bad variant '" + name + "'; write METHOD or METHOD+eotN, e.g. projected+eot2");
      p.eot = n;
    }
    const std::vector<double>& ss = p.method == Method::kBoundary ? e.boundary_strengths
                                    : p.method == Method::kLatent ? e.latent_strengths
                                                                   : e.strengths;
    for (double st : ss) {
      if (one_shot(p.method)) p.strength = st;
      else p.step_size = st / p.steps;
      char label[64];
      std::snprintf(label, sizeof label, "%s %g", name.c_str(), st);
      e.points.push_back({name, label, st, p});
    }
  }
  e.points.push_back({"course", "course C1W4", 10 * 0.1 / 8, course_baseline()});
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

// Edits `z` (in chunks) for one target with one setting and judges it with the auditor.
EvalStats measure(const Models& m, const torch::Tensor& z, const torch::Tensor& aud_before, int attr, Direction dir,
                  EditSpec spec, const torch::Tensor& weights) {
  spec.targets = {{attr, dir, std::nullopt}};
  // A condition on the attribute under test would make the boundary move impossible: drop it there.
  spec.condition.erase(std::remove(spec.condition.begin(), spec.condition.end(), attr), spec.condition.end());
  EvalStats s;
  const int64_t N = z.size(0);
  const std::vector<int> others = non_targets(spec.targets, static_cast<int>(m.attributes.size()));
  const auto oi = torch::tensor(std::vector<int64_t>(others.begin(), others.end()));
  const auto w = weights.index_select(0, oi);  // (C-1) mask weights of the other attributes
  for (int64_t i = 0; i < N; i += 128) {
    const auto zc = z.slice(0, i, std::min(N, i + 128));
    const EditResult r = edit(m, zc, spec);
    if (edit_diverged(r)) throw UsageError(m.attributes[attr] + ": " + kDivergedHint + "; nothing was written");
    const auto& first = r.images.begin()->second;
    const auto& last = r.images.rbegin()->second;
    const auto after = torch::sigmoid(classify(*m.auditor, last)).to(torch::kFloat64);
    const auto before = aud_before.slice(0, i, std::min(N, i + 128)).to(torch::kFloat64);
    const auto pa = after.select(1, attr);
    const auto ok = dir == Direction::kAdd ? pa > 0.5 : pa < 0.5;
    const auto cls_p = r.probs[r.probs.size(0) - 1].select(1, attr);
    const auto done = dir == Direction::kAdd ? cls_p > 0.5 : cls_p < 0.5;
    const auto d = (after.index_select(1, oi) - before.index_select(1, oi)).abs();  // (n, C-1)
    s.success += ok.sum().item<double>();
    s.fooled += (done & ~ok).sum().item<double>();
    s.drift += attribute_drift(before, after, others).sum().item<double>();
    s.masked_drift += (d * w).mean(1).sum().item<double>();
    s.pixel += ((last - first).abs().mean({1, 2, 3}) / (m.range_hi - m.range_lo)).sum().item<double>();
    s.target_gain += (pa - before.select(1, attr)).sum().item<double>() * (dir == Direction::kAdd ? 1 : -1);
    s.dz += (r.z_after - r.z_before).norm(2, {1}).sum().item<double>();
    s.n += zc.size(0);
  }
  for (double* x : {&s.success, &s.fooled, &s.drift, &s.masked_drift, &s.pixel, &s.target_gain, &s.dz})
    if (s.n) *x /= static_cast<double>(s.n);
  return s;
}

json accuracy(const Network& net, const Dataset& d, const std::vector<std::string>& names) {
  const auto logits = classify(net, to_model_range(d.images));
  const auto acc = ((logits > 0).to(torch::kFloat32) == d.labels).to(torch::kFloat64).mean(0);
  json per = json::object();
  for (size_t c = 0; c < names.size(); ++c) per[names[c]] = acc[static_cast<int64_t>(c)].item<double>();
  return {{"mean", acc.mean().item<double>()}, {"min", acc.min().item<double>()}, {"per_attribute", per}};
}

}  // namespace

json EvalStats::to_json() const {
  return {{"n", n}, {"success", success}, {"drift", drift}, {"masked_drift", masked_drift}, {"fooled", fooled},
          {"pixel_change", pixel}, {"auditor_target_change", target_gain}, {"dz", dz}};
}

namespace {
// For each row of `a`, the distance to its k-th nearest other row (Kynkaenniemi et al. 2019).
torch::Tensor knn_radii(const torch::Tensor& a, int k) {
  const torch::Tensor d = torch::cdist(a, a);
  return std::get<0>(d.topk(k + 1, 1, /*largest=*/false)).select(1, k);  // column 0 is the row itself
}
// The share of rows of `x` inside at least one k-NN ball of `ref` (radius of each ref row: its
// k-th nearest ref neighbour): precision with x = generated, ref = real; recall with the roles
// swapped.
double manifold_coverage(const torch::Tensor& x, const torch::Tensor& ref, const torch::Tensor& ref_radii) {
  const torch::Tensor d = torch::cdist(x, ref);  // (N, M)
  return (d <= ref_radii.unsqueeze(0)).any(1).to(torch::kFloat64).mean().item<double>();
}
// Mean pairwise distance and the share of samples whose nearest other sample is closer than a
// quarter of the reference's median nearest-neighbour distance (as train gan's diagnostics).
std::pair<double, double> spread(const torch::Tensor& x, const torch::Tensor& ref) {
  auto pd = [](const torch::Tensor& a) {
    torch::Tensor d = torch::cdist(a, a);
    d.fill_diagonal_(std::numeric_limits<float>::infinity());
    return d;
  };
  const torch::Tensor dx = pd(x), dr = pd(ref);
  auto mean_off = [](const torch::Tensor& d) { return d.masked_select(torch::isfinite(d)).to(torch::kFloat64).mean().item<double>(); };
  const double nn_ref = std::get<0>(dr.min(1)).median().item<double>();
  const double dup = (std::get<0>(dx.min(1)) < 0.25 * nn_ref).to(torch::kFloat64).mean().item<double>();
  return {mean_off(dx) / std::max(mean_off(dr), 1e-12), dup};
}
}  // namespace

std::string generator_sheet(const std::vector<std::pair<std::string, const Models*>>& generators, int64_t count, uint64_t seed,
                            uint64_t render_seed) {
  torch::NoGradGuard ng;
  if (generators.empty()) throw UsageError("a generator sheet needs at least one generator");
  const Models& first = *generators.front().second;
  GridSpec g;
  g.title = "generators: " + std::to_string(count) + " samples each (latents of seed " + std::to_string(seed) + ")";
  g.subtitle = "top row: held-out procedural renders (dataset seed " + std::to_string(render_seed) + "), what the generators learned from";
  for (int64_t i = 0; i < count; ++i) g.column_labels.push_back(std::to_string(i));
  std::vector<std::vector<torch::Tensor>> cells;
  auto add_row = [&](const torch::Tensor& images, const std::string& label) {
    std::vector<torch::Tensor> row;
    for (int64_t i = 0; i < images.size(0); ++i) row.push_back(images[i]);
    cells.push_back(row);
    g.row_labels.push_back(label);
  };
  const Dataset renders = render_dataset(render_seed, 0, count, static_cast<int>(first.image_size));
  add_row(to_model_range(renders.images, first.range_lo, first.range_hi), "rendered (held out)");
  for (const auto& [label, m] : generators) {
    if (m->image_size != first.image_size || m->range_lo != first.range_lo || m->range_hi != first.range_hi)
      throw UsageError("generators on one sheet need the same image size and output range (" + label + " differs)");
    add_row(generate(*m, sample_latents(seed, count, m->z_dim)), label);
  }
  return encode_png(make_grid(cells, g, first.range_lo, first.range_hi));
}

json generator_quality(const Models& m, int64_t samples, uint64_t seed, uint64_t heldout_seed, int k) {
  if (!m.auditor || !m.auditor->features)
    throw ModelError("generator quality is measured in the auditor's features; this bundle has no course-architecture auditor",
                     Remedy::kTrainAuditor, m.dir);
  if (m.attributes != celeba_attributes())
    throw UsageError("generator quality compares with latentedit's procedural faces, which carry the 40 CelebA attributes; this bundle's differ");
  if (samples < 2 * k + 2) throw UsageError("samples: at least " + std::to_string(2 * k + 2) + " faces are needed");
  const int64_t C = static_cast<int64_t>(m.attributes.size());
  const auto zs = sample_latents(seed, samples, m.z_dim);
  torch::Tensor gen_img = generate(m, zs);
  const Dataset ren = render_dataset(heldout_seed + 1, 0, samples);
  const Dataset ren2 = render_dataset(heldout_seed + 2, 0, samples);
  const auto ren_img = to_model_range(ren.images, m.range_lo, m.range_hi);
  const auto ren2_img = to_model_range(ren2.images, m.range_lo, m.range_hi);
  const auto fg = (torch::sigmoid(classify(*m.auditor, gen_img)) > 0.5).to(torch::kFloat64).mean(0);
  const auto fr = (torch::sigmoid(classify(*m.auditor, ren_img)) > 0.5).to(torch::kFloat64).mean(0);
  const auto fl = ren.labels.to(torch::kFloat64).mean(0);
  json freq = json::object();
  for (int64_t c = 0; c < C; ++c)
    freq[m.attributes[c]] = {{"data_labels", fl[c].item<double>()}, {"rendered_auditor", fr[c].item<double>()},
                             {"generated_auditor", fg[c].item<double>()}};
  const auto gap = (fg - fr).abs();
  torch::Tensor feat_g, feat_r, feat_r2;
  {
    torch::NoGradGuard ng;
    auto features = [&](const torch::Tensor& x) {
      std::vector<torch::Tensor> out;
      for (int64_t i = 0; i < x.size(0); i += 256) out.push_back(m.auditor->features(x.slice(0, i, std::min(x.size(0), i + 256))));
      return torch::cat(out).flatten(1).to(torch::kFloat32);
    };
    feat_g = features(gen_img), feat_r = features(ren_img), feat_r2 = features(ren2_img);
  }
  // Reference figures: the same measures between two independent sets of rendered faces.
  const torch::Tensor rad_r = knn_radii(feat_r, k), rad_g = knn_radii(feat_g, k), rad_r2 = knn_radii(feat_r2, k);
  const auto [pairwise, dups] = spread(gen_img.flatten(1), ren_img.flatten(1));
  return {{"samples", samples}, {"frequencies", freq},
          {"max_frequency_gap", gap.max().item<double>()},
          {"mean_frequency_gap", gap.mean().item<double>()},
          {"worst_attribute", m.attributes[gap.argmax().item<int64_t>()]},
          {"attributes_within_0.05", (gap <= 0.05).sum().item<int64_t>()},
          {"frechet_auditor_features", frechet_distance(feat_g, feat_r)},
          {"frechet_rendered_vs_rendered", frechet_distance(feat_r2, feat_r)},
          {"precision", manifold_coverage(feat_g, feat_r, rad_r)}, {"recall", manifold_coverage(feat_r, feat_g, rad_g)},
          {"precision_rendered_vs_rendered", manifold_coverage(feat_r2, feat_r, rad_r)},
          {"recall_rendered_vs_rendered", manifold_coverage(feat_r, feat_r2, rad_r2)}, {"k", k},
          {"pairwise_ratio", pairwise}, {"near_duplicates", dups}};
}

EvalResult evaluate(const Models& m, const EvalOptions& o, const EvalCallback& progress) {
  if (!m.auditor)
    throw ModelError("the bundle has no auditor; evaluate needs an independent classifier", Remedy::kTrainAuditor, m.dir);
  if (o.seeds < 1) throw UsageError("seeds must be positive");
  if (o.points.empty()) throw UsageError("points: nothing to evaluate; give at least one setting");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t C = static_cast<int64_t>(m.attributes.size());
  std::vector<int> attrs = o.attributes;
  if (attrs.empty())
    for (int c = 0; c < C; ++c) attrs.push_back(c);
  for (int a : attrs)
    if (a < 0 || a >= C) throw UsageError("attributes: index " + std::to_string(a) + " is out of range");
  const auto z = sample_latents(o.seed, o.seeds, m.z_dim);
  const auto aud_before = torch::sigmoid(classify(*m.auditor, generate(m, z)));
  EvalResult res;
  res.points = o.points;
  res.mean.assign(o.points.size(), EvalStats{});
  int done = 0;
  const int total = static_cast<int>(attrs.size());
  for (int a : attrs) {
    // Weights of the other attributes for the masked drift: 1 - |corr(target, other)|.
    const torch::Tensor w = o.correlation.defined() ? 1.0 - o.correlation.select(0, a).abs().to(torch::kFloat64)
                                                    : torch::ones({C}, torch::kFloat64);
    for (Direction dir : {Direction::kAdd, Direction::kRemove}) {
      const auto absent = aud_before.select(1, a) < 0.5;
      const auto sel = (dir == Direction::kAdd ? absent : ~absent).nonzero().view({-1});
      if (sel.numel() < o.min_latents) continue;
      const auto zs = z.index_select(0, sel), bs = aud_before.index_select(0, sel);
      EvalEntry e{a, dir, {}};
      for (const auto& p : o.points) e.stats.push_back(measure(m, zs, bs, a, dir, p.spec, w));
      res.entries.push_back(std::move(e));
    }
    if (progress) progress(++done, total, m.attributes[a]);
  }
  if (res.entries.empty())
    throw UsageError("seeds: no attribute/direction had " + std::to_string(o.min_latents) + " latents to edit among " +
                     std::to_string(o.seeds) + " seeds; raise seeds (e.g. 64) so that means are not empty");
  for (size_t p = 0; p < o.points.size(); ++p) {
    EvalStats& s = res.mean[p];
    for (const auto& e : res.entries) {
      const EvalStats& x = e.stats[p];
      s.n += x.n;
      s.success += x.success, s.drift += x.drift, s.masked_drift += x.masked_drift, s.fooled += x.fooled;
      s.pixel += x.pixel, s.target_gain += x.target_gain, s.dz += x.dz;
    }
    const double k = std::max<size_t>(res.entries.size(), 1);
    for (double* x : {&s.success, &s.fooled, &s.drift, &s.masked_drift, &s.pixel, &s.target_gain, &s.dz}) *x /= k;
  }

  // Classifier accuracy on held-out procedural faces (only for CelebA-attribute bundles).
  const bool celeba = m.attributes == celeba_attributes();
  if (o.heldout > 0 && celeba) {
    const Dataset held = render_dataset(o.heldout_seed, 0, o.heldout);
    res.heldout = {{"faces", o.heldout}, {"dataset_seed", o.heldout_seed},
                   {"classifier", accuracy(m.classifier, held, m.attributes)},
                   {"auditor", accuracy(*m.auditor, held, m.attributes)}};
  }
  // Generated vs rendered faces: attribute frequencies (auditor), Frechet distance, precision/recall.
  if (o.samples > 1 && celeba && m.auditor->features) res.generated = generator_quality(m, o.samples, o.seed + 1, o.heldout_seed);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

json EvalResult::to_json(const Models& m) const {
  json pts = json::array();
  for (size_t p = 0; p < points.size(); ++p) {
    EditSettings s;
    s.spec = points[p].spec;
    pts.push_back({{"curve", points[p].curve}, {"label", points[p].label}, {"strength", points[p].strength},
                   {"settings", s.to_json(m.attributes)}, {"mean", mean[p].to_json()}});
  }
  json rows = json::array();
  for (const auto& e : entries) {
    json st = json::array();
    for (const auto& x : e.stats) st.push_back(x.to_json());
    rows.push_back({{"attribute", m.attributes[e.attribute]}, {"direction", to_string(e.direction)}, {"stats", st}});
  }
  return {{"model", m.name}, {"entries", entries.size()}, {"points", pts}, {"per_attribute", rows},
          {"heldout", heldout}, {"generated_vs_rendered", generated}, {"seconds", seconds}};
}

cv::Mat pareto_plot(const EvalResult& r, const std::string& title) {
  // Axes: success 0..1 on x; drift 0..max (rounded up to 0.05) on y.
  const int W = 900, H = 620, L = 80, R = 230, T = 60, B = 70;
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  double ymax = 0.05;
  for (const auto& s : r.mean) ymax = std::max(ymax, s.drift);
  ymax = std::ceil(ymax / 0.05) * 0.05;
  auto X = [&](double v) { return L + static_cast<int>(v * (W - L - R)); };
  auto Y = [&](double v) { return H - B - static_cast<int>(v / ymax * (H - T - B)); };
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  const cv::Scalar grey(200, 200, 200), black(0, 0, 0);
  for (int i = 0; i <= 10; ++i) {
    cv::line(img, {X(i / 10.0), T}, {X(i / 10.0), H - B}, grey, 1);
    cv::putText(img, std::to_string(i * 10) + "%", {X(i / 10.0) - 14, H - B + 20}, font, 0.42, black, 1, cv::LINE_AA);
  }
  const int ny = static_cast<int>(std::lround(ymax / 0.05));
  for (int i = 0; i <= ny; ++i) {
    const double v = i * 0.05;
    cv::line(img, {L, Y(v)}, {W - R, Y(v)}, grey, 1);
    char b[16];
    std::snprintf(b, sizeof b, "%.2f", v);
    cv::putText(img, b, {L - 45, Y(v) + 5}, font, 0.42, black, 1, cv::LINE_AA);
  }
  cv::rectangle(img, {L, T}, {W - R, H - B}, black, 1);
  cv::putText(img, title, {L, 30}, font, 0.6, black, 1, cv::LINE_AA);
  cv::putText(img, "success (auditor: target crossed 0.5 as asked)", {L + 120, H - 25}, font, 0.5, black, 1, cv::LINE_AA);
  cv::putText(img, "drift (mean |dp| of the other attributes, auditor)", {10, T - 12}, font, 0.5, black, 1, cv::LINE_AA);
  const std::vector<cv::Scalar> palette = {{200, 80, 30}, {40, 40, 210}, {30, 150, 30}, {150, 40, 150}, {0, 140, 220}, {120, 120, 0}};
  std::vector<std::string> curves;
  for (const auto& p : r.points)
    if (std::find(curves.begin(), curves.end(), p.curve) == curves.end()) curves.push_back(p.curve);
  for (size_t c = 0; c < curves.size(); ++c) {
    const cv::Scalar col = palette[c % palette.size()];
    std::vector<std::pair<double, size_t>> pts;
    for (size_t p = 0; p < r.points.size(); ++p)
      if (r.points[p].curve == curves[c]) pts.emplace_back(r.points[p].strength, p);
    std::sort(pts.begin(), pts.end());
    for (size_t k = 0; k < pts.size(); ++k) {
      const EvalStats& s = r.mean[pts[k].second];
      const cv::Point q(X(s.success), Y(s.drift));
      if (k > 0) {
        const EvalStats& s0 = r.mean[pts[k - 1].second];
        cv::line(img, {X(s0.success), Y(s0.drift)}, q, col, 2, cv::LINE_AA);
      }
      cv::circle(img, q, 5, col, cv::FILLED, cv::LINE_AA);
      cv::putText(img, format_number(r.points[pts[k].second].strength), {q.x + 6, q.y - 6}, font, 0.38, col, 1, cv::LINE_AA);
    }
    const int ly = T + 20 + static_cast<int>(c) * 24;
    cv::line(img, {W - R + 15, ly - 4}, {W - R + 40, ly - 4}, col, 2, cv::LINE_AA);
    cv::circle(img, {W - R + 27, ly - 4}, 4, col, cv::FILLED, cv::LINE_AA);
    cv::putText(img, curves[c], {W - R + 48, ly}, font, 0.5, black, 1, cv::LINE_AA);
  }
  cv::putText(img, "labels: strength", {W - R + 15, T + 20 + static_cast<int>(curves.size()) * 24}, font, 0.42,
              cv::Scalar(90, 90, 90), 1, cv::LINE_AA);
  cv::putText(img, "better: right and down", {W - R + 15, T + 44 + static_cast<int>(curves.size()) * 24}, font, 0.42,
              cv::Scalar(90, 90, 90), 1, cv::LINE_AA);
  return img;
}

}  // namespace latentedit
