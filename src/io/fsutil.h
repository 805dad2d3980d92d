// latentedit (internal) — filesystem helpers: atomic writes, the staged writer every command
// uses for its outputs, reading files, hashing.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace latentedit {

// Writes `bytes` to `path` atomically: a temp file beside it, then rename. Throws IoError.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Reads a whole regular file of at most `max_bytes` (0: kMaxInputFileBytes, or
// kMaxModelFileBytes when `model`). Throws `InputError` (or ModelError when `model` is true) if it
// is missing, not a regular file (a FIFO, a device such as /dev/zero, a directory), larger, or
// unreadable — before reading anything.
inline constexpr uint64_t kMaxInputFileBytes = 256ull << 20, kMaxModelFileBytes = 4ull << 30;
// JSON read whole into memory (job files, latents files, training logs): parsed, a document takes
// about 18 times its bytes, so these are capped lower (a 4,096-row latents file at z_dim 512 is ~40 MB).
inline constexpr uint64_t kMaxJsonFileBytes = 64ull << 20;
std::string read_file(const std::string& path, bool model = false, uint64_t max_bytes = 0);

// Creates a directory and its parents. Throws IoError.
void make_dirs(const std::string& path);

// SHA-256 of `bytes` as 64 lowercase hex digits.
std::string sha256_hex(const std::string& bytes);

// The one policy for every writing command's output directory (docs/cli.md "Outputs"):
//   absent or empty (or holding only the marker that   -> kFresh: created when committed;
//   another latentedit process is writing this moment)
//   a previous output of the same command (its marker  -> kPrevious: replaced as a whole — the
//   file OUT/.latentedit-output.json names the command)   files it listed and the new output does
//                                                          not are removed, nothing else is touched;
//   anything else (a file, someone's files, another    -> refused with IoError (exit 5), unless
//   command's output)                                      `force`: kForced, written into, only
//                                                          files of the same names replaced.
// The filesystem root is always refused. Nothing is created by the check itself.
inline constexpr const char* kOutputMarker = ".latentedit-output.json";
enum class OutputClaim { kFresh, kPrevious, kForced };
OutputClaim claim_output(const std::string& dir, const std::string& command, bool force);
// The same policy for a single output file (evaluate's report and plot): a new path is fine; an
// existing file is replaced only with `force`; a directory never. Throws IoError.
void claim_output_file(const std::string& path, bool force);
// For commands that write an output piece by piece (train checkpoints, batch journals): creates
// `dir` and its marker if missing (after claim_output said it may).
void adopt_output(const std::string& dir, const std::string& command);

// Writes a set of files so that readers (and a process killed at any moment) see either the
// old output or the complete new one. Files are staged in a hidden sibling directory
// (.NAME.partial-PID) and fsync'd; commit() renames the whole directory into place (kFresh) or
// moves each file in, then removes the previous output's stale files. Without commit (an error,
// an exception) the destructor removes the staging directory: nothing half-written remains.
//   kReplace: the output is everything staged (edit, sample, convert, dataset).
//   kAdd:     the output grows: the previous output's files stay (train adds networks to a bundle).
//   kOwned:   no claim and no marker: `dir` is already the caller's (a batch job's directory, the
//             bundle `directions` was asked to extend).
// Removes the staging directories of every StagedDir of this process not yet committed (what
// an interrupted command would leave): for a signal watcher thread (the CLI's), before exiting.
// A later StagedDir of the same output also removes those of processes that no longer run.
void remove_staging_dirs();

class StagedDir {
 public:
  enum Mode { kReplace, kAdd, kOwned };
  StagedDir(std::string dir, std::string command, bool force, Mode mode = kReplace);
  ~StagedDir();
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  // Stages one file (name may contain '/'). Throws IoError.
  void add(const std::string& name, const std::string& bytes);
  // A path inside the staging area for writers that need one; the file is committed with the
  // rest (the caller must write it before commit).
  std::string staging_path(const std::string& name);
  // The staging directory itself (to load a bundle before publishing it).
  const std::string& staging_dir() const { return stage_; }
  // Publishes everything. Throws IoError.
  void commit();
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, stage_, command_;
  Mode mode_;
  OutputClaim claim_ = OutputClaim::kFresh;
  bool committed_ = false;
  bool inside_ = false;  // staged inside the output (a mount point), not beside it
};

}  // namespace latentedit
