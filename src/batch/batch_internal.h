// latentedit batch — internal: the job-file reader's entry point for the planner, where a
// batch's files live, and when a job counts as finished (shared by the runner, which writes
// the journal, and the summary/merge, which reads it).
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "latentedit/batch.h"

namespace latentedit::batch {

inline const char* kJournalDir = ".journal";
inline const char* kInversionDir = ".inversions";  // "images" jobs' inverted latents, by content
inline const char* kPlanFile = "plan.json";
inline const char* kSummaryFile = "summary.json";
inline const char* kShardDir = ".shards";  // one record per shard run: I-of-N.json

inline std::filesystem::path shard_record_path(const std::string& out, int shard, int shards) {
  return std::filesystem::path(out) / kShardDir / (std::to_string(shard) + "-of-" + std::to_string(shards) + ".json");
}

inline std::filesystem::path job_dir(const std::string& out, const std::string& id) { return std::filesystem::path(out) / id; }
inline std::filesystem::path journal_path(const std::string& out, const std::string& id) {
  return std::filesystem::path(out) / kJournalDir / (id + ".json");
}

// A job id that is a safe directory name: letters, digits, '.', '_', '-'; no '..'; not
// starting with '.' or '-'; at most 100 characters.
bool safe_id(const std::string& id);

// Reads and validates every job of a job file (settings, ids, latents); throws BatchInvalid
// with every problem at once. Fills each job's id, index, z, settings and source.
std::vector<BatchJob> read_jobs(const nlohmann::json& file, const std::string& job_file_path, const Models& m,
                                const BatchLimits& limits);

// The journal entry of a finished job, if it is valid: fingerprint as planned, status ok, and
// every listed file present with the recorded hash.
std::optional<nlohmann::json> finished_entry(const std::string& out, const std::string& id, const std::string& fingerprint);

// Removes leftovers of interrupted writes (NAME.tmp.PID) for one name prefix in a directory.
void remove_temp_files(const std::filesystem::path& dir, const std::string& prefix);

}  // namespace latentedit::batch
