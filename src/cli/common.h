// latentedit CLI — options every subcommand shares, the progress bar, output helpers.
#pragma once
#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "flags.h"
#include "latentedit/bundle.h"
#include "latentedit/spec.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/invert.h"

namespace latentedit::cli {

// --threads, --model, --generator/--classifier, --quiet: on every subcommand.
struct CommonOptions {
  int threads = 0;
  std::string model, generator, classifier;
  std::string precision = "fp32";
  bool quiet = false;
  std::string argv0;

  void add_to(CLI::App* app, bool models = true);
  // --precision fp32|bf16, for the commands whose work is the networks' forward and backward passes;
  // load_models applies it.
  void add_precision(CLI::App* app);
  // Applies --threads; returns the thread count in use.
  int apply_threads() const;
  // Loads --generator/--classifier if given, else --model, else the bundled default. With files,
  // only the networks the subcommand uses are required (score: a classifier; sample: a generator).
  // Applies --precision (set_precision).
  enum Needs { kBoth, kGenerator, kClassifier };
  Models load_models(Needs needs = kBoth) const;
};

// --out DIR and --force, for every command that writes a directory; the policy is claim_output's
// (io/fsutil.h, docs/cli.md "Outputs").
struct OutOptions {
  std::string out;
  bool force = false;
  void add_to(CLI::App* app, const std::string& what);
};

// The edit settings' flags (--steps, --step-size, ...: one per field of the library's table,
// src/edit/spec_fields.h), minus `skip`; to_json gives the given ones in EditSettings' JSON form.
struct EditFlags {
  FieldFlags fields;
  void add_to(CLI::App* app, const std::set<std::string>& skip = {});
  nlohmann::json to_json() const { return fields.to_json(); }
};

// EditSettings::from_json for settings that came from flags: an error names the flag
// ("--step-size: ...") instead of the field; throws UsageError with the first problem.
EditSettings settings_from_flags(const nlohmann::json& j, const std::vector<std::string>& attributes);

// A validator for real-valued options whose message prints numbers as a person writes them
// (CLI11's own print DBL_MAX with 309 digits): >= 0. (Options of the field tables are checked by
// their table.)
CLI::Validator non_negative();

// CLI11 lets through what no option means: nan/inf for real numbers, "-1" or 2^64 for
// unsigned ones (wrapped). Checks every given numeric option of the parsed subcommands;
// throws UsageError naming the option.
void check_numbers(const CLI::App& app);
// CLI11's parse messages in the tool's words ("--keep: a value is missing").
std::string reword_parse_error(std::string what);

// Exit codes (documented in README.md "Exit codes").
enum class ExitCode : int {
  kOk = 0,
  kInternal = 1,   // a bug or an unexpected failure inside latentedit or libtorch
  kUsage = 2,      // bad command-line options, job settings or attribute names
  kBadInput = 3,   // unreadable or invalid input data (images, datasets, job files)
  kBadModel = 4,   // missing, corrupt or mismatched model files / bundles
  kIo = 5,         // the output could not be written (permissions, disk full)
  kJobsFailed = 6, // batch: some jobs failed (the others completed; see summary.json)
  kIncomplete = 7, // batch merge: some jobs have not run yet (or their outputs are damaged)
};
// The exit code of a library error.
ExitCode exit_code(const Error& e);

// A subcommand: its CLI11 app and the function that runs it once parsed.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

void register_edit(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0);
void register_info(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0);
void register_data(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0);
void register_train(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0);
void register_evaluate(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0);
void register_convert(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0);
void register_batch(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0);
void register_directions(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0);
void register_serve(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0);
void register_invert(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0);

// A progress bar on stderr: redrawn in place on a terminal, a line every ~10 % otherwise.
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool quiet);
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");

 private:
  std::string label_;
  int64_t total_;
  bool quiet_, tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
  void draw(int64_t done, const std::string& extra, bool final);
};

// invert()'s progress on a bar created at the first report (steps x chunks of `batch` images).
std::function<void(const InvertProgress&)> invert_progress(std::unique_ptr<ProgressBar>& bar, int64_t batch, bool quiet);

// What the CLI tells the user to run for an error's remedy (errors.h): " (fit them with
// `latentedit directions --model DIR`)", or "" for none.
std::string remedy_text(const Error& e);

// Logs one line to stderr unless quiet.
void log(bool quiet, const std::string& line);

// Says once on stderr (unless quiet) that the default edit (method auto) on a bundle without a
// latent classifier runs the projected cascade, and what `latentedit directions` would change.
void note_without_latent_classifier(const Models& m, Method requested, bool quiet);

// Prints JSON to stdout.
void print_json(const nlohmann::json& j);


}  // namespace latentedit::cli
