#include "io/fsutil.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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

void write_file_atomic(const std::string& path, const std::string& bytes) {
  // temp name + fsync + rename: a reader (or a process killed at any moment) sees either the
  // old file or the complete new one, never a torn one.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
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

StagedDir::StagedDir(std::string dir, Mode mode) : dir_(std::move(dir)), mode_(mode) {
  std::error_code ec;
  if (mode_ == kNewDirectory) {
    if (fs::exists(dir_) && !(fs::is_directory(dir_) && fs::is_empty(dir_, ec)))
      throw IoError(dir_ + " exists and is not empty; choose a new output directory (nothing is overwritten)");
    stage_ = dir_ + ".partial-" + std::to_string(::getpid());
    fs::remove_all(stage_, ec);
    make_dirs(stage_);
  } else {
    if (fs::exists(dir_) && !fs::is_directory(dir_)) throw IoError(dir_ + " exists and is not a directory; choose another output directory");
    created_dir_ = !fs::exists(dir_);
    make_dirs(dir_);
    stage_ = dir_;
  }
}

StagedDir::~StagedDir() {
  if (committed_) return;
  std::error_code ec;
  if (mode_ == kNewDirectory) {
    fs::remove_all(stage_, ec);
  } else {
    for (const auto& [tmp, fin] : staged_) fs::remove(tmp, ec);
    if (created_dir_ && fs::is_empty(dir_, ec)) fs::remove(dir_, ec);
  }
}

std::string StagedDir::staging_path(const std::string& name) {
  if (mode_ != kNewDirectory) throw std::logic_error("StagedDir::staging_path needs kNewDirectory");
  const fs::path p = fs::path(stage_) / name;
  if (p.has_parent_path()) make_dirs(p.parent_path().string());
  return p.string();
}

void StagedDir::add(const std::string& name, const std::string& bytes) {
  if (mode_ == kNewDirectory) {
    write_file_atomic(staging_path(name), bytes);
    return;
  }
  const std::string fin = (fs::path(dir_) / name).string();
  const std::string tmp = fin + ".tmp." + std::to_string(::getpid());
  write_synced(tmp, fin, bytes);
  staged_.emplace_back(tmp, fin);
}

void StagedDir::commit() {
  std::error_code ec;
  if (mode_ == kNewDirectory) {
    if (fs::exists(dir_)) fs::remove(dir_, ec);  // an empty directory (checked at construction)
    fs::rename(stage_, dir_, ec);
    if (ec) throw IoError("cannot create " + dir_ + ": " + ec.message());
    fsync_dir(fs::absolute(dir_).parent_path().string());
  } else {
    for (const auto& [tmp, fin] : staged_) {
      fs::rename(tmp, fin, ec);
      if (ec) throw IoError("cannot write " + fin + ": " + ec.message());
    }
    fsync_dir(dir_);
  }
  committed_ = true;
}

std::string read_file(const std::string& path, bool model) {
  std::ifstream f(path, std::ios::binary);
  if (!f || fs::is_directory(path)) {
    const std::string m = "cannot read " + path + ": " +
                          (fs::exists(path) ? "not a readable file" : "no such file");
    if (model) throw ModelError(m + " (check the model path)");
    throw InputError(m + " (check the path)");
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
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
