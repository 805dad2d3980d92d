// Tiny random bundles for tests and fuzzers (no GoogleTest here: the fuzz targets use it too).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

#include "latentedit/attributes.h"
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

}  // namespace latentedit::test
