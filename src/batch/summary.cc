// Batch summary and merge: what finished (from plan.json and the journal), what failed, what
// is missing; OUT/summary.json.
#include <map>

#include "batch_internal.h"
#include "io/fsutil.h"

namespace latentedit {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace batch {

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

void remove_temp_files(const fs::path& dir, const std::string& prefix) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& ent : fs::directory_iterator(dir, ec)) {
    const std::string n = ent.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && n.find(".tmp.") != std::string::npos) fs::remove(ent.path(), ec);
  }
}

}  // namespace batch

json batch_summary(const std::string& out, const BatchRun* run) {
  const fs::path plan_path = fs::path(out) / batch::kPlanFile;
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
    if (auto fin = batch::finished_entry(out, id, pj.at("fingerprint"))) {
      e = *fin;
      ++ok;
    } else {
      json failed_entry;
      try {
        failed_entry = json::parse(read_file(batch::journal_path(out, id).string()));
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
  batch::remove_temp_files(out, "summary.json");
  write_file_atomic((fs::path(out) / "summary.json").string(), summary.dump(1) + "\n");
}

}  // namespace latentedit
