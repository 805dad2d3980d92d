// Batch summary and merge: what finished (from plan.json and the journal), what failed, what
// is missing; OUT/summary.json.
#include <map>
#include <set>

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
  std::set<int> missing_batches;
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
        if (pj.contains("batch") && pj["batch"].is_number_integer()) missing_batches.insert(pj["batch"].get<int>());
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
  if (missing > 0) {
    // The shard count from the shard records (when every record agrees on one), and the shards
    // whose batches (b mod N) hold the missing jobs, with what each record says of its run.
    std::map<std::pair<int, int>, json> records;  // (index, count) -> the shard's record, each read once
    std::set<int> counts;
    std::error_code ec;
    const fs::path dir = fs::path(out) / batch::kShardDir;
    if (fs::is_directory(dir, ec))
      for (const auto& ent : fs::directory_iterator(dir, ec)) {
        if (ent.path().extension() != ".json" || ent.path().filename().string().find(".tmp.") != std::string::npos) continue;
        try {
          json r = parse_json(read_file(ent.path().string()), ent.path().string(), ErrorKind::kInput);
          const int i = r.at("index").get<int>(), n = r.at("count").get<int>();
          counts.insert(n);
          records[{i, n}] = std::move(r);
        } catch (const std::exception&) {  // damaged or foreign: not ours to read
        }
      }
    if (counts.size() == 1 && *counts.begin() > 0) {
      const int n = *counts.begin();
      std::set<int> shards;
      for (int b : missing_batches) shards.insert(b % n);
      json ms = json::array();
      for (int i : shards) {
        json r = {{"shard", std::to_string(i) + "/" + std::to_string(n)}, {"status", "not started"}};
        if (auto it = records.find({i, n}); it != records.end()) {
          const json& rec = it->second;
          r["status"] = rec.value("status", "running") == "finished" ? "finished with jobs missing or damaged" : "running or killed";
          r["host"] = rec.value("host", "");
          r["engine"] = rec.value("engine", "");
        }
        ms.push_back(r);
      }
      s["missing_shards"] = ms;
    }
  }
  if (run)
    s["run"] = {{"seconds", run->seconds}, {"latent_steps", run->latent_steps},
                {"latent_steps_per_s", run->seconds > 0 ? run->latent_steps / run->seconds : 0.0}};
  return s;
}

void write_summary(const std::string& out, const json& summary) {
  json s = summary;
  s.erase("run");
  if (s.contains("jobs") && s["jobs"].is_array())
    for (auto& j : s["jobs"]) {
      j.erase("this_run");
      j.erase("timings");
    }
  batch::remove_temp_files(out, batch::kSummaryFile);
  write_file_atomic((fs::path(out) / batch::kSummaryFile).string(), dump_text(s, 1) + "\n");
}

}  // namespace latentedit
