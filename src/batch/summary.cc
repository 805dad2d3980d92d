// Batch summary and merge: what finished (from plan.json and the journal), what failed, what
// is missing; OUT/summary.json.
#include <map>

#include "batch_internal.h"
#include "io/fsutil.h"
#include "io/json_read.h"

namespace latentedit {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace batch {

std::optional<json> finished_entry(const std::string& out, const std::string& id, const std::string& fingerprint) {
  const fs::path jp = journal_path(out, id);
  if (!fs::exists(jp)) return std::nullopt;
  json e;
  try {
    e = parse_json(read_file(jp.string()), jp.string(), ErrorKind::kInput);
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
    throw InputError(out + " is not a batch output directory (no plan.json)", Remedy::kRunBatch, out);
  const json plan = parse_json(read_file(plan_path.string()), plan_path.string(), ErrorKind::kInput);
  json jobs = json::array();
  int ok = 0, failed = 0, missing = 0;
  std::map<std::string, JobOutcome::Status> this_run;
  if (run)
    for (const auto& oc : run->outcomes) this_run[oc.id] = oc.status;
  const auto corrupt = [&] { return InputError(plan_path.string() + " is damaged (not the plan latentedit wrote); rerun the batch"); };
  if (!plan.is_object() || !plan.contains("jobs") || !plan["jobs"].is_array()) throw corrupt();
  for (const auto& pj : plan["jobs"]) {
    if (!pj.is_object() || !pj.contains("id") || !pj["id"].is_string() || !pj.contains("fingerprint") || !pj["fingerprint"].is_string())
      throw corrupt();
    const std::string id = pj.at("id");
    json e;
    if (auto fin = batch::finished_entry(out, id, pj.at("fingerprint"))) {
      e = *fin;
      ++ok;
    } else {
      json failed_entry;
      try {
        failed_entry = parse_json(read_file(batch::journal_path(out, id).string()), id, ErrorKind::kInput);
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
  batch::remove_temp_files(out, batch::kSummaryFile);
  write_file_atomic((fs::path(out) / batch::kSummaryFile).string(), summary.dump(1) + "\n");
}

}  // namespace latentedit
