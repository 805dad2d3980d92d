// Batch job files: reading, validation (every error at once, with its JSON path) and the
// latent sources (seeds, seed + count, latents_file).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>

#include "batch_internal.h"
#include "edit/spec_fields.h"
#include "io/fields.h"
#include "io/fsutil.h"
#include "io/json_read.h"
#include "latentedit/discover.h"
#include "latentedit/attributes.h"
#include "latentedit/image.h"
#include "batch/request.h"

namespace latentedit {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::vector<std::string> kSourceKeys = {"id", "seeds", "seed", "count", "latents", "latents_file", "latents_from", "images"};
// A server request's keys besides the settings: its latents (never a file).
const std::vector<std::string> kRequestKeys = {"seeds", "seed", "count", "latents"};
const std::vector<std::string> kTopKeys = {"$schema", "description", "model", "defaults", "jobs"};

std::string quote(const std::string& s) { return json(s).dump(); }


bool contains(const std::vector<std::string>& v, const std::string& k) { return std::find(v.begin(), v.end(), k) != v.end(); }

std::string join_lines(const std::vector<std::string>& e) {
  std::string s = "the job file has " + std::to_string(e.size()) + " error" + (e.size() == 1 ? "" : "s") + "; nothing was run:";
  for (const auto& l : e) s += "\n  " + l;
  return s;
}

std::optional<int64_t> integer(const json& v, const std::string& path, int64_t lo, int64_t hi, std::vector<std::string>& errors) {
  if (!v.is_number_integer()) {
    errors.push_back(path + ": expected an integer, got " + std::string(v.type_name()) + " " + v.dump());
    return std::nullopt;
  }
  const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
  if (x < lo || x > hi) {
    errors.push_back(path + ": " + std::to_string(x) + " is out of range; use " + std::to_string(lo) + ".." + std::to_string(hi));
    return std::nullopt;
  }
  return x;
}

// A seed: any integer 0..2^64-1, as `edit --seed` takes it (never clamped).
std::optional<uint64_t> seed_value(const json& v, const std::string& path, std::vector<std::string>& errors) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  errors.push_back(path + ": expected a seed, an integer 0..18446744073709551615, got " + std::string(v.type_name()) + " " + v.dump().substr(0, 40));
  return std::nullopt;
}

// `prefix.key`, or `key` alone for a request (whose fields have no prefix).
std::string at(const std::string& prefix, const std::string& key) { return prefix.empty() ? key : prefix + "." + key; }

constexpr double kMaxLatentValue = 1000;

// Rows of z_dim numbers -> (N, z_dim). The strings "NaN", "Infinity", "-Infinity" (how reports
// write non-finite values) are recognised to be refused by name, as is any value beyond +-1000. `what` names the rows in messages.
std::optional<torch::Tensor> latents_from_rows(const json& rows, const std::string& what, int64_t z_dim, int max_count,
                                               const std::string& path, std::vector<std::string>& errors) {
  auto fail = [&](const std::string& m) {
    errors.push_back(path + ": " + m);
    return std::nullopt;
  };
  if (!rows.is_array() || rows.empty())
    return fail(what + " holds no latents; expected a report.json, {\"z\": [[...]]} or [[...], ...]");
  if (static_cast<int64_t>(rows.size()) > max_count)
    return fail(what + " holds " + std::to_string(rows.size()) + " latents; the limit per job is " + std::to_string(max_count) +
                " (split it into several jobs)");
  torch::Tensor z = torch::empty({static_cast<int64_t>(rows.size()), z_dim});
  auto acc = z.accessor<float, 2>();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].is_array() || static_cast<int64_t>(rows[i].size()) != z_dim)
      return fail("latent " + std::to_string(i) + " in " + what + " must be a list of " + std::to_string(z_dim) +
                  " numbers (the model's z_dim)");
    for (int64_t k = 0; k < z_dim; ++k) {
      const json& v = rows[i][k];
      double x;
      if (v.is_number()) x = v.get<double>();
      else if (v == "NaN") x = std::nan("");
      else if (v == "Infinity") x = INFINITY;
      else if (v == "-Infinity") x = -INFINITY;
      else return fail("latent " + std::to_string(i) + " in " + what + " has a non-number " + v.dump());
      // z is drawn from N(0, 1): a value beyond +-1000 (or not finite, as a diverged edit's result)
      // gives the generator nothing it was trained on and the edit no meaning.
      if (!(std::fabs(x) <= kMaxLatentValue))
        return fail("latent " + std::to_string(i) + " in " + what + " holds " + dump_text(v) +
                    " at position " + std::to_string(k) + "; latents are N(0, 1) draws: give finite values within +-1000");
      acc[static_cast<int64_t>(i)][k] = static_cast<float>(x);
    }
  }
  return z;
}

// Reads latents from an edit/batch report.json, {"z": [[...]]}, or a bare [[...]] list.
std::optional<torch::Tensor> read_latents(const std::string& file, const std::string& from, int64_t z_dim, int max_count,
                                          const std::string& path, std::vector<std::string>& errors) {
  json j;
  try {
    j = parse_json(read_file(file, false, kMaxJsonFileBytes), "latents file " + file, ErrorKind::kInput);
  } catch (const Error& e) {
    errors.push_back(path + ": " + e.what());
    return std::nullopt;
  }
  json rows;
  if (j.is_object() && j.contains("latents") && j["latents"].is_array()) {
    rows = json::array();
    const char* key = from == "before" ? "z_before" : "z_after";
    for (const auto& l : j["latents"]) {
      if (!l.is_object() || !l.contains(key)) {
        errors.push_back(path + ": latents file " + file + " has a latent without \"" + key + "\"; use a report.json written by latentedit");
        return std::nullopt;
      }
      rows.push_back(l[key]);
    }
  } else if (j.is_object() && j.contains("z")) {
    rows = j["z"];
  } else {
    rows = j;
  }
  return latents_from_rows(rows, "latents file " + file, z_dim, max_count, path, errors);
}

// The job's latents: exactly one of seeds, seed (+ count), latents (inline), latents_file.
// `base` is the directory latents_file paths are relative to; null: no file may be read (a
// server request), and latents_file is refused.
void read_source(const json& jj, const std::string& jp, const json* count_v, const std::string& count_path, const fs::path* base,
                 const Models& m, const BatchLimits& L, BatchJob& job, std::vector<std::string>& errors) {
  int count = 8;
  if (count_v) {
    if (auto v = integer(*count_v, count_path, 1, L.max_count, errors)) count = static_cast<int>(*v);
    else return;
  }
  const std::string where = jp.empty() ? "request" : jp;
  const int sources = jj.contains("seeds") + jj.contains("seed") + jj.contains("latents_file") + jj.contains("latents") + jj.contains("images");
  if (sources != 1) {
    errors.push_back(where + (sources == 0 ? ": no latents; give \"seeds\": [1, 2], or \"seed\": 7 with \"count\": 8, or \"latents\": [[...]]" +
                                                 std::string(base ? ", or \"latents_file\": \"report.json\"" : "")
                                           : ": give only one of \"seeds\", \"seed\", \"latents\", \"latents_file\" and \"images\""));
  } else if (jj.contains("seeds")) {
    const json& v = jj["seeds"];
    if (!v.is_array() || v.empty()) errors.push_back(at(jp, "seeds") + ": expected a non-empty list of seeds, e.g. [1, 2, 3]");
    else if (static_cast<int64_t>(v.size()) > L.max_count)
      errors.push_back(at(jp, "seeds") + ": " + std::to_string(v.size()) + " seeds; the limit per job is " + std::to_string(L.max_count));
    else {
      std::vector<torch::Tensor> zs;
      json seeds = json::array();
      for (size_t i = 0; i < v.size(); ++i)
        if (auto x = seed_value(v[i], at(jp, "seeds") + "[" + std::to_string(i) + "]", errors)) {
          zs.push_back(sample_latents(*x, 1, m.z_dim));
          seeds.push_back(*x);
        }
      if (zs.size() == v.size()) job.z = torch::cat(zs), job.source = {{"seeds", seeds}};
    }
  } else if (jj.contains("seed")) {
    if (auto x = seed_value(jj["seed"], at(jp, "seed"), errors)) {
      job.z = sample_latents(*x, count, m.z_dim);
      job.source = {{"seed", *x}, {"count", count}};
    }
  } else if (jj.contains("latents")) {
    if (auto z = latents_from_rows(jj["latents"], "latents", m.z_dim, L.max_count, at(jp, "latents"), errors)) {
      job.z = *z;
      job.source = {{"latents", "inline"}, {"count", z->size(0)}};
    }
  } else if (!base) {
    errors.push_back(at(jp, jj.contains("images") ? "images" : "latents_file") +
                     ": the server reads no files; send the latents inline as \"latents\": [[...]]");
  } else if (jj.contains("images")) {
    // Photos, inverted by the runner (once: cached by content in OUT/.inversions).
    const json& v = jj["images"];
    if (!v.is_array() || v.empty()) return errors.push_back(at(jp, "images") + ": expected a non-empty list of image files");
    if (static_cast<int64_t>(v.size()) > L.max_count)
      return errors.push_back(at(jp, "images") + ": " + std::to_string(v.size()) + " images; the limit per job is " + std::to_string(L.max_count));
    std::vector<torch::Tensor> xs;
    json files = json::array(), hashes = json::array();
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string path = at(jp, "images") + "[" + std::to_string(i) + "]";
      if (!v[i].is_string()) return errors.push_back(path + ": expected an image file path (a string)");
      const fs::path f = fs::path(v[i].get<std::string>()).is_absolute() ? fs::path(v[i].get<std::string>()) : *base / v[i].get<std::string>();
      try {
        const std::string bytes = read_file(f.string());
        xs.push_back(bgr_to_tensor(resize_center_crop(decode_image(bytes, f.string()), static_cast<int>(m.image_size)), m.range_lo, m.range_hi));
        hashes.push_back(sha256_hex(bytes));
        files.push_back(v[i]);
      } catch (const Error& e) {
        errors.push_back(path + ": " + e.what() + " (paths are relative to the job file)");
      }
    }
    if (xs.size() == v.size()) {
      job.photos = torch::stack(xs);
      job.z = torch::zeros({job.photos.size(0), m.z_dim});
      job.source = {{"images", files}, {"sha256", hashes}, {"count", job.photos.size(0)}};
    }
  } else {
    const json& v = jj["latents_file"];
    std::string from = "after";
    if (jj.contains("latents_from")) {
      if (jj["latents_from"] != "after" && jj["latents_from"] != "before")
        errors.push_back(at(jp, "latents_from") + ": expected \"after\" or \"before\" (which z of a report to start from)");
      else from = jj["latents_from"].get<std::string>();
    }
    if (!v.is_string()) {
      errors.push_back(at(jp, "latents_file") + ": expected a file path (a string)");
      return;
    }
    const fs::path f = fs::path(v.get<std::string>()).is_absolute() ? fs::path(v.get<std::string>()) : *base / v.get<std::string>();
    if (!fs::is_regular_file(f)) errors.push_back(at(jp, "latents_file") + ": no such file " + f.string() + " (paths are relative to the job file)");
    else if (auto z = read_latents(f.string(), from, m.z_dim, L.max_count, at(jp, "latents_file"), errors)) {
      job.z = *z;
      job.source = {{"latents_file", v}, {"latents_from", from}, {"count", z->size(0)}};
    }
  }
}

// One job's settings (defaults < job) and latents, validated. `jp` is the job's JSON path ("" for
// a request); keys outside EditSettings' fields and `source_keys` are errors. Returns the job
// when it added no error.
std::optional<BatchJob> read_job(const json& jj, const std::string& jp, const json& defaults, const fs::path* base,
                                 const Models& m, const BatchLimits& L, const std::vector<std::string>& source_keys,
                                 std::vector<std::string>& errors) {
  const size_t errors_before = errors.size();
  const auto& fields = EditSettings::fields();
  std::vector<std::string> all_keys = fields;
  all_keys.insert(all_keys.end(), source_keys.begin(), source_keys.end());
  BatchJob job;
  // settings: defaults < job; each field's path says where its value came from
  json settings = json::object();
  std::map<std::string, std::string> origin;
  for (auto it = defaults.begin(); it != defaults.end(); ++it)
    if (contains(fields, it.key())) settings[it.key()] = *it, origin[it.key()] = "defaults." + it.key();
  for (auto it = jj.begin(); it != jj.end(); ++it) {
    if (contains(fields, it.key())) settings[it.key()] = *it, origin[it.key()] = at(jp, it.key());
    else if (!contains(source_keys, it.key())) errors.push_back(at(jp, it.key()) + ": unknown key" + did_you_mean(all_keys, it.key()));
  }
  SettingsErrors se;
  se.path_of = [&](const std::string& f) {
    if (f.empty()) return jp;
    const std::string top = f.substr(0, f.find_first_of(".["));
    const auto it = origin.find(top);
    return (it == origin.end() ? at(jp, top) : it->second) + f.substr(top.size());
  };
  SettingsLimits sl;
  sl.max_steps = L.max_steps;
  sl.max_step_size = L.max_step_size;
  sl.max_scale = L.max_scale;
  job.settings = EditSettings::from_json(settings, m.attributes, se, sl);
  errors.insert(errors.end(), se.errors.begin(), se.errors.end());
  const json* count_v = jj.contains("count") ? &jj["count"] : defaults.contains("count") ? &defaults["count"] : nullptr;
  read_source(jj, jp, count_v, jj.contains("count") ? at(jp, "count") : "defaults.count", base, m, L, job, errors);
  const OutputOptions& oo = job.settings.outputs;
  if (job.z.defined()) {
    const int64_t n = job.z.size(0), face = m.image_size * oo.scale;
    if (oo.grid && n * (face + 8) > L.max_image_side)
      errors.push_back(se.path_of("scale") + ": the grid would be about " + std::to_string(n * (face + 8)) + " px tall (limit " +
                       std::to_string(L.max_image_side) + "); lower scale or count, or set outputs.grid false");
    if (oo.strips && static_cast<int64_t>(job.settings.spec.steps + 1) * (face + 8) > L.max_image_side)
      errors.push_back(se.path_of("outputs") + ".strip: a strip of " + std::to_string(job.settings.spec.steps + 1) +
                       " steps would be wider than " + std::to_string(L.max_image_side) + " px; lower steps or scale");
  }
  if (errors.size() == errors_before) {
    try {
      validate(job.settings.spec, static_cast<int>(m.attributes.size()), sl);
      resolve_moves(m, job.settings.spec);  // directions named that the bundle has (none: nothing to check)
    } catch (const Error& e) {
      errors.push_back((jp.empty() ? "" : jp + ": ") + e.what());
    }
  }
  if (errors.size() != errors_before) return std::nullopt;
  return job;
}

}  // namespace

BatchInvalid::BatchInvalid(std::vector<std::string> errors) : InputError(join_lines(errors)), errors_(std::move(errors)) {}

json read_job_file(const std::string& path) { return parse_json(read_file(path, false, kMaxJsonFileBytes), path, ErrorKind::kInput); }

std::optional<std::string> job_file_model(const json& file, const std::string& job_file_path) {
  if (!file.is_object() || !file.contains("model") || !file["model"].is_string()) return std::nullopt;
  const fs::path p = file["model"].get<std::string>();
  return (p.is_absolute() ? p : fs::path(job_file_path).parent_path() / p).lexically_normal().string();
}

namespace batch {

bool safe_id(const std::string& id) {
  static const std::regex re("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");
  return std::regex_match(id, re) && id.find("..") == std::string::npos;
}

std::vector<BatchJob> read_jobs(const json& file, const std::string& job_file_path, const Models& m, const BatchLimits& L) {
  std::vector<std::string> errors;
  if (!file.is_object()) throw BatchInvalid({"$: the job file must be a JSON object with \"jobs\": [...]"});
  for (auto it = file.begin(); it != file.end(); ++it)
    if (!contains(kTopKeys, it.key())) errors.push_back(it.key() + ": unknown key" + did_you_mean(kTopKeys, it.key()) + "; allowed: model, defaults, jobs");
  if (file.contains("model") && !file["model"].is_string()) errors.push_back("model: expected a bundle directory path (a string)");
  const auto& fields = EditSettings::fields();
  json defaults = json::object();
  if (file.contains("defaults")) {
    if (!file["defaults"].is_object()) errors.push_back("defaults: expected an object of edit settings, e.g. {\"steps\": 10}");
    else defaults = file["defaults"];
    for (auto it = defaults.begin(); it != defaults.end(); ++it)
      if (!contains(fields, it.key()) && it.key() != "count")
        errors.push_back("defaults." + it.key() + ": unknown setting" + did_you_mean(fields, it.key()));
  }
  if (!file.contains("jobs") || !file["jobs"].is_array() || file["jobs"].empty()) {
    errors.push_back("jobs: expected a non-empty list of jobs, e.g. [{\"id\": \"smile\", \"seed\": 1, \"add\": [\"Smiling\"]}]");
    throw BatchInvalid(errors);
  }
  const json& jobs = file["jobs"];
  if (static_cast<int64_t>(jobs.size()) > L.max_jobs)
    errors.push_back("jobs: " + std::to_string(jobs.size()) + " jobs; the limit is " + std::to_string(L.max_jobs) + " per file (split the file)");
  std::map<std::string, std::string> seen_ids;  // lower-case id -> path of its first use
  int64_t total_latents = 0;
  const fs::path base = fs::path(job_file_path).parent_path();
  std::vector<BatchJob> out;

  for (size_t ji = 0; ji < jobs.size() && static_cast<int64_t>(ji) < L.max_jobs; ++ji) {
    const std::string jp = "jobs[" + std::to_string(ji) + "]";
    const size_t errors_before = errors.size();
    const json& jj = jobs[ji];
    if (!jj.is_object()) {
      errors.push_back(jp + ": expected an object with \"id\", latents and an edit, got " + jj.dump());
      continue;
    }
    std::string id;
    if (!jj.contains("id") || !jj["id"].is_string()) {
      errors.push_back(jp + ".id: missing or not a string; give each job a unique id such as \"smile-01\"");
    } else {
      id = jj["id"].get<std::string>();
      if (!batch::safe_id(id))
        errors.push_back(jp + ".id: " + quote(id) + " is not a safe directory name; use letters, digits, '.', '_' or '-' "
                                                      "(no '/', no '..', not starting with '.' or '-', at most 100 characters)");
      else if (ascii_lower(id) == ascii_lower(batch::kPlanFile) || ascii_lower(id) == ascii_lower(batch::kSummaryFile))
        errors.push_back(jp + ".id: " + quote(id) + " is reserved (OUT/" + id + " is the batch's own file); choose another id");
      else if (auto [it, fresh] = seen_ids.emplace(ascii_lower(id), jp + ".id"); !fresh)
        errors.push_back(jp + ".id: duplicate id " + quote(id) + " (first used at " + it->second + "); ids must be unique, ignoring case");
    }
    std::optional<BatchJob> job = read_job(jj, jp, defaults, &base, m, L, kSourceKeys, errors);
    if (job) total_latents += job->z.size(0);
    if (job && errors.size() == errors_before) {
      job->id = id;
      job->index = static_cast<int>(ji);
      out.push_back(std::move(*job));
    }
  }
  if (total_latents > L.max_latents)
    errors.push_back("jobs: " + std::to_string(total_latents) + " latents in all; the limit is " + std::to_string(L.max_latents) +
                     " per file (split the file)");
  if (!errors.empty()) throw BatchInvalid(errors);
  return out;
}

}  // namespace batch

namespace {
void request_object(const json& request) {
  if (!request.is_object())
    throw BatchInvalid({"request: expected a JSON object, e.g. {\"seed\": 7, \"count\": 1, \"add\": [\"Smiling\"]}"});
  if (request.contains("latents_file"))
    throw BatchInvalid({"latents_file: the server reads no files; send the latents inline as \"latents\": [[...]]"});
}
}  // namespace

torch::Tensor read_latents_file(const std::string& file, const std::string& from, int64_t z_dim, int max_count) {
  std::vector<std::string> errors;
  auto z = read_latents(file, from, z_dim, max_count, file, errors);
  if (!z) throw InputError(errors.empty() ? "cannot read latents from " + file : errors[0]);
  return *z;
}

BatchJob read_edit_request(const json& request, const Models& m, const BatchLimits& limits) {
  request_object(request);
  std::vector<std::string> errors;
  std::optional<BatchJob> job = read_job(request, "", json::object(), nullptr, m, limits, kRequestKeys, errors);
  if (!job) throw BatchInvalid(errors);
  return std::move(*job);
}

std::string first_error(const BatchInvalid& e) {
  const auto& errs = e.errors();
  if (errs.empty()) return e.what();
  return errs[0] + (errs.size() > 1 ? " (and " + std::to_string(errs.size() - 1) + " more)" : "");
}

BatchJob read_request_latents(const json& request, const Models& m, const BatchLimits& limits) {
  request_object(request);
  std::vector<std::string> errors;
  for (auto it = request.begin(); it != request.end(); ++it)
    if (!contains(kRequestKeys, it.key())) errors.push_back(it.key() + ": unknown key" + did_you_mean(kRequestKeys, it.key()));
  BatchJob job;
  read_source(request, "", request.contains("count") ? &request["count"] : nullptr, "count", nullptr, m, limits, job, errors);
  if (!errors.empty()) throw BatchInvalid(errors);
  return job;
}


// The job file's JSON schema: the file's and a job's own keys (below), the settings from their
// one table (spec_fields.h) with the batch limits.
json batch_schema(const BatchLimits& L) {
  static const char* kTemplate = R"SCHEMA({
 "$schema": "https://json-schema.org/draft/2020-12/schema",
 "$id": "https://github.com/latentedit/latentedit/docs/batch.schema.json",
 "title": "latentedit batch job file",
 "description": "Run with latentedit's batch command. Settings cascade: defaults < job. latentedit validates everything before any work starts and reports each error with its JSON path.",
 "type": "object",
 "required": [
  "jobs"
 ],
 "additionalProperties": false,
 "properties": {
  "$schema": {
   "type": "string"
  },
  "description": {
   "type": "string"
  },
  "model": {
   "type": "string",
   "description": "Model bundle directory, relative to this file. A model named on the command line overrides it."
  },
  "defaults": {
   "$ref": "#/$defs/settings",
   "unevaluatedProperties": false
  },
  "jobs": {
   "type": "array",
   "minItems": 1,
   "maxItems": 10000,
   "items": {
    "allOf": [
     {
      "$ref": "#/$defs/settings"
     }
    ],
    "type": "object",
    "required": [
     "id"
    ],
    "unevaluatedProperties": false,
    "properties": {
     "id": {
      "type": "string",
      "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
      "description": "Unique (ignoring case) safe directory name: outputs go to OUT/<id>/. No '..'."
     },
     "seeds": {
      "type": "array",
      "minItems": 1,
      "maxItems": 1024,
      "items": {
       "type": "integer",
       "minimum": 0
      },
      "description": "One latent per seed: torch.manual_seed(s); torch.randn(1, z_dim)."
     },
     "seed": {
      "type": "integer",
      "minimum": 0,
      "description": "With count: torch.manual_seed(seed); torch.randn(count, z_dim)."
     },
     "latents": {
      "type": "array",
      "minItems": 1,
      "maxItems": 1024,
      "items": {
       "type": "array",
       "items": {
        "type": [
         "number",
         "string"
        ]
       }
      },
      "description": "The latents inline: one list of z_dim finite numbers within +-1000 per latent."
     },
     "images": {
      "type": "array",
      "minItems": 1,
      "maxItems": 1024,
      "items": {
       "type": "string"
      },
      "description": "Photos (relative to this file), each inverted once (latentedit invert's defaults) and cached by content in OUT/.inversions; the job's grid starts with the photo."
     },
     "latents_file": {
      "type": "string",
      "description": "A report.json of an earlier edit or batch job, {\"z\": [[...]]}, or [[...], ...]; relative to this file. Values must be finite numbers within +-1000 (a diverged edit's \"NaN\" is refused)."
     },
     "latents_from": {
      "enum": [
       "after",
       "before"
      ],
      "default": "after",
      "description": "Which z of a report to start from."
     }
    },
    "oneOf": [
     {
      "required": [
       "seeds"
      ]
     },
     {
      "required": [
       "seed"
      ]
     },
     {
      "required": [
       "latents"
      ]
     },
     {
      "required": [
       "latents_file"
      ]
     },
     {
      "required": [
       "images"
      ]
     }
    ]
   }
  }
 },
 "$defs": {
  "target": {
   "type": "string",
   "pattern": "^[^:]+(:0?\\.[0-9]+)?$",
   "description": "A CelebA attribute name (case-insensitive, '_' optional, course spellings accepted), optionally :P to stop that latent at probability P (remove: 1-P)."
  },
  "settings": {
   "type": "object",
   "properties": {
    "count": {
     "type": "integer",
     "minimum": 1,
     "maximum": 1024,
     "default": 8,
     "description": "Latents drawn from `seed`."
    }
   }
  }
 }
})SCHEMA";
  json s = json::parse(kTemplate);
  SettingsLimits sl;
  sl.max_steps = L.max_steps;
  sl.max_step_size = L.max_step_size;
  sl.max_scale = L.max_scale;
  const FieldTable<EditSettings> table = edit_settings_fields(sl);
  json settings = schema_of(field_infos(table), write_fields(table, EditSettings{}))["properties"];
  settings.erase("show_steps");  // its default depends on steps
  settings["show_steps"] = schema_of(field_infos(table), json::object())["properties"]["show_steps"];
  for (const char* k : {"add", "remove"}) {
    const std::string d = settings[k]["description"];
    settings[k] = {{"oneOf", json::array({{{"$ref", "#/$defs/target"}}, {{"type", "array"}, {"items", {{"$ref", "#/$defs/target"}}}}})},
                   {"description", d}};
  }
  settings["outputs"] = {{"type", "object"}, {"additionalProperties", false}, {"description", settings["outputs"]["description"]},
                         {"properties", {{"grid", {{"type", "boolean"}, {"default", true}}},
                                         {"pairs", {{"type", "boolean"}, {"default", true}}},
                                         {"strip", {{"type", "boolean"}, {"default", false},
                                                    {"description", "strip_NNN.png: every step of one latent in a row."}}},
                                         {"report", {{"type", "boolean"}, {"default", true}}}}}};
  settings["count"] = s["$defs"]["settings"]["properties"]["count"];
  settings["count"]["maximum"] = L.max_count;
  s["$defs"]["settings"]["properties"] = settings;
  s["properties"]["jobs"]["maxItems"] = L.max_jobs;
  return s;
}

}  // namespace latentedit
