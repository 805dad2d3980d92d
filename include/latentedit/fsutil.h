// latentedit — small filesystem helpers shared by the library and the CLI.
#pragma once
#include <string>

namespace latentedit {

// Writes `bytes` to `path` atomically: a temp file beside it, then rename. Throws IoError.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Reads a whole file. Throws `InputError` (or ModelError when `model` is true) if unreadable.
std::string read_file(const std::string& path, bool model = false);

// Creates a directory and its parents. Throws IoError.
void make_dirs(const std::string& path);

// SHA-256 of `bytes` as 64 lowercase hex digits.
std::string sha256_hex(const std::string& bytes);

}  // namespace latentedit
