// The fused rewrites (BatchNorm folding, sub-pixel convolutions) equal the course modules.
#include <gtest/gtest.h>

#include "edit/mlp_kernel.h"
#include "model/fused.h"
#include "test_util.h"

using namespace latentedit;

namespace {
// Gives every BatchNorm non-trivial affine parameters and running statistics.
void randomize_batchnorm(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  for (auto& sub : m.modules(false))
    if (auto* bn = sub->as<torch::nn::BatchNorm2dImpl>()) {
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.3, 0.3);
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.2, 2.0);
    }
}

// Output and input-gradient of a random linear functional of the output.
std::pair<torch::Tensor, torch::Tensor> value_and_grad(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                                                       const torch::Tensor& x, const torch::Tensor& probe) {
  torch::Tensor xv = x.detach().clone().set_requires_grad(true);
  const torch::Tensor y = f(xv);
  const torch::Tensor g = torch::autograd::grad({(y * probe).sum()}, {xv})[0];
  return {y.detach(), g};
}
}  // namespace

class FusedGenerator : public ::testing::TestWithParam<int64_t> {};

TEST_P(FusedGenerator, EqualsTheModuleInOutputAndInputGradient) {
  torch::manual_seed(3);
  GeneratorOptions o;
  o.hidden_dim = GetParam();
  Generator g(o);
  randomize_batchnorm(*g);
  g->eval();
  for (auto& p : g->parameters()) p.requires_grad_(false);
  const auto fused = fused_generator(state_dict(*g), o);
  for (int64_t n : {1, 5}) {  // one image takes the transposed-conv path, more the sub-pixel one
    const torch::Tensor z = torch::randn({n, o.z_dim});
    const torch::Tensor probe = torch::randn({n, 3, 64, 64});
    auto [y_ref, g_ref] = value_and_grad([&](const torch::Tensor& x) { return g->forward(x); }, z, probe);
    auto [y, gr] = value_and_grad(fused, z, probe);
    ASSERT_EQ(y.sizes(), y_ref.sizes());
    EXPECT_LT((y - y_ref).abs().max().item<double>(), 1e-5) << n;
    EXPECT_LT((gr - g_ref).abs().max().item<double>(), 1e-5 * std::max(1.0, g_ref.abs().max().item<double>())) << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, FusedGenerator, ::testing::Values(4, 16, 64));

class FusedClassifier : public ::testing::TestWithParam<int64_t> {};

TEST_P(FusedClassifier, EqualsTheModuleInOutputAndInputGradient) {
  torch::manual_seed(4);
  ClassifierOptions o;
  o.hidden_dim = GetParam();
  Classifier c(o);
  randomize_batchnorm(*c);
  c->eval();
  for (auto& p : c->parameters()) p.requires_grad_(false);
  const auto fused = fused_classifier(state_dict(*c), o);
  const torch::Tensor x = torch::rand({5, 3, 64, 64}) * 2 - 1;
  const torch::Tensor probe = torch::randn({5, 40});
  auto [y_ref, g_ref] = value_and_grad([&](const torch::Tensor& v) { return c->forward(v); }, x, probe);
  auto [y, gr] = value_and_grad(fused, x, probe);
  ASSERT_EQ(y.sizes(), y_ref.sizes());
  EXPECT_LT((y - y_ref).abs().max().item<double>(), 1e-5 * std::max(1.0, y_ref.abs().max().item<double>()));
  EXPECT_LT((gr - g_ref).abs().max().item<double>(), 1e-5 * std::max(1.0, g_ref.abs().max().item<double>()));
}

INSTANTIATE_TEST_SUITE_P(Widths, FusedClassifier, ::testing::Values(4, 16, 64));

// A loaded network runs the fused path and still equals its module.
TEST(Fused, LoadedNetworksUseItAndAgreeWithTheModule) {
  test::TempDir d;
  test::make_random_bundle(d / "b", 8, 8, 1);
  const Models m = load_bundle(d / "b");
  const torch::Tensor z = torch::randn({3, 64});
  auto* g = m.generator.module->as<GeneratorImpl>();
  auto* c = m.classifier.module->as<ClassifierImpl>();
  ASSERT_TRUE(g && c);
  torch::NoGradGuard ng;
  const torch::Tensor img = g->forward(z);
  EXPECT_LT((m.generator.forward(z) - img).abs().max().item<double>(), 1e-5);
  EXPECT_LT((m.classifier.forward(img) - c->forward(img)).abs().max().item<double>(), 1e-4);
}

TEST(Fused, FlopCountsMatchTheCourseShapes) {
  GeneratorOptions go;  // hidden 64, z 64
  ClassifierOptions co;
  // Generator: 64*512*9*1 + 512*256*9*9 + 256*128*9*49 + 128*64*9*225 + 64*3*16*961, times 2.
  EXPECT_EQ(generator_flops(go), 2LL * (64 * 512 * 9 + 512 * 256 * 9 * 9 + 256 * 128 * 9 * 49 + 128 * 64 * 9 * 225 + 64 * 3 * 16 * 961));
  // Classifier: outputs 31x31, 14x14, 4x4, 1x1.
  EXPECT_EQ(classifier_flops(co), 2LL * 16 * (3 * 64 * 961 + 64 * 128 * 196 + 128 * 256 * 16 + 256 * 40 * 1));
}

namespace {
// Smallest per-row cosine between two (N, ...) tensors.
double min_row_cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::cosine_similarity(a.flatten(1), b.flatten(1), 1).min().item<double>();
}
}  // namespace

// In bfloat16 the networks stay close to float32 (8 significant bits: logits within a few per
// cent of their range, input gradients pointing the same way), take and return float32, and let
// the gradient reach a float32 input.
TEST(Fused, Bfloat16IsCloseToFloat32AndKeepsTheInterfaceFloat32) {
  torch::manual_seed(5);
  GeneratorOptions go;
  go.hidden_dim = 16;
  Generator g(go);
  ClassifierOptions co;
  co.hidden_dim = 16;
  Classifier c(co);
  randomize_batchnorm(*g);
  randomize_batchnorm(*c);
  const auto g32 = fused_generator(state_dict(*g), go), g16 = fused_generator(state_dict(*g), go, torch::kBFloat16);
  const auto c32 = fused_classifier(state_dict(*c), co), c16 = fused_classifier(state_dict(*c), co, torch::kBFloat16);
  auto edit_step = [](const TensorFn& gen, const TensorFn& cls, const torch::Tensor& z, const torch::Tensor& probe) {
    return value_and_grad([&](const torch::Tensor& x) { return cls(gen(x)); }, z, probe);
  };
  for (int64_t n : {1, 5}) {  // one image: FP32 takes the transposed convolutions, BF16 the sub-pixel ones
    const torch::Tensor z = torch::randn({n, go.z_dim});
    const torch::Tensor probe = torch::randn({n, 40});
    auto [y32, gr32] = edit_step(g32, c32, z, probe);
    auto [y16, gr16] = edit_step(g16, c16, z, probe);
    EXPECT_EQ(y16.scalar_type(), torch::kFloat32);
    EXPECT_EQ(gr16.scalar_type(), torch::kFloat32);
    const double range = y32.abs().max().item<double>();
    EXPECT_LT((y16 - y32).abs().max().item<double>(), 0.05 * range) << n;
    EXPECT_GT((y16 - y32).abs().max().item<double>(), 0.0) << "bf16 ran in float32";
    EXPECT_GT(min_row_cosine(gr16, gr32), 0.98) << n;
    torch::NoGradGuard ng;
    const torch::Tensor img32 = g32(z), img16 = g16(z);
    EXPECT_EQ(img16.scalar_type(), torch::kFloat32);
    EXPECT_LT((img16 - img32).abs().max().item<double>(), 0.05) << n;  // of the [-1, 1] range
  }
}

// The latent models' MLPs by hand (edit/mlp_kernel.h) equal torch's Linear/SiLU stack in output
// and input gradient, and a row's result does not depend on how many rows run with it.
TEST(Fused, LatentMlpsByHandEqualTorchAndEachRowIsItsOwn) {
  torch::manual_seed(4);
  Mlp mlp;
  const std::vector<int64_t> dims = {16, 48, 32, 7};  // 7 outputs: the 4-row blocks and the rest
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    mlp.weights.push_back(torch::randn({dims[i + 1], dims[i]}) * 0.3);
    mlp.biases.push_back(torch::randn({dims[i + 1]}) * 0.1);
  }
  const MlpView view = mlp_view(mlp);
  ASSERT_EQ(view.layers.size(), 3u);
  const int M = 7;  // one block of 4 input rows and 3 single rows
  const torch::Tensor x = torch::randn({M, 16}), probe = torch::randn({M, 7});
  auto ref = [&](const torch::Tensor& z) {
    torch::Tensor h = z;
    for (size_t i = 0; i < mlp.weights.size(); ++i) {
      h = torch::linear(h, mlp.weights[i], mlp.biases[i]);
      if (i + 1 < mlp.weights.size()) h = torch::silu(h);
    }
    return h;
  };
  auto [y_ref, g_ref] = value_and_grad(ref, x, probe);
  std::vector<float> y(M * 7), g(M * 16, 0.0f);
  MlpTape tape;
  mlp_forward(view, x.data_ptr<float>(), M, tape, y.data());
  mlp_backward(view, tape, probe.data_ptr<float>(), M, g.data());
  EXPECT_LT((torch::from_blob(y.data(), {M, 7}) - y_ref).abs().max().item<double>(), 1e-5);
  EXPECT_LT((torch::from_blob(g.data(), {M, 16}) - g_ref).abs().max().item<double>(), 1e-5);
  for (int r : {0, 5}) {  // row r alone: bit for bit what it was among seven
    std::vector<float> y1(7), g1(16, 0.0f);
    MlpTape t1;
    mlp_forward(view, x.data_ptr<float>() + r * 16, 1, t1, y1.data());
    mlp_backward(view, t1, probe.data_ptr<float>() + r * 7, 1, g1.data());
    for (int j = 0; j < 7; ++j) EXPECT_EQ(y1[j], y[r * 7 + j]) << r << " " << j;
    for (int j = 0; j < 16; ++j) EXPECT_EQ(g1[j], g[r * 16 + j]) << r << " " << j;
  }
  // Weights it cannot read as FP32 rows leave the caller to libtorch.
  Mlp bf = mlp;
  bf.weights[1] = bf.weights[1].to(torch::kBFloat16);
  EXPECT_TRUE(mlp_view(bf).layers.empty());
  Mlp strided = mlp;
  strided.weights[0] = mlp.weights[0].t().contiguous().t();
  EXPECT_TRUE(mlp_view(strided).layers.empty());
}
