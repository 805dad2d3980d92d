#include "latentedit/outputs.h"
#include "io/json_read.h"

#include <cstdio>

#include "latentedit/discover.h"
#include "latentedit/image.h"

namespace latentedit {
using json = nlohmann::json;

std::vector<float> to_floats(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

json attribute_values(const std::vector<std::string>& attributes, const torch::Tensor& row) {
  json j = json::object();
  for (size_t c = 0; c < attributes.size(); ++c) j[attributes[c]] = row[static_cast<int64_t>(c)].item<double>();
  return j;
}

namespace {
std::vector<float> row(const torch::Tensor& t) { return to_floats(t); }
std::string fmt(double v) {
  char b[16];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}
bool crossed(double p, Direction d) { return d == Direction::kAdd ? p > 0.5 : p < 0.5; }
std::string numbered(const char* pattern, int64_t i) {
  char b[64];
  std::snprintf(b, sizeof b, pattern, static_cast<int>(i));
  return b;
}

// The report: model, settings, source, per-latent z before/after, per-step logits and
// probabilities, stop step, drift, auditor verdict.
json edit_report(const Models& m, const EditSettings& s, const EditResult& r, const Audit& a, const OutputContext& ctx) {
  const EditSpec& spec = s.spec;
  json rep = {{"tool", "latentedit"}, {"version", LATENTEDIT_VERSION}, {"command", ctx.command}};
  rep.update(ctx.header);
  rep["model"] = {{"name", m.name},
                  {"dir", m.dir},
                  {"generator", m.generator.source},
                  {"classifier", m.classifier.source},
                  {"auditor", m.auditor ? json(m.auditor->source) : json(nullptr)}};
  rep["settings"] = s.to_json(m.attributes);
  rep["method_used"] = spec.moves.empty() ? to_string(method_used(m, spec.method)) : "direction";  // what "auto" meant here
  rep["source"] = ctx.source;
  rep["edit"] = describe_edit(m, spec);
  const std::vector<Target> edited = edit_targets(m, spec);
  if (!spec.moves.empty()) {
    // Each move with what the discovery measured along it (the full table; strength is per move).
    json moves = json::array();
    for (const auto& mv : resolve_moves(m, spec)) {
      json e = {{"direction", mv.label}, {"method", mv.method}, {"index", mv.index}, {"name", mv.name}, {"strength", mv.strength}};
      if (!mv.record.is_null()) {
        for (const char* k : {"delta_p", "auditor_delta_p", "pixel_change", "dominant"})
          if (mv.record.contains(k)) e[std::string("discovered_") + k] = mv.record[k];
        e["discovered_strength"] = m.manifest["discovered"][mv.method].value("strength", kDirectionStrength);
      }
      moves.push_back(e);
    }
    rep["directions"] = moves;
    // The attributes the moves' names promise are its targets: success and the auditor's verdict
    // are judged on them, drift on the rest (an unnamed direction has none: no verdict).
  }
  rep["attributes"] = m.attributes;
  std::vector<std::string> keep;
  for (int k : r.keep) keep.push_back(m.attributes[k]);
  rep["kept_attributes"] = keep;
  std::vector<int> recorded;
  for (const auto& [k, v] : r.images) recorded.push_back(k);
  rep["recorded_steps"] = recorded;
  const int64_t N = r.z_before.size(0), S = r.logits.size(0);
  const torch::Tensor kept_drift = attribute_drift(r.probs[0], r.probs[S - 1], r.keep);
  json lat = json::array();
  int confirmed = 0;
  for (int64_t i = 0; i < N; ++i) {
    json l;
    l["index"] = i;
    l["z_before"] = row(r.z_before[i]);
    l["z_after"] = row(r.z_after[i]);
    l["stopped_at"] = r.stopped_at[i];
    if (!r.ranks.empty()) l["rank"] = r.ranks[i];
    if (!r.strengths.empty() && r.ranks[i] == 0) l["strength"] = r.strengths[i];
    json targets = json::object();
    for (const auto& t : edited) {
      json tj = {{"direction", to_string(t.direction)},
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
    l["kept_drift"] = kept_drift[i].item<double>();
    if (a.present) {
      l["auditor_before"] = row(a.before[i]);
      l["auditor_after"] = row(a.after[i]);
      if (a.judged) l["auditor_confirmed"] = static_cast<bool>(a.confirmed[i]);
      confirmed += a.confirmed[i];
    }
    lat.push_back(l);
  }
  rep["latents"] = lat;
  rep["auditor_confirmed"] = a.present && a.judged ? json(confirmed) : json(nullptr);
  return rep;
}

cv::Mat edit_grid(const Models& m, const EditSpec& spec, const EditResult& r, const Audit& a, const std::string& subtitle,
                  int scale, const torch::Tensor& photos) {
  GridSpec g;
  g.title = "latentedit: " + describe_edit(m, spec) + "  (" + m.name + ")";
  const std::vector<Target> targets = edit_targets(m, spec);
  g.subtitle = subtitle;
  g.scale = scale;
  const int last = r.images.rbegin()->first;
  if (photos.defined()) g.column_labels.push_back("photo");
  for (const auto& [step, img] : r.images)
    g.column_labels.push_back(step == 0 ? (photos.defined() ? "reconstruction" : "before")
                                        : step == last ? "after (" + std::to_string(step) + ")" : "step " + std::to_string(step));
  const int64_t N = r.z_before.size(0), S = r.logits.size(0);
  std::vector<std::vector<torch::Tensor>> cells(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    if (photos.defined()) cells[i].push_back(photos[i]);
    for (const auto& [step, img] : r.images) cells[i].push_back(img[i]);
    std::string lab = "#" + std::to_string(i);
    if (r.stopped_at[i] < spec.steps) lab += " (stopped at " + std::to_string(r.stopped_at[i]) + ")";
    // Three targets fill a row (two lines each); a move named for more lists the rest in the report.
    for (size_t ti = 0; ti < targets.size(); ++ti) {
      const Target& t = targets[ti];
      if (ti == 3) {
        lab += ";+" + std::to_string(targets.size() - 3) + " more in report.json";
        break;
      }
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
}  // namespace

std::string describe_edit(const Models& m, const EditSpec& spec) {
  if (spec.moves.empty()) return describe_targets(m.attributes, spec);
  std::string s;
  for (const auto& mv : resolve_moves(m, spec)) {
    std::string named = mv.method == "boundary" ? "" : mv.name.substr(std::min(mv.name.size(), mv.name.find(' ') + 1));
    s += (s.empty() ? "" : ", ") + mv.label + (named.empty() ? "" : " " + (named[0] == '(' ? named : "(" + named + ")")) + " x" +
         format_number(mv.strength);
  }
  return s;
}

Audit audit_edit(const Models& m, const EditSpec& spec, const EditResult& r) {
  Audit a;
  if (!m.auditor) return a;
  const std::vector<Target> targets = edit_targets(m, spec);
  a.judged = !targets.empty();
  a.present = true;
  a.before = torch::sigmoid(classify(*m.auditor, r.images.begin()->second));
  a.after = torch::sigmoid(classify(*m.auditor, r.images.rbegin()->second));
  const int64_t N = a.after.size(0);
  for (int64_t i = 0; i < N; ++i) {
    bool ok = true;
    for (const auto& t : targets) ok = ok && crossed(a.after[i][t.attribute].item<double>(), t.direction);
    a.confirmed.push_back(ok);
  }
  return a;
}

std::string source_label(const json& source) {
  if (source.contains("seed")) return "seed " + source["seed"].dump();
  if (source.contains("seeds")) {
    std::string s = "seeds ";
    for (size_t i = 0; i < source["seeds"].size(); ++i) s += (i ? ", " : "") + source["seeds"][i].dump();
    return s;
  }
  if (source.contains("latents_file")) return "latents from " + source["latents_file"].get<std::string>();
  return "latents";
}

bool edit_diverged(const EditResult& r) {
  if (!torch::isfinite(r.logits).all().item<bool>() || !torch::isfinite(r.z_after).all().item<bool>()) return true;
  for (const auto& [step, img] : r.images)
    if (!torch::isfinite(img).all().item<bool>()) return true;
  return false;
}

EditResult slice(const EditResult& r, int64_t b, int64_t e) {
  EditResult s;
  s.z_before = r.z_before.slice(0, b, e);
  s.z_after = r.z_after.slice(0, b, e);
  s.logits = r.logits.slice(1, b, e);
  s.probs = r.probs.slice(1, b, e);
  s.stopped_at.assign(r.stopped_at.begin() + b, r.stopped_at.begin() + e);
  if (!r.ranks.empty()) s.ranks.assign(r.ranks.begin() + b, r.ranks.begin() + e);
  if (!r.strengths.empty()) s.strengths.assign(r.strengths.begin() + b, r.strengths.begin() + e);
  for (const auto& [step, img] : r.images) s.images[step] = img.slice(0, b, e);
  s.keep = r.keep;
  s.seconds = r.seconds;
  return s;
}

Audit slice(const Audit& a, int64_t b, int64_t e) {
  Audit s;
  s.present = a.present;
  s.judged = a.judged;
  if (!a.present) return s;
  s.before = a.before.slice(0, b, e);
  s.after = a.after.slice(0, b, e);
  s.confirmed.assign(a.confirmed.begin() + b, a.confirmed.begin() + e);
  return s;
}

torch::Tensor attribute_drift(const torch::Tensor& before, const torch::Tensor& after, const std::vector<int>& attrs) {
  if (attrs.empty()) return torch::zeros({before.size(0)}, before.options());
  const auto idx = torch::tensor(std::vector<int64_t>(attrs.begin(), attrs.end()), torch::kLong);
  return (after.index_select(1, idx) - before.index_select(1, idx)).abs().mean(1);
}

std::vector<int> non_targets(const std::vector<Target>& targets, int C) {
  std::vector<bool> is_target(static_cast<size_t>(C), false);
  for (const auto& t : targets) is_target[t.attribute] = true;
  std::vector<int> out;
  for (int k = 0; k < C; ++k)
    if (!is_target[k]) out.push_back(k);
  return out;
}

std::vector<std::pair<std::string, std::string>> EditOutputs::files() const {
  auto f = images;
  if (write_report) f.emplace_back("report.json", dump_text(report, 1) + "\n");
  return f;
}

EditOutputs make_edit_outputs(const Models& m, const EditSettings& s, const EditResult& r, const Audit& a,
                              const OutputContext& ctx) {
  EditSpec spec = s.spec;
  spec.method = method_used(m, spec.method);  // the grid names the method that ran
  const OutputOptions& o = s.outputs;
  EditOutputs out;
  out.write_report = o.report;
  // The course's method keeps its original subtitle; other methods name themselves compactly so
  // the line fits a 3-column grid.
  char sub[320];
  const char* audit = a.present ? "  ! = auditor disagrees" : "";
  if (!spec.moves.empty()) {
    std::snprintf(sub, sizeof sub, "%s  moved along the directions in %d steps%s", ctx.label.c_str(), spec.steps,
                  a.present && a.judged ? "  ! = auditor disagrees with the name" : "");
  } else if (one_shot(spec.method)) {
    // e.g. "latent, strength 6>9>12, else projected r8,4,2": the passes in turn.
    std::vector<double> strengths;
    std::vector<int> ranks;
    for (const Pass& p : spec.passes()) {
      if (p.method == spec.method) strengths.push_back(p.strength);
      else ranks.push_back(p.rank);
    }
    std::snprintf(sub, sizeof sub, "%s  %s, strength %s%s%s", ctx.label.c_str(), to_string(spec.method).c_str(),
                  join_numbers(strengths, ">").c_str(), ranks.empty() ? "" : (", else projected r" + join_ranks(ranks)).c_str(),
                  audit);
  }
  else if (spec.method == Method::kProjected || spec.eot > 0) {
    std::string method = "gradient";
    if (spec.method == Method::kProjected) {
      method = "projected r" + std::to_string(spec.rank);
      if (!spec.fallback_ranks.empty()) method += ">" + join_ranks(spec.fallback_ranks);
    }
    std::snprintf(sub, sizeof sub, "%s  %d x %g  penalty %g  %s%s%s", ctx.label.c_str(), spec.steps, spec.step_size, spec.penalty,
                  method.c_str(), spec.eot > 0 ? (" eot" + std::to_string(spec.eot)).c_str() : "", audit);
  } else
    std::snprintf(sub, sizeof sub, "%s  steps %d x %g  penalty %g (%s)%s", ctx.label.c_str(), spec.steps, spec.step_size,
                  spec.penalty, to_string(spec.penalty_kind).c_str(), a.present ? "  audit: auditor classifier, ! = not confirmed" : "");
  if (o.grid) out.images.emplace_back("grid.png", encode_png(edit_grid(m, spec, r, a, sub, o.scale, ctx.photos)));
  const int64_t N = r.z_before.size(0);
  const torch::Tensor& first = r.images.begin()->second;
  const torch::Tensor& last = r.images.rbegin()->second;
  for (int64_t i = 0; o.pairs && i < N; ++i) {
    out.images.emplace_back(numbered("latent_%03d_before.png", i), encode_png(tensor_to_bgr(first[i], m.range_lo, m.range_hi)));
    out.images.emplace_back(numbered("latent_%03d_after.png", i), encode_png(tensor_to_bgr(last[i], m.range_lo, m.range_hi)));
  }
  for (int64_t i = 0; o.strips && i < N; ++i) {
    GridSpec g;
    g.title = numbered("#%d ", i) + describe_edit(m, spec);
    g.scale = o.scale;
    std::vector<std::vector<torch::Tensor>> cells(1);
    for (const auto& [step, img] : r.images) {
      cells[0].push_back(img[i]);
      g.column_labels.push_back(std::to_string(step));
    }
    g.row_labels.push_back(std::string());
    g.row_flags.push_back(a.present && !a.confirmed[i]);
    out.images.emplace_back(numbered("strip_%03d.png", i), encode_png(make_grid(cells, g, m.range_lo, m.range_hi)));
  }
  out.report = edit_report(m, s, r, a, ctx);
  json names = json::array();
  for (const auto& f : out.images) names.push_back(f.first);
  if (o.report) names.push_back("report.json");
  out.report["files"] = names;
  return out;
}

json report_summary(const json& rep) {
  json s;
  s["edit"] = rep["edit"];
  s["model"] = rep["model"]["name"];
  s["settings"] = rep["settings"];
  s["source"] = rep["source"];
  json lat = json::array();
  for (const auto& l : rep["latents"]) {
    json e = {{"index", l["index"]}, {"stopped_at", l["stopped_at"]}, {"targets", l["targets"]}, {"kept_drift", l["kept_drift"]}};
    if (l.contains("auditor_confirmed")) e["auditor_confirmed"] = l["auditor_confirmed"];
    lat.push_back(e);
  }
  s["latents"] = lat;
  s["auditor_confirmed"] = rep["auditor_confirmed"];
  if (rep.contains("timings")) s["timings"] = rep["timings"];
  if (rep.contains("files")) s["files"] = rep["files"];
  if (rep.contains("out")) s["out"] = rep["out"];
  return s;
}

}  // namespace latentedit
