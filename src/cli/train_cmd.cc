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
#include "train/train_fields.h"

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
  bool resume = false;
  FieldFlags flags;  // the options struct's fields (train_fields.h)
};

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

struct ClsOptions : TrainCommon {
  std::string role = "classifier";
  std::string init;
  int64_t member = 0;
};

int run_train_classifier(const ClsOptions& o) {
  SettingsErrors errors = flag_errors();
  ClassifierTrainOptions t = classifier_train_options_from_json(o.flags.to_json(), errors);
  errors.throw_first();
  const int threads = o.common.apply_threads();
  claim_output(o.out.out, "train", o.out.force);  // before any work; created only once training starts
  const Dataset d = o.src.load(o.common.quiet);
  t.checkpoint = (fs::path(o.out.out) / BundleWriter::member_file(o.role, o.member, ".ckpt")).string();
  t.resume = o.resume;
  if (!o.init.empty()) {
    const Network init = load_network_file(o.init, "--init classifier", false);
    if (!init.module) throw UsageError("--init needs course-architecture weights (.safetensors or .pth), not TorchScript");
    t.init = state_dict(*init.module);
    t.hidden_dim = init.hidden_dim;
  }
  adopt_output(o.out.out, "train");  // only once the data and the initial weights have loaded
  ProgressBar bar("train " + o.role, t.steps, o.common.quiet);
  TrainStats last;
  auto cb = bar_callback(bar);
  const auto t0 = std::chrono::steady_clock::now();
  Classifier net = train_classifier(d, t, [&](const TrainStats& s) { last = s; cb(s); });
  bar.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json training = to_json(t);
  training.update({{"threads", threads}, {"init", o.init.empty() ? json(nullptr) : json(o.init)}, {"seconds", secs},
                   {"final_losses", last.losses}, {"source", o.src.describe()}});
  BundleWriter bundle(o.out.out, "train", o.out.force, BundleWriter::kAdd, manifest_header(o.name, 64, 64, -1, 1, d.attributes));
  bundle.put_weights(o.role, state_dict(*net), "dcgan-course-classifier", t.hidden_dim, training, o.member);
  bundle.commit();
  std::printf("wrote %s/%s (%s, hidden %lld) in %.0f s\n", o.out.out.c_str(), BundleWriter::member_file(o.role, o.member, ".safetensors").c_str(),
              o.role.c_str(), static_cast<long long>(t.hidden_dim), secs);
  return 0;
}

struct GanOptions : TrainCommon {
  std::string judge;
};

int run_train_gan(GanOptions& o) {
  SettingsErrors errors = flag_errors();
  GanTrainOptions t = gan_train_options_from_json(o.flags.to_json(), errors);
  errors.throw_first();
  const int threads = o.common.apply_threads();
  claim_output(o.out.out, "train", o.out.force);
  std::optional<Models> judge;  // only its classifier is used
  fs::path judge_file = o.judge;
  if (judge_file.empty())
    for (const char* f : {"auditor.safetensors", "classifier.safetensors"})
      if (fs::exists(fs::path(o.out.out) / f)) {
        judge_file = fs::path(o.out.out) / f;
        break;
      }
  if (!judge_file.empty() && t.diagnose_every > 0) judge = load_from_files("", judge_file.string());  // probed: finite, (1, C)
  const Dataset d = o.src.load(o.common.quiet);
  if (judge && judge->attributes.size() != d.attributes.size())
    throw ModelError("--judge " + judge_file.string() + " scores " + std::to_string(judge->attributes.size()) +
                     " attributes, the training data has " + std::to_string(d.attributes.size()) + "; use a classifier of this data");
  adopt_output(o.out.out, "train");  // only once the data has loaded
  t.checkpoint = (fs::path(o.out.out) / "generator.ckpt").string();
  t.resume = o.resume;
  t.judge = judge ? &judge->classifier : nullptr;
  const fs::path dir = o.out.out;
  json settings = to_json(t);
  settings.update({{"threads", threads}, {"judge", judge_file.empty() ? json(nullptr) : json(judge_file.string())}, {"source", o.src.describe()}});
  TrainingRunWriter run(dir.string(), settings, d.attributes,
                        "train gan: " + t.loss + ", " + t.discriminator + " D" + (t.spectral_norm ? " + spectral norm" : "") +
                            (t.r1 > 0 ? ", R1 " + format_number(t.r1) : "") + ", d-steps " + std::to_string(t.d_steps) + " (" +
                            dir.filename().string() + ")");
  ProgressBar bar("train gan", t.steps, o.common.quiet);
  TrainStats last;
  auto cb = bar_callback(bar);
  const auto t0 = std::chrono::steady_clock::now();
  Generator g = train_gan(d, t, [&](const TrainStats& s) {
    last = s;
    run(s);
    if (s.diagnostics && s.diagnostics->collapsing)
      log(o.common.quiet, "warning: step " + std::to_string(s.step) + ": the generator looks collapsed: " + s.diagnostics->reason);
    cb(s);
  });
  bar.finish();
  run.write_report();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json training = settings;
  training["seconds"] = secs;
  training["final_losses"] = last.losses;
  training["discriminator"] = t.discriminator + (t.spectral_norm ? ", spectral norm" : "");
  if (last.diagnostics) training["final_diagnostics"] = diagnostics_json(*last.diagnostics, d.attributes);
  BundleWriter bundle(o.out.out, "train", o.out.force, BundleWriter::kAdd, manifest_header(o.name, t.z_dim, 64, -1, 1, d.attributes));
  bundle.set("z_dim", t.z_dim);
  bundle.put_weights("generator", state_dict(*g), "dcgan-course-generator", t.g_hidden, training);
  bundle.commit();
  std::printf("wrote %s/generator.safetensors (hidden %lld, %lld steps, %s loss) in %.0f s\n", o.out.out.c_str(),
              static_cast<long long>(t.g_hidden), static_cast<long long>(t.steps), t.loss.c_str(), secs);
  if (last.diagnostics)
    std::printf("diagnostics: pairwise ratio %.3f, near-duplicates %.1f%%%s%s\n", last.diagnostics->pairwise_ratio,
                100 * last.diagnostics->duplicate_share,
                std::isfinite(last.diagnostics->frequency_gap)
                    ? (", attribute frequency gap " + std::to_string(last.diagnostics->frequency_gap).substr(0, 5) +
                       ", Frechet " + std::to_string(last.diagnostics->frechet).substr(0, 6))
                          .c_str()
                    : "",
                last.diagnostics->collapsing ? " -- COLLAPSING" : "");
  if (run.has_log()) std::printf("report: %s\n", (dir / kTrainingReport).c_str());
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
  const std::string out = o.out.empty() ? (fs::path(o.dirs[0]) / kTrainingReport).string() : o.out;
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

// The data, the bundle and the options struct's flags (`table`, defaults from `defaults`).
template <class T>
void add_common(CLI::App* app, TrainCommon& o, const FieldTable<T>& table, const T& defaults) {
  o.src.add_to(app);
  o.out.add_to(app, "Bundle directory to write into (networks trained into it accumulate; model.json is updated)");
  app->add_option("--name", o.name, "Bundle name (when model.json is new)");
  o.flags.add(app, field_infos(table), write_fields(table, defaults));
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
  add_common(ca, *c, classifier_train_fields(), ClassifierTrainOptions{});
  ca->add_option("--role", c->role, "classifier (used to edit) or auditor (only judges edits)")
      ->check(CLI::IsMember({"classifier", "auditor"}));
  ca->add_option("--member", c->member,
                 "Ensemble member K (1..15): write ROLE_K.safetensors and add it to the role's ensemble in model.json (logits "
                 "averaged over the members; train each with its own --seed and --data-seed); 0 = the single network")
      ->check(CLI::Range(int64_t{0}, int64_t{15}));
  ca->add_option("--init", c->init, "Start from this classifier's weights (.safetensors/.pth) instead of random: fine-tuning");
  cmds.push_back({ca, [c] { return run_train_classifier(*c); }});

  auto g = std::make_shared<GanOptions>();
  g->common.argv0 = argv0;
  CLI::App* ga = train->add_subcommand("gan", "Train a course-architecture generator (default: hinge loss, spectral-norm D, EMA; "
                                              "--recipe course: the course's BCE GAN)");
  add_common(ga, *g, gan_train_fields(), GanTrainOptions{});
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
