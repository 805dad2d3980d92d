#include "io/fsutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <mutex>
#include <set>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "latentedit/errors.h"

namespace latentedit {
namespace fs = std::filesystem;

namespace {
// Writes `bytes` to `tmp` and fsyncs it; errors name `path`, the file being written. On failure
// the temporary file is removed.
void write_synced(const std::string& tmp, const std::string& path, const std::string& bytes) {
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw IoError("cannot write " + path + ": " + std::strerror(errno) + " (check that the directory exists and is writable)");
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      std::remove(tmp.c_str());
      throw IoError("cannot write " + path + ": " + why + " (disk full?)");
    }
    done += static_cast<size_t>(w);
  }
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

// write_file_atomic's temporary file: PATH.tmp.PID, renamed to PATH when complete.
constexpr const char* kAtomicTemp = ".tmp.";

void write_file_atomic(const std::string& path, const std::string& bytes) {
  // temp name + fsync + rename: a reader (or a process killed at any moment) sees either the
  // old file or the complete new one, never a torn one.
  const std::string tmp = path + kAtomicTemp + std::to_string(::getpid());
  write_synced(tmp, path, bytes);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw IoError("cannot write " + path + ": " + ec.message());
  }
}

namespace {
void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
}  // namespace

namespace {
// `dir` as an absolute, normal path without a trailing separator.
fs::path normal_dir(const std::string& dir) {
  if (dir.empty()) throw UsageError("the output directory is an empty path; name one");
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.has_relative_path() && p.filename().empty()) p = p.parent_path();
  return p;
}

// The marker's JSON, or nothing when absent or unreadable.
std::optional<nlohmann::json> read_marker(const fs::path& dir) {
  std::error_code ec;
  const fs::path m = dir / kOutputMarker;
  if (!fs::is_regular_file(m, ec)) return std::nullopt;
  try {
    std::ifstream f(m, std::ios::binary);
    nlohmann::json j = nlohmann::json::parse(f, nullptr, true);
    if (j.is_object() && j.value("format", "") == "latentedit-output" && j.contains("command") && j["command"].is_string())
      return j;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::vector<std::string> marker_files(const std::optional<nlohmann::json>& m) {
  std::vector<std::string> out;
  if (!m || !m->contains("files") || !(*m)["files"].is_array()) return out;
  for (const auto& f : (*m)["files"])
    if (f.is_string()) out.push_back(f.get<std::string>());
  return out;
}

std::string marker_text(const std::string& command, std::vector<std::string> files) {
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return nlohmann::json({{"format", "latentedit-output"}, {"command", command}, {"files", files}}).dump(1) + "\n";
}

// True when every entry of `dir` is a marker another latentedit process is writing this moment
// (write_file_atomic's temporary file, before its rename): the shards of one batch start side by
// side in a new directory, and one adopting it must not make the others take it for someone's.
bool only_markers_being_written(const fs::path& dir) {
  const std::string prefix = std::string(kOutputMarker) + kAtomicTemp;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind(prefix, 0) != 0) return false;
  return !ec;
}

// A listed name that stays inside the directory (a hand-edited marker cannot point elsewhere).
bool safe_relative(const std::string& name) {
  const fs::path p = fs::path(name).lexically_normal();
  return !name.empty() && p.is_relative() && *p.begin() != ".." && name.find('\0') == std::string::npos;
}
}  // namespace

OutputClaim claim_output(const std::string& dir, const std::string& command, bool force) {
  if (dir.empty()) throw UsageError("the output directory is empty; name one");
  const fs::path p = normal_dir(dir);
  if (p == p.root_path()) throw IoError("refusing to write into the filesystem root " + p.string() + "; name a new directory");
  std::error_code ec;
  const auto st = fs::status(p, ec);
  if (!fs::exists(st)) return OutputClaim::kFresh;
  if (!fs::is_directory(st))
    throw IoError(dir + " exists and is not a directory; choose a new output directory (nothing was written)");
  if (fs::is_empty(p, ec)) return OutputClaim::kFresh;
  const auto m = read_marker(p);
  if (!m && only_markers_being_written(p)) return OutputClaim::kFresh;
  if (m && (*m)["command"] == command) return OutputClaim::kPrevious;
  if (force) return OutputClaim::kForced;
  const std::string what = m ? "the output of latentedit's " + (*m)["command"].get<std::string>() + " command" : "files latentedit did not write";
  throw IoError(dir + " is not empty and holds " + what + "; choose a new output directory", Remedy::kForce, dir);
}

void claim_output_file(const std::string& path, bool force) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) return;
  if (fs::is_directory(st)) throw IoError(path + " is a directory; name a file to write");
  if (!force) throw IoError(path + " exists; choose another file name", Remedy::kForce, path);
}

void adopt_output(const std::string& dir, const std::string& command) {
  make_dirs(dir);
  const fs::path p = normal_dir(dir);
  if (!read_marker(p)) write_file_atomic((p / kOutputMarker).string(), marker_text(command, {}));
}

namespace {
// True when `dir` is an existing directory on another mount than `parent` (statx's mount id also
// tells bind mounts of one filesystem apart; st_dev where statx cannot say).
bool is_mount_point(const fs::path& dir, const fs::path& parent) {
  struct statx a {}, b {};
  if (::statx(AT_FDCWD, dir.c_str(), 0, STATX_TYPE | STATX_MNT_ID, &a) != 0 || !S_ISDIR(a.stx_mode)) return false;
  if (::statx(AT_FDCWD, parent.c_str(), 0, STATX_MNT_ID, &b) != 0) return false;
  if ((a.stx_mask & STATX_MNT_ID) && (b.stx_mask & STATX_MNT_ID)) return a.stx_mnt_id != b.stx_mnt_id;
  return a.stx_dev_major != b.stx_dev_major || a.stx_dev_minor != b.stx_dev_minor;
}

// The staging directories of this process not yet committed or removed: what an interrupted
// command leaves (remove_staging_dirs).
std::mutex g_stages_mu;
std::set<std::string> g_stages;
}  // namespace

void remove_staging_dirs() {
  std::lock_guard<std::mutex> l(g_stages_mu);
  std::error_code ec;
  for (const auto& s : g_stages) fs::remove_all(s, ec);
  g_stages.clear();
}

StagedDir::StagedDir(std::string dir, std::string command, bool force, Mode mode)
    : dir_(std::move(dir)), command_(std::move(command)), mode_(mode) {
  const fs::path p = normal_dir(dir_);
  if (mode_ == kOwned) {
    std::error_code ec;
    if (fs::exists(p, ec) && !fs::is_directory(p, ec)) throw IoError(dir_ + " exists and is not a directory");
    claim_ = fs::exists(p, ec) && !fs::is_empty(p, ec) ? OutputClaim::kForced : OutputClaim::kFresh;
  } else {
    claim_ = claim_output(dir_, command_, force);
  }
  if (!p.parent_path().empty()) make_dirs(p.parent_path().string());
  // Staged beside the output, so that a fresh output appears with one rename — unless the output
  // is an existing directory on another filesystem than its parent (a mount point: it cannot be
  // renamed onto, nor across devices): then inside it, and the files are moved in one by one.
  const fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  inside_ = is_mount_point(p, parent);
  // An existing output must take files (a read-only mount is found now, not after the work).
  std::error_code ec0;
  if (fs::is_directory(p, ec0) && ::access(p.c_str(), W_OK) != 0)
    throw IoError("cannot write into " + dir_ + ": " + std::strerror(errno) + "; choose a writable directory (nothing was written)");
  const fs::path stage_parent = inside_ ? p : parent;
  const std::string prefix = inside_ ? std::string(".latentedit.partial-") : "." + p.filename().string() + ".partial-";
  stage_ = (stage_parent / (prefix + std::to_string(::getpid()))).string();
  std::error_code ec;
  // Staging directories of this output left by a process that no longer runs (killed before it
  // could clean up): ours to remove.
  for (auto it = fs::directory_iterator(stage_parent, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.size() <= prefix.size() || n.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string pid = n.substr(prefix.size());
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
    if (::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH) {
      std::error_code ec2;
      fs::remove_all(it->path(), ec2);
    }
  }
  fs::remove_all(stage_, ec);
  make_dirs(stage_);
  std::lock_guard<std::mutex> l(g_stages_mu);
  g_stages.insert(stage_);
}

StagedDir::~StagedDir() {
  {
    std::lock_guard<std::mutex> l(g_stages_mu);
    g_stages.erase(stage_);
  }
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(stage_, ec);
}

std::string StagedDir::staging_path(const std::string& name) {
  if (!safe_relative(name) || name == kOutputMarker) throw std::logic_error("StagedDir: bad file name " + name);
  const fs::path p = fs::path(stage_) / name;
  if (p.has_parent_path()) make_dirs(p.parent_path().string());
  return p.string();
}

void StagedDir::add(const std::string& name, const std::string& bytes) {
  const std::string path = staging_path(name);
  write_synced(path, (fs::path(dir_) / name).string(), bytes);
}

void StagedDir::commit() {
  // A signal watcher (remove_staging_dirs) waits until the output is published or the commit failed.
  std::lock_guard<std::mutex> l(g_stages_mu);
  std::error_code ec;
  const fs::path p = normal_dir(dir_);
  const auto old = mode_ == kOwned ? std::nullopt : read_marker(p);
  std::vector<std::string> names;  // everything staged, whoever wrote it (add, or a staging_path writer)
  for (auto it = fs::recursive_directory_iterator(stage_, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file()) names.push_back(fs::path(it->path()).lexically_relative(stage_).generic_string());
  if (ec) throw IoError("cannot list the staged output " + stage_ + ": " + ec.message());
  std::sort(names.begin(), names.end());
  std::vector<std::string> listed = names;
  if (mode_ == kAdd)
    for (const auto& f : marker_files(old)) listed.push_back(f);
  if (mode_ != kOwned) write_synced((fs::path(stage_) / kOutputMarker).string(), dir_, marker_text(command_, listed));
  if (claim_ == OutputClaim::kFresh && !inside_) {
    if (fs::exists(p, ec)) fs::remove(p, ec);  // an empty directory (checked by the claim)
    fs::rename(stage_, p, ec);
    if (ec) throw IoError("cannot create " + dir_ + ": " + ec.message());
    fsync_dir(p.parent_path().string());
  } else {
    // Files first, the marker last: a kill in between leaves the previous marker, still naming
    // only files this command wrote.
    std::vector<std::string> order = names;
    if (mode_ != kOwned) order.push_back(kOutputMarker);
    for (const auto& n : order) {
      const fs::path to = p / n;
      if (to.has_parent_path()) make_dirs(to.parent_path().string());
      fs::rename(fs::path(stage_) / n, to, ec);
      if (ec) throw IoError("cannot write " + to.string() + ": " + ec.message());
    }
    if (mode_ == kReplace && claim_ == OutputClaim::kPrevious) {
      for (const auto& f : marker_files(old))
        if (safe_relative(f) && f != kOutputMarker && !std::binary_search(names.begin(), names.end(), f)) fs::remove(p / f, ec);
    }
    fs::remove_all(stage_, ec);
    fsync_dir(p.string());
  }
  g_stages.erase(stage_);  // published: nothing of it is ours to remove any more
  committed_ = true;
}

std::string read_file(const std::string& path, bool model, uint64_t max_bytes) {
  auto fail = [&](const std::string& why) -> std::runtime_error {
    const std::string m = "cannot read " + path + ": " + why;
    if (model) throw ModelError(m + " (check the model path)");
    throw InputError(m + " (check the path)");
  };
  if (max_bytes == 0) max_bytes = model ? kMaxModelFileBytes : kMaxInputFileBytes;
  // Only regular files, checked before opening: a FIFO would block the open, a device
  // (/dev/zero) or a growing file would be read without end.
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw fail(fs::is_symlink(fs::symlink_status(path, ec)) ? "a broken or looping symbolic link" : "no such file");
  if (!fs::is_regular_file(st)) throw fail(fs::is_directory(st) ? "it is a directory" : "not a regular file (a device, FIFO or socket)");
  const uint64_t size = fs::file_size(path, ec);
  if (!ec && size > max_bytes)
    throw fail("it is " + std::to_string(size >> 20) + " MB; latentedit reads " + (model ? "model files" : "input files of this kind") +
               " up to " + std::to_string(max_bytes >> 20) + " MB");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw fail("not a readable file");
  std::string out;
  out.resize(static_cast<size_t>(std::min<uint64_t>(size, max_bytes)));
  f.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(f.gcount()));
  if (f.peek() != std::char_traits<char>::eof())  // it grew while being read
    throw fail("it changed while being read");
  return out;
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec || !fs::is_directory(path))
    throw IoError("cannot create directory " + path + ": " +
                  (ec ? ec.message() : std::string("a file of that name exists")));
}

namespace {
constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
}  // namespace

std::string sha256_hex(const std::string& bytes) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg = bytes;
  const uint64_t bits = static_cast<uint64_t>(bytes.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56) msg.push_back(0);
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  for (size_t off = 0; off < msg.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const unsigned char*>(msg.data() + off + 4 * i);
      w[i] = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  char out[65];
  for (int i = 0; i < 8; ++i) std::snprintf(out + 8 * i, 9, "%08x", h[i]);
  return std::string(out, 64);
}

}  // namespace latentedit
