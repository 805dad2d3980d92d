#include <gtest/gtest.h>

#include <limits>
#include <tuple>

#include "latentedit/bundle.h"
#include "latentedit/errors.h"
#include "latentedit/safetensors.h"
#include "io/fsutil.h"
#include "test_util.h"
#include "model/networks.h"

using namespace latentedit;
namespace fs = std::filesystem;

namespace {
// Expects load_bundle(dir) to throw ModelError whose message contains `needle`.
void expect_bundle_error(const std::string& dir, const std::string& needle) {
  try {
    load_bundle(dir);
    ADD_FAILURE() << "expected ModelError containing '" << needle << "'";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(Bundle, LoadsARandomBundle) {
  test::TempDir d;
  test::make_random_bundle(d.str(), 4, 4, 0, true);
  const Models m = load_bundle(d.str());
  EXPECT_EQ(m.name, "random-test");
  EXPECT_EQ(m.z_dim, 64);
  EXPECT_EQ(m.attributes.size(), 40u);
  EXPECT_EQ(m.generator.hidden_dim, 4);
  ASSERT_TRUE(m.auditor.has_value());
  EXPECT_EQ(m.auditor->hidden_dim, 6);
  // Frozen: no parameter asks for gradients.
  const auto img = m.generator.forward(torch::randn({2, 64}));
  EXPECT_FALSE(img.requires_grad());
}

TEST(Bundle, EachMissingOrCorruptPieceHasItsOwnError) {
  test::TempDir d;
  expect_bundle_error(d / "nope", "is not a directory");
  test::make_random_bundle(d / "b");
  const std::string b = d / "b";
  fs::rename(b + "/model.json", b + "/model.bak");
  expect_bundle_error(b, "has no model.json");
  fs::rename(b + "/model.bak", b + "/model.json");
  const std::string good = read_file(b + "/model.json");

  write_file_atomic(b + "/model.json", "{ not json");
  expect_bundle_error(b, ":1:4: invalid JSON");
  write_file_atomic(b + "/model.json", std::string(100000, '[') + std::string(100000, ']'));
  expect_bundle_error(b, "nested deeper than 64");
  write_file_atomic(b + "/model.json", R"({"z_dim": 1e400})");
  expect_bundle_error(b, "z_dim: number overflow");
  for (const auto& [field, value, needle] : std::vector<std::tuple<std::string, nlohmann::json, std::string>>{
           {"format", "stylegan-pkl", "expected \"latentedit-bundle\""},
           {"version", 2, "version 2 is not supported"},
           {"image_size", 32, "the generator outputs (1, 3, 64, 64)"},
           {"image_size", 100000, "image_size must be in 8..1024"},
           {"attributes", nlohmann::json::array({"Smiling", "Smiling"}), "listed twice"},
           {"attributes", nlohmann::json::array({""}), "is empty, too long"},
           {"attributes", nlohmann::json::array({"Smiling"}), "file [40, 16, 4, 4], model [1, 16, 4, 4]"}}) {
    auto bad = nlohmann::json::parse(good);
    bad[field] = value;
    if (field == "attributes" && value.size() == 2) {  // 40 names with one repeated
      bad[field] = nlohmann::json::parse(good)["attributes"];
      bad[field][1] = bad[field][0];
    }
    write_file_atomic(b + "/model.json", bad.dump());
    expect_bundle_error(b, needle);
  }
  auto j = nlohmann::json::parse(good);
  j.erase("generator");
  write_file_atomic(b + "/model.json", j.dump());
  expect_bundle_error(b, "no \"generator\"");
  j = nlohmann::json::parse(good);
  j["classifier"]["arch"] = "resnet";
  write_file_atomic(b + "/model.json", j.dump());
  expect_bundle_error(b, "unknown arch \"resnet\"");
  j = nlohmann::json::parse(good);
  j["generator"]["hidden_dim"] = 8;  // weights are hidden 4
  write_file_atomic(b + "/model.json", j.dump());
  expect_bundle_error(b, "wrong shape");
  j = nlohmann::json::parse(good);
  j["z_dim"] = "sixty-four";
  write_file_atomic(b + "/model.json", j.dump());
  expect_bundle_error(b, "\"z_dim\" must be a whole number");
  write_file_atomic(b + "/model.json", good);

  fs::remove(b + "/classifier.safetensors");
  expect_bundle_error(b, "classifier.safetensors does not exist");
  const std::string gen = read_file(b + "/generator.safetensors");
  write_file_atomic(b + "/classifier.safetensors", gen.substr(0, gen.size() / 2));
  expect_bundle_error(b, "not a valid safetensors file");
  write_file_atomic(b + "/classifier.safetensors", gen);  // a generator where the classifier should be
  expect_bundle_error(b, "weights do not fit the architecture");

  // NaN weights fail at load time (one probe forward), not as a NaN "success" mid-edit.
  test::make_random_bundle(d / "nan");
  auto w = load_safetensors(d / "nan/generator.safetensors").tensors;
  for (auto& [name, t] : w)
    if (name.find("weight") != std::string::npos) t.fill_(std::numeric_limits<float>::quiet_NaN());
  save_safetensors(d / "nan/generator.safetensors", w);
  expect_bundle_error(d / "nan", "the generator outputs NaN or infinite pixels");
}

namespace {
// A bundle in d/a whose classifier is an ensemble: its own (hidden 4) and d/b's (hidden 6, another
// seed) as classifier_1.safetensors. Returns d/a.
std::string make_ensemble_bundle(const test::TempDir& d) {
  test::make_random_bundle(d / "a", 4, 4, 0);
  test::make_random_bundle(d / "b", 4, 6, 1);
  const std::string b = d / "a";
  fs::copy_file(d / "b/classifier.safetensors", b + "/classifier_1.safetensors");
  auto j = test::read_json(b + "/model.json");
  const nlohmann::json single = j["classifier"];
  j["classifier"] = {{"arch", "ensemble"},
                     {"members", {single, {{"arch", "dcgan-course-classifier"}, {"hidden_dim", 6}, {"weights", "classifier_1.safetensors"}}}}};
  write_manifest(b, j);
  return b;
}
}  // namespace

TEST(Bundle, EnsembleClassifierAveragesItsMembersLogits) {
  test::TempDir d;
  const std::string b = make_ensemble_bundle(d);
  const Models m = load_bundle(b);
  EXPECT_EQ(m.classifier.arch, "ensemble");
  const Network c0 = load_network_file(b + "/classifier.safetensors", "c0", false);
  const Network c1 = load_network_file(b + "/classifier_1.safetensors", "c1", false);
  EXPECT_EQ(m.classifier.parameters, c0.parameters + c1.parameters);
  const torch::Tensor x = torch::rand({3, 3, 64, 64}) * 2 - 1;
  const torch::Tensor want = (c0.forward(x) + c1.forward(x)) / 2;
  EXPECT_TRUE(torch::allclose(m.classifier.forward(x), want, 1e-5, 1e-5));
  EXPECT_GT((c0.forward(x) - c1.forward(x)).abs().max().item<double>(), 1e-3);  // the members differ
  // Input gradients flow through every member.
  const torch::Tensor xi = x.clone().requires_grad_(true);
  m.classifier.forward(xi).sum().backward();
  const torch::Tensor x0 = x.clone().requires_grad_(true), x1 = x.clone().requires_grad_(true);
  c0.forward(x0).sum().backward();
  c1.forward(x1).sum().backward();
  EXPECT_TRUE(torch::allclose(xi.grad(), (x0.grad() + x1.grad()) / 2, 1e-5, 1e-6));
  ASSERT_TRUE(m.classifier.features);
  EXPECT_EQ(m.classifier.features(x).size(1), c0.features(x).size(1) + c1.features(x).size(1));

  // What an ensemble may not be.
  const auto j = test::read_json(b + "/model.json");
  const nlohmann::json single = j["classifier"]["members"][0];
  auto bad = j;
  bad["classifier"]["members"] = {single};
  write_manifest(b, bad);
  expect_bundle_error(b, "needs \"members\": a list of 2..16");
  bad = j;
  bad["classifier"]["members"][1] = j["classifier"];
  write_manifest(b, bad);
  expect_bundle_error(b, "is itself an ensemble");
  bad = j;
  bad["generator"] = j["classifier"];
  write_manifest(b, bad);
  expect_bundle_error(b, "an ensemble is for classifiers only");
  bad = j;
  bad["classifier"]["members"][1]["weights"] = "missing.safetensors";
  write_manifest(b, bad);
  expect_bundle_error(b, "missing.safetensors does not exist");
}

TEST(Bundle, DefaultBundleHonoursEnvironment) {
  test::TempDir d;
  setenv("LATENTEDIT_MODEL", d.str().c_str(), 1);
  EXPECT_EQ(default_bundle_dir("latentedit"), d.str());
  unsetenv("LATENTEDIT_MODEL");
}

// --precision bf16: refused where the CPU would emulate it (nothing changes), applied to the
// generator and the editing classifier (ensemble members too) and never to the auditor.
TEST(Bundle, PrecisionBf16IsRefusedWithoutNativeSupportAndSparesTheAuditor) {
  test::TempDir d;
  test::make_random_bundle(d / "a", 8, 8, 0, /*auditor=*/true);
  Models m = load_bundle(d / "a");
  ASSERT_TRUE(m.auditor);
  const torch::Tensor z = torch::randn({2, 64});
  torch::NoGradGuard ng;
  const torch::Tensor img = m.generator.forward(z), logits = m.classifier.forward(img), audit = m.auditor->forward(img);
  try {
    set_precision(m, Precision::kBf16, /*native_bf16=*/false);
    ADD_FAILURE() << "bf16 accepted on a CPU without native BF16";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("AVX-512 BF16 or AMX"), std::string::npos) << e.what();
  }
  EXPECT_EQ(m.precision, Precision::kFp32);
  EXPECT_TRUE(torch::equal(m.generator.forward(z), img));

  set_precision(m, Precision::kBf16, /*native_bf16=*/true);  // the arithmetic is the same either way; only speed differs
  EXPECT_EQ(m.precision, Precision::kBf16);
  const torch::Tensor img16 = m.generator.forward(z);
  EXPECT_FALSE(torch::equal(img16, img));
  EXPECT_LT((img16 - img).abs().max().item<double>(), 0.05);
  EXPECT_FALSE(torch::equal(m.classifier.forward(img), logits));
  EXPECT_TRUE(torch::equal(m.auditor->forward(img), audit));  // the judge stays float32
  set_precision(m, Precision::kFp32);
  EXPECT_TRUE(torch::equal(m.generator.forward(z), img));
  EXPECT_TRUE(torch::equal(m.classifier.forward(img), logits));
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  EXPECT_THROW(parse_precision("fp16"), UsageError);
}

TEST(Bundle, PrecisionBf16OfAnEnsembleConvertsEveryMemberAndTorchScriptIsRefused) {
  test::TempDir d;
  const std::string b = make_ensemble_bundle(d);
  Models m = load_bundle(b);
  ASSERT_TRUE(m.classifier.forward_in);
  Models m16 = m;
  set_precision(m16, Precision::kBf16, true);
  const Network c0 = load_network_file(b + "/classifier.safetensors", "c0", false);
  const Network c1 = load_network_file(b + "/classifier_1.safetensors", "c1", false);
  const torch::Tensor x = torch::rand({3, 3, 64, 64}) * 2 - 1;
  torch::NoGradGuard ng;
  const torch::Tensor want = (c0.forward_in(torch::kBFloat16)(x) + c1.forward_in(torch::kBFloat16)(x)) / 2;
  EXPECT_TRUE(torch::allclose(m16.classifier.forward(x), want, 1e-6, 1e-6));
  EXPECT_FALSE(torch::equal(m16.classifier.forward(x), m.classifier.forward(x)));

  Models ts = load_from_files(test::fixture("gen_script.pt"), test::fixture("cls_script.pt"));
  EXPECT_FALSE(ts.generator.forward_in);
  EXPECT_THROW(set_precision(ts, Precision::kBf16, true), UsageError);
  EXPECT_NO_THROW(set_precision(ts, Precision::kFp32, true));
}
