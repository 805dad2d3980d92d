#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "latentedit/bundle.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/image.h"
#include "io/pth.h"
#include "test_util.h"
#include "model/networks.h"

using namespace latentedit;
namespace fs = std::filesystem;

namespace {
nlohmann::json expected() { return test::read_json(test::fixture("expected.json")); }

void expect_close(const torch::Tensor& got, const std::vector<float>& want, double tol) {
  const auto g = got.reshape({-1}).to(torch::kFloat32);
  ASSERT_EQ(g.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(g[static_cast<int64_t>(i)].item<float>(), want[i], tol) << "element " << i;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

const std::string kRealDir = std::string(LATENTEDIT_SHARED_DIR) + "/realdata";
}  // namespace

TEST(Pth, CourseFormatsLoadAndMatchPyTorchOutputs) {
  const auto exp = expected();
  const torch::Tensor z = sample_latents(7, 8, 64).slice(0, 0, 2);
  for (const char* g : {"course_gen_legacy.pth", "course_gen_zip.pth"}) {
    for (const char* c : {"course_cls_legacy.pth", "course_cls_zip.pth"}) {
      const Models m = load_from_files(test::fixture(g), test::fixture(c));
      EXPECT_EQ(m.generator.hidden_dim, 4) << g;
      EXPECT_EQ(m.z_dim, 64);
      const auto img = generate(m, z);
      expect_close(img.reshape({-1}).slice(0, 0, img.numel(), 37), exp["generator_out_stride37"].get<std::vector<float>>(), 1e-5);
      EXPECT_NEAR(img.to(torch::kFloat64).sum().item<double>(), exp["generator_out_sum"].get<double>(), 1e-3);
      expect_close(classify(m.classifier, img), exp["classifier_logits"].get<std::vector<float>>(), 1e-4);
    }
  }
}

TEST(Pth, NestedCheckpointKeepsPlainValuesAndIgnoresOptimizerState) {
  const PyPtr root = load_pth(test::fixture("course_gen_legacy.pth"));
  ASSERT_EQ(root->kind, PyValue::Kind::kDict);
  std::map<std::string, PyPtr> top;
  for (const auto& [k, v] : root->dict) top[k->s] = v;
  ASSERT_TRUE(top.count("gen_opt"));
  EXPECT_EQ(top["epoch"]->i, 3);
  std::map<std::string, PyPtr> meta;
  for (const auto& [k, v] : top["meta"]->dict) meta[k->s] = v;
  EXPECT_EQ(meta["name"]->s, "tiny");
  EXPECT_DOUBLE_EQ(meta["lr"]->f, 0.1);
  EXPECT_EQ(meta["pair"]->kind, PyValue::Kind::kTuple);
  EXPECT_EQ(meta["none"]->kind, PyValue::Kind::kNone);
  EXPECT_TRUE(meta["flag"]->b);
  EXPECT_EQ(meta["big"]->i, int64_t{1} << 40);
  const auto sd = pth_state_dict(root, "gen", "x");
  EXPECT_EQ(sd.size(), 30u);
  EXPECT_EQ(sd.front().first, "gen.0.0.weight");
}

TEST(Pth, RefusesForbiddenGlobalsWithoutRunningThem) {
  for (const char* f : {"evil_global.pth", "evil_global_zip.pth"}) {
    const std::string m = error_of([&] { load_pth(test::fixture(f)); });
    EXPECT_NE(m.find("refused to load"), std::string::npos) << m;
    EXPECT_NE(m.find("posix.system"), std::string::npos) << m;
  }
}

TEST(Pth, CorruptFilesGiveClearErrors) {
  std::string m = error_of([] { load_pth(test::fixture("truncated.pth")); });
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  m = error_of([] { load_pth(test::fixture("no_data_pkl.pth")); });
  EXPECT_NE(m.find("no data.pkl"), std::string::npos) << m;
  m = error_of([] { load_pth(test::fixture("expected.json")); });
  EXPECT_NE(m.find("not a PyTorch checkpoint"), std::string::npos) << m;
  // A classifier checkpoint given as the generator names the missing key.
  m = error_of([] { load_from_files(test::fixture("course_cls_legacy.pth"), test::fixture("course_cls_legacy.pth")); });
  EXPECT_NE(m.find("not a course generator"), std::string::npos) << m;
}

TEST(Pth, EveryTruncationIsAnErrorNotACrash) {
  std::ifstream f(test::fixture("course_cls_legacy.pth"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  int errors = 0;
  for (size_t n = 0; n < bytes.size(); n += 97) {
    try {
      parse_legacy_pth(reinterpret_cast<const uint8_t*>(bytes.data()), n, "cut");
    } catch (const ModelError&) {
      ++errors;
    }
  }
  EXPECT_EQ(errors, static_cast<int>((bytes.size() + 96) / 97));
}

TEST(Pth, TorchScriptModelsEditThroughTheScriptModules) {
  const Models m = load_from_files(test::fixture("gen_script.pt"), test::fixture("cls_script.pt"));
  EXPECT_EQ(m.generator.arch, "torchscript");
  const auto exp = expected();
  const auto z = sample_latents(7, 8, 64);
  const auto img = generate(m, z.slice(0, 0, 2));
  EXPECT_NEAR(img.to(torch::kFloat64).sum().item<double>(), exp["generator_out_sum"].get<double>(), 1e-3);
  EditSpec s;
  s.targets = {{31, Direction::kAdd, std::nullopt}};
  const auto r = edit(m, z, s);
  EXPECT_TRUE((r.logits[10].select(1, 31) > r.logits[0].select(1, 31)).all().item<bool>());
}

TEST(Pth, RealCourseClassifierMatchesPyTorchOnRealCelebA) {
  if (!fs::exists(kRealDir + "/coursera_c1w4/pretrained_classifier.pth"))
    GTEST_SKIP() << "../shared/realdata is absent: skipping the real-classifier test";
  const auto ref = test::read_json(test::fixture("real_classifier_logits.json"));
  const auto root = load_pth(kRealDir + "/coursera_c1w4/pretrained_classifier.pth");
  const auto sd = pth_state_dict(root, "classifier", "real");
  int64_t n = 0;
  for (const auto& [k, t] : sd) n += t.numel();
  EXPECT_EQ(n, 824555);  // 824,552 parameters and running stats + 3 num_batches_tracked
  const Network c = make_classifier_network(sd, "real");
  EXPECT_EQ(c.hidden_dim, 64);
  std::vector<torch::Tensor> imgs;
  for (const auto& f : ref["images"])
    imgs.push_back(load_image_for_model(kRealDir + "/celeba_sample/img_align_celeba/" + f.get<std::string>(), 64, -1, 1));
  const auto logits = classify(c, torch::stack(imgs));
  double max_diff = 0;
  for (size_t i = 0; i < imgs.size(); ++i) {
    const auto want = ref["logits"][i].get<std::vector<float>>();
    for (int a = 0; a < 40; ++a)
      max_diff = std::max(max_diff, std::abs(logits[static_cast<int64_t>(i)][a].item<double>() - want[a]));
  }
  EXPECT_LT(max_diff, 1e-4);
  // Accuracy against CelebA's labels, as PyTorch measured it.
  std::ifstream lf(kRealDir + "/celeba_sample/list_attr_celeba.txt");
  std::string line;
  std::getline(lf, line);
  std::getline(lf, line);
  int correct = 0, total = 0;
  for (int64_t i = 0; i < 32 && std::getline(lf, line); ++i) {
    std::istringstream ls(line);
    std::string name;
    ls >> name;
    for (int a = 0; a < 40; ++a) {
      int v;
      ls >> v;
      correct += (logits[i][a].item<float>() > 0) == (v == 1);
      ++total;
    }
  }
  const double acc = static_cast<double>(correct) / total;
  std::printf("[ real ] course classifier on 32 real CelebA images: max |logit diff| vs PyTorch %.2e, mean accuracy %.4f\n",
              max_diff, acc);
  EXPECT_NEAR(acc, ref["mean_accuracy"].get<double>(), 1e-6);
}

TEST(Pth, DeeplyNestedPicklesAreRefused) {
  // PROTO 2, then 100000 x EMPTY_LIST, then 99999 x APPEND, STOP: lists nested 100000 deep.
  std::string p = "\x80\x02";
  p += std::string(100000, ']');
  p += std::string(99999, 'a');
  p += '.';
  try {
    unpickle(reinterpret_cast<const uint8_t*>(p.data()), p.size(), "deep", nullptr);
    FAIL() << "expected ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("nested"), std::string::npos) << e.what();
  }
}
