// latentedit (internal) — filesystem helpers: atomic writes, the staged writer every command
// uses for its outputs, reading files, hashing.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace latentedit {

// Writes `bytes` to `path` atomically: a temp file beside it, then rename. Throws IoError.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Reads a whole file. Throws `InputError` (or ModelError when `model` is true) if unreadable.
std::string read_file(const std::string& path, bool model = false);

// Creates a directory and its parents. Throws IoError.
void make_dirs(const std::string& path);

// SHA-256 of `bytes` as 64 lowercase hex digits.
std::string sha256_hex(const std::string& bytes);

// Writes a set of files so that readers (and a process killed at any moment) see either none
// of them or all of them complete. Each file goes to a temporary name first and is fsync'd;
// commit() renames them all. Without commit (an error, an exception) the destructor removes
// every temporary file and any directory it created.
//
//   kNewDirectory:  `dir` must not exist or be empty; files are staged in dir.partial-PID/ and
//                   the directory is renamed into place on commit (dataset, convert, sample).
//   kIntoDirectory: files are staged as NAME.tmp.PID inside `dir` (created if needed) and
//                   renamed on commit; files of other names in `dir` are never touched (edit,
//                   batch jobs).
class StagedDir {
 public:
  enum Mode { kNewDirectory, kIntoDirectory };
  StagedDir(std::string dir, Mode mode);
  ~StagedDir();
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  // Stages one file (name may contain '/' in kNewDirectory mode). Throws IoError.
  void add(const std::string& name, const std::string& bytes);
  // A path inside the staging area for writers that need one (kNewDirectory only); the file
  // is committed with the rest.
  std::string staging_path(const std::string& name);
  // Publishes everything. Throws IoError.
  void commit();
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, stage_;
  Mode mode_;
  bool committed_ = false, created_dir_ = false;
  std::vector<std::pair<std::string, std::string>> staged_;  // temp path -> final path
};

}  // namespace latentedit
