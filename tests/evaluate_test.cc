#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "latentedit/evaluate.h"
#include "test_util.h"

using namespace latentedit;

TEST(Evaluate, TinyModelGivesCompleteSelfConsistentResults) {
  test::TempDir d;
  test::make_random_bundle(d.str(), 4, 4, 1, true);
  const Models m = load_bundle(d.str());
  EvalOptions o;
  o.seeds = 24;
  o.min_latents = 1;
  o.heldout = 40;
  o.samples = 60;
  o.attributes = {31, 15};
  EditSpec def;
  o.points = {{"gradient", "default", 1.0, def}, {"course", "course", 0.125, course_baseline()}};
  const EvalResult r = evaluate(m, o);
  ASSERT_GE(r.entries.size(), 2u);
  ASSERT_EQ(r.mean.size(), 2u);
  double success = 0, drift = 0;
  int64_t n_attr31 = 0;
  for (const auto& e : r.entries) {
    ASSERT_EQ(e.stats.size(), 2u);
    for (const auto& s : e.stats) {
      for (double f : {s.success, s.fooled}) {
        EXPECT_GE(f, 0.0);
        EXPECT_LE(f, 1.0);
      }
      EXPECT_GE(s.drift, 0.0);
      EXPECT_NEAR(s.masked_drift, s.drift, 1e-12);  // no correlation given: nothing is masked
      EXPECT_GE(s.dz, 0.0);
    }
    success += e.stats[0].success;
    drift += e.stats[0].drift;
    if (e.attribute == 31) n_attr31 += e.stats[0].n;
  }
  // Both directions together cover every seed once; the mean is over entries.
  if (r.entries.size() == 4) EXPECT_EQ(n_attr31, 24);
  EXPECT_NEAR(r.mean[0].success, success / r.entries.size(), 1e-9);
  EXPECT_NEAR(r.mean[0].drift, drift / r.entries.size(), 1e-9);
  EXPECT_LT(r.mean[1].dz, r.mean[0].dz);  // the course's step is 8x smaller
  const auto j = r.to_json(m);
  EXPECT_EQ(j["per_attribute"].size(), r.entries.size());
  const double acc = j["heldout"]["classifier"]["mean"].get<double>();
  EXPECT_GE(acc, 0.0);
  EXPECT_LE(acc, 1.0);
  EXPECT_EQ(j["generated_vs_rendered"]["frequencies"].size(), 40u);
  EXPECT_GE(j["generated_vs_rendered"]["frechet_auditor_features"].get<double>(), 0.0);
  const cv::Mat plot = pareto_plot(r, "test");
  EXPECT_GT(plot.cols, 400);
}

TEST(Evaluate, FrechetDistanceOfASetWithItselfIsZeroAndGrowsWithShift) {
  torch::manual_seed(0);
  const auto a = torch::randn({500, 6});
  EXPECT_NEAR(frechet_distance(a, a), 0.0, 1e-6);
  EXPECT_NEAR(frechet_distance(a, a + 2.0), 6 * 4.0, 1e-6);  // mean shift of 2 in 6 dims
}

// The generator measured as the field does: a random tiny generator is far from the rendered
// faces (Frechet above the renders' own floor, recall below theirs), the figures are in range and
// deterministic, and too few samples are refused.
TEST(Evaluate, GeneratorQualityOfARandomGeneratorIsFarFromTheRenderedFloor) {
  test::TempDir d;
  test::make_random_bundle(d.str(), 4, 4, 1, true);
  const Models m = load_bundle(d.str());
  const nlohmann::json g = generator_quality(m, 64, 1);
  for (const char* k : {"precision", "recall", "precision_rendered_vs_rendered", "recall_rendered_vs_rendered"}) {
    EXPECT_GE(g[k].get<double>(), 0.0) << k;
    EXPECT_LE(g[k].get<double>(), 1.0) << k;
  }
  EXPECT_GT(g["frechet_auditor_features"].get<double>(), g["frechet_rendered_vs_rendered"].get<double>());
  EXPECT_LT(g["recall"].get<double>(), g["recall_rendered_vs_rendered"].get<double>());
  EXPECT_GT(g["recall_rendered_vs_rendered"].get<double>(), 0.3);  // two sets of renders cover each other
  EXPECT_EQ(g, generator_quality(m, 64, 1));
  EXPECT_THROW(generator_quality(m, 4, 1), UsageError);
  // The sample sheet: a row of renders, then a row per generator, the same latents in each.
  const std::string one_png = generator_sheet({{"a", &m}}, 5);
  const cv::Mat one = cv::imdecode(std::vector<uchar>(one_png.begin(), one_png.end()), cv::IMREAD_COLOR);
  const std::string two_png = generator_sheet({{"a", &m}, {"b", &m}}, 5);
  const cv::Mat two = cv::imdecode(std::vector<uchar>(two_png.begin(), two_png.end()), cv::IMREAD_COLOR);
  ASSERT_FALSE(one.empty());
  EXPECT_GT(two.rows, one.rows + 100);  // one more row of 128-px faces
  EXPECT_EQ(two.cols, one.cols);
  // the two rows of the same generator are the same pixels
  const int face = 128, pad = 6, top = 52 + 20 + pad, left = 190 + pad;
  const cv::Rect r1(left, top + (face + pad), 5 * (face + pad) - pad, face), r2(left, top + 2 * (face + pad), 5 * (face + pad) - pad, face);
  EXPECT_EQ(cv::norm(two(r1), two(r2), cv::NORM_L1), 0.0);
  EXPECT_GT(cv::norm(two(cv::Rect(left, top, r1.width, face)), two(r1), cv::NORM_L1), 0.0);  // renders differ from samples
  EXPECT_THROW(generator_sheet({}), UsageError);
}
