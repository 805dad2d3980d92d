#include "latentedit/batch.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "latentedit/attributes.h"
#include "latentedit/fsutil.h"
#include "latentedit/report.h"

namespace latentedit {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char* kJournal = ".journal";
const char* kPlan = "plan.json";

std::string join_lines(const std::vector<std::string>& e) {
  std::string s = "the job file has " + std::to_string(e.size()) + " error" + (e.size() == 1 ? "" : "s") +
                  "; nothing was run:";
  for (const auto& l : e) s += "\n  " + l;
  return s;
}

std::string json_quote(const std::string& s) { return json(s).dump(); }

// "did you mean" for keys, using the attribute matcher (case- and underscore-insensitive).
std::string suggest(const std::vector<std::string>& known, const std::string& key) {
  const auto c = closest_attributes(known, key, 1);
  return c.empty() ? "" : " (did you mean " + json_quote(c[0]) + "?)";
}

const std::vector<std::string> kSettingKeys = {"add",   "remove",     "keep",  "steps",   "step_size",
                                               "penalty", "penalty_kind", "prior", "target_prob", "batch_mean",
                                               "show_steps", "scale", "count", "outputs"};
const std::vector<std::string> kJobOnlyKeys = {"id", "seeds", "seed", "latents_file", "latents_from"};
const std::vector<std::string> kTopKeys = {"$schema", "description", "model", "defaults", "jobs"};
const std::vector<std::string> kOutputKeys = {"grid", "pairs", "strip", "report"};

// Collects errors while reading one job's settings.
struct Checker {
  std::vector<std::string>& errors;
  void fail(const std::string& path, const std::string& msg) { errors.push_back(path + ": " + msg); }

  std::optional<int64_t> integer(const json& v, const std::string& path, int64_t lo, int64_t hi, const std::string& why = "") {
    if (!v.is_number_integer()) {
      fail(path, "expected an integer, got " + std::string(v.type_name()) + " " + v.dump());
      return std::nullopt;
    }
    const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
    if (x < lo || x > hi) {
      fail(path, std::to_string(x) + " is out of range; use " + std::to_string(lo) + ".." + std::to_string(hi) + why);
      return std::nullopt;
    }
    return x;
  }
  std::optional<double> number(const json& v, const std::string& path, double lo, double hi, bool lo_open) {
    if (!v.is_number()) {
      fail(path, "expected a number, got " + std::string(v.type_name()) + " " + v.dump());
      return std::nullopt;
    }
    const double x = v.get<double>();
    if (!std::isfinite(x) || (lo_open ? x <= lo : x < lo) || x > hi) {
      char b[160];
      std::snprintf(b, sizeof b, "%g is out of range; use a value in %s%g, %g]", x, lo_open ? "(" : "[", lo, hi);
      fail(path, b);
      return std::nullopt;
    }
    return x;
  }
  std::optional<bool> boolean(const json& v, const std::string& path) {
    if (!v.is_boolean()) {
      fail(path, "expected true or false, got " + v.dump());
      return std::nullopt;
    }
    return v.get<bool>();
  }
  std::optional<std::vector<std::string>> strings(const json& v, const std::string& path) {
    if (v.is_string()) return std::vector<std::string>{v.get<std::string>()};
    if (!v.is_array()) {
      fail(path, "expected a list of attribute names, e.g. [\"Smiling\"], got " + v.dump());
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) {
        fail(path + "[" + std::to_string(i) + "]", "expected an attribute name (a string), got " + v[i].dump());
        return std::nullopt;
      }
      out.push_back(v[i].get<std::string>());
    }
    return out;
  }
  // An attribute name; the message of find_attribute already suggests the closest names.
  std::optional<int> attribute(const Models& m, const std::string& name, const std::string& path) {
    try {
      return find_attribute(m.attributes, name);
    } catch (const Error&) {
      const auto close = closest_attributes(m.attributes, name, 1);
      fail(path, "unknown attribute " + json_quote(name) + (close.empty() ? "" : " (did you mean " + json_quote(close[0]) + "?)"));
      return std::nullopt;
    }
  }
};

bool safe_id(const std::string& id) {
  static const std::regex re("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");
  return std::regex_match(id, re) && id.find("..") == std::string::npos;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads latents from an edit/batch report.json, {"z": [[...]]}, or a bare [[...]] list.
// Values may be numbers or the strings "NaN", "Infinity", "-Infinity".
std::optional<torch::Tensor> read_latents(const std::string& file, const std::string& from, int64_t z_dim,
                                          int max_count, const std::string& path, Checker& ck) {
  json j;
  try {
    j = json::parse(read_file(file));
  } catch (const json::exception& e) {
    ck.fail(path, "latents file " + file + " is not valid JSON (" + std::string(e.what()) + ")");
    return std::nullopt;
  } catch (const Error& e) {
    ck.fail(path, e.what());
    return std::nullopt;
  }
  json rows;
  if (j.is_object() && j.contains("latents") && j["latents"].is_array()) {
    rows = json::array();
    for (const auto& l : j["latents"]) {
      const char* key = from == "before" ? "z_before" : "z_after";
      if (!l.is_object() || !l.contains(key)) {
        ck.fail(path, "latents file " + file + " has a latent without \"" + key + "\"; use a report.json written by latentedit");
        return std::nullopt;
      }
      rows.push_back(l[key]);
    }
  } else if (j.is_object() && j.contains("z")) {
    rows = j["z"];
  } else {
    rows = j;
  }
  if (!rows.is_array() || rows.empty()) {
    ck.fail(path, "latents file " + file + " holds no latents; expected a report.json, {\"z\": [[...]]} or [[...], ...]");
    return std::nullopt;
  }
  if (static_cast<int64_t>(rows.size()) > max_count) {
    ck.fail(path, "latents file " + file + " holds " + std::to_string(rows.size()) + " latents; the limit per job is " +
                      std::to_string(max_count) + " (split it into several jobs)");
    return std::nullopt;
  }
  torch::Tensor z = torch::empty({static_cast<int64_t>(rows.size()), z_dim});
  auto acc = z.accessor<float, 2>();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].is_array() || static_cast<int64_t>(rows[i].size()) != z_dim) {
      ck.fail(path, "latent " + std::to_string(i) + " in " + file + " must be a list of " + std::to_string(z_dim) +
                        " numbers (the model's z_dim)");
      return std::nullopt;
    }
    for (int64_t k = 0; k < z_dim; ++k) {
      const json& v = rows[i][k];
      double x;
      if (v.is_number()) x = v.get<double>();
      else if (v == "NaN") x = std::nan("");
      else if (v == "Infinity") x = INFINITY;
      else if (v == "-Infinity") x = -INFINITY;
      else {
        ck.fail(path, "latent " + std::to_string(i) + " in " + file + " has a non-number " + v.dump());
        return std::nullopt;
      }
      acc[static_cast<int64_t>(i)][k] = static_cast<float>(x);
    }
  }
  return z;
}

std::string tensor_sha(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return sha256_hex(std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
}

fs::path job_dir(const std::string& out, const std::string& id) { return fs::path(out) / id; }
fs::path journal_path(const std::string& out, const std::string& id) { return fs::path(out) / kJournal / (id + ".json"); }

// The journal entry of a finished job, if it is valid: fingerprint as planned, status ok, and
// every listed file present with the recorded hash.
std::optional<json> finished_entry(const std::string& out, const std::string& id, const std::string& fingerprint) {
  const fs::path jp = journal_path(out, id);
  if (!fs::exists(jp)) return std::nullopt;
  json e;
  try {
    e = json::parse(read_file(jp.string()));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!e.is_object() || e.value("fingerprint", "") != fingerprint || e.value("status", "") != "ok" ||
      !e.contains("files") || !e["files"].is_object())
    return std::nullopt;
  for (auto it = e["files"].begin(); it != e["files"].end(); ++it) {
    const fs::path f = job_dir(out, id) / it.key();
    if (!fs::is_regular_file(f) || !it->is_string()) return std::nullopt;
    try {
      if (sha256_hex(read_file(f.string())) != it->get<std::string>()) return std::nullopt;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return e;
}

// Removes leftovers of interrupted writes (name.tmp.PID) for one path prefix in a directory.
void remove_temp_files(const fs::path& dir, const std::string& prefix) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& ent : fs::directory_iterator(dir, ec)) {
    const std::string n = ent.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && n.find(".tmp.") != std::string::npos) fs::remove(ent.path(), ec);
  }
}

EditResult slice(const EditResult& r, int64_t b, int64_t e) {
  EditResult s;
  s.z_before = r.z_before.slice(0, b, e);
  s.z_after = r.z_after.slice(0, b, e);
  s.logits = r.logits.slice(1, b, e);
  s.probs = r.probs.slice(1, b, e);
  s.stopped_at.assign(r.stopped_at.begin() + b, r.stopped_at.begin() + e);
  for (const auto& [step, img] : r.images) s.images[step] = img.slice(0, b, e);
  s.keep = r.keep;
  s.seconds = r.seconds;
  return s;
}

Audit slice(const Audit& a, int64_t b, int64_t e) {
  Audit s;
  s.present = a.present;
  if (!a.present) return s;
  s.before = a.before.slice(0, b, e);
  s.after = a.after.slice(0, b, e);
  s.confirmed.assign(a.confirmed.begin() + b, a.confirmed.begin() + e);
  return s;
}

double mean_abs_other(const torch::Tensor& before, const torch::Tensor& after, const EditSpec& spec) {
  std::vector<bool> is_target(static_cast<size_t>(before.size(1)), false);
  for (const auto& t : spec.targets) is_target[t.attribute] = true;
  std::vector<int64_t> others;
  for (size_t k = 0; k < is_target.size(); ++k)
    if (!is_target[k]) others.push_back(static_cast<int64_t>(k));
  const auto idx = torch::tensor(others, torch::kLong);
  return (after.index_select(1, idx) - before.index_select(1, idx)).abs().mean().item<double>();
}

// The journal entry (and summary row) of a finished job.
json job_entry(const Models& m, const BatchJob& job, const EditResult& r, const Audit& a, const json& files,
               double edit_s, double write_s) {
  const int64_t S = r.probs.size(0);
  const torch::Tensor p0 = r.probs[0], p1 = r.probs[S - 1];
  json targets = json::object();
  for (const auto& t : job.spec.targets) {
    json tj = {{"direction", t.direction == Direction::kAdd ? "add" : "remove"},
               {"prob_before_mean", p0.select(1, t.attribute).mean().item<double>()},
               {"prob_after_mean", p1.select(1, t.attribute).mean().item<double>()}};
    if (a.present) {
      tj["auditor_before_mean"] = a.before.select(1, t.attribute).mean().item<double>();
      tj["auditor_after_mean"] = a.after.select(1, t.attribute).mean().item<double>();
    }
    targets[m.attributes[t.attribute]] = tj;
  }
  json e = {{"id", job.id}, {"status", "ok"}, {"fingerprint", job.fingerprint}, {"latents", r.z_before.size(0)},
            {"settings", job.settings}, {"edit", describe_targets(m, job.spec)}, {"targets", targets},
            {"others_mean_abs_dprob", mean_abs_other(p0, p1, job.spec)}, {"files", files},
            {"timings", {{"edit_s", edit_s}, {"write_s", write_s}}}};
  if (a.present) {
    const auto confirmed = std::count(a.confirmed.begin(), a.confirmed.end(), true);
    e["auditor"] = {{"confirmed", confirmed},
                    {"not_confirmed", static_cast<int64_t>(a.confirmed.size()) - confirmed},
                    {"others_mean_abs_dprob", mean_abs_other(a.before, a.after, job.spec)}};
  }
  return e;
}

}  // namespace

BatchInvalid::BatchInvalid(std::vector<std::string> errors) : InputError(join_lines(errors)), errors_(std::move(errors)) {}

int BatchRun::failed() const {
  return static_cast<int>(std::count_if(outcomes.begin(), outcomes.end(), [](const JobOutcome& o) { return o.status == JobOutcome::kFailed; }));
}

json read_job_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // Turn the byte offset into line:column.
    size_t line = 1, col = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') ++line, col = 1;
      else ++col;
    }
    std::string what = e.what();
    what = what.substr(what.find(']') == std::string::npos ? 0 : what.find(']') + 2);
    throw InputError(path + ":" + std::to_string(line) + ":" + std::to_string(col) + ": invalid JSON: " + what +
                     " (fix the syntax; a JSON linter such as `jq . FILE` shows the spot)");
  }
}

std::optional<std::string> job_file_model(const json& file, const std::string& job_file_path) {
  if (!file.is_object() || !file.contains("model") || !file["model"].is_string()) return std::nullopt;
  const fs::path p = file["model"].get<std::string>();
  return (p.is_absolute() ? p : fs::path(job_file_path).parent_path() / p).lexically_normal().string();
}

BatchPlan plan_batch(const json& file, const std::string& job_file_path, const Models& m, int max_batch,
                     const BatchLimits& L) {
  std::vector<std::string> errors;
  Checker ck{errors};
  BatchPlan plan;
  plan.job_file = job_file_path;
  plan.job_file_sha256 = sha256_hex(file.dump());
  if (!file.is_object()) throw BatchInvalid({"$: the job file must be a JSON object with \"jobs\": [...]"});
  for (auto it = file.begin(); it != file.end(); ++it)
    if (std::find(kTopKeys.begin(), kTopKeys.end(), it.key()) == kTopKeys.end())
      ck.fail(it.key(), "unknown key" + suggest(kTopKeys, it.key()) + "; allowed: model, defaults, jobs");
  if (file.contains("model") && !file["model"].is_string()) ck.fail("model", "expected a bundle directory path (a string)");
  json defaults = json::object();
  if (file.contains("defaults")) {
    if (!file["defaults"].is_object()) ck.fail("defaults", "expected an object of edit settings, e.g. {\"steps\": 10}");
    else defaults = file["defaults"];
    for (auto it = defaults.begin(); it != defaults.end(); ++it)
      if (std::find(kSettingKeys.begin(), kSettingKeys.end(), it.key()) == kSettingKeys.end())
        ck.fail("defaults." + it.key(), "unknown setting" + suggest(kSettingKeys, it.key()));
  }
  if (!file.contains("jobs") || !file["jobs"].is_array() || file["jobs"].empty()) {
    ck.fail("jobs", "expected a non-empty list of jobs, e.g. [{\"id\": \"smile\", \"seed\": 1, \"add\": [\"Smiling\"]}]");
    throw BatchInvalid(errors);
  }
  const json& jobs = file["jobs"];
  if (static_cast<int64_t>(jobs.size()) > L.max_jobs)
    ck.fail("jobs", std::to_string(jobs.size()) + " jobs; the limit is " + std::to_string(L.max_jobs) + " per file (split the file)");
  std::map<std::string, std::string> seen_ids;  // lower-case id -> path of its first use
  int64_t total_latents = 0;
  const fs::path base = fs::path(job_file_path).parent_path();

  for (size_t ji = 0; ji < jobs.size() && static_cast<int64_t>(ji) < L.max_jobs; ++ji) {
    const std::string jp = "jobs[" + std::to_string(ji) + "]";
    const size_t errors_before = errors.size();
    const json& jj = jobs[ji];
    if (!jj.is_object()) {
      ck.fail(jp, "expected an object with \"id\", latents and an edit, got " + jj.dump());
      continue;
    }
    BatchJob job;
    job.index = static_cast<int>(ji);
    // id
    if (!jj.contains("id") || !jj["id"].is_string()) {
      ck.fail(jp + ".id", "missing or not a string; give each job a unique id such as \"smile-01\"");
    } else {
      job.id = jj["id"].get<std::string>();
      if (!safe_id(job.id))
        ck.fail(jp + ".id", json_quote(job.id) + " is not a safe directory name; use letters, digits, '.', '_' or '-' "
                                              "(no '/', no '..', not starting with '.' or '-', at most 100 characters)");
      else if (auto [it, fresh] = seen_ids.emplace(lower(job.id), jp + ".id"); !fresh)
        ck.fail(jp + ".id", "duplicate id " + json_quote(job.id) + " (first used at " + it->second + "); ids must be unique, ignoring case");
    }
    // settings: defaults < job; remember where each value came from for error paths
    std::map<std::string, std::pair<json, std::string>> s;
    for (auto it = defaults.begin(); it != defaults.end(); ++it) s[it.key()] = {*it, "defaults." + it.key()};
    for (auto it = jj.begin(); it != jj.end(); ++it) {
      const bool setting = std::find(kSettingKeys.begin(), kSettingKeys.end(), it.key()) != kSettingKeys.end();
      const bool job_only = std::find(kJobOnlyKeys.begin(), kJobOnlyKeys.end(), it.key()) != kJobOnlyKeys.end();
      if (setting) s[it.key()] = {*it, jp + "." + it.key()};
      else if (!job_only) {
        std::vector<std::string> all = kSettingKeys;
        all.insert(all.end(), kJobOnlyKeys.begin(), kJobOnlyKeys.end());
        ck.fail(jp + "." + it.key(), "unknown key" + suggest(all, it.key()));
      }
    }
    auto has = [&](const char* k) { return s.count(k) > 0 && !s[k].first.is_null(); };
    auto path = [&](const char* k) { return s[k].second; };
    EditSpec& sp = job.spec;
    if (has("steps")) if (auto v = ck.integer(s["steps"].first, path("steps"), 1, L.max_steps, " (batch limit)")) sp.steps = static_cast<int>(*v);
    if (has("step_size")) if (auto v = ck.number(s["step_size"].first, path("step_size"), 0.0, L.max_step_size, true)) sp.step_size = *v;
    if (has("penalty")) if (auto v = ck.number(s["penalty"].first, path("penalty"), 0.0, 1e3, false)) sp.penalty = *v;
    if (has("prior")) if (auto v = ck.number(s["prior"].first, path("prior"), 0.0, 1e3, false)) sp.prior = *v;
    if (has("batch_mean")) if (auto v = ck.boolean(s["batch_mean"].first, path("batch_mean"))) sp.batch_mean = *v;
    std::string kind = "l2";
    if (has("penalty_kind")) {
      const json& v = s["penalty_kind"].first;
      if (!v.is_string() || (v != "l2" && v != "l1" && v != "squared"))
        ck.fail(path("penalty_kind"), "expected \"l2\", \"l1\" or \"squared\", got " + v.dump());
      else kind = v.get<std::string>();
    }
    sp.penalty_kind = kind == "l1" ? PenaltyKind::kL1 : kind == "squared" ? PenaltyKind::kSquared : PenaltyKind::kL2;
    std::optional<double> target_prob;
    if (has("target_prob")) target_prob = ck.number(s["target_prob"].first, path("target_prob"), 0.0, 1.0 - 1e-9, true);
    int count = 8;
    if (has("count")) if (auto v = ck.integer(s["count"].first, path("count"), 1, L.max_count, " (latents per job)")) count = static_cast<int>(*v);
    if (has("scale")) if (auto v = ck.integer(s["scale"].first, path("scale"), 1, L.max_scale)) job.scale = static_cast<int>(*v);
    if (has("outputs")) {
      const json& o = s["outputs"].first;
      if (!o.is_object()) ck.fail(path("outputs"), "expected an object such as {\"grid\": true, \"pairs\": false, \"strip\": true}");
      else
        for (auto it = o.begin(); it != o.end(); ++it) {
          const std::string op = path("outputs") + "." + it.key();
          auto b = ck.boolean(*it, op);
          if (it.key() == "grid" && b) job.grid = *b;
          else if (it.key() == "pairs" && b) job.pairs = *b;
          else if (it.key() == "strip" && b) job.strip = *b;
          else if (it.key() == "report" && b) job.report = *b;
          else if (std::find(kOutputKeys.begin(), kOutputKeys.end(), it.key()) == kOutputKeys.end())
            ck.fail(op, "unknown output" + suggest(kOutputKeys, it.key()) + "; outputs are grid, pairs, strip, report");
        }
    }
    // targets and keep
    std::set<int> used;
    std::vector<std::string> add_names, remove_names, keep_names;
    for (const char* key : {"add", "remove"}) {
      if (!has(key)) continue;
      auto names = ck.strings(s[key].first, path(key));
      if (!names) continue;
      for (size_t i = 0; i < names->size(); ++i) {
        const std::string ip = path(key) + (s[key].first.is_array() ? "[" + std::to_string(i) + "]" : "");
        std::pair<std::string, std::optional<double>> t;
        try {
          t = parse_target((*names)[i]);
        } catch (const Error& e) {
          ck.fail(ip, e.what());
          continue;
        }
        auto a = ck.attribute(m, t.first, ip);
        if (!a) continue;
        if (!used.insert(*a).second) {
          ck.fail(ip, m.attributes[*a] + " is named twice; add or remove each attribute once");
          continue;
        }
        sp.targets.push_back({*a, std::string(key) == "add" ? Direction::kAdd : Direction::kRemove, t.second ? t.second : target_prob});
        (std::string(key) == "add" ? add_names : remove_names).push_back((*names)[i]);
      }
    }
    if (!has("add") && !has("remove")) ck.fail(jp, "nothing to edit; give \"add\" and/or \"remove\", e.g. \"add\": [\"Smiling\"]");
    if (has("keep"))
      if (auto names = ck.strings(s["keep"].first, path("keep")))
        for (size_t i = 0; i < names->size(); ++i) {
          const std::string ip = path("keep") + (s["keep"].first.is_array() ? "[" + std::to_string(i) + "]" : "");
          if (auto a = ck.attribute(m, (*names)[i], ip)) {
            if (used.count(*a)) ck.fail(ip, m.attributes[*a] + " is both edited and kept; drop it from keep");
            else sp.keep.push_back(*a), keep_names.push_back(m.attributes[*a]);
          }
        }
    // recorded steps: the grid's middle step (as `edit`), or the job's show_steps; all for strips
    if (has("show_steps")) {
      const json& v = s["show_steps"].first;
      if (!v.is_array()) ck.fail(path("show_steps"), "expected a list of step numbers, e.g. [5]");
      else
        for (size_t i = 0; i < v.size(); ++i)
          if (auto x = ck.integer(v[i], path("show_steps") + "[" + std::to_string(i) + "]", 0, sp.steps, " (0..steps)"))
            sp.record_steps.push_back(static_cast<int>(*x));
    } else if (sp.steps >= 4) {
      sp.record_steps = {sp.steps / 2};
    }
    if (job.strip)
      for (int k = 0; k <= sp.steps; ++k) sp.record_steps.push_back(k);
    std::sort(sp.record_steps.begin(), sp.record_steps.end());
    sp.record_steps.erase(std::unique(sp.record_steps.begin(), sp.record_steps.end()), sp.record_steps.end());
    // latents: exactly one of seeds, seed (+count), latents_file
    const int sources = jj.contains("seeds") + jj.contains("seed") + jj.contains("latents_file");
    if (sources != 1) {
      ck.fail(jp, sources == 0 ? "no latents; give \"seeds\": [1, 2], or \"seed\": 7 with \"count\": 8, or \"latents_file\": \"report.json\""
                               : "give only one of \"seeds\", \"seed\" and \"latents_file\"");
    } else if (jj.contains("seeds")) {
      const json& v = jj["seeds"];
      if (!v.is_array() || v.empty()) ck.fail(jp + ".seeds", "expected a non-empty list of seeds, e.g. [1, 2, 3]");
      else if (static_cast<int64_t>(v.size()) > L.max_count)
        ck.fail(jp + ".seeds", std::to_string(v.size()) + " seeds; the limit per job is " + std::to_string(L.max_count));
      else {
        std::vector<torch::Tensor> zs;
        json seeds = json::array();
        for (size_t i = 0; i < v.size(); ++i)
          if (auto x = ck.integer(v[i], jp + ".seeds[" + std::to_string(i) + "]", 0, INT64_MAX)) {
            zs.push_back(sample_latents(static_cast<uint64_t>(*x), 1, m.z_dim));
            seeds.push_back(*x);
          }
        if (zs.size() == v.size()) job.z = torch::cat(zs), job.latents = {{"seeds", seeds}};
      }
    } else if (jj.contains("seed")) {
      if (auto x = ck.integer(jj["seed"], jp + ".seed", 0, INT64_MAX)) {
        job.z = sample_latents(static_cast<uint64_t>(*x), count, m.z_dim);
        job.latents = {{"seed", *x}, {"count", count}};
      }
    } else {
      const json& v = jj["latents_file"];
      std::string from = "after";
      if (jj.contains("latents_from")) {
        if (jj["latents_from"] != "after" && jj["latents_from"] != "before")
          ck.fail(jp + ".latents_from", "expected \"after\" or \"before\" (which z of a report to start from)");
        else from = jj["latents_from"].get<std::string>();
      }
      if (!v.is_string()) ck.fail(jp + ".latents_file", "expected a file path (a string)");
      else {
        const fs::path f = fs::path(v.get<std::string>()).is_absolute() ? fs::path(v.get<std::string>()) : base / v.get<std::string>();
        if (!fs::is_regular_file(f)) ck.fail(jp + ".latents_file", "no such file " + f.string() + " (paths are relative to the job file)");
        else if (auto z = read_latents(f.string(), from, m.z_dim, L.max_count, jp + ".latents_file", ck)) {
          job.z = *z;
          job.latents = {{"latents_file", v}, {"latents_from", from}, {"count", z->size(0)}};
        }
      }
    }
    if (job.z.defined()) {
      total_latents += job.z.size(0);
      const int64_t n = job.z.size(0), face = m.image_size * job.scale;
      if (job.grid && n * (face + 8) > L.max_image_side)
        ck.fail(jp + ".scale", "the grid would be about " + std::to_string(n * (face + 8)) + " px tall (limit " +
                                   std::to_string(L.max_image_side) + "); lower scale or count, or set outputs.grid false");
      if (job.strip && static_cast<int64_t>(sp.steps + 1) * (face + 8) > L.max_image_side)
        ck.fail(jp + ".outputs.strip", "a strip of " + std::to_string(sp.steps + 1) + " steps would be wider than " +
                                           std::to_string(L.max_image_side) + " px; lower steps or scale");
    }
    if (errors.size() == errors_before) {
      try {
        validate(sp, m);
      } catch (const Error& e) {
        ck.fail(jp, e.what());
      }
    }
    if (errors.size() != errors_before) continue;
    job.settings = {{"add", add_names}, {"remove", remove_names}, {"keep", keep_names}, {"steps", sp.steps},
                    {"step_size", sp.step_size}, {"penalty", sp.penalty}, {"penalty_kind", kind}, {"prior", sp.prior},
                    {"target_prob", target_prob ? json(*target_prob) : json(nullptr)}, {"batch_mean", sp.batch_mean},
                    {"recorded_steps", sp.record_steps}, {"scale", job.scale},
                    {"outputs", {{"grid", job.grid}, {"pairs", job.pairs}, {"strip", job.strip}, {"report", job.report}}},
                    {"latents", job.latents}};
    json key = job.settings;
    for (const char* k : {"scale", "outputs", "latents"}) key.erase(k);
    // Targets are in resolved form (index, direction, stop) so "Smiling" and "smiling" group.
    json tk = json::array();
    for (const auto& t : sp.targets) tk.push_back({t.attribute, t.direction == Direction::kAdd, t.stop_prob ? *t.stop_prob : -1.0});
    key["targets"] = tk;
    key["keep"] = sp.keep;
    key.erase("add");
    key.erase("remove");
    // A batch-mean edit depends on its batch, so such a job is never batched with another.
    job.group_key = sp.batch_mean ? "batch_mean:" + job.id : key.dump();
    job.fingerprint = sha256_hex(json({{"model", m.name}, {"generator", m.generator.source}, {"classifier", m.classifier.source},
                                       {"auditor", m.auditor ? json(m.auditor->source) : json(nullptr)},
                                       {"settings", job.settings}, {"z", tensor_sha(job.z)}, {"id", job.id}})
                                     .dump());
    plan.jobs.push_back(std::move(job));
  }
  if (total_latents > L.max_latents)
    ck.fail("jobs", std::to_string(total_latents) + " latents in all; the limit is " + std::to_string(L.max_latents) +
                        " per file (split the file)");
  if (!errors.empty()) throw BatchInvalid(errors);

  // Batches: equal keys, in order of first appearance, at most max_batch latents each.
  std::vector<std::string> keys;
  std::map<std::string, std::vector<int>> open;  // key -> the batch being filled
  std::map<std::string, int64_t> open_n;
  std::vector<std::pair<std::string, std::vector<int>>> done;
  for (int i = 0; i < static_cast<int>(plan.jobs.size()); ++i) {
    const BatchJob& j = plan.jobs[i];
    const int64_t n = j.z.size(0);
    auto it = open.find(j.group_key);
    if (it != open.end() && open_n[j.group_key] + n > max_batch) {
      done.emplace_back(j.group_key, it->second);
      open.erase(it);
    }
    if (!open.count(j.group_key)) {
      keys.push_back(j.group_key);
      open[j.group_key] = {};
      open_n[j.group_key] = 0;
    }
    open[j.group_key].push_back(i);
    open_n[j.group_key] += n;
  }
  for (auto& [k, v] : open) done.emplace_back(k, v);
  // Order batches by their first job so the plan reads like the file.
  std::sort(done.begin(), done.end(), [](const auto& a, const auto& b) { return a.second[0] < b.second[0]; });
  for (auto& d : done) plan.batches.push_back(d.second);
  for (const auto& j : plan.jobs) plan.latent_steps += j.z.size(0) * j.spec.steps;
  return plan;
}

json describe_plan(const BatchPlan& plan, int shard, int shards) {
  json jobs = json::array();
  int64_t latents = 0, steps = 0, images = 0;
  int njobs = 0, nbatches = 0;
  for (size_t b = 0; b < plan.batches.size(); ++b) {
    if (static_cast<int>(b % shards) != shard) continue;
    ++nbatches;
    for (int i : plan.batches[b]) {
      const BatchJob& j = plan.jobs[i];
      const int64_t n = j.z.size(0);
      const int64_t imgs = (j.grid ? 1 : 0) + (j.pairs ? 2 * n : 0) + (j.strip ? n : 0);
      jobs.push_back({{"id", j.id}, {"batch", b}, {"latents", n}, {"steps", j.spec.steps}, {"add", j.settings["add"]},
                      {"remove", j.settings["remove"]}, {"latent_steps", n * j.spec.steps}, {"images", imgs}});
      latents += n;
      steps += n * j.spec.steps;
      images += imgs;
      ++njobs;
    }
  }
  return {{"job_file", plan.job_file}, {"shard", std::to_string(shard) + "/" + std::to_string(shards)},
          {"jobs_total", plan.jobs.size()}, {"jobs", njobs}, {"batches", nbatches}, {"latents", latents},
          {"latent_steps", steps}, {"images", images}, {"plan", jobs}};
}

BatchRun run_batch(const Models& m, const BatchPlan& plan, const std::string& out, const BatchRunOptions& o,
                   const BatchCallback& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  make_dirs(out);
  make_dirs((fs::path(out) / kJournal).string());
  // plan.json: the full job list, identical for every shard, so `merge` can check completeness.
  json pj = {{"format", "latentedit-batch-plan"}, {"version", 1}, {"job_file", plan.job_file},
             {"job_file_sha256", plan.job_file_sha256}, {"model", m.name}, {"jobs", json::array()}};
  for (const auto& j : plan.jobs) pj["jobs"].push_back({{"id", j.id}, {"fingerprint", j.fingerprint}, {"settings", j.settings}});
  const std::string plan_text = pj.dump(1) + "\n";
  const fs::path plan_path = fs::path(out) / kPlan;
  std::string existing;
  if (fs::exists(plan_path)) try { existing = read_file(plan_path.string()); } catch (const std::exception&) {}
  if (existing != plan_text) write_file_atomic(plan_path.string(), plan_text);

  BatchRun run;
  BatchProgress bp;
  std::vector<int> mine;
  for (size_t b = 0; b < plan.batches.size(); ++b)
    if (static_cast<int>(b % o.shards) == o.shard) mine.push_back(static_cast<int>(b));
  std::map<int, JobOutcome> outcomes;
  std::vector<std::vector<int>> todo(plan.batches.size());
  for (int b : mine)
    for (int i : plan.batches[b]) {
      const BatchJob& j = plan.jobs[i];
      ++bp.jobs_total;
      if (!o.force && finished_entry(out, j.id, j.fingerprint)) {
        outcomes[i] = {j.id, JobOutcome::kReused, ""};
        ++bp.jobs_done;
      } else if (!torch::isfinite(j.z).all().item<bool>()) {
        outcomes[i] = {j.id, JobOutcome::kFailed, "jobs[" + std::to_string(j.index) + "]: the latents contain NaN or infinite values; fix the latents file"};
        ++bp.jobs_done;
      } else {
        todo[b].push_back(i);
        bp.latent_steps_total += j.z.size(0) * j.spec.steps;
      }
    }
  if (progress) progress(bp);

  for (int b : mine) {
    if (todo[b].empty()) continue;
    const std::vector<int>& idx = todo[b];
    const BatchJob& first = plan.jobs[idx[0]];
    std::vector<torch::Tensor> zs;
    for (int i : idx) zs.push_back(plan.jobs[i].z);
    const torch::Tensor z = torch::cat(zs);
    const int64_t done_before = bp.latent_steps_done;
    bp.job = first.id;
    EditResult r;
    Audit a;
    try {
      r = edit(m, z, first.spec, [&](const EditProgress& p) {
        bp.latent_steps_done = done_before + p.step * z.size(0) * first.spec.steps / std::max(1, p.steps);
        if (progress) progress(bp);
      });
      a = audit_edit(m, first.spec, r);
    } catch (const std::exception& e) {
      std::string what = e.what();
      what = what.substr(0, what.find('\n'));
      for (int i : idx) outcomes[i] = {plan.jobs[i].id, JobOutcome::kFailed, "the edit failed: " + what};
      bp.jobs_done += static_cast<int>(idx.size());
      bp.latent_steps_done = done_before + z.size(0) * first.spec.steps;
      if (progress) progress(bp);
      continue;
    }
    bp.latent_steps_done = done_before + z.size(0) * first.spec.steps;
    run.latent_steps += z.size(0) * first.spec.steps;
    int64_t at = 0;
    for (int i : idx) {
      const BatchJob& j = plan.jobs[i];
      const int64_t n = j.z.size(0);
      const EditResult rj = slice(r, at, at + n);
      const Audit aj = slice(a, at, at + n);
      at += n;
      ++bp.jobs_done;
      if (!torch::isfinite(rj.logits).all().item<bool>() || !torch::isfinite(rj.z_after).all().item<bool>()) {
        outcomes[i] = {j.id, JobOutcome::kFailed, "the edit diverged (non-finite scores); lower step_size or check the latents"};
        continue;
      }
      const auto tw = std::chrono::steady_clock::now();
      EditImages what;
      what.grid = j.grid;
      what.pairs = j.pairs;
      what.strips = j.strip;
      what.scale = j.scale;
      what.subtitle = "job " + j.id + "  steps " + std::to_string(j.spec.steps) + "  penalty " + json(j.spec.penalty).dump();
      auto files = encode_edit_images(m, j.spec, rj, aj, what);
      if (j.report) {
        json rep = {{"tool", "latentedit"}, {"version", LATENTEDIT_VERSION}, {"command", "batch"}, {"job", j.id},
                    {"job_file", plan.job_file}};
        rep.update(edit_report(m, j.spec, rj, aj, j.settings));
        rep.erase("timings");  // timings live in the journal and summary: reports are reproducible bytes
        json names = json::array();
        for (const auto& f : files) names.push_back(f.first);
        names.push_back("report.json");
        rep["files"] = names;
        files.emplace_back("report.json", rep.dump(1) + "\n");
      }
      // Unfinished job: forget any old journal entry and files, then write, then journal.
      std::error_code ec;
      fs::remove(journal_path(out, j.id), ec);
      remove_temp_files(fs::path(out) / kJournal, j.id + ".json");
      fs::remove_all(job_dir(out, j.id), ec);
      make_dirs(job_dir(out, j.id).string());
      json hashes = json::object();
      for (const auto& [name, bytes] : files) {
        write_file_atomic((job_dir(out, j.id) / name).string(), bytes);
        hashes[name] = sha256_hex(bytes);
      }
      const double write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - tw).count();
      const double share = r.seconds * static_cast<double>(n) / static_cast<double>(z.size(0));
      write_file_atomic(journal_path(out, j.id).string(), job_entry(m, j, rj, aj, hashes, share, write_s).dump(1) + "\n");
      outcomes[i] = {j.id, JobOutcome::kDone, ""};
    }
    if (progress) progress(bp);
  }
  // Failed jobs are journaled too (so a merge tells "failed" from "never ran"); a rerun redoes them.
  for (auto& [i, oc] : outcomes) {
    if (oc.status == JobOutcome::kFailed)
      write_file_atomic(journal_path(out, oc.id).string(),
                        json({{"id", oc.id}, {"status", "failed"}, {"fingerprint", plan.jobs[i].fingerprint}, {"error", oc.error}})
                                .dump(1) + "\n");
    run.outcomes.push_back(oc);
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

json batch_summary(const std::string& out, const BatchRun* run) {
  const fs::path plan_path = fs::path(out) / kPlan;
  if (!fs::exists(plan_path))
    throw InputError(out + " is not a batch output directory (no plan.json); run `latentedit batch JOBS.json --out " + out + "` first");
  json plan;
  try {
    plan = json::parse(read_file(plan_path.string()));
  } catch (const json::exception& e) {
    throw InputError(plan_path.string() + " is corrupt (" + std::string(e.what()) + "); rerun the batch");
  }
  json jobs = json::array();
  int ok = 0, failed = 0, missing = 0;
  std::map<std::string, JobOutcome::Status> this_run;
  if (run)
    for (const auto& oc : run->outcomes) this_run[oc.id] = oc.status;
  for (const auto& pj : plan.at("jobs")) {
    const std::string id = pj.at("id");
    json e;
    if (auto fin = finished_entry(out, id, pj.at("fingerprint"))) {
      e = *fin;
      ++ok;
    } else {
      json failed_entry;
      try {
        failed_entry = json::parse(read_file(journal_path(out, id).string()));
      } catch (const std::exception&) {
      }
      if (failed_entry.is_object() && failed_entry.value("status", "") == "failed" &&
          failed_entry.value("fingerprint", "") == pj.at("fingerprint")) {
        e = failed_entry;
        e["settings"] = pj["settings"];
        ++failed;
      } else {
        e = {{"id", id}, {"status", "missing"}, {"settings", pj["settings"]}};
        ++missing;
      }
    }
    if (auto it = this_run.find(id); it != this_run.end())
      e["this_run"] = it->second == JobOutcome::kReused ? "reused" : it->second == JobOutcome::kDone ? "done" : "failed";
    jobs.push_back(e);
  }
  json s = {{"tool", "latentedit"}, {"version", LATENTEDIT_VERSION}, {"command", "batch"},
            {"job_file", plan.value("job_file", "")}, {"job_file_sha256", plan.value("job_file_sha256", "")},
            {"model", plan.value("model", "")}, {"jobs_total", jobs.size()}, {"ok", ok}, {"failed", failed},
            {"missing", missing}, {"complete", missing == 0}, {"jobs", jobs}};
  if (run)
    s["run"] = {{"seconds", run->seconds}, {"latent_steps", run->latent_steps},
                {"latent_steps_per_s", run->seconds > 0 ? run->latent_steps / run->seconds : 0.0}};
  return s;
}

void write_summary(const std::string& out, const json& summary) {
  remove_temp_files(out, "summary.json");
  write_file_atomic((fs::path(out) / "summary.json").string(), summary.dump(1) + "\n");
}

}  // namespace latentedit
