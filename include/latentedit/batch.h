// latentedit — batch JSON job files: validation, planning, a crash-safe resumable runner,
// sharding and merging. The format is documented in README.md ("Batch jobs") and in
// docs/batch.schema.json; a job's edit settings are EditSettings' JSON form (spec.h).
//
//   nlohmann::json file = read_job_file("jobs.json");
//   Models m = load_bundle(...);                 // job_file_model(file, dir) names it, if set
//   BatchPlan plan = plan_batch(file, "jobs.json", m);   // throws BatchInvalid listing every error
//   BatchRun run = run_batch(m, plan, "out", {});        // OUT/<id>/..., OUT/.journal/<id>.json
//   write_summary("out", plan, &run);                     // OUT/summary.json
//
// Crash safety: each file is written to a temp name, fsync'd and renamed; a job is finished
// when its journal entry (written last, the same way) exists, its fingerprint matches the
// job's settings and latents, and every file it lists is present with the recorded sha256.
// Rerunning skips finished jobs and redoes the rest.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "latentedit/bundle.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/spec.h"

namespace latentedit {

// Limits a job file must respect (each error message names the limit).
struct BatchLimits {
  int max_jobs = 10000;
  int max_count = 1024;          // latents per job
  int64_t max_latents = 65536;   // latents in the whole file
  int max_steps = 1000;
  double max_step_size = 10.0;
  int max_scale = 8;
  int64_t max_image_side = 32768;  // pixels, for grids and strips
};

// A job file that failed validation: every problem, each "json.path: what (fix)".
class BatchInvalid : public InputError {
 public:
  explicit BatchInvalid(std::vector<std::string> errors);
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

struct BatchJob {
  std::string id;
  int index = 0;                 // position in the file's `jobs`
  torch::Tensor z;               // (count, z_dim), may hold non-finite values (the job then fails);
                                 // zeros for an "images" job until the runner inverts its photos
  torch::Tensor photos;          // "images" jobs: (count, 3, H, W) in the model's range, else undefined
  EditSettings settings;         // defaults < job, validated against the model
  nlohmann::json source;         // where the latents came from ({"seed": 7, "count": 4}, ...)
  std::string fingerprint;       // sha256 of model, settings and latent bytes
  std::string group_key;         // jobs with equal keys can be edited in one batch
};

struct BatchPlan {
  std::string job_file;          // path as given
  std::string job_file_sha256;
  std::vector<std::string> attributes;  // the model's, for naming targets
  std::vector<BatchJob> jobs;
  // Batches of job indices edited together: equal group keys, in file order, at most
  // `max_batch` latents each (a larger job is a batch of its own). Shard i of n takes the
  // batches b with b % n == i, so shards never change how latents are batched.
  std::vector<std::vector<int>> batches;
  int64_t latent_steps = 0;
};

// Parses a job file; a syntax error is an InputError with line and column.
nlohmann::json read_job_file(const std::string& path);

// The job file's JSON schema (docs/batch.schema.json is this, written by `latentedit batch
// --schema`): the settings' part comes from their one table, with these limits.
nlohmann::json batch_schema(const BatchLimits& limits = {});

// The file's `model` entry resolved against the job file's directory, if it has one.
std::optional<std::string> job_file_model(const nlohmann::json& file, const std::string& job_file_path);

// Validates every field against the model and the limits and resolves the latents. Throws
// BatchInvalid with all errors at once.
BatchPlan plan_batch(const nlohmann::json& file, const std::string& job_file_path, const Models& m,
                     int max_batch = 64, const BatchLimits& limits = {});

// The plan as shown by --dry-run (jobs, latents, batches, estimated work).
nlohmann::json describe_plan(const BatchPlan& plan, int shard = 0, int shards = 1);

struct BatchProgress {
  int64_t latent_steps_done = 0, latent_steps_total = 0;
  int jobs_done = 0, jobs_total = 0;
  std::string job;               // first job of the batch being edited
};
using BatchCallback = std::function<void(const BatchProgress&)>;

// Shards: at most this many (--shard I/N and the engines' arrays alike).
inline constexpr int kMaxShards = 100000;

// Where a shard's index and count came from: an engine's environment (shard_from_environment)
// or the caller ("given"). Recorded in the shard's record, OUT/.shards/I-of-N.json.
struct ShardOrigin {
  int index = 0, count = 1;
  std::string engine = "given";             // "slurm", "kubernetes", "aws-batch" (joined by "+" when two agree)
  nlohmann::json environment = nlohmann::json::object();  // the variables read, as set
};

// Reads an environment variable: nullptr when unset.
using EnvReader = std::function<const char*(const char*)>;

// The shard this process runs, from a cluster engine's environment: Slurm job arrays
// (SLURM_ARRAY_TASK_ID with _MIN/_MAX/_STEP and _COUNT; not 0-based or stepped arrays map to
// 0..N-1), Kubernetes Indexed Jobs (JOB_COMPLETION_INDEX; the pod does not see the Job's
// completions, so `count` must give it), AWS Batch array jobs (AWS_BATCH_JOB_ARRAY_INDEX and
// _SIZE). `count` (0: not given) must agree with the engine's own count. Throws UsageError (one
// line) when no engine's variables are set, a value is not an integer, the index is not below
// the count, the array is not one evenly stepped range, or two engines disagree.
ShardOrigin shard_from_environment(const EnvReader& getenv, int count = 0);
ShardOrigin shard_from_environment(int count = 0);  // the process's environment

struct BatchRunOptions {
  int shard = 0, shards = 1;
  ShardOrigin origin;            // recorded in OUT/.shards/ (index and count: shard, shards)
  bool redo = false;             // redo finished jobs too
  bool force = false;            // write into an OUT that is not a batch output (docs/cli.md "Outputs")
};

struct JobOutcome {
  std::string id;
  enum Status { kDone, kReused, kFailed } status = kDone;
  std::string error;             // for kFailed
  std::vector<std::string> warnings;  // "images" jobs: photos far from what the generator draws (inversion_warning)
};

struct BatchRun {
  std::vector<JobOutcome> outcomes;  // this shard's jobs, in file order
  double seconds = 0.0;
  int64_t latent_steps = 0;          // edited in this run (reused jobs excluded)
  int failed() const;
};

// Runs this shard's jobs into `out`. Never throws for a failing job (see outcomes); throws
// IoError when the output cannot be written.
BatchRun run_batch(const Models& m, const BatchPlan& plan, const std::string& out, const BatchRunOptions& o,
                   const BatchCallback& progress = nullptr);

// The summary of everything under `out`, from plan.json and the journal: per-job status,
// settings, score changes, auditor verdicts, timings and the sha256 of every file. Jobs with
// no (valid) journal entry are listed as "missing", and when shard records (OUT/.shards/) say
// how many shards ran, "missing_shards" lists the shards ("I/N") whose jobs are missing.
// `run` adds this run's figures.
nlohmann::json batch_summary(const std::string& out, const BatchRun* run = nullptr);

// Writes `summary` to OUT/summary.json (atomically), without what differs from run to run
// (timings, this run's figures, shard records): a merge of shards writes a single run's bytes.
void write_summary(const std::string& out, const nlohmann::json& summary);

// Latents from a file, as a job's latents_file reads them: a report.json (`from` "after" or
// "before"), invert's latents.json or {"z": [[...]]}, or [[...], ...]. Throws InputError.
torch::Tensor read_latents_file(const std::string& file, const std::string& from, int64_t z_dim, int max_count = 4096);

}  // namespace latentedit
