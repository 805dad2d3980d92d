#include "latentedit/fsutil.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "latentedit/errors.h"

namespace latentedit {
namespace fs = std::filesystem;

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw IoError("cannot write " + path + ": " + std::strerror(errno) +
                          " (check that the directory exists and is writable)");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      f.close();
      std::remove(tmp.c_str());
      throw IoError("cannot write " + path + ": write failed (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw IoError("cannot write " + path + ": " + ec.message());
  }
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

}  // namespace latentedit
