// A `train gan` run's directory: the log, the sample rows, the report picture and the progress
// file, written by TrainingRunWriter as the training loop reports, read back by read_training_run.
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "io/fsutil.h"
#include "latentedit/errors.h"
#include "latentedit/image.h"
#include "latentedit/train.h"
#include "latentedit/train_report.h"

namespace latentedit {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
// "step_000250.png" -> 250; -1 for any other name.
int64_t sample_step(const std::string& name) {
  if (name.size() != 15 || name.rfind("step_", 0) != 0 || name.substr(11) != ".png") return -1;
  for (size_t i = 5; i < 11; ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  return std::stoll(name.substr(5, 6));
}

void append_line(const fs::path& path, const std::string& line) {
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (!f) throw IoError("cannot append to " + path.string() + ": " + std::strerror(errno));
  const bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size() && std::fputc('\n', f) != EOF;
  if (std::fclose(f) != 0 || !ok) throw IoError("cannot append to " + path.string() + " (disk full?)");
}

// The run's records and sample rows from `from_step` on are dropped (a resumed run redoes them;
// a fresh run, from_step 0, starts a new log).
void trim_training_run(const fs::path& dir, int64_t from_step) {
  const fs::path log = dir / kTrainingLog;
  if (fs::exists(log)) {
    std::string kept;
    if (from_step > 0)
      for (const auto& r : parse_json_lines(read_file(log.string(), false, kMaxJsonFileBytes), log.string()))
        if (r.value("step", int64_t{0}) <= from_step && !(r.contains("event") && r.value("step", int64_t{0}) == from_step))
          kept += r.dump() + "\n";
    write_file_atomic(log.string(), kept);
  }
  const fs::path sd = dir / kTrainingSamples;
  if (fs::is_directory(sd))
    for (const auto& e : fs::directory_iterator(sd)) {
      const int64_t st = sample_step(e.path().filename().string());
      if (st >= 0 && (from_step == 0 || st > from_step)) fs::remove(e.path());
    }
}
}  // namespace

TrainingRun read_training_run(const std::string& dir, const std::string& name) {
  const fs::path log = fs::path(dir) / kTrainingLog;
  if (!fs::exists(log)) throw InputError(log.string() + " does not exist; this directory holds no GAN training run");
  TrainingRun run;
  run.name = name;
  run.log = parse_json_lines(read_file(log.string(), false, kMaxJsonFileBytes), log.string());
  // The fields latentedit writes as numbers must be numbers (or null: a non-finite value), else
  // this is not a log it wrote: refused with the record, before anything is drawn or written.
  for (size_t i = 0; i < run.log.size(); ++i) {
    const json& r = run.log[i];
    if (!r.is_object()) throw InputError(log.string() + ": record " + std::to_string(i + 1) + " is not a JSON object; not a log `train gan` wrote");
    for (const char* k : {"step", "seconds", "d_updates", "g_updates", "d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "g_logit_grad"})
      if (r.contains(k) && !r[k].is_number() && !r[k].is_null())
        throw InputError(log.string() + ": record " + std::to_string(i + 1) + ": \"" + k + "\" is " + r[k].dump().substr(0, 40) +
                         ", not a number; not a log `train gan` wrote");
  }
  const fs::path sd = fs::path(dir) / kTrainingSamples;
  if (fs::is_directory(sd)) {
    for (const auto& e : fs::directory_iterator(sd)) {
      const int64_t st = sample_step(e.path().filename().string());
      if (st >= 0) run.samples.emplace_back(st, read_image(e.path().string()));
    }
    std::sort(run.samples.begin(), run.samples.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  }
  return run;
}

json diagnostics_json(const CollapseDiagnostics& d, const std::vector<std::string>& attributes) {
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json j = {{"pairwise_ratio", num(d.pairwise_ratio)}, {"duplicate_share", num(d.duplicate_share)},
            {"frequency_gap", num(d.frequency_gap)}, {"max_frequency_gap", num(d.max_frequency_gap)},
            {"frechet", num(d.frechet)}, {"collapsing", d.collapsing}};
  if (d.worst_attribute >= 0 && d.worst_attribute < static_cast<int>(attributes.size())) j["worst_attribute"] = attributes[d.worst_attribute];
  if (d.collapsing) j["reason"] = d.reason;
  return j;
}

TrainingRunWriter::TrainingRunWriter(std::string dir, json settings, std::vector<std::string> attributes, std::string title)
    : dir_(std::move(dir)), settings_(std::move(settings)), attributes_(std::move(attributes)), title_(std::move(title)) {}

void TrainingRunWriter::operator()(const TrainStats& s) {
  const fs::path dir = dir_;
  if (!started_) {  // the log continues where the checkpoint does
    started_ = true;
    trim_training_run(dir, s.resumed_from);
    if (s.resumed_from > 0) run_ = read_training_run(dir_, dir.filename().string());
    run_.name = dir.filename().string();
    for (const auto& r : run_.log)  // earlier segments' wall time and resumes
      if (r.contains("event")) resumes_ += r["event"] == "resume";
    append_line(dir / kTrainingLog, json{{"event", s.resumed_from > 0 ? "resume" : "start"}, {"step", s.resumed_from},
                                         {"settings", settings_}}.dump());
    if (s.resumed_from > 0) ++resumes_;
    earlier_seconds_ = training_summary(run_).value("seconds", 0.0);
    if (!std::isfinite(earlier_seconds_)) earlier_seconds_ = 0.0;
  }
  json rec = {{"step", s.step}, {"seconds", s.seconds}, {"d_updates", s.d_updates}, {"g_updates", s.g_updates}};
  for (const auto& [k, v] : s.losses) rec[k] = std::isfinite(v) ? json(v) : json(nullptr);
  if (s.diagnostics) {
    rec["diagnostics"] = diagnostics_json(*s.diagnostics, attributes_);
    last_diagnostics_ = rec["diagnostics"];
    // One row: the samples side by side, 2 px apart.
    const int64_t n = s.samples.size(0), S = s.samples.size(3);
    cv::Mat row(static_cast<int>(S), static_cast<int>(n * (S + 2) - 2), CV_8UC3, cv::Scalar(255, 255, 255));
    for (int64_t i = 0; i < n; ++i)
      tensor_to_bgr(s.samples[i]).copyTo(row(cv::Rect(static_cast<int>(i * (S + 2)), 0, static_cast<int>(S), static_cast<int>(S))));
    make_dirs((dir / kTrainingSamples).string());
    char name[32];
    std::snprintf(name, sizeof name, "step_%06lld.png", static_cast<long long>(s.step));
    write_file_atomic((dir / kTrainingSamples / name).string(), encode_png(row));
    run_.samples.emplace_back(s.step, row);
  }
  append_line(dir / kTrainingLog, rec.dump());
  run_.log.push_back(rec);
  if (s.diagnostics) write_report();
  // The progress file: what a person checking on a long run wants, rewritten at every report.
  const double rate = s.seconds > 0 ? (s.step - s.resumed_from) / s.seconds : 0.0;
  json p = {{"step", s.step}, {"steps", s.steps}, {"steps_per_second", rate},
            {"eta_seconds", rate > 0 ? json((s.steps - s.step) / rate) : json(nullptr)},
            {"seconds_this_sitting", s.seconds}, {"seconds_total", earlier_seconds_ + s.seconds}, {"resumes", resumes_},
            {"images_seen", s.g_updates * settings_.value("batch", int64_t{0})}, {"losses", rec},
            {"latest_diagnostics", last_diagnostics_}, {"updated_unix", static_cast<int64_t>(std::time(nullptr))}};
  rec.erase("diagnostics");
  p["losses"] = rec;
  write_file_atomic((dir / kTrainingProgress).string(), p.dump(1) + "\n");
}

void TrainingRunWriter::write_report() const {
  if (run_.log.empty()) return;
  write_file_atomic((fs::path(dir_) / kTrainingReport).string(), encode_png(training_report({run_}, title_)));
}

}  // namespace latentedit
