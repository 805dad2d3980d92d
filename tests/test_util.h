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

namespace latentedit::test {
namespace fs = std::filesystem;

// A fresh, empty temporary directory removed when the object dies.
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/latentedit-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& s) const { return (path / s).string(); }
  std::string str() const { return path.string(); }
};

// Sets BatchNorm running statistics from a train-mode pass over `x`, as after training; without
// this, default-initialised networks shrink their input so much that gradients vanish.
template <typename M>
torch::Tensor calibrate_batchnorm(M& net, const torch::Tensor& x) {
  torch::NoGradGuard ng;
  for (auto& m : net->modules(false))
    if (auto* bn = m->template as<torch::nn::BatchNorm2dImpl>()) bn->options.momentum(c10::nullopt);
  net->train();
  const auto y = net->forward(x);
  net->eval();
  return y;
}

// Writes a bundle of random course-architecture networks (tiny widths) into `dir`.
inline void make_random_bundle(const std::string& dir, int64_t gen_hidden = 4, int64_t cls_hidden = 4,
                               uint64_t seed = 0, bool auditor = false) {
  torch::manual_seed(seed);
  GeneratorOptions go;
  go.hidden_dim = gen_hidden;
  Generator g(go);
  ClassifierOptions co;
  co.hidden_dim = cls_hidden;
  Classifier c(co);
  const auto img = calibrate_batchnorm(g, torch::randn({256, 64}));
  calibrate_batchnorm(c, img);
  fs::create_directories(dir);
  save_safetensors(dir + "/generator.safetensors", state_dict(*g));
  save_safetensors(dir + "/classifier.safetensors", state_dict(*c));
  nlohmann::json j = make_manifest("random-test", 64, gen_hidden, "generator.safetensors", cls_hidden,
                                   "classifier.safetensors", celeba_attributes());
  if (auditor) {
    co.hidden_dim = cls_hidden + 2;
    Classifier a(co);
    calibrate_batchnorm(a, img);
    save_safetensors(dir + "/auditor.safetensors", state_dict(*a));
    j["auditor"] = {{"arch", "dcgan-course-classifier"}, {"hidden_dim", cls_hidden + 2}, {"weights", "auditor.safetensors"}};
  }
  write_manifest(dir, j);
}

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
