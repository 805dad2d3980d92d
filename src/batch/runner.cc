// Batch runner: edits this shard's batches, writes each job's files through the one edit
// output path (make_edit_outputs) and journals it; reruns skip finished jobs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <ctime>
#include <set>

#include <unistd.h>

#include "batch_internal.h"
#include "model/networks.h"
#include "latentedit/invert.h"
#include "io/fsutil.h"
#include "io/json_read.h"
#include "latentedit/discover.h"
#include "latentedit/outputs.h"
#include "edit/messages.h"

namespace latentedit {
namespace fs = std::filesystem;
using json = nlohmann::json;
using batch::job_dir;
using batch::journal_path;

namespace {

std::string host_name() {
  char h[256] = {0};
  if (gethostname(h, sizeof h - 1) != 0) return "";
  return h;
}

// The journal entry (and summary row) of a finished job.
json job_entry(const Models& m, const BatchJob& job, const EditResult& r, const Audit& a, const json& files,
               double edit_s, double write_s) {
  const int64_t S = r.probs.size(0);
  const torch::Tensor p0 = r.probs[0], p1 = r.probs[S - 1];
  const EditSpec& spec = job.settings.spec;
  const std::vector<Target> edited = edit_targets(m, spec);
  const std::vector<int> others = non_targets(edited, static_cast<int>(m.attributes.size()));
  json targets = json::object();
  for (const auto& t : edited) {
    json tj = {{"direction", to_string(t.direction)},
               {"prob_before_mean", p0.select(1, t.attribute).mean().item<double>()},
               {"prob_after_mean", p1.select(1, t.attribute).mean().item<double>()}};
    if (a.present) {
      tj["auditor_before_mean"] = a.before.select(1, t.attribute).mean().item<double>();
      tj["auditor_after_mean"] = a.after.select(1, t.attribute).mean().item<double>();
    }
    targets[m.attributes[t.attribute]] = tj;
  }
  json e = {{"id", job.id}, {"status", "ok"}, {"fingerprint", job.fingerprint}, {"latents", r.z_before.size(0)},
            {"settings", job.settings.to_json(m.attributes)}, {"source", job.source}, {"edit", describe_edit(m, spec)}, {"targets", targets},
            {"others_mean_abs_dprob", attribute_drift(p0, p1, others).mean().item<double>()}, {"files", files},
            {"timings", {{"edit_s", edit_s}, {"write_s", write_s}}}};
  if (a.present) {
    const auto confirmed = std::count(a.confirmed.begin(), a.confirmed.end(), true);
    e["auditor"] = {{"confirmed", a.judged ? json(confirmed) : json(nullptr)},
                    {"not_confirmed", a.judged ? json(static_cast<int64_t>(a.confirmed.size()) - confirmed) : json(nullptr)},
                    {"others_mean_abs_dprob", attribute_drift(a.before, a.after, others).mean().item<double>()}};
  }
  return e;
}

}  // namespace

int BatchRun::failed() const {
  return static_cast<int>(std::count_if(outcomes.begin(), outcomes.end(), [](const JobOutcome& o) { return o.status == JobOutcome::kFailed; }));
}

namespace {
// The z of photo k of an "images" job: from OUT/.inversions when an earlier run inverted the same
// bytes with the same model and settings, else inverted now and cached (atomically).
torch::Tensor inverted_latent(const Models& m, const BatchJob& j, int64_t k, const std::string& out, std::vector<std::string>& warnings) {
  const std::string name = j.id + ": " + j.source["images"][k].get<std::string>();
  const InvertOptions io;
  const json settings = {{"steps", io.steps}, {"restarts", io.restarts}, {"candidates", io.candidates}, {"lr", io.lr},
                         {"noise", io.noise}, {"pixel", io.pixel}, {"perceptual", io.perceptual}, {"prior", io.prior},
                         {"seed", io.seed}};
  const std::string sha = j.source["sha256"][k].get<std::string>();
  // Keyed by content: the photo's bytes, the models' files (models_content_sha256) and the settings.
  const std::string key = sha256_hex(json({{"image", sha}, {"models_sha256", models_content_sha256(m)}, {"settings", settings}}).dump());
  const fs::path cache = fs::path(out) / batch::kInversionDir / (key + ".json");
  if (fs::exists(cache)) {
    // A cached z is used only if it still is this photo's: finite, of the model's size, of a
    // plausible norm, and its image as close to the photo as recorded. Anything else (damaged,
    // planted, another photo's) is inverted again and replaced.
    try {
      const json c = parse_json(read_file(cache.string()), cache.string(), ErrorKind::kInput);
      const std::vector<float> z = c.at("z").get<std::vector<float>>();
      const double recorded = c.at("psnr").get<double>();
      if (static_cast<int64_t>(z.size()) == m.z_dim && std::isfinite(recorded)) {
        const torch::Tensor t = torch::tensor(z).view({1, m.z_dim});
        if (torch::isfinite(t).all().item<bool>() && t.norm().item<double>() <= 4.0 * std::sqrt(static_cast<double>(m.z_dim))) {
          const double now = psnr(generate(m, t), j.photos.slice(0, k, k + 1), m.range_lo, m.range_hi)[0];
          if (std::abs(now - recorded) <= 0.5) {
            if (std::string w = inversion_warning(m, recorded, name); !w.empty()) warnings.push_back(w);
            return t;
          }
        }
      }
    } catch (const std::exception&) {  // damaged: invert again
    }
  }
  InvertOptions use = io;
  if (!m.classifier.features) use.perceptual = 0;
  const InvertResult r = invert(m, j.photos.slice(0, k, k + 1), use);
  if (std::string w = inversion_warning(m, r.psnr[0], name); !w.empty()) warnings.push_back(w);
  make_dirs((fs::path(out) / batch::kInversionDir).string());
  const torch::Tensor z = r.z.contiguous();
  write_file_atomic(cache.string(), json({{"image", j.source["images"][k]}, {"sha256", sha}, {"settings", settings},
                                          {"psnr", r.psnr[0]}, {"z", std::vector<float>(z.data_ptr<float>(), z.data_ptr<float>() + z.numel())}})
                                            .dump() + "\n");
  return z;
}
}  // namespace

BatchRun run_batch(const Models& m, const BatchPlan& plan, const std::string& out, const BatchRunOptions& o,
                   const BatchCallback& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  claim_output(out, "batch", o.force);
  adopt_output(out, "batch");
  make_dirs((fs::path(out) / batch::kJournalDir).string());
  // plan.json: the full job list, identical for every shard, so `merge` can check completeness.
  json pj = {{"format", "latentedit-batch-plan"}, {"version", 1}, {"job_file", plan.job_file},
             {"job_file_sha256", plan.job_file_sha256}, {"model", m.name}, {"jobs", json::array()}};
  // Each job's batch, so that a merge can name the shards (b mod N) whose jobs are missing.
  std::vector<int> batch_of(plan.jobs.size(), 0);
  for (size_t b = 0; b < plan.batches.size(); ++b)
    for (int i : plan.batches[b]) batch_of[i] = static_cast<int>(b);
  for (size_t i = 0; i < plan.jobs.size(); ++i) {
    const BatchJob& j = plan.jobs[i];
    pj["jobs"].push_back({{"id", j.id}, {"fingerprint", j.fingerprint}, {"batch", batch_of[i]},
                          {"settings", j.settings.to_json(plan.attributes)}, {"source", j.source}});
  }
  const std::string plan_text = dump_text(pj, 1) + "\n";
  const fs::path plan_path = fs::path(out) / batch::kPlanFile;
  std::string existing;
  if (fs::exists(plan_path)) try { existing = read_file(plan_path.string()); } catch (const std::exception&) {}
  if (existing != plan_text) {
    // Another job file ran here before: its jobs that this one lacks are stale outputs of this
    // command; remove them (their directories and journal entries, nothing else).
    std::set<std::string> now;
    for (const auto& j : plan.jobs) now.insert(j.id);
    try {
      const json old = parse_json(existing, plan_path.string(), ErrorKind::kInput);
      for (const auto& oj : old.at("jobs")) {
        const std::string id = oj.at("id");
        if (now.count(id) || !batch::safe_id(id)) continue;
        std::error_code ec;
        fs::remove_all(job_dir(out, id), ec);
        fs::remove(journal_path(out, id), ec);
      }
    } catch (const std::exception&) {  // no or damaged plan: nothing known to be ours
    }
    std::error_code ec;
    fs::remove(fs::path(out) / batch::kSummaryFile, ec);  // it described the other job file
    write_file_atomic(plan_path.string(), plan_text);
  }

  // The shard's record: who ran it (engine, index, the variables read, host) and, once it ends,
  // what it did. Written when it starts, so that a merge knows the shard count before any job ends.
  json record = {{"shard", std::to_string(o.shard) + "/" + std::to_string(o.shards)}, {"index", o.shard}, {"count", o.shards},
                 {"engine", o.origin.engine}, {"environment", o.origin.environment}, {"host", host_name()},
                 {"pid", static_cast<int64_t>(getpid())}, {"started_unix", static_cast<int64_t>(std::time(nullptr))}, {"status", "running"}};
  make_dirs((fs::path(out) / batch::kShardDir).string());
  {  // records of another shard count describe an earlier run of this output: stale
    std::error_code ec;
    const std::string suffix = "-of-" + std::to_string(o.shards) + ".json";
    for (const auto& ent : fs::directory_iterator(fs::path(out) / batch::kShardDir, ec)) {
      const std::string n = ent.path().filename().string();
      if (n.find("-of-") != std::string::npos && n.find(".tmp.") == std::string::npos &&
          (n.size() < suffix.size() || n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0))
        fs::remove(ent.path(), ec);
    }
  }
  const std::string record_path = batch::shard_record_path(out, o.shard, o.shards).string();
  write_file_atomic(record_path, dump_text(record, 1) + "\n");

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
      if (!o.redo && batch::finished_entry(out, j.id, j.fingerprint)) {
        outcomes[i] = {j.id, JobOutcome::kReused, "", {}};
        ++bp.jobs_done;
      } else if (!torch::isfinite(j.z).all().item<bool>()) {
        outcomes[i] = {j.id, JobOutcome::kFailed, "jobs[" + std::to_string(j.index) + "]: the latents contain NaN or infinite values; fix the latents file", {}};
        ++bp.jobs_done;
      } else {
        todo[b].push_back(i);
        bp.latent_steps_total += j.z.size(0) * j.settings.spec.steps;
      }
    }
  if (progress) progress(bp);

  // "images" jobs: each photo is inverted once, on its own (so its z depends only on its bytes,
  // the model and the inversion settings), and cached in OUT/.inversions/<key>.json.
  std::map<int, torch::Tensor> inverted;
  std::map<int, std::vector<std::string>> photo_warnings;
  for (int b : mine)
    for (int i : todo[b]) {
      const BatchJob& j = plan.jobs[i];
      if (!j.photos.defined()) continue;
      std::vector<torch::Tensor> zs;
      for (int64_t k = 0; k < j.photos.size(0); ++k) zs.push_back(inverted_latent(m, j, k, out, photo_warnings[i]));
      inverted[i] = torch::cat(zs);
    }

  for (int b : mine) {
    if (todo[b].empty()) continue;
    const std::vector<int>& idx = todo[b];
    const BatchJob& first = plan.jobs[idx[0]];
    std::vector<torch::Tensor> zs;
    for (int i : idx) zs.push_back(inverted.count(i) ? inverted[i] : plan.jobs[i].z);
    const torch::Tensor z = torch::cat(zs);
    const int64_t done_before = bp.latent_steps_done;
    bp.job = first.id;
    EditResult r;
    Audit a;
    try {
      r = edit(m, z, first.settings.spec, [&](const EditProgress& p) {
        if (p.pass > 1) return;  // fallback passes re-edit some latents; progress counts the first pass
        bp.latent_steps_done = done_before + p.step * z.size(0) * first.settings.spec.steps / std::max(1, p.steps);
        if (progress) progress(bp);
      });
      a = audit_edit(m, first.settings.spec, r);
    } catch (const std::exception& e) {
      std::string what = e.what();
      what = what.substr(0, what.find('\n'));
      for (int i : idx) outcomes[i] = {plan.jobs[i].id, JobOutcome::kFailed, "the edit failed: " + what, {}};
      bp.jobs_done += static_cast<int>(idx.size());
      bp.latent_steps_done = done_before + z.size(0) * first.settings.spec.steps;
      if (progress) progress(bp);
      continue;
    }
    bp.latent_steps_done = done_before + z.size(0) * first.settings.spec.steps;
    run.latent_steps += z.size(0) * first.settings.spec.steps;
    int64_t at = 0;
    for (int i : idx) {
      const BatchJob& j = plan.jobs[i];
      const int64_t n = j.z.size(0);
      const EditResult rj = slice(r, at, at + n);
      const Audit aj = slice(a, at, at + n);
      at += n;
      ++bp.jobs_done;
      if (edit_diverged(rj)) {
        outcomes[i] = {j.id, JobOutcome::kFailed, std::string(kDivergedHint) + " (step_size)", {}};
        continue;
      }
      const auto tw = std::chrono::steady_clock::now();
      OutputContext ctx;
      ctx.command = "batch";
      ctx.source = j.source;
      ctx.label = "job " + j.id;
      ctx.photos = j.photos;
      ctx.header = {{"job", j.id}, {"job_file", plan.job_file}, {"precision", to_string(m.precision)}};  // no timings: reports are reproducible bytes
      const auto files = make_edit_outputs(m, j.settings, rj, aj, ctx).files();
      // Unfinished job: forget any old journal entry and files, then write, then journal.
      std::error_code ec;
      fs::remove(journal_path(out, j.id), ec);
      batch::remove_temp_files(fs::path(out) / batch::kJournalDir, j.id + ".json");
      fs::remove_all(job_dir(out, j.id), ec);  // the job's own directory: only this runner writes it
      StagedDir staged(job_dir(out, j.id).string(), "batch", false, StagedDir::kOwned);
      json hashes = json::object();
      for (const auto& [name, bytes] : files) {
        staged.add(name, bytes);
        hashes[name] = sha256_hex(bytes);
      }
      staged.commit();
      const double write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - tw).count();
      const double share = r.seconds * static_cast<double>(n) / static_cast<double>(z.size(0));
      write_file_atomic(journal_path(out, j.id).string(), dump_text(job_entry(m, j, rj, aj, hashes, share, write_s), 1) + "\n");
      outcomes[i] = {j.id, JobOutcome::kDone, "", photo_warnings[i]};
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
  int reused = 0;
  for (const auto& oc : run.outcomes) reused += oc.status == JobOutcome::kReused;
  record["status"] = "finished";
  record["finished_unix"] = static_cast<int64_t>(std::time(nullptr));
  record["jobs"] = run.outcomes.size();
  record["failed"] = run.failed();
  record["reused"] = reused;
  record["seconds"] = run.seconds;
  record["latent_steps"] = run.latent_steps;
  write_file_atomic(record_path, dump_text(record, 1) + "\n");
  return run;
}

}  // namespace latentedit
