#include "latentedit/report.h"

#include <cstdio>

#include <opencv2/imgcodecs.hpp>

namespace latentedit {
using json = nlohmann::json;

namespace {
std::vector<float> row(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
std::string fmt(double v) {
  char b[16];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}
bool crossed(double p, Direction d) { return d == Direction::kAdd ? p > 0.5 : p < 0.5; }
}  // namespace

Audit audit_edit(const Models& m, const EditSpec& spec, const EditResult& r) {
  Audit a;
  if (!m.auditor) return a;
  a.present = true;
  a.before = torch::sigmoid(classify(*m.auditor, r.images.begin()->second));
  a.after = torch::sigmoid(classify(*m.auditor, r.images.rbegin()->second));
  const int64_t N = a.after.size(0);
  for (int64_t i = 0; i < N; ++i) {
    bool ok = true;
    for (const auto& t : spec.targets) ok = ok && crossed(a.after[i][t.attribute].item<double>(), t.direction);
    a.confirmed.push_back(ok);
  }
  return a;
}

std::string describe_targets(const Models& m, const EditSpec& spec) {
  std::string s;
  for (const auto& t : spec.targets)
    s += (s.empty() ? "" : " ") + std::string(t.direction == Direction::kAdd ? "+" : "-") + m.attributes[t.attribute];
  return s;
}

json edit_report(const Models& m, const EditSpec& spec, const EditResult& r, const Audit& a, const json& settings) {
  json rep;
  rep["model"] = {{"name", m.name},
                  {"dir", m.dir},
                  {"generator", m.generator.source},
                  {"classifier", m.classifier.source},
                  {"auditor", m.auditor ? json(m.auditor->source) : json(nullptr)}};
  rep["settings"] = settings;
  rep["edit"] = describe_targets(m, spec);
  rep["attributes"] = m.attributes;
  std::vector<std::string> keep;
  for (int k : r.keep) keep.push_back(m.attributes[k]);
  rep["kept_attributes"] = keep;
  const int64_t N = r.z_before.size(0), S = r.logits.size(0);
  json lat = json::array();
  int confirmed = 0;
  for (int64_t i = 0; i < N; ++i) {
    json l;
    l["index"] = i;
    l["z_before"] = row(r.z_before[i]);
    l["z_after"] = row(r.z_after[i]);
    l["stopped_at"] = r.stopped_at[i];
    json targets = json::object();
    for (const auto& t : spec.targets) {
      json tj = {{"direction", t.direction == Direction::kAdd ? "add" : "remove"},
                 {"prob_before", r.probs[0][i][t.attribute].item<double>()},
                 {"prob_after", r.probs[S - 1][i][t.attribute].item<double>()}};
      if (a.present) {
        tj["auditor_before"] = a.before[i][t.attribute].item<double>();
        tj["auditor_after"] = a.after[i][t.attribute].item<double>();
      }
      targets[m.attributes[t.attribute]] = tj;
    }
    l["targets"] = targets;
    json steps = json::array();
    for (int64_t k = 0; k < S; ++k) steps.push_back({{"step", k}, {"logits", row(r.logits[k][i])}, {"probs", row(r.probs[k][i])}});
    l["steps"] = steps;
    double drift = 0.0;
    for (int k : r.keep) drift += std::abs(r.probs[S - 1][i][k].item<double>() - r.probs[0][i][k].item<double>());
    l["kept_drift"] = r.keep.empty() ? 0.0 : drift / static_cast<double>(r.keep.size());
    if (a.present) {
      l["auditor_before"] = row(a.before[i]);
      l["auditor_after"] = row(a.after[i]);
      l["auditor_confirmed"] = static_cast<bool>(a.confirmed[i]);
      confirmed += a.confirmed[i];
    }
    lat.push_back(l);
  }
  rep["latents"] = lat;
  rep["auditor_confirmed"] = a.present ? json(confirmed) : json(nullptr);
  rep["timings"] = {{"edit_s", r.seconds}};
  return rep;
}

json report_summary(const json& rep) {
  json s;
  s["edit"] = rep["edit"];
  s["model"] = rep["model"]["name"];
  s["settings"] = rep["settings"];
  json lat = json::array();
  for (const auto& l : rep["latents"]) {
    json e = {{"index", l["index"]}, {"stopped_at", l["stopped_at"]}, {"targets", l["targets"]}, {"kept_drift", l["kept_drift"]}};
    if (l.contains("auditor_confirmed")) e["auditor_confirmed"] = l["auditor_confirmed"];
    lat.push_back(e);
  }
  s["latents"] = lat;
  s["auditor_confirmed"] = rep["auditor_confirmed"];
  s["timings"] = rep["timings"];
  if (rep.contains("files")) s["files"] = rep["files"];
  if (rep.contains("out")) s["out"] = rep["out"];
  return s;
}

cv::Mat edit_grid(const Models& m, const EditSpec& spec, const EditResult& r, const Audit& a,
                  const std::string& subtitle, int scale) {
  GridSpec g;
  g.title = "latentedit: " + describe_targets(m, spec) + "  (" + m.name + ")";
  g.subtitle = subtitle;
  g.scale = scale;
  const int last = r.images.rbegin()->first;
  for (const auto& [step, img] : r.images)
    g.column_labels.push_back(step == 0 ? "before" : step == last ? "after (" + std::to_string(step) + ")"
                                                                   : "step " + std::to_string(step));
  const int64_t N = r.z_before.size(0), S = r.logits.size(0);
  std::vector<std::vector<torch::Tensor>> cells(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    for (const auto& [step, img] : r.images) cells[i].push_back(img[i]);
    std::string lab = "#" + std::to_string(i);
    if (r.stopped_at[i] < spec.steps) lab += " (stopped at " + std::to_string(r.stopped_at[i]) + ")";
    for (const auto& t : spec.targets) {
      const std::string& name = m.attributes[t.attribute];
      lab += ";" + name.substr(0, 14) + " " + fmt(r.probs[0][i][t.attribute].item<double>()) + " -> " +
             fmt(r.probs[S - 1][i][t.attribute].item<double>());
      if (a.present)
        lab += ";  audit " + fmt(a.before[i][t.attribute].item<double>()) + " -> " +
               fmt(a.after[i][t.attribute].item<double>()) + (a.confirmed[i] ? "" : " !");
    }
    g.row_labels.push_back(lab);
    g.row_flags.push_back(a.present && !a.confirmed[i]);
  }
  return make_grid(cells, g, m.range_lo, m.range_hi);
}

namespace {
std::string encode_png(const cv::Mat& img) {
  std::vector<uchar> buf;
  cv::imencode(".png", img, buf);
  return std::string(buf.begin(), buf.end());
}
std::string numbered(const char* pattern, int64_t i) {
  char b[64];
  std::snprintf(b, sizeof b, pattern, static_cast<int>(i));
  return b;
}
}  // namespace

std::vector<std::pair<std::string, std::string>> encode_edit_images(const Models& m, const EditSpec& spec,
                                                                    const EditResult& r, const Audit& a,
                                                                    const EditImages& what) {
  std::vector<std::pair<std::string, std::string>> files;
  if (what.grid) files.emplace_back("grid.png", encode_png(edit_grid(m, spec, r, a, what.subtitle, what.scale)));
  const int64_t N = r.z_before.size(0);
  const torch::Tensor& first = r.images.begin()->second;
  const torch::Tensor& last = r.images.rbegin()->second;
  for (int64_t i = 0; what.pairs && i < N; ++i) {
    files.emplace_back(numbered("latent_%03d_before.png", i), encode_png(tensor_to_bgr(first[i], m.range_lo, m.range_hi)));
    files.emplace_back(numbered("latent_%03d_after.png", i), encode_png(tensor_to_bgr(last[i], m.range_lo, m.range_hi)));
  }
  for (int64_t i = 0; what.strips && i < N; ++i) {
    GridSpec g;
    g.title = numbered("#%d ", i) + describe_targets(m, spec);
    g.scale = what.scale;
    std::vector<std::vector<torch::Tensor>> cells(1);
    for (const auto& [step, img] : r.images) {
      cells[0].push_back(img[i]);
      g.column_labels.push_back(std::to_string(step));
    }
    g.row_labels.push_back(std::string());
    g.row_flags.push_back(a.present && !a.confirmed[i]);
    files.emplace_back(numbered("strip_%03d.png", i), encode_png(make_grid(cells, g, m.range_lo, m.range_hi)));
  }
  return files;
}

}  // namespace latentedit
