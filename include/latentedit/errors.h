// latentedit — error types. The library throws these; front ends (the CLI, the server) map
// each kind to their own signal (the CLI's exit codes are in src/cli/common.h).
//
// Every message says what failed and how to fix it, in one line.
#pragma once
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace latentedit {

// What kind of thing went wrong.
enum class ErrorKind {
  kUsage,  // invalid settings: option values, attribute names, edit specifications
  kInput,  // unreadable or invalid input data: images, datasets, job files
  kModel,  // missing, corrupt or mismatched model files / bundles
  kIo,     // the output could not be written (permissions, disk full)
};

// A step that would fix an error, for each front end to name in its own words (the CLI: the
// command to run). The message says what is wrong; the remedy, when there is one, what to do.
enum class Remedy {
  kNone,
  kFitDirections,    // fit the bundle's directions (boundaries, latent classifier, thumbnail model)
  kTrainGenerator,   // train a generator into the bundle
  kTrainClassifier,  // train an editing classifier into the bundle
  kTrainAuditor,     // train an auditor into the bundle
  kListAttributes,   // list the bundle's attributes
  kRunBatch,         // run the batch into this output first
  kForce,            // write into the existing output anyway (files of the same names are replaced)
  kNameShard,        // name the shard and the shard count yourself
  kShardCount,       // give the shard count (a Kubernetes Indexed Job's completions)
};

// The remedy in plain words ("fit the bundle's directions"), "" for none.
inline const char* describe(Remedy r) {
  switch (r) {
    case Remedy::kNone: return "";
    case Remedy::kFitDirections: return "fit the bundle's directions";
    case Remedy::kTrainGenerator: return "train a generator into the bundle";
    case Remedy::kTrainClassifier: return "train a classifier into the bundle";
    case Remedy::kTrainAuditor: return "train an auditor into the bundle";
    case Remedy::kListAttributes: return "list the bundle's attributes";
    case Remedy::kRunBatch: return "run the batch into this directory first";
    case Remedy::kForce: return "or write into it anyway: files of the same names are replaced, nothing else is touched";
    case Remedy::kNameShard: return "or name the shard and the shard count";
    case Remedy::kShardCount: return "give the shard count (the Job's completions)";
  }
  return "";
}

// Base class of all latentedit errors. `subject`: what the remedy applies to (a bundle or output
// directory), "" when unknown.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg, Remedy remedy = Remedy::kNone, std::string subject = "")
      : std::runtime_error(msg), kind_(kind), remedy_(remedy), subject_(std::move(subject)) {}
  ErrorKind kind() const noexcept { return kind_; }
  Remedy remedy() const noexcept { return remedy_; }
  const std::string& subject() const noexcept { return subject_; }

 private:
  ErrorKind kind_;
  Remedy remedy_;
  std::string subject_;
};

// Invalid settings: option values, attribute names, edit specifications.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& m, Remedy r = Remedy::kNone, std::string subject = "")
      : Error(ErrorKind::kUsage, m, r, std::move(subject)) {}
};

// Invalid input data: images, datasets, job files.
class InputError : public Error {
 public:
  explicit InputError(const std::string& m, Remedy r = Remedy::kNone, std::string subject = "")
      : Error(ErrorKind::kInput, m, r, std::move(subject)) {}
};

// Invalid model files: bundles, weights, checkpoints, TorchScript.
class ModelError : public Error {
 public:
  explicit ModelError(const std::string& m, Remedy r = Remedy::kNone, std::string subject = "")
      : Error(ErrorKind::kModel, m, r, std::move(subject)) {}
};

// Output could not be written.
class IoError : public Error {
 public:
  explicit IoError(const std::string& m, Remedy r = Remedy::kNone, std::string subject = "")
      : Error(ErrorKind::kIo, m, r, std::move(subject)) {}
};

// The error's message with its remedy in parentheses, for front ends that show one string (the
// server's JSON errors, Python exceptions): "... (fit the bundle's directions)".
inline std::string with_remedy(const Error& e) {
  return std::string(e.what()) + (e.remedy() == Remedy::kNone ? "" : std::string(" (") + describe(e.remedy()) + ")");
}

// A library's message as one line: its first line, or for a TorchScript traceback its last
// ("RuntimeError: ..."), trailing whitespace removed.
inline std::string one_line(std::string m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m.find("Traceback") != std::string::npos ? m.substr(m.rfind('\n') + 1) : m.substr(0, m.find('\n'));
}

// Throws the subclass of `kind` (so callers catching ModelError etc. see it).
[[noreturn]] inline void throw_error(ErrorKind kind, const std::string& m) {
  switch (kind) {
    case ErrorKind::kUsage: throw UsageError(m);
    case ErrorKind::kInput: throw InputError(m);
    case ErrorKind::kModel: throw ModelError(m);
    case ErrorKind::kIo: throw IoError(m);
  }
  throw Error(kind, m);
}

// A number as messages and help write it ("%g": 0.5, 12, 1e-05).
inline std::string format_number(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", x);
  return b;
}

// Collects validation errors, each "path: what (how to fix)". `path_of(field)` names where a
// field came from (a JSON path in a job file, a flag on the command line; the field name elsewhere).
struct SettingsErrors {
  std::vector<std::string> errors;
  std::function<std::string(const std::string& field)> path_of = [](const std::string& f) { return f; };
  void fail(const std::string& field, const std::string& msg) {
    const std::string p = path_of(field);
    errors.push_back(p.empty() ? msg : p + ": " + msg);
  }
  bool empty() const { return errors.empty(); }
  // Throws UsageError with the first error, if any.
  void throw_first() const {
    if (!errors.empty()) throw UsageError(errors.front());
  }
};

}  // namespace latentedit
