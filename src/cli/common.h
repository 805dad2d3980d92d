// latentedit CLI — options every subcommand shares, the progress bar, output helpers.
#pragma once
#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "latentedit/bundle.h"
#include "latentedit/editor.h"

namespace latentedit::cli {

// --threads, --model, --generator/--classifier, --quiet: on every subcommand.
struct CommonOptions {
  int threads = 0;
  std::string model, generator, classifier;
  bool quiet = false;
  std::string argv0;

  void add_to(CLI::App* app, bool models = true);
  // Applies --threads; returns the thread count in use.
  int apply_threads() const;
  // Loads --generator/--classifier if given, else --model, else the bundled default.
  Models load_models() const;
};

// The edit settings both `edit` and `evaluate` take (--steps, --step-size, --penalty, ...).
struct EditSettings {
  int steps = 10;
  double step_size = 0.1, penalty = 0.1, prior = 0.0;
  std::string penalty_kind = "l2";
  std::optional<double> target_prob;
  bool batch_mean = false;

  void add_to(CLI::App* app);
  // The spec without targets; validated later against the model.
  EditSpec to_spec() const;
};

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

// Logs one line to stderr unless quiet.
void log(bool quiet, const std::string& line);

// Prints JSON to stdout.
void print_json(const nlohmann::json& j);


}  // namespace latentedit::cli
