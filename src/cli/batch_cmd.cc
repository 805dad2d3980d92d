// `latentedit batch JOBS.json --out OUT` and `latentedit batch merge OUT`: JSON job files,
// validated up front, resumable after a crash, shardable (see docs/batch.md).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "common.h"
#include "latentedit/batch.h"
#include "latentedit/errors.h"
#include "io/fsutil.h"

namespace latentedit::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct BatchOptions {
  CommonOptions common;
  std::string job_file, out, shard = "0/1";
  int max_batch = 64, shards = 0;  // shards: --shards N, the count `--shard auto` cannot read (Kubernetes)
  bool dry_run = false, redo = false, force = false, json_out = false, schema = false;
};

struct MergeOptions {
  std::string out;
  bool json_out = false, quiet = false;
};

// --shard I/N, or --shard auto: the index and count from the cluster engine's environment
// (Slurm array, Kubernetes Indexed Job with --shards N, AWS Batch array).
ShardOrigin parse_shard(const std::string& s, int shards) {
  if (s == "auto") return shard_from_environment(shards);
  ShardOrigin o;
  char extra;
  if (std::sscanf(s.c_str(), "%d/%d%c", &o.index, &o.count, &extra) != 2 || o.count < 1 || o.count > kMaxShards || o.index < 0 ||
      o.index >= o.count)
    throw UsageError("bad --shard '" + s + "': write I/N with 0 <= I < N, e.g. --shard 0/4, or --shard auto in a Slurm array, Kubernetes Indexed Job or AWS Batch array");
  if (shards && shards != o.count)
    throw UsageError("--shard " + s + " and --shards " + std::to_string(shards) + " disagree on the shard count; give one of them");
  return o;
}

void print_counts(const json& s) {
  std::printf("%d/%d jobs ok, %d failed, %d missing\n", s["ok"].get<int>(), s["jobs_total"].get<int>(),
              s["failed"].get<int>(), s["missing"].get<int>());
  for (const auto& j : s["jobs"])
    if (j["status"] == "failed") std::printf("failed: %s: %s\n", j["id"].get<std::string>().c_str(), j["error"].get<std::string>().c_str());
}

int run_batch_cmd(const BatchOptions& o) {
  if (o.schema) {
    std::printf("%s\n", batch_schema().dump(2).c_str());
    return 0;
  }
  if (o.job_file.empty()) throw UsageError("give a job file: latentedit batch JOBS.json --out DIR (see --help)");
  const ShardOrigin origin = parse_shard(o.shard, o.shards);
  const int shard = origin.index, shards = origin.count;
  const std::string shard_name = std::to_string(shard) + "/" + std::to_string(shards) +
                                 (origin.engine == "given" ? "" : " from " + origin.engine);
  if (o.out.empty() && !o.dry_run) throw UsageError("--out DIR is required (where the jobs' outputs go)");
  const int threads = o.common.apply_threads();
  if (!o.dry_run) claim_output(o.out, "batch", o.force);  // before any work (run_batch checks again)
  const json file = read_job_file(o.job_file);
  CommonOptions common = o.common;
  if (common.model.empty() && common.generator.empty())
    if (auto m = job_file_model(file, o.job_file)) common.model = *m;
  const Models m = common.load_models();
  BatchPlan plan;
  try {
    plan = plan_batch(file, o.job_file, m, o.max_batch);
  } catch (const BatchInvalid& e) {
    // One error: one line. Several: a count, then each on its own line.
    if (e.errors().size() == 1) {
      std::cerr << "latentedit: error: " << o.job_file << ": " << e.errors()[0] << "; nothing was run" << std::endl;
    } else {
      std::cerr << "latentedit: error: " << o.job_file << ": " << e.errors().size() << " errors; nothing was run" << std::endl;
      for (const auto& l : e.errors()) std::cerr << "  " << l << std::endl;
    }
    return static_cast<int>(ExitCode::kBadInput);
  }
  const json desc = describe_plan(plan, shard, shards);
  if (o.dry_run) {
    if (o.json_out) {
      print_json(desc);
    } else {
      std::printf("%-24s %6s %8s %6s %12s  %s\n", "job", "batch", "latents", "steps", "latent-steps", "edit");
      for (const auto& j : desc["plan"]) {
        std::string e;
        for (const auto& a : j["add"]) e += "+" + a.get<std::string>() + " ";
        for (const auto& a : j["remove"]) e += "-" + a.get<std::string>() + " ";
        std::printf("%-24s %6d %8d %6d %12lld  %s\n", j["id"].get<std::string>().c_str(), j["batch"].get<int>(),
                    j["latents"].get<int>(), j["steps"].get<int>(), static_cast<long long>(j["latent_steps"].get<int64_t>()), e.c_str());
      }
      std::printf("valid: %d of %d jobs in shard %s, %d batches, %lld latents, %lld latent-steps, %lld images\n",
                  desc["jobs"].get<int>(), desc["jobs_total"].get<int>(), desc["shard"].get<std::string>().c_str(),
                  desc["batches"].get<int>(), static_cast<long long>(desc["latents"].get<int64_t>()),
                  static_cast<long long>(desc["latent_steps"].get<int64_t>()), static_cast<long long>(desc["images"].get<int64_t>()));
    }
    return 0;
  }
  for (const BatchJob& j : plan.jobs)
    if (j.settings.spec.method == Method::kAuto) {
      note_without_latent_classifier(m, Method::kAuto, o.common.quiet);
      break;
    }
  log(o.common.quiet, "batch: " + std::to_string(desc["jobs"].get<int>()) + " jobs (shard " + shard_name + "), " +
                          std::to_string(desc["batches"].get<int>()) + " batches, model " + m.name + ", " +
                          std::to_string(threads) + " threads");
  std::unique_ptr<ProgressBar> bar;
  const BatchRun run = run_batch(m, plan, o.out, {shard, shards, origin, o.redo, o.force}, [&](const BatchProgress& p) {
    if (p.latent_steps_total == 0) return;
    if (!bar) bar = std::make_unique<ProgressBar>("batch", std::max<int64_t>(p.latent_steps_total, 1), o.common.quiet);
    bar->update(p.latent_steps_done, "jobs " + std::to_string(p.jobs_done) + "/" + std::to_string(p.jobs_total) + " " + p.job);
  });
  if (bar) bar->finish();
  int reused = 0;
  for (const auto& oc : run.outcomes) reused += oc.status == JobOutcome::kReused;
  for (const auto& oc : run.outcomes)
    for (const auto& w : oc.warnings) std::fprintf(stderr, "latentedit: warning: %s\n", w.c_str());
  if (reused) log(o.common.quiet, "batch: " + std::to_string(reused) + " finished jobs reused (use --redo to redo them)");
  if (shards == 1) {
    const json s = batch_summary(o.out, &run);
    write_summary(o.out, s);
    if (o.json_out) print_json(s);
    else print_counts(s), std::printf("wrote %s/summary.json (%.1f latent-steps/s)\n", o.out.c_str(), s["run"]["latent_steps_per_s"].get<double>());
  } else {
    json r = {{"shard", std::to_string(shard) + "/" + std::to_string(shards)}, {"engine", origin.engine}, {"environment", origin.environment},
              {"jobs", run.outcomes.size()}, {"failed", run.failed()}, {"reused", reused}, {"seconds", run.seconds}, {"latent_steps", run.latent_steps}};
    if (o.json_out) print_json(r);
    else std::printf("shard %s: %zu jobs, %d failed, %d reused; run `latentedit batch merge %s` when all shards are done\n",
                     shard_name.c_str(), run.outcomes.size(), run.failed(), reused, o.out.c_str());
  }
  if (run.failed()) {
    std::cerr << "latentedit: error: " << run.failed() << " job" << (run.failed() == 1 ? "" : "s")
              << " failed (see the summary); fix them and rerun the same command: finished jobs are kept" << std::endl;
    return static_cast<int>(ExitCode::kJobsFailed);
  }
  return 0;
}

int run_merge(const MergeOptions& o) {
  const json s = batch_summary(o.out);
  if (o.json_out) print_json(s);
  else print_counts(s);
  if (s["missing"].get<int>() > 0) {
    std::string ids, shards;
    int shown = 0;
    for (const auto& j : s["jobs"])
      if (j["status"] == "missing" && shown++ < 5) ids += (ids.empty() ? "" : ", ") + j["id"].get<std::string>();
    if (s.contains("missing_shards"))
      for (const auto& sh : s["missing_shards"])
        shards += (shards.empty() ? "; shards " : ", ") + sh["shard"].get<std::string>() + " " + sh["status"].get<std::string>();
    std::error_code ec;  // an older summary.json (a merge's) must not claim the batch is complete
    const bool removed = std::filesystem::remove(std::filesystem::path(o.out) / "summary.json", ec);
    std::cerr << "latentedit: error: " << s["missing"].get<int>() << " job(s) not finished or damaged (" << ids
              << (s["missing"].get<int>() > 5 ? ", ..." : "") << shards
              << "); run the missing shards (or the whole file again: finished jobs are skipped), then merge; summary.json not written"
              << (removed ? " (the older one was removed)" : "") << std::endl;
    return static_cast<int>(ExitCode::kIncomplete);
  }
  write_summary(o.out, s);
  if (!o.json_out) std::printf("wrote %s/summary.json\n", o.out.c_str());
  if (s["failed"].get<int>() > 0) return static_cast<int>(ExitCode::kJobsFailed);
  return 0;
}

}  // namespace

void register_batch(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<BatchOptions>();
  o->common.argv0 = argv0;
  CLI::App* app = root.add_subcommand("batch", "Run a JSON job file of edits (resumable, shardable); `batch merge OUT` combines shards");
  app->add_option("jobs", o->job_file, "Job file (JSON; format in README, schema in docs/batch.schema.json)");
  app->add_option("--out", o->out, "Output directory: OUT/<job id>/..., OUT/summary.json");
  app->add_flag("--dry-run", o->dry_run, "Only validate and print the plan");
  app->add_flag("--schema", o->schema, "Print the job file's JSON schema (docs/batch.schema.json) and exit");
  app->add_flag("--redo", o->redo, "Redo finished jobs too");
  app->add_flag("--force", o->force, "Write into an --out that is not a batch output (files of the same names are replaced, nothing else is touched)");
  app->add_option("--shard", o->shard,
                  "Run shard I of N (I/N, 0-based), or `auto`: from the Slurm array, Kubernetes Indexed Job or AWS Batch array "
                  "the process runs in; merge with `batch merge OUT`");
  app->add_option("--shards", o->shards, "The shard count, for --shard auto in a Kubernetes Indexed Job (its completions)")
      ->check(CLI::Range(1, kMaxShards));
  app->add_option("--batch-size", o->max_batch, "Most latents edited together")->check(CLI::Range(1, 4096));
  app->add_flag("--json", o->json_out, "Print the summary (or with --dry-run, the plan) as JSON");
  o->common.add_to(app);
  o->common.add_precision(app);

  auto mo = std::make_shared<MergeOptions>();
  CLI::App* merge = app->add_subcommand("merge", "Check that every job of a sharded batch finished and write OUT/summary.json");
  merge->add_option("out", mo->out, "The shared output directory")->required();
  merge->add_flag("--json", mo->json_out, "Print the summary as JSON");
  merge->add_flag("-q,--quiet", mo->quiet, "No log lines on stderr (merge prints none; accepted like every subcommand)");
  cmds.push_back({merge, [mo] { return run_merge(*mo); }});
  cmds.push_back({app, [o] { return run_batch_cmd(*o); }});
}

}  // namespace latentedit::cli
