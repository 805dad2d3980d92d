#include "common.h"

#include <unistd.h>

#include <cmath>
#include <iostream>

#include "latentedit/errors.h"
#include "latentedit/runtime.h"

namespace latentedit::cli {

void CommonOptions::add_to(CLI::App* app, bool models) {
  app->add_option("--threads", threads, "CPU threads for torch (default: all cores)")->check(CLI::Range(0, 1024));
  app->add_flag("-q,--quiet", quiet, "No progress or log lines on stderr");
  if (!models) return;
  app->add_option("--model", model, "Model bundle directory (default: $LATENTEDIT_MODEL or the bundled pretrained/faces64)");
  auto* g = app->add_option("--generator", generator, "Generator file (.pth, .safetensors or TorchScript .pt) instead of --model");
  auto* c = app->add_option("--classifier", classifier, "Classifier file (.pth, .safetensors or TorchScript .pt) instead of --model");
  g->needs(c);
  c->needs(g);
  g->excludes("--model");
  c->excludes("--model");
}

int CommonOptions::apply_threads() const { return set_threads(threads); }

Models CommonOptions::load_models() const {
  if (!generator.empty()) return load_from_files(generator, classifier);
  return load_bundle(model.empty() ? default_bundle_dir(argv0) : model);
}

void EditFlags::add_to(CLI::App* app) {
  app->add_option("--steps", steps, "Gradient steps")->check(CLI::Range(1, 100000));
  app->add_option("--step-size", step_size, "Step size per update")->check(CLI::PositiveNumber);
  app->add_option("--penalty", penalty, "Weight of the kept attributes' change")->check(CLI::NonNegativeNumber);
  app->add_option("--penalty-kind", penalty_kind, "l2 (course), l1 or squared")->check(CLI::IsMember({"l2", "l1", "squared"}));
  app->add_option("--prior", prior, "Weight keeping ||z|| near sqrt(z_dim)")->check(CLI::NonNegativeNumber);
  app->add_option("--target-prob", target_prob, "Stop a latent once every target reaches this probability (remove: 1-p)")
      ->check(CLI::Range(0.0, 1.0));
  app->add_flag("--batch-mean", batch_mean, "Course-exact scaling: gradient of the batch mean (step shrinks with the batch)");
  app->add_option("--method", method,
                  "gradient: ascend target logits - penalty (course); projected: gradient minus its components along the "
                  "kept logits' top --rank Jacobian directions; boundary: move along the target's linear boundary normal "
                  "(InterFaceGAN; needs `latentedit directions`). The default is chosen from the measured success-drift curve "
                  "(README \"Edit quality\"); the course's edit is --method gradient --eot 0 --step-size 0.1 --keep-mask uniform")
      ->check(CLI::IsMember({"gradient", "projected", "boundary"}));
  app->add_option("--keep-mask", keep_mask,
                  "correlation: kept attributes weigh 1-|corr| with the target, so tied ones (Goatee/No_Beard, Bald/hair "
                  "colours) may move with it (used when the bundle has directions and no --keep is given); uniform: all weigh 1")
      ->check(CLI::IsMember({"correlation", "uniform"}));
  app->add_option("--rank", rank, "projected: Jacobian directions of the kept logits removed per step")->check(CLI::Range(1, 64));
  app->add_option("--eot", eot, "gradient/projected: average the target's gradient over N extra random flips/shifts of the image")
      ->check(CLI::Range(0, 64));
  app->add_option("--strength", strength, "boundary: signed distance in z past the target's boundary that each latent reaches")
      ->check(CLI::Range(0.001, 100.0));
  app->add_option("--condition", condition, "boundary: move orthogonally to these attributes' normals (comma-separated)")
      ->delimiter(',');
}

nlohmann::json EditFlags::to_json() const {
  return {{"steps", steps}, {"step_size", step_size}, {"penalty", penalty}, {"penalty_kind", penalty_kind}, {"prior", prior},
          {"target_prob", target_prob ? nlohmann::json(*target_prob) : nlohmann::json(nullptr)}, {"batch_mean", batch_mean},
          {"method", method}, {"keep_mask", keep_mask}, {"rank", rank}, {"eot", eot}, {"strength", strength},
          {"condition", condition}};
}

EditSettings settings_from_flags(const nlohmann::json& j, const std::vector<std::string>& attributes) {
  SettingsErrors e;
  e.path_of = [](const std::string& f) {
    std::string flag = f.substr(0, f.find_first_of(".["));
    for (auto& c : flag)
      if (c == '_') c = '-';
    if (flag.empty()) flag = "add";  // the spec as a whole: nothing to edit
    return "--" + flag;
  };
  EditSettings s = EditSettings::from_json(j, attributes, e);
  if (!e.empty()) throw UsageError(e.errors.front());
  return s;
}

ExitCode exit_code(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::kUsage: return ExitCode::kUsage;
    case ErrorKind::kInput: return ExitCode::kBadInput;
    case ErrorKind::kModel: return ExitCode::kBadModel;
    case ErrorKind::kIo: return ExitCode::kIo;
  }
  return ExitCode::kInternal;
}

void log(bool quiet, const std::string& line) {
  if (!quiet) std::cerr << line << std::endl;
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << std::endl; }

ProgressBar::ProgressBar(std::string label, int64_t total, bool quiet)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), quiet_(quiet), tty_(isatty(2)) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void ProgressBar::update(int64_t done, const std::string& extra) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
    last_draw_ = now;
    draw(done, extra, false);
  } else {
    if (done >= total_) return;  // finish() prints the final line
    const int dec = static_cast<int>(10 * done / total_);
    if (dec == last_decile_) return;
    last_decile_ = dec;
    draw(done, extra, false);
  }
}

void ProgressBar::finish(const std::string& extra) {
  if (!quiet_) draw(total_, extra, true);
}

void ProgressBar::draw(int64_t done, const std::string& extra, bool final) {
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = el > 0 ? done / el : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  const int width = 24;
  const int fill = static_cast<int>(width * done / total_);
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s [%s%s] %lld/%lld %.1f/s %s %.0fs ", label_.c_str(),
                std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(),
                static_cast<long long>(done), static_cast<long long>(total_), rate, final ? "in" : "ETA",
                final ? el : eta);
  std::cerr << (tty_ ? "\r\033[K" : "") << buf << extra << ((final || !tty_) ? "\n" : "") << std::flush;
}

}  // namespace latentedit::cli
