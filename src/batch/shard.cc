// Which shard of a sharded batch this process runs, read from a cluster engine's environment
// (Slurm job arrays, Kubernetes Indexed Jobs, AWS Batch array jobs).
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <optional>

#include "latentedit/batch.h"

namespace latentedit {
using json = nlohmann::json;

namespace {

struct Reading {
  std::string engine;
  int index = 0, count = 0;  // count 0: the engine does not say
  json env = json::object();
};

// A non-negative decimal integer variable, std::nullopt when unset; throws when set but not one.
std::optional<long> int_var(const EnvReader& get, const char* name, json& seen) {
  const char* v = get(name);
  if (!v) return std::nullopt;
  seen[name] = v;
  errno = 0;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno == ERANGE || x < 0 || x > INT_MAX)
    throw UsageError(std::string(name) + "='" + v + "' is not a non-negative integer; the engine sets it, do not set it by hand");
  return x;
}

std::optional<Reading> slurm(const EnvReader& get) {
  Reading r{"slurm"};
  const auto id = int_var(get, "SLURM_ARRAY_TASK_ID", r.env);
  if (!id) return std::nullopt;
  const auto count = int_var(get, "SLURM_ARRAY_TASK_COUNT", r.env), lo = int_var(get, "SLURM_ARRAY_TASK_MIN", r.env),
             hi = int_var(get, "SLURM_ARRAY_TASK_MAX", r.env), step = int_var(get, "SLURM_ARRAY_TASK_STEP", r.env);
  if (!lo || !hi)
    throw UsageError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_MIN/MAX are not: run the batch as the array's own task (sbatch --array), not from a shell inside it");
  const long s = step.value_or(1);
  if (s < 1 || *hi < *lo || *id < *lo || *id > *hi || (*id - *lo) % s != 0)
    throw UsageError("the Slurm array task " + std::to_string(*id) + " is not in the range " + std::to_string(*lo) + "-" +
                     std::to_string(*hi) + ":" + std::to_string(s) + " its variables describe");
  const long n = (*hi - *lo) / s + 1;
  if (count && *count != n)
    throw UsageError("the Slurm array is not one evenly stepped range (" + std::to_string(*count) + " tasks in " + std::to_string(*lo) + "-" +
                     std::to_string(*hi) + ":" + std::to_string(s) + "): submit it as --array=0-" + std::to_string(*count - 1) +
                     " (optionally with %M) so that every shard has a task");
  r.index = static_cast<int>((*id - *lo) / s);
  r.count = static_cast<int>(n);
  return r;
}

std::optional<Reading> kubernetes(const EnvReader& get) {
  Reading r{"kubernetes"};
  const auto id = int_var(get, "JOB_COMPLETION_INDEX", r.env);
  if (!id) return std::nullopt;
  r.index = static_cast<int>(*id);
  return r;  // the pod does not see the Job's completions: the count comes from the caller
}

std::optional<Reading> aws_batch(const EnvReader& get) {
  Reading r{"aws-batch"};
  const auto id = int_var(get, "AWS_BATCH_JOB_ARRAY_INDEX", r.env);
  if (!id) return std::nullopt;
  const auto size = int_var(get, "AWS_BATCH_JOB_ARRAY_SIZE", r.env);
  if (!size || *size < 1)
    throw UsageError("AWS_BATCH_JOB_ARRAY_INDEX is set but AWS_BATCH_JOB_ARRAY_SIZE is not a positive size: submit an array job (arrayProperties.size)");
  r.index = static_cast<int>(*id);
  r.count = static_cast<int>(*size);
  return r;
}

}  // namespace

ShardOrigin shard_from_environment(const EnvReader& get, int count) {
  if (count < 0 || count > kMaxShards) throw UsageError("the shard count must be 1 to " + std::to_string(kMaxShards));
  std::vector<Reading> found;
  for (auto* read : {slurm, kubernetes, aws_batch})
    if (auto r = read(get)) found.push_back(*r);
  if (found.empty())
    throw UsageError("no cluster engine's task index in the environment (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or "
                     "AWS_BATCH_JOB_ARRAY_INDEX): run it as an array task or Indexed Job's pod",
                     Remedy::kNameShard);
  ShardOrigin o;
  o.engine.clear();
  // An engine that does not say the count (Kubernetes) takes the caller's, else another engine's.
  int known = count;
  for (const Reading& r : found)
    if (!known) known = r.count;
  for (const Reading& r : found) {
    const int n = r.count ? r.count : known;
    if (n == 0)
      throw UsageError("a Kubernetes Indexed Job's pod does not see the Job's completions: give the shard count", Remedy::kShardCount);
    if (count && n != count)
      throw UsageError("the " + r.engine + " array has " + std::to_string(n) + " tasks but the shard count given is " + std::to_string(count) +
                       "; give the array's size or leave the count out");
    if (r.index >= n)
      throw UsageError("the " + r.engine + " task index " + std::to_string(r.index) + " is not below the shard count " + std::to_string(n) +
                       "; make the array (or completions) exactly as large as the shard count");
    if (!o.engine.empty() && (r.index != o.index || n != o.count))
      throw UsageError("two engines disagree on the shard: " + o.engine + " says " + std::to_string(o.index) + "/" + std::to_string(o.count) +
                       ", " + r.engine + " says " + std::to_string(r.index) + "/" + std::to_string(n) +
                       "; unset the other engine's variables");
    o.engine += (o.engine.empty() ? "" : "+") + r.engine;
    o.index = r.index;
    o.count = n;
    for (auto it = r.env.begin(); it != r.env.end(); ++it) o.environment[it.key()] = it.value();
  }
  return o;
}

ShardOrigin shard_from_environment(int count) {
  return shard_from_environment([](const char* n) -> const char* { return std::getenv(n); }, count);
}

}  // namespace latentedit
