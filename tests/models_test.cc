#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "latentedit/errors.h"
#include "latentedit/models.h"
#include "test_util.h"

using namespace latentedit;

TEST(Models, StateDictNamesAreTheCourseKeys) {
  Generator g;
  std::set<std::string> gk;
  for (const auto& [k, t] : state_dict(*g)) gk.insert(k);
  for (int b = 0; b < 4; ++b) {
    const std::string p = "gen." + std::to_string(b);
    for (const char* s : {".0.weight", ".0.bias", ".1.weight", ".1.bias", ".1.running_mean", ".1.running_var",
                          ".1.num_batches_tracked"})
      EXPECT_TRUE(gk.count(p + s)) << p + s;
  }
  EXPECT_TRUE(gk.count("gen.4.0.weight"));
  EXPECT_TRUE(gk.count("gen.4.0.bias"));
  EXPECT_EQ(gk.size(), 4u * 7 + 2);
  Classifier c;
  std::set<std::string> ck;
  for (const auto& [k, t] : state_dict(*c)) ck.insert(k);
  EXPECT_TRUE(ck.count("classifier.0.1.running_var"));
  EXPECT_TRUE(ck.count("classifier.3.0.bias"));
  EXPECT_EQ(ck.size(), 3u * 7 + 2);
}

TEST(Models, CourseShapes) {
  Generator g;  // z_dim 64, hidden 64
  const auto img = g->forward(torch::randn({2, 64}));
  EXPECT_EQ(img.sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
  EXPECT_LE(img.abs().max().item<float>(), 1.0f);
  Classifier c;
  EXPECT_EQ(c->forward(img).sizes(), (std::vector<int64_t>{2, 40}));
  EXPECT_EQ(c->features(img).sizes(), (std::vector<int64_t>{2, 256}));
  int64_t n = 0;
  for (const auto& p : c->parameters()) n += p.numel();
  EXPECT_EQ(n, 824552 - 2 * (64 + 128 + 256));  // the course file's count includes BN buffers
}

TEST(Models, InferOptionsAndRejectMismatches) {
  GeneratorOptions go;
  go.hidden_dim = 8;
  go.z_dim = 10;
  Generator g(go);
  const auto sd = state_dict(*g);
  const auto o = infer_generator_options(sd, "g");
  EXPECT_EQ(o.z_dim, 10);
  EXPECT_EQ(o.hidden_dim, 8);
  go.hidden_dim = 4;
  Generator small(go);
  try {
    load_state_dict(*small, sd, "gen.safetensors");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("wrong shape gen.0.0.weight"), std::string::npos) << e.what();
  }
  NamedTensors missing(sd.begin() + 2, sd.end());
  missing.emplace_back("gen.9.extra", torch::zeros({1}));
  try {
    load_state_dict(*g, missing, "gen.safetensors");
    FAIL();
  } catch (const ModelError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("missing gen.0.0.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected gen.9.extra"), std::string::npos) << m;
  }
  EXPECT_THROW(infer_classifier_options(sd, "x"), ModelError);
}
