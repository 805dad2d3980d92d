// The benchmarks' command lines: `--option value` pairs, `--help`/`-h` printing the usage.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

namespace bench {

// Calls `take(option, value)` for each pair; `take` returns false for an option it does not know.
// Returns -1 when the run should go on, else the exit status: 0 after --help (usage on stdout), 2
// for an unknown option or a missing value (one line and the usage on stderr).
inline int read_args(int argc, char** argv, const char* name, const char* usage,
                     const std::function<bool(const std::string&, const char*)>& take) {
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") return std::printf("%s", usage), 0;
    if (i + 1 >= argc) return std::fprintf(stderr, "%s: %s needs a value\n%s", name, a.c_str(), usage), 2;
    if (!take(a, argv[i + 1])) return std::fprintf(stderr, "%s: unknown option %s\n%s", name, a.c_str(), usage), 2;
  }
  return -1;
}

}  // namespace bench
