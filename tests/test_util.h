// Shared helpers for the latentedit tests.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <sys/wait.h>
#include <nlohmann/json.hpp>
#include <string>

#include "latentedit/attributes.h"
#include "io/fsutil.h"
#include "latentedit/bundle.h"
#include "latentedit/models.h"
#include "latentedit/safetensors.h"
#include "random_bundle.h"

namespace latentedit::test {
namespace fs = std::filesystem;

// A test suite whose tests share one tiny random bundle (make_random_bundle with an auditor, in
// *dir / "bundle") and its loaded Models *m, made once per suite:
//   struct Invert : test::WithRandomBundle<::testing::Test, 8, 4, 5> {};
template <class Base, int64_t GenHidden, int64_t ClsHidden, uint64_t Seed>
struct WithRandomBundle : Base {
  static void SetUpTestSuite() {
    dir = new TempDir();
    make_random_bundle(*dir / "bundle", GenHidden, ClsHidden, Seed, true);
    m = new Models(load_bundle(*dir / "bundle"));
  }
  static void TearDownTestSuite() {
    delete m;
    delete dir;
    m = nullptr, dir = nullptr;
  }
  static inline TempDir* dir = nullptr;
  static inline Models* m = nullptr;
};

inline std::string fixture(const std::string& name) { return std::string(LATENTEDIT_TEST_FIXTURES) + "/" + name; }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

// Runs the CLI with `args`; returns the exit code, stdout in `out`, stderr in `err`.
inline int run_cli(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) {
  static int n = 0;
  const std::string base = "/tmp/latentedit-cli-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
  const std::string cmd = std::string(LATENTEDIT_CLI) + " " + args + " >" + base + ".out 2>" + base + ".err";
  const int rc = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  if (out) *out = slurp(base + ".out");
  if (err) *err = slurp(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace latentedit::test
