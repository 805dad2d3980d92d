// Batch planning: which jobs are edited together (equal settings, up to max_batch latents), the
// fingerprint that says whether a finished job is still valid, and the dry run's description.
#include <algorithm>
#include <map>

#include "batch_internal.h"
#include "model/networks.h"
#include "io/fsutil.h"

namespace latentedit {
using json = nlohmann::json;

namespace {
std::string tensor_sha(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return sha256_hex(std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
}
}  // namespace

BatchPlan plan_batch(const json& file, const std::string& job_file_path, const Models& m, int max_batch, const BatchLimits& L) {
  BatchPlan plan;
  plan.job_file = job_file_path;
  plan.attributes = m.attributes;
  plan.job_file_sha256 = sha256_hex(file.dump());
  plan.jobs = batch::read_jobs(file, job_file_path, m, L);
  const std::string content = models_content_sha256(m);
  for (BatchJob& job : plan.jobs) {
    const EditSpec& sp = job.settings.spec;
    json settings = job.settings.to_json(m.attributes);
    // Jobs with equal edit numbers can share a batch: output options do not matter, and
    // targets are in resolved form so "Smiling" and "smiling" group.
    json key = settings;
    for (const char* k : {"scale", "outputs", "add", "remove", "keep"}) key.erase(k);
    json tk = json::array();
    for (const auto& t : sp.targets) tk.push_back({t.attribute, t.direction == Direction::kAdd, t.stop_prob ? *t.stop_prob : -1.0});
    key["targets"] = tk;
    key["keep"] = sp.keep;
    // A batch-mean edit depends on its batch, so such a job is never batched with another.
    job.group_key = sp.batch_mean ? "batch_mean:" + job.id : key.dump();
    // The models by content, not by path: changed weights redo the job, a moved bundle does not.
    json fp = {{"model", m.name}, {"models_sha256", content},
               {"settings", settings}, {"source", job.source}, {"z", tensor_sha(job.z)}, {"id", job.id}};
    // A bf16 run's outputs differ from fp32's; fp32 fingerprints stay what they were before precision existed.
    if (m.precision != Precision::kFp32) fp["precision"] = to_string(m.precision);
    job.fingerprint = sha256_hex(fp.dump());
  }
  // Batches: equal keys, in order of first appearance, at most max_batch latents each.
  std::map<std::string, std::vector<int>> open;  // key -> the batch being filled
  std::map<std::string, int64_t> open_n;
  std::vector<std::vector<int>> done;
  for (int i = 0; i < static_cast<int>(plan.jobs.size()); ++i) {
    const BatchJob& j = plan.jobs[i];
    const int64_t n = j.z.size(0);
    auto it = open.find(j.group_key);
    if (it != open.end() && open_n[j.group_key] + n > max_batch) {
      done.push_back(it->second);
      open.erase(it);
    }
    if (!open.count(j.group_key)) open_n[j.group_key] = 0;
    open[j.group_key].push_back(i);
    open_n[j.group_key] += n;
  }
  for (auto& [k, v] : open) done.push_back(v);
  // Order batches by their first job so the plan reads like the file.
  std::sort(done.begin(), done.end(), [](const auto& a, const auto& b) { return a[0] < b[0]; });
  plan.batches = done;
  for (const auto& j : plan.jobs) plan.latent_steps += j.z.size(0) * j.settings.spec.steps;
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
      const OutputOptions& o = j.settings.outputs;
      const int64_t n = j.z.size(0);
      const int64_t imgs = (o.grid ? 1 : 0) + (o.pairs ? 2 * n : 0) + (o.strips ? n : 0);
      const json s = j.settings.to_json(plan.attributes);
      jobs.push_back({{"id", j.id}, {"batch", b}, {"latents", n}, {"steps", j.settings.spec.steps}, {"add", s["add"]},
                      {"remove", s["remove"]}, {"latent_steps", n * j.settings.spec.steps}, {"images", imgs}});
      latents += n;
      steps += n * j.settings.spec.steps;
      images += imgs;
      ++njobs;
    }
  }
  return {{"job_file", plan.job_file}, {"shard", std::to_string(shard) + "/" + std::to_string(shards)},
          {"jobs_total", plan.jobs.size()}, {"jobs", njobs}, {"batches", nbatches}, {"latents", latents},
          {"latent_steps", steps}, {"images", images}, {"plan", jobs}};
}

}  // namespace latentedit
