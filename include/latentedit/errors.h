// latentedit — error types. The library throws these; the CLI maps each to an exit code.
//
// Every message says what failed and how to fix it, in one line.
#pragma once
#include <stdexcept>
#include <string>

namespace latentedit {

// Process exit codes used by the CLI (documented in README.md).
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

// Base class of all latentedit errors; carries the exit code the CLI should use.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

// Invalid settings: option values, attribute names, edit specifications.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& m) : Error(ExitCode::kUsage, m) {}
};

// Invalid input data: images, datasets, job files.
class InputError : public Error {
 public:
  explicit InputError(const std::string& m) : Error(ExitCode::kBadInput, m) {}
};

// Invalid model files: bundles, weights, checkpoints, TorchScript.
class ModelError : public Error {
 public:
  explicit ModelError(const std::string& m) : Error(ExitCode::kBadModel, m) {}
};

// Output could not be written.
class IoError : public Error {
 public:
  explicit IoError(const std::string& m) : Error(ExitCode::kIo, m) {}
};

}  // namespace latentedit
