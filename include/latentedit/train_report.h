// latentedit — a GAN training run as one picture: loss curves, gradient strength (log scale),
// D's outputs, the mode-collapse diagnostics over time, and samples from fixed latents at
// several points of training. Reads the records train gan writes to DIR/training_log.jsonl.
// No torch: plain OpenCV drawing.
#pragma once
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace latentedit {

struct TrainingRun {
  std::string name;                        // shown in legends
  std::vector<nlohmann::json> log;         // training_log.jsonl records (lines without "step" are skipped)
  std::vector<std::pair<int64_t, cv::Mat>> samples;  // (step, a row of samples, BGR 8-bit), by step
};

// One run: six panels and up to `sample_rows` rows of samples (evenly spread, the last always
// shown). Several runs: the same panels with one line per run, and each run's last samples.
cv::Mat training_report(const std::vector<TrainingRun>& runs, const std::string& title, int sample_rows = 6);

// A run in numbers, from its log: wall seconds (resumed segments added), the median generator
// gradient norm and logit gradient over the first `early_steps` steps (the saturation question),
// the last losses and D outputs, and the last diagnostics record (null if none).
nlohmann::json training_summary(const TrainingRun& run, int64_t early_steps = 200);

// A run's directory as TrainingRunWriter (train.h) writes it: its log and sample rows. Throws
// InputError when DIR holds no training log.
TrainingRun read_training_run(const std::string& dir, const std::string& name);

// Parses JSON lines (blank lines skipped); a bad line throws InputError naming `what` and its line.
std::vector<nlohmann::json> parse_json_lines(const std::string& text, const std::string& what);

}  // namespace latentedit
