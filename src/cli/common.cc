#include "common.h"
#include "io/json_read.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "io/runtime.h"
#include "edit/spec_fields.h"
#include "model/networks.h"

namespace latentedit::cli {

void CommonOptions::add_to(CLI::App* app, bool models) {
  app->add_option("--threads", threads, "CPU threads for torch (0: $OMP_NUM_THREADS if set, else all cores)")->check(CLI::Range(0, 1024));
  app->add_flag("-q,--quiet", quiet, "No progress or log lines on stderr");
  if (!models) return;
  app->add_option("--model", model, "Model bundle directory (default: $LATENTEDIT_MODEL or the bundled pretrained/faces64)");
  auto* g = app->add_option("--generator", generator, "Generator file (.pth, .safetensors or TorchScript .pt) instead of --model");
  auto* c = app->add_option("--classifier", classifier, "Classifier file (.pth, .safetensors or TorchScript .pt) instead of --model");
  g->excludes("--model");
  c->excludes("--model");
}

int CommonOptions::apply_threads() const { return set_threads(threads); }

void CommonOptions::add_precision(CLI::App* app) {
  app->add_option("--precision", precision,
                  "fp32 (default) or bf16: the generator and editing classifier in bfloat16 (z, the loss and the updates stay fp32; "
                  "the auditor fp32), for CPUs with AVX-512 BF16 or AMX, refused elsewhere; faster, scores differ slightly "
                  "(docs/PERFORMANCE.md, \"BF16\")")
      ->check(CLI::IsMember({"fp32", "bf16"}));
}

Models CommonOptions::load_models(Needs needs) const {
  const Precision p = parse_precision(precision);
  // The library's messages begin "precision bf16 ...": as the flag, "--precision bf16 ...".
  auto as_flag = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const UsageError& e) {
      throw UsageError(std::string("--") + e.what());
    }
  };
  as_flag([&] { check_precision(p); });  // before loading anything
  Models m;
  if (generator.empty() && classifier.empty()) {
    m = load_bundle(model.empty() ? default_bundle_dir(argv0) : model);
  } else {
    if (generator.empty() && needs != kClassifier)
      throw UsageError("--classifier needs --generator FILE too (this command generates images), or use --model DIR");
    if (classifier.empty() && needs != kGenerator)
      throw UsageError("--generator needs --classifier FILE too (this command scores images), or use --model DIR");
    m = load_from_files(needs == kClassifier ? "" : generator, needs == kGenerator && classifier.empty() ? "" : classifier);
  }
  if (p != Precision::kFp32) as_flag([&] { set_precision(m, p); });
  return m;
}

void OutOptions::add_to(CLI::App* app, const std::string& what) {
  app->add_option("--out", out, what + " (must be new or empty, or a previous output of this command, which is replaced)")
      ->required();
  app->add_flag("--force", force, "Write into an --out that holds other files (files of the same names are replaced, nothing else is touched)");
}

void EditFlags::add_to(CLI::App* app, const std::set<std::string>& skip) {
  nlohmann::json defaults = write_fields(edit_settings_fields(), EditSettings{});
  defaults.erase("show_steps");  // its default depends on --steps (the help says how)
  fields.add(app, field_infos(edit_settings_fields()), defaults, skip);
}

EditSettings settings_from_flags(const nlohmann::json& j, const std::vector<std::string>& attributes) {
  SettingsErrors e = flag_errors("--add");  // the spec as a whole: nothing to edit
  EditSettings s = EditSettings::from_json(j, attributes, e);
  e.throw_first();
  return s;
}

namespace {
CLI::Validator real_check(std::string desc, std::function<bool(double)> ok, std::string want) {
  return CLI::Validator(
      [ok, want](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (end == s.c_str() || *end != '\0') return s + " is not a number";
        if (!std::isfinite(v)) return s + " is not a finite number";
        return ok(v) ? std::string() : s + " is out of range; use " + want;
      },
      std::move(desc));
}
}  // namespace

CLI::Validator non_negative() { return real_check(">= 0", [](double v) { return v >= 0; }, "a value >= 0"); }

void check_numbers(const CLI::App& app) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() == 0) continue;
    const std::string type = opt->get_type_name(), name = opt->get_name();
    for (const std::string& r : opt->results()) {
      if (type.rfind("FLOAT", 0) == 0) {  // "FLOAT" or "FLOAT:POSITIVE", ...
        char* end = nullptr;
        const double v = std::strtod(r.c_str(), &end);
        if (!std::isfinite(v)) throw UsageError(name + ": " + r + " is not a finite number");
      } else if (type.rfind("UINT", 0) == 0) {
        errno = 0;
        if (r.empty() || r.find_first_not_of("0123456789") != std::string::npos)
          throw UsageError(name + ": " + r + " is not a whole number >= 0");
        std::strtoull(r.c_str(), nullptr, 10);
        if (errno == ERANGE) throw UsageError(name + ": " + r + " is too large (at most 18446744073709551615)");
      }
    }
  }
  for (const CLI::App* sub : app.get_subcommands()) check_numbers(*sub);
}

std::string reword_parse_error(std::string what) {
  for (const char* missing : {": 1 required TEXT missing", ": 1 required INT missing", ": 1 required FLOAT missing",
                              ": 1 required UINT missing"})
    if (auto p = what.find(missing); p != std::string::npos) what.replace(p, std::strlen(missing), ": a value is missing");
  return what;
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

std::string remedy_text(const Error& e) {
  const std::string dir = e.subject().empty() ? "DIR" : e.subject();
  switch (e.remedy()) {
    case Remedy::kNone: return "";
    case Remedy::kFitDirections: return " (fit them with `latentedit directions --model " + dir + "`)";
    case Remedy::kTrainGenerator: return " (train one with `latentedit train gan --out " + dir + "`)";
    case Remedy::kTrainClassifier: return " (train one with `latentedit train classifier --out " + dir + "`)";
    case Remedy::kTrainAuditor: return " (train one with `latentedit train classifier --role auditor --out " + dir + "`)";
    case Remedy::kListAttributes: return " (`latentedit attributes` lists them)";
    case Remedy::kRunBatch: return " (run `latentedit batch JOBS.json --out " + dir + "` first)";
    case Remedy::kForce: return ", or pass --force to write into it (files of the same names are replaced, nothing else is touched)";
    case Remedy::kNameShard: return "; or give the shard yourself: --shard I/N";
    case Remedy::kShardCount: return ": pass --shards N with N = the Job's completions";
  }
  return "";
}

void log(bool quiet, const std::string& line) {
  if (!quiet) std::cerr << line << std::endl;
}

void note_without_latent_classifier(const Models& m, Method requested, bool quiet) {
  if (requested != Method::kAuto || has_latent_classifier(m)) return;
  log(quiet, "latentedit: note: " + (m.dir.empty() ? std::string("this model") : m.dir) +
                 " has no latent classifier, so the default edit is the projected cascade; `latentedit directions --model " +
                 (m.dir.empty() ? std::string("DIR") : m.dir) +
                 "` fits one (8.5 min for the bundled model on 2 cores) and makes it the latent method (measured on the bundled "
                 "model: success 96.4 vs 89.3 %, drift 0.119 vs 0.137, fooled 3.4 vs 5.7 %; MODEL_CARD, \"Default speed\")");
}

void print_json(const nlohmann::json& j) { std::cout << dump_text(j, 2) << std::endl; }

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

std::function<void(const InvertProgress&)> invert_progress(std::unique_ptr<ProgressBar>& bar, int64_t batch, bool quiet) {
  return [&bar, batch, quiet](const InvertProgress& p) {
    if (!bar) bar = std::make_unique<ProgressBar>("invert", static_cast<int64_t>(p.steps) * ((p.total + batch - 1) / batch), quiet);
    char b[48];
    std::snprintf(b, sizeof b, "PSNR %.1f dB", p.mean_psnr);
    bar->update((p.done / batch) * p.steps + p.step, b);
  };
}

}  // namespace latentedit::cli
