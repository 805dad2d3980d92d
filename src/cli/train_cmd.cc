// `latentedit train classifier|gan`: train on a CelebA-layout folder or procedural faces and
// write the result into a model bundle (safetensors + model.json).
#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "common.h"
#include "latentedit/attributes.h"
#include "latentedit/bundle.h"
#include "latentedit/dataset.h"
#include "latentedit/errors.h"
#include "io/fsutil.h"
#include "io/json_read.h"
#include "latentedit/safetensors.h"
#include "latentedit/train.h"
#include "latentedit/train_report.h"
#include "latentedit/image.h"

namespace latentedit::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct DataSource {
  std::string data;          // CelebA-layout folder
  int64_t procedural = 50000;
  uint64_t data_seed = 1;
  int64_t limit = 0;

  void add_to(CLI::App* app) {
    app->add_option("--data", data, "CelebA-layout folder (list_attr_celeba.txt + img_align_celeba/); default: procedural faces");
    app->add_option("--procedural", procedural, "Number of procedural faces to render when --data is not given")
        ->check(CLI::Range(int64_t{16}, int64_t{5000000}));
    app->add_option("--data-seed", data_seed, "Seed of the procedural faces");
    app->add_option("--limit", limit, "Use only the first N images of --data (0: all)")->check(non_negative());
  }
  Dataset load(bool quiet) const {
    ProgressBar bar(data.empty() ? "render" : "load", data.empty() ? procedural : 1, quiet);
    Dataset d = data.empty() ? render_dataset(data_seed, 0, procedural, 64, [&](int64_t a, int64_t) { bar.update(a); })
                             : load_celeba(data, 64, limit, [&](int64_t a, int64_t b) { (void)a; (void)b; });
    bar.finish();
    return d;
  }
  json describe() const {
    return data.empty() ? json{{"procedural", procedural}, {"data_seed", data_seed}} : json{{"data", data}, {"limit", limit}};
  }
};

struct TrainCommon {
  CommonOptions common;
  DataSource src;
  OutOptions out;
  std::string name = "faces64";
  uint64_t seed = 1;
  int64_t steps = 3000, batch = 0, checkpoint_every = 500;
  bool resume = false;
};

// Publishes a trained network into the bundle DIR: its weights and model.json (read if present,
// else a fresh manifest for `d`; `role` set), staged and committed together.
// A role's file stem: "classifier", or "classifier_2" for ensemble member 2.
std::string member_name(const std::string& role, int64_t member) {
  return member > 0 ? role + "_" + std::to_string(member) : role;
}

// Publishes a trained network into the bundle DIR: its weights and model.json (read if present,
// else a fresh manifest for `d`; `role` set), staged and committed together. Member K > 0 of an
// ensemble is written as ROLE_K.safetensors and joins the role's "members" list (the role's
// single network, if any, becomes member 0).
void publish(const TrainCommon& o, const Dataset& d, const std::string& role, const NamedTensors& weights, const std::string& arch,
             int64_t hidden, const json& training, int64_t z_dim, int64_t member = 0) {
  const std::string path = (fs::path(o.out.out) / "model.json").string();
  json j;
  if (fs::exists(path)) {
    j = parse_json(read_file(path, true), path, ErrorKind::kModel);
    if (j.value("attributes", json(d.attributes)) != json(d.attributes))
      throw ModelError(path + " lists other attributes than the training data; choose another --out");
  } else {
    j = manifest_header(o.name, z_dim > 0 ? z_dim : 64, 64, -1, 1, d.attributes);
  }
  if (z_dim > 0) j["z_dim"] = z_dim;
  const std::string file = member_name(role, member) + ".safetensors";
  json entry = manifest_entry(arch, hidden, file);
  // Ensemble members: the entry joins (or replaces the same file in) the role's member list.
  const bool was_ensemble = j.contains(role) && j[role].is_object() && j[role].value("arch", "") == "ensemble";
  if (member > 0 || was_ensemble) {
    std::vector<json> members;
    if (was_ensemble && j[role].contains("members") && j[role]["members"].is_array())
      for (const json& e : j[role]["members"]) members.push_back(e);
    else if (j.contains(role) && j[role].is_object())
      members.push_back(j[role]);
    members.erase(std::remove_if(members.begin(), members.end(), [&](const json& e) { return e.value("weights", "") == file; }),
                  members.end());
    members.push_back(entry);
    std::sort(members.begin(), members.end(),
              [](const json& a, const json& b) { return a.value("weights", "") < b.value("weights", ""); });
    if (members.size() > 1) entry = {{"arch", "ensemble"}, {"members", members}};
  }
  j[role] = entry;
  j["training"][member_name(role, member)] = training;
  StagedDir staged(o.out.out, "train", o.out.force, StagedDir::kAdd);  // the bundle grows: other networks stay
  staged.add(file, serialize_safetensors(weights, {{"format", "pt"}}));
  staged.add("model.json", j.dump(2) + "\n");
  staged.commit();
}

TrainCallback bar_callback(ProgressBar& bar) {
  return [&bar](const TrainStats& s) {
    std::string extra;
    char b[48];
    for (const auto& [k, v] : s.losses) {
      std::snprintf(b, sizeof b, "%s=%.4f ", k.c_str(), v);
      extra += b;
    }
    bar.update(s.step, extra);
  };
}

// The options every training loop shares, from the common flags.
template <typename T>
void fill_common(const TrainCommon& o, T& t, const std::string& checkpoint_name, int64_t default_batch) {
  t.steps = o.steps;
  t.batch = o.batch > 0 ? o.batch : default_batch;
  t.seed = o.seed;
  t.checkpoint = (fs::path(o.out.out) / checkpoint_name).string();
  t.checkpoint_every = o.checkpoint_every;
  t.resume = o.resume;
}

struct ClsOptions : TrainCommon {
  int64_t hidden = 32;
  double lr = 1e-3;
  std::string role = "classifier";
  double adversarial = 0.0;
  int64_t pgd_steps = 3;
  bool augment = false;
  std::string init;
  int64_t member = 0;
};

int run_train_classifier(const ClsOptions& o) {
  const int threads = o.common.apply_threads();
  claim_output(o.out.out, "train", o.out.force);  // before any work; created only once training starts
  const Dataset d = o.src.load(o.common.quiet);
  ClassifierTrainOptions t;
  fill_common(o, t, member_name(o.role, o.member) + ".ckpt", 128);
  t.hidden_dim = o.hidden;
  t.lr = o.lr;
  t.adversarial_eps = o.adversarial;
  t.pgd_steps = o.pgd_steps;
  t.augment = o.augment;
  if (!o.init.empty()) {
    const Network init = load_network_file(o.init, "--init classifier", false);
    if (!init.module) throw UsageError("--init needs course-architecture weights (.safetensors or .pth), not TorchScript");
    t.init = state_dict(*init.module);
    t.hidden_dim = init.hidden_dim;
  }
  adopt_output(o.out.out, "train");  // only once the data and the initial weights have loaded
  ProgressBar bar("train " + o.role, o.steps, o.common.quiet);
  TrainStats last;
  auto cb = bar_callback(bar);
  const auto t0 = std::chrono::steady_clock::now();
  Classifier net = train_classifier(d, t, [&](const TrainStats& s) { last = s; cb(s); });
  bar.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string file = member_name(o.role, o.member) + ".safetensors";
  const json training = {{"steps", o.steps}, {"batch", t.batch}, {"lr", o.lr}, {"seed", o.seed}, {"threads", threads},
                         {"adversarial_eps", o.adversarial}, {"pgd_steps", o.pgd_steps}, {"augment", o.augment},
                         {"init", o.init.empty() ? json(nullptr) : json(o.init)},
                         {"seconds", secs}, {"final_losses", last.losses}, {"source", o.src.describe()}};
  publish(o, d, o.role, state_dict(*net), "dcgan-course-classifier", t.hidden_dim, training, 0, o.member);
  std::printf("wrote %s/%s (%s, hidden %lld) in %.0f s\n", o.out.out.c_str(), file.c_str(), o.role.c_str(),
              static_cast<long long>(o.hidden), secs);
  return 0;
}

struct GanOptions : TrainCommon {
  int64_t z_dim = 64, g_hidden = 32, d_hidden = 32;
  double lr_g = 2e-4, lr_d = 2e-4, ema = 0.999, hessian = 0.0, hessian_eps = 0.1;
  std::string recipe = "default", loss = "hinge", discriminator = "dcgan", spectral_norm = "on";
  std::vector<double> betas = {0.0, 0.9};
  int64_t d_steps = 1, diagnose_every = 250, diagnose_samples = 256, log_every = 20;
  std::string judge;
  CLI::App* app = nullptr;  // to tell flags given from defaults (--recipe fills the others)
};

constexpr const char* kTrainingLog = "training_log.jsonl";
constexpr const char* kSamplesDir = "training_samples";
constexpr const char* kReport = "training_report.png";

// "step_000250.png" -> 250; -1 for any other name.
int64_t sample_step(const std::string& name) {
  if (name.size() != 15 || name.rfind("step_", 0) != 0 || name.substr(11) != ".png") return -1;
  for (size_t i = 5; i < 11; ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  return std::stoll(name.substr(5, 6));
}

// A training run's log and sample rows as written by `train gan` into `dir`.
TrainingRun read_training_run(const std::string& dir, const std::string& name) {
  const fs::path log = fs::path(dir) / kTrainingLog;
  if (!fs::exists(log))
    throw InputError(log.string() + " does not exist; train with `latentedit train gan --out " + dir + "` first");
  TrainingRun run;
  run.name = name;
  run.log = parse_json_lines(read_file(log.string()), log.string());
  const fs::path sd = fs::path(dir) / kSamplesDir;
  if (fs::is_directory(sd)) {
    for (const auto& e : fs::directory_iterator(sd)) {
      const int64_t st = sample_step(e.path().filename().string());
      if (st >= 0) run.samples.emplace_back(st, read_image(e.path().string()));
    }
    std::sort(run.samples.begin(), run.samples.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  }
  return run;
}

// The run's records and sample rows from `from_step` on are dropped (a resumed run redoes them;
// a fresh run, from_step 0, starts a new log).
void trim_training_run(const fs::path& dir, int64_t from_step) {
  const fs::path log = dir / kTrainingLog;
  if (fs::exists(log)) {
    std::string kept;
    if (from_step > 0)
      for (const auto& r : parse_json_lines(read_file(log.string()), log.string()))
        if (r.value("step", int64_t{0}) <= from_step && !(r.contains("event") && r.value("step", int64_t{0}) == from_step))
          kept += r.dump() + "\n";
    write_file_atomic(log.string(), kept);
  }
  const fs::path sd = dir / kSamplesDir;
  if (fs::is_directory(sd))
    for (const auto& e : fs::directory_iterator(sd)) {
      const int64_t st = sample_step(e.path().filename().string());
      if (st >= 0 && (from_step == 0 || st > from_step)) fs::remove(e.path());
    }
}

void append_line(const fs::path& path, const std::string& line) {
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (!f) throw IoError("cannot append to " + path.string() + ": " + std::strerror(errno));
  const bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size() && std::fputc('\n', f) != EOF;
  if (std::fclose(f) != 0 || !ok) throw IoError("cannot append to " + path.string() + " (disk full?)");
}

json diagnostics_json(const CollapseDiagnostics& d, const std::vector<std::string>& attributes) {
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json j = {{"pairwise_ratio", num(d.pairwise_ratio)}, {"duplicate_share", num(d.duplicate_share)},
            {"frequency_gap", num(d.frequency_gap)}, {"max_frequency_gap", num(d.max_frequency_gap)},
            {"frechet", num(d.frechet)}, {"collapsing", d.collapsing}};
  if (d.worst_attribute >= 0 && d.worst_attribute < static_cast<int>(attributes.size()))
    j["worst_attribute"] = attributes[d.worst_attribute];
  if (d.collapsing) j["reason"] = d.reason;
  return j;
}

// --recipe course: the course's BCE GAN (the non-saturating loss, its BatchNorm discriminator,
// Adam (0.5, 0.999), no spectral norm, no EMA, BatchNorm weights ~ N(0, 0.02)); flags given
// explicitly win over the recipe.
void apply_recipe(GanOptions& o, GanTrainOptions& t) {
  const bool course = o.recipe == "course";
  auto given = [&](const char* flag) { return o.app && o.app->count(flag) > 0; };
  t.loss = given("--loss") || !course ? o.loss : "non-saturating";
  t.discriminator = given("--discriminator") || !course ? o.discriminator : "course";
  t.spectral_norm = (given("--spectral-norm") || !course ? o.spectral_norm : "off") == "on";
  const std::vector<double> betas = given("--betas") || !course ? o.betas : std::vector<double>{0.5, 0.999};
  t.beta1 = betas[0];
  t.beta2 = betas[1];
  t.ema = given("--ema") || !course ? o.ema : 0.0;
  t.g_bn_gamma_mean = course ? 0.0 : 1.0;
}

int run_train_gan(GanOptions& o) {
  const int threads = o.common.apply_threads();
  claim_output(o.out.out, "train", o.out.force);
  if (o.betas.size() != 2 || o.betas[0] < 0 || o.betas[0] >= 1 || o.betas[1] < 0 || o.betas[1] >= 1)
    throw UsageError("--betas needs two values in [0, 1), e.g. --betas 0.5,0.999");
  std::optional<Models> judge;  // only its classifier is used
  fs::path judge_file = o.judge;
  if (judge_file.empty())
    for (const char* f : {"auditor.safetensors", "classifier.safetensors"})
      if (fs::exists(fs::path(o.out.out) / f)) {
        judge_file = fs::path(o.out.out) / f;
        break;
      }
  if (!judge_file.empty() && o.diagnose_every > 0) judge = load_from_files("", judge_file.string());  // probed: finite, (1, C)
  const Dataset d = o.src.load(o.common.quiet);
  if (judge && judge->attributes.size() != d.attributes.size())
    throw ModelError("--judge " + judge_file.string() + " scores " + std::to_string(judge->attributes.size()) +
                     " attributes, the training data has " + std::to_string(d.attributes.size()) + "; use a classifier of this data");
  adopt_output(o.out.out, "train");  // only once the data has loaded
  GanTrainOptions t;
  t.z_dim = o.z_dim;
  t.g_hidden = o.g_hidden;
  t.d_hidden = o.d_hidden;
  fill_common(o, t, "generator.ckpt", 64);
  t.lr_g = o.lr_g;
  t.lr_d = o.lr_d;
  t.d_steps = o.d_steps;
  t.hessian_penalty = o.hessian;
  t.hessian_eps = o.hessian_eps;
  apply_recipe(o, t);
  t.diagnose_every = o.diagnose_every;
  t.report_every = o.log_every;
  t.diagnose_samples = o.diagnose_samples;
  t.judge = judge ? &judge->classifier : nullptr;
  const fs::path dir = o.out.out;
  const json settings = {{"recipe", o.recipe}, {"loss", t.loss}, {"d_steps", t.d_steps}, {"discriminator", t.discriminator},
                         {"spectral_norm", t.spectral_norm}, {"betas", {t.beta1, t.beta2}}, {"ema", t.ema},
                         {"g_bn_gamma_mean", t.g_bn_gamma_mean}, {"hessian_penalty", t.hessian_penalty},
                         {"hessian_eps", t.hessian_eps}, {"lr_g", o.lr_g}, {"lr_d", o.lr_d}, {"steps", o.steps},
                         {"batch", t.batch}, {"g_hidden", o.g_hidden}, {"d_hidden", o.d_hidden}, {"z_dim", o.z_dim},
                         {"seed", o.seed}, {"threads", threads}, {"diagnose_every", o.diagnose_every}, {"log_every", o.log_every},
                         {"judge", judge_file.empty() ? json(nullptr) : json(judge_file.string())}, {"source", o.src.describe()}};
  ProgressBar bar("train gan", o.steps, o.common.quiet);
  TrainStats last;
  auto cb = bar_callback(bar);
  bool started = false;
  TrainingRun run;
  auto write_report = [&] {
    if (run.log.empty()) return;
    write_file_atomic((dir / kReport).string(),
                      encode_png(training_report({run}, "train gan: " + t.loss + ", " + t.discriminator + " D" +
                                                            (t.spectral_norm ? " + spectral norm" : "") + ", d-steps " +
                                                            std::to_string(t.d_steps) + " (" + dir.filename().string() + ")")));
  };
  const auto t0 = std::chrono::steady_clock::now();
  Generator g = train_gan(d, t, [&](const TrainStats& s) {
    last = s;
    if (!started) {  // the log continues where the checkpoint does
      started = true;
      trim_training_run(dir, s.resumed_from);
      if (s.resumed_from > 0) run = read_training_run(dir.string(), dir.filename().string());
      append_line(dir / kTrainingLog, json{{"event", s.resumed_from > 0 ? "resume" : "start"}, {"step", s.resumed_from},
                                           {"settings", settings}}.dump());
    }
    json rec = {{"step", s.step}, {"seconds", s.seconds}, {"d_updates", s.d_updates}, {"g_updates", s.g_updates}};
    for (const auto& [k, v] : s.losses) rec[k] = std::isfinite(v) ? json(v) : json(nullptr);
    if (s.diagnostics) {
      rec["diagnostics"] = diagnostics_json(*s.diagnostics, d.attributes);
      // One row: the samples side by side, 2 px apart.
      const int64_t n = s.samples.size(0), S = s.samples.size(3);
      cv::Mat row(static_cast<int>(S), static_cast<int>(n * (S + 2) - 2), CV_8UC3, cv::Scalar(255, 255, 255));
      for (int64_t i = 0; i < n; ++i)
        tensor_to_bgr(s.samples[i]).copyTo(row(cv::Rect(static_cast<int>(i * (S + 2)), 0, static_cast<int>(S), static_cast<int>(S))));
      make_dirs((dir / kSamplesDir).string());
      char name[32];
      std::snprintf(name, sizeof name, "step_%06lld.png", static_cast<long long>(s.step));
      write_file_atomic((dir / kSamplesDir / name).string(), encode_png(row));
      run.samples.emplace_back(s.step, row);
      if (s.diagnostics->collapsing)
        log(o.common.quiet, "warning: step " + std::to_string(s.step) + ": the generator looks collapsed: " + s.diagnostics->reason);
    }
    append_line(dir / kTrainingLog, rec.dump());
    run.log.push_back(rec);
    if (s.diagnostics) write_report();
    cb(s);
  });
  bar.finish();
  write_report();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json training = settings;
  training["seconds"] = secs;
  training["final_losses"] = last.losses;
  training["discriminator"] = t.discriminator + (t.spectral_norm ? ", spectral norm" : "");
  if (last.diagnostics) training["final_diagnostics"] = diagnostics_json(*last.diagnostics, d.attributes);
  publish(o, d, "generator", state_dict(*g), "dcgan-course-generator", o.g_hidden, training, o.z_dim);
  std::printf("wrote %s/generator.safetensors (hidden %lld, %lld steps, %s loss) in %.0f s\n", o.out.out.c_str(),
              static_cast<long long>(o.g_hidden), static_cast<long long>(o.steps), t.loss.c_str(), secs);
  if (last.diagnostics)
    std::printf("diagnostics: pairwise ratio %.3f, near-duplicates %.1f%%%s%s\n", last.diagnostics->pairwise_ratio,
                100 * last.diagnostics->duplicate_share,
                std::isfinite(last.diagnostics->frequency_gap)
                    ? (", attribute frequency gap " + std::to_string(last.diagnostics->frequency_gap).substr(0, 5) +
                       ", Frechet " + std::to_string(last.diagnostics->frechet).substr(0, 6))
                          .c_str()
                    : "",
                last.diagnostics->collapsing ? " -- COLLAPSING" : "");
  if (!run.log.empty()) std::printf("report: %s\n", (dir / kReport).c_str());
  return 0;
}

struct ReportOptions {
  std::vector<std::string> dirs, names;
  std::string out, title, summary;
  bool force = false, quiet = false;
  int rows = 6;
  int64_t early_steps = 200;
};

int run_train_report(const ReportOptions& o) {
  if (!o.names.empty() && o.names.size() != o.dirs.size())
    throw UsageError("--names has " + std::to_string(o.names.size()) + " names for " + std::to_string(o.dirs.size()) + " runs; give one per DIR");
  if (o.dirs.size() > 1 && o.out.empty()) throw UsageError("comparing runs needs --out FILE.png");
  std::vector<TrainingRun> runs;
  for (size_t i = 0; i < o.dirs.size(); ++i)
    runs.push_back(read_training_run(o.dirs[i], o.names.empty() ? fs::path(o.dirs[i]).filename().string() : o.names[i]));
  const std::string out = o.out.empty() ? (fs::path(o.dirs[0]) / kReport).string() : o.out;
  if (!o.out.empty()) claim_output_file(out, o.force);
  std::string title = o.title;
  if (title.empty())
    for (size_t i = 0; i < runs.size(); ++i) title += (i ? " vs " : "GAN training: ") + runs[i].name;
  write_file_atomic(out, encode_png(training_report(runs, title, o.rows)));
  // The runs in numbers: a Markdown table on stdout (the experiment in docs/GAN_TRAINING.md).
  auto cell = [](const json& v, const char* f) {
    if (!v.is_number()) return std::string("-");
    char b[32];
    std::snprintf(b, sizeof b, f, v.get<double>());
    return std::string(b);
  };
  std::printf("| run | steps | D updates | time | G grad norm, median of steps 1-%lld | dG loss/d logit (RMS), median of steps 1-%lld | "
              "D(x) | D(G(z)) | pairwise ratio | near-duplicates | frequency gap | Frechet |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
              static_cast<long long>(o.early_steps), static_cast<long long>(o.early_steps));
  json all = json::array();
  for (const auto& r : runs) {
    const json s = training_summary(r, o.early_steps);
    all.push_back(s);
    const json& d = s["diagnostics"];
    auto dg = [&](const char* k) { return d.is_object() && d.contains(k) ? d[k] : json(nullptr); };
    std::printf("| %s | %s | %s | %s s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name.c_str(), cell(s["step"], "%.0f").c_str(),
                cell(s["d_updates"], "%.0f").c_str(), cell(s["seconds"], "%.0f").c_str(), cell(s["early_g_grad_norm_median"], "%.3g").c_str(),
                cell(s["early_g_logit_grad_median"], "%.3g").c_str(), cell(s["d_real"], "%.3f").c_str(), cell(s["d_fake"], "%.3f").c_str(),
                cell(dg("pairwise_ratio"), "%.3f").c_str(), cell(dg("duplicate_share"), "%.3f").c_str(),
                cell(dg("frequency_gap"), "%.3f").c_str(), cell(dg("frechet"), "%.2f").c_str());
  }
  if (!o.summary.empty()) {
    claim_output_file(o.summary, o.force);
    write_file_atomic(o.summary, all.dump(2) + "\n");
  }
  log(o.quiet, "wrote " + out);
  return 0;
}

void add_common(CLI::App* app, TrainCommon& o) {
  o.src.add_to(app);
  o.out.add_to(app, "Bundle directory to write into (networks trained into it accumulate; model.json is updated)");
  app->add_option("--name", o.name, "Bundle name (when model.json is new)");
  app->add_option("--seed", o.seed, "Training seed (initialisation, batch order, noise)");
  app->add_option("--steps", o.steps, "Optimisation steps")->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  app->add_option("--batch", o.batch, "Batch size (default 128 classifier, 64 gan)")->check(CLI::Range(int64_t{1}, int64_t{65536}));
  app->add_option("--checkpoint-every", o.checkpoint_every, "Steps between checkpoints (DIR/<role>.ckpt)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  app->add_flag("--resume", o.resume, "Continue from DIR/<role>.ckpt if present");
  o.common.add_to(app, /*models=*/false);
}
}  // namespace

void register_train(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  CLI::App* train = root.add_subcommand("train", "Train the classifier/auditor or the GAN");
  train->require_subcommand(1);
  auto c = std::make_shared<ClsOptions>();
  c->common.argv0 = argv0;
  CLI::App* ca = train->add_subcommand("classifier", "Train the course classifier (or the auditor with --role auditor)");
  add_common(ca, *c);
  ca->add_option("--hidden", c->hidden, "hidden_dim of the course classifier")->check(CLI::Range(int64_t{1}, int64_t{1024}));
  ca->add_option("--lr", c->lr, "Adam learning rate")->check(positive());
  ca->add_option("--role", c->role, "classifier (used to edit) or auditor (only judges edits)")
      ->check(CLI::IsMember({"classifier", "auditor"}));
  ca->add_option("--adversarial", c->adversarial,
                 "PGD adversarial training: L-inf radius EPS in the [-1,1] input range (0 = off); loss = (clean + adversarial) / 2")
      ->check(real_range(0.0, 1.0));
  ca->add_option("--pgd-steps", c->pgd_steps, "PGD steps per batch (step 2.5*EPS/K, random start)")->check(CLI::Range(int64_t{1}, int64_t{100}));
  ca->add_option("--member", c->member,
                 "Ensemble member K (1..15): write ROLE_K.safetensors and add it to the role's ensemble in model.json (logits "
                 "averaged over the members; train each with its own --seed and --data-seed); 0 = the single network")
      ->check(CLI::Range(int64_t{0}, int64_t{15}));
  ca->add_flag("--augment", c->augment, "Random horizontal flips and +-2 px shifts");
  ca->add_option("--init", c->init, "Start from this classifier's weights (.safetensors/.pth) instead of random: fine-tuning");
  cmds.push_back({ca, [c] { return run_train_classifier(*c); }});

  auto g = std::make_shared<GanOptions>();
  g->common.argv0 = argv0;
  std::string losses_help = "Loss (D's logit l, D = sigmoid(l)):";
  for (const auto& l : gan_losses()) losses_help += "\n  " + l.name + ": " + l.formula;
  CLI::App* ga = train->add_subcommand("gan", "Train a course-architecture generator (default: hinge loss, spectral-norm D, EMA; "
                                              "--recipe course: the course's BCE GAN)");
  g->app = ga;
  add_common(ga, *g);
  ga->add_option("--recipe", g->recipe, "default (hinge, dcgan D + spectral norm, Adam (0, 0.9), EMA 0.999) or course (non-saturating "
                                        "BCE, the course's BatchNorm D, Adam (0.5, 0.999), no EMA, BN weights ~ N(0, 0.02)); "
                                        "flags given explicitly override the recipe")
      ->check(CLI::IsMember({"default", "course"}));
  ga->add_option("--loss", g->loss, losses_help)->check(CLI::IsMember({"minimax", "non-saturating", "hinge"}));
  ga->add_option("--d-steps", g->d_steps, "Discriminator updates (each on a fresh batch) per generator update (the paper's k)")
      ->check(CLI::Range(int64_t{1}, int64_t{100}));
  ga->add_option("--discriminator", g->discriminator, "dcgan (convs k4 s2 p1 3->h->2h->4h->8h, no BatchNorm) or course (the course "
                                                      "Classifier layout with BatchNorm, one output)")
      ->check(CLI::IsMember({"dcgan", "course"}));
  ga->add_option("--spectral-norm", g->spectral_norm, "Spectrally normalise every D conv: on or off")->check(CLI::IsMember({"on", "off"}));
  ga->add_option("--betas", g->betas, "Adam betas for both networks, B1,B2")->delimiter(',')->expected(2);
  ga->add_option("--z-dim", g->z_dim, "Latent size")->check(CLI::Range(int64_t{1}, int64_t{4096}));
  ga->add_option("--g-hidden", g->g_hidden, "Generator hidden_dim")->check(CLI::Range(int64_t{1}, int64_t{1024}));
  ga->add_option("--d-hidden", g->d_hidden, "Discriminator width")->check(CLI::Range(int64_t{1}, int64_t{1024}));
  ga->add_option("--lr-g", g->lr_g, "Generator Adam learning rate")->check(positive());
  ga->add_option("--lr-d", g->lr_d, "Discriminator Adam learning rate")->check(positive());
  ga->add_option("--ema", g->ema, "EMA decay of the exported generator (0 = off)")->check(real_range(0.0, 0.99999));
  ga->add_option("--hessian-penalty", g->hessian, "Weight of the Hessian penalty on G w.r.t. z (Peebles et al. 2020; 0 = off): "
                                                  "variance over 2 Rademacher directions of G's second difference, max over pixels, "
                                                  "on 16 latents per batch; a run may switch it on when resuming")
      ->check(real_range(0.0, 1e6));
  ga->add_option("--hessian-eps", g->hessian_eps, "Finite-difference step of the Hessian penalty")->check(real_range(1e-4, 10.0));
  ga->add_option("--diagnose-every", g->diagnose_every, "Mode-collapse diagnostics and a row of samples every N generator updates "
                                                        "(DIR/training_samples/, DIR/training_report.png; 0 = off)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}));
  ga->add_option("--log-every", g->log_every, "Steps per DIR/training_log.jsonl record (losses, D outputs, gradient norms: means over them)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  ga->add_option("--diagnose-samples", g->diagnose_samples, "Samples (and training images) the diagnostics compare")
      ->check(CLI::Range(int64_t{8}, int64_t{4096}));
  ga->add_option("--judge", g->judge, "Classifier for the diagnostics' attribute frequencies and Frechet distance (default: DIR's "
                                      "auditor, else its classifier, else none)");
  cmds.push_back({ga, [g] { return run_train_gan(*g); }});

  auto r = std::make_shared<ReportOptions>();
  CLI::App* ra = train->add_subcommand("report", "Draw a GAN run's training_log.jsonl and samples as one PNG (several DIRs: compare "
                                                 "them) and print the runs' figures as a Markdown table");
  ra->add_option("DIR", r->dirs, "Directories trained with `train gan`")->required();
  ra->add_option("--out", r->out, "PNG to write (default with one DIR: DIR/training_report.png)");
  ra->add_option("--names", r->names, "Legend names, one per DIR (default: the directory names)")->delimiter(',');
  ra->add_option("--title", r->title, "Title line");
  ra->add_option("--rows", r->rows, "Rows of samples over time (one DIR)")->check(CLI::Range(1, 50));
  ra->add_option("--early-steps", r->early_steps, "The table's gradient medians cover steps 1..N")->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  ra->add_option("--summary", r->summary, "Also write the table's numbers as JSON to this file");
  ra->add_flag("--force", r->force, "Replace existing --out / --summary files");
  ra->add_flag("-q,--quiet", r->quiet, "No log line on stderr");
  cmds.push_back({ra, [r] { return run_train_report(*r); }});
}

}  // namespace latentedit::cli
