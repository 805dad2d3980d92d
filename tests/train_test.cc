#include <gtest/gtest.h>

#include "latentedit/dataset.h"
#include "latentedit/train.h"
#include "test_util.h"

using namespace latentedit;

TEST(Train, ClassifierLossIsFiniteAndDecreases) {
  const Dataset d = render_dataset(1, 0, 256);
  ClassifierTrainOptions o;
  o.hidden_dim = 8;
  o.steps = 60;
  o.batch = 32;
  o.report_every = 10;
  std::vector<double> losses;
  train_classifier(d, o, [&](const TrainStats& s) { losses.push_back(s.losses.at("loss")); });
  ASSERT_EQ(losses.size(), 6u);
  for (double l : losses) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(losses.back(), losses.front() * 0.8) << "first " << losses.front() << " last " << losses.back();
}

TEST(Train, ClassifierResumeContinuesIdentically) {
  test::TempDir dir;
  const Dataset d = render_dataset(2, 0, 64);
  ClassifierTrainOptions o;
  o.hidden_dim = 4;
  o.batch = 16;
  o.steps = 6;
  const Classifier straight = train_classifier(d, o);
  o.checkpoint = dir / "c.ckpt";
  o.checkpoint_every = 3;
  o.steps = 3;
  train_classifier(d, o);
  o.steps = 6;
  o.resume = true;
  const Classifier resumed = train_classifier(d, o);
  const auto a = state_dict(*straight), b = state_dict(*resumed);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
}

TEST(Train, GanResumeContinuesIdenticallyAndLossesAreFinite) {
  test::TempDir dir;
  const Dataset d = render_dataset(3, 0, 64);
  GanTrainOptions o;
  o.g_hidden = 4;
  o.d_hidden = 4;
  o.batch = 8;
  o.steps = 4;
  o.bn_calibration_batches = 2;
  o.report_every = 1;
  std::vector<TrainStats> stats;
  Generator straight = train_gan(d, o, [&](const TrainStats& s) { stats.push_back(s); });
  for (const auto& s : stats)
    for (const auto& [k, v] : s.losses) EXPECT_TRUE(std::isfinite(v)) << k;
  o.checkpoint = dir / "g.ckpt";
  o.checkpoint_every = 2;
  o.steps = 2;
  train_gan(d, o);
  o.steps = 4;
  o.resume = true;
  const Generator resumed = train_gan(d, o);
  const auto a = state_dict(*straight), b = state_dict(*resumed);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  const auto img = straight->forward(torch::randn({2, 64}));
  EXPECT_EQ(img.sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
}

TEST(Train, SpectralNormKeepsLayersNearUnitGain) {
  torch::manual_seed(0);
  SNDiscriminator d(8);
  d->train();
  const auto x = torch::randn({4, 3, 64, 64});
  for (int i = 0; i < 20; ++i) d->forward(x);  // power iterations converge
  const auto y = d->forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{4}));
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
}
