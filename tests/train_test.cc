#include <gtest/gtest.h>

#include "latentedit/bundle.h"
#include "latentedit/dataset.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/train.h"
#include "latentedit/train_report.h"
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

namespace {
// Names of the state_dict entries whose values differ (x and y have the same layout).
std::vector<std::string> differing_weights(const torch::nn::Module& x, const torch::nn::Module& y) {
  const auto a = state_dict(x), b = state_dict(y);
  EXPECT_EQ(a.size(), b.size());
  std::vector<std::string> out;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (!torch::equal(a[i].second, b[i].second)) out.push_back(a[i].first);
  return out;
}

void expect_same_weights(const torch::nn::Module& x, const torch::nn::Module& y, const std::string& what) {
  for (const auto& name : differing_weights(x, y)) ADD_FAILURE() << what << " " << name;
}
}  // namespace

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
  expect_same_weights(*straight, *resumed, "classifier");
}

TEST(Train, SpectralNormKeepsLayersNearUnitGain) {
  torch::manual_seed(0);
  Discriminator d(8);
  d->train();
  const auto x = torch::randn({4, 3, 64, 64});
  for (int i = 0; i < 20; ++i) d->forward(x);  // power iterations converge
  const auto y = d->forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{4}));
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
}

namespace {
// d(loss)/d(logits) of a loss evaluated on `logits` (a leaf).
torch::Tensor logit_grad(const std::function<torch::Tensor(const torch::Tensor&)>& f, torch::Tensor logits) {
  logits = logits.clone().set_requires_grad(true);
  f(logits).backward();
  return logits.grad();
}
const torch::Tensor kLogits = torch::tensor({-12.0, -3.0, -0.5, 0.0, 0.7, 4.0}, torch::kFloat64);
}  // namespace

TEST(GanLoss, EachMatchesItsFormulaInValueAndGradient) {
  const torch::Tensor r = torch::tensor({2.0, -1.0, 0.3, 5.0, -4.0, 0.0}, torch::kFloat64), f = kLogits;
  const auto D = [](const torch::Tensor& l) { return torch::sigmoid(l); };
  const int64_t B = f.size(0);
  // The paper's value function V = E log D(x) + E log(1 - D(G(z))): D minimises -V.
  const double V = (torch::log(D(r)).mean() + torch::log(1 - D(f)).mean()).item<double>();
  for (const char* name : {"minimax", "non-saturating"})
    EXPECT_NEAR(gan_loss(name).d(r, f).item<double>(), -V, 1e-9) << name;
  EXPECT_NEAR(gan_loss("minimax").g(f).item<double>(), torch::log(1 - D(f)).mean().item<double>(), 1e-9);
  EXPECT_NEAR(gan_loss("non-saturating").g(f).item<double>(), -torch::log(D(f)).mean().item<double>(), 1e-9);
  EXPECT_NEAR(gan_loss("hinge").d(r, f).item<double>(),
              (torch::relu(1 - r).mean() + torch::relu(1 + f).mean()).item<double>(), 1e-12);
  EXPECT_NEAR(gan_loss("hinge").g(f).item<double>(), -f.mean().item<double>(), 1e-12);
  // Gradients with respect to D's logit on G(z): d/dl log(1 - sigmoid(l)) = -sigmoid(l) (vanishes as
  // D(G(z)) -> 0: saturation); d/dl -log sigmoid(l) = -(1 - sigmoid(l)) (tends to -1); hinge: -1.
  const auto gm = logit_grad(gan_loss("minimax").g, f) * B, gn = logit_grad(gan_loss("non-saturating").g, f) * B,
             gh = logit_grad(gan_loss("hinge").g, f) * B;
  EXPECT_TRUE(torch::allclose(gm, -D(f), 1e-9, 1e-12));
  EXPECT_TRUE(torch::allclose(gn, -(1 - D(f)), 1e-9, 1e-12));
  EXPECT_TRUE(torch::allclose(gh, -torch::ones_like(f)));
  // D confidently rejects a fake (D(G(z)) = sigmoid(-12) ~ 6e-6): the saturating loss passes
  // almost nothing to G, the non-saturating loss nearly the full unit signal.
  EXPECT_LT(std::abs(gm[0].item<double>()), 1e-5);
  EXPECT_GT(std::abs(gn[0].item<double>()), 0.9999);
  // Both losses push G the same way (raise l) everywhere.
  EXPECT_TRUE((gm < 0).all().item<bool>() && (gn < 0).all().item<bool>());
  // D's gradients: on a real logit -(1 - sigmoid(l)) / B, on a fake sigmoid(l) / B.
  auto rr = r.clone().set_requires_grad(true), ff = f.clone().set_requires_grad(true);
  gan_loss("minimax").d(rr, ff).backward();
  EXPECT_TRUE(torch::allclose(rr.grad() * B, -(1 - D(r)), 1e-9, 1e-12));
  EXPECT_TRUE(torch::allclose(ff.grad() * B, D(f), 1e-9, 1e-12));
  try {
    gan_loss("wasserstein");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("minimax, non-saturating, hinge"), std::string::npos) << e.what();
  }
}

namespace {
GanTrainOptions tiny_gan(const std::string& loss, int64_t d_steps, const std::string& disc) {
  GanTrainOptions o;
  o.g_hidden = 4;
  o.d_hidden = 4;
  o.batch = 8;
  o.bn_calibration_batches = 2;
  o.report_every = 1;
  o.loss = loss;
  o.d_steps = d_steps;
  o.discriminator = disc;
  o.spectral_norm = disc == "dcgan";
  return o;
}

// Trains o.steps steps in two sittings: to a checkpoint at step `split` in `dir`, then resumed.
Generator train_gan_resumed(const Dataset& d, GanTrainOptions o, const test::TempDir& dir, int64_t split,
                            std::vector<TrainStats>& resumed_stats) {
  const int64_t steps = o.steps;
  o.checkpoint = dir / "g.ckpt";
  o.checkpoint_every = split;
  o.steps = split;
  train_gan(d, o);
  o.steps = steps;
  o.resume = true;
  return train_gan(d, o, [&](const TrainStats& s) { resumed_stats.push_back(s); });
}
}  // namespace

TEST(Train, GanTakesExactlyKDiscriminatorStepsPerGeneratorStep) {
  const Dataset d = render_dataset(4, 0, 64);
  for (int64_t k : {1, 3}) {
    GanTrainOptions o = tiny_gan("non-saturating", k, "dcgan");
    o.steps = 4;
    std::vector<TrainStats> st;
    train_gan(d, o, [&](const TrainStats& s) { st.push_back(s); });
    ASSERT_EQ(st.size(), 4u);
    for (size_t i = 0; i < st.size(); ++i) {
      EXPECT_EQ(st[i].g_updates, static_cast<int64_t>(i + 1));
      EXPECT_EQ(st[i].d_updates, k * static_cast<int64_t>(i + 1)) << "k=" << k;
      for (const char* key : {"d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "g_logit_grad"}) {
        ASSERT_TRUE(st[i].losses.count(key)) << key;
        EXPECT_TRUE(std::isfinite(st[i].losses.at(key))) << key;
      }
    }
  }
}

TEST(Train, GanResumeIsBitIdenticalForEveryLossAndDiscriminator) {
  const Dataset d = render_dataset(5, 0, 48);
  for (const auto& loss : gan_losses())
    for (const char* disc : {"dcgan", "course"})
      for (int64_t k : {1, 2}) {
        if (std::string(disc) == "course" && k == 2) continue;  // keep it short: K and D covered separately
        test::TempDir dir;
        GanTrainOptions o = tiny_gan(loss.name, k, disc);
        o.diagnose_every = 2;  // diagnostics must not change what training computes
        o.diagnose_samples = 16;
        o.steps = 5;
        std::vector<TrainStats> straight_stats;
        Generator straight = train_gan(d, o, [&](const TrainStats& s) { straight_stats.push_back(s); });
        std::vector<TrainStats> resumed_stats;
        const Generator resumed = train_gan_resumed(d, o, dir, 3, resumed_stats);
        const std::string what = loss.name + " " + disc + " k=" + std::to_string(k);
        ASSERT_EQ(resumed_stats.front().resumed_from, 3) << what;
        EXPECT_EQ(resumed_stats.back().d_updates, 5 * k) << what;
        expect_same_weights(*straight, *resumed, what);
        for (const auto& st : straight_stats)
          for (const auto& [key, v] : st.losses) EXPECT_TRUE(std::isfinite(v)) << what << " " << key;
        EXPECT_EQ(straight->forward(torch::randn({2, 64})).sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
        // The losses of steps 4 and 5 are the same numbers in both runs.
        EXPECT_EQ(straight_stats.back().losses, resumed_stats.back().losses) << what;
      }
}

TEST(Train, CollapseDiagnosticsFlagAOneImageGeneratorNotTheBundledOne) {
  const Models m = load_bundle(test::fixture("../../pretrained/faces64"));
  const Dataset data = render_dataset(101, 0, 256);
  CollapseProbe probe(data, m.z_dim, 256, 7, &m.auditor.value());
  const CollapseDiagnostics ok = probe.measure([&](const torch::Tensor& z) { return generate(m, z); });
  EXPECT_FALSE(ok.collapsing) << ok.reason;
  EXPECT_GT(ok.pairwise_ratio, 0.7);
  EXPECT_LT(ok.duplicate_share, 0.05);
  EXPECT_LT(ok.frequency_gap, 0.12);
  // Every z gives the image of one fixed z: the Helvetica scenario.
  const torch::Tensor one = generate(m, torch::randn({1, m.z_dim}));
  const CollapseDiagnostics bad = probe.measure([&](const torch::Tensor& z) { return one.expand({z.size(0), -1, -1, -1}); });
  EXPECT_TRUE(bad.collapsing);
  EXPECT_LT(bad.pairwise_ratio, 1e-6);
  EXPECT_EQ(bad.duplicate_share, 1.0);
  EXPECT_GT(bad.frequency_gap, ok.frequency_gap);
  EXPECT_GT(bad.frechet, 3 * ok.frechet);
  // Partial collapse: a handful of distinct images for all z (4 modes) is flagged too.
  const torch::Tensor four = generate(m, torch::randn({4, m.z_dim}));
  const CollapseDiagnostics few = probe.measure([&](const torch::Tensor& z) {
    return four.index_select(0, torch::arange(z.size(0)) % 4);
  });
  EXPECT_TRUE(few.collapsing) << few.pairwise_ratio << " " << few.duplicate_share;
  EXPECT_EQ(few.duplicate_share, 1.0);
}

TEST(TrainReport, SummaryAddsResumedSegmentsAndDrawsEveryPanel) {
  const std::string log =
      "{\"event\":\"start\",\"step\":0,\"settings\":{\"loss\":\"minimax\"}}\n"
      "{\"step\":10,\"seconds\":5,\"g_grad_norm\":1,\"g_logit_grad\":0.1,\"d_fake\":0.2}\n"
      "{\"step\":20,\"seconds\":9,\"g_grad_norm\":3,\"g_logit_grad\":0.3,\"diagnostics\":{\"pairwise_ratio\":0.9}}\n"
      "\n"
      "{\"event\":\"resume\",\"step\":20}\n"
      "{\"step\":30,\"seconds\":4,\"g_grad_norm\":2,\"g_logit_grad\":0.2,\"d_fake\":0.4,\"diagnostics\":{\"pairwise_ratio\":0.8}}\n";
  TrainingRun run;
  run.name = "r";
  run.log = parse_json_lines(log, "log");
  ASSERT_EQ(run.log.size(), 5u);
  const auto s = training_summary(run, 20);
  EXPECT_DOUBLE_EQ(s["seconds"].get<double>(), 13.0);  // 9 s, then 4 s after the resume
  EXPECT_DOUBLE_EQ(s["early_g_grad_norm_median"].get<double>(), 3.0);  // steps 10 and 20: upper median
  EXPECT_EQ(s["step"], 30);
  EXPECT_DOUBLE_EQ(s["d_fake"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(s["diagnostics"]["pairwise_ratio"].get<double>(), 0.8);
  EXPECT_EQ(s["settings"]["loss"], "minimax");
  run.samples.emplace_back(20, cv::Mat(64, 130, CV_8UC3, cv::Scalar(0, 0, 255)));
  const cv::Mat one = training_report({run}, "t");
  EXPECT_EQ(one.cols, 1500);
  EXPECT_GT(one.rows, 600 + 64);
  TrainingRun other = run;
  other.name = "other";
  const cv::Mat two = training_report({run, other}, "t");
  EXPECT_GT(two.rows, one.rows);  // three rows of panels, a sample row per run
  try {
    parse_json_lines("{\"step\":1}\n{oops\n", "x.jsonl");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("x.jsonl:2"), std::string::npos) << e.what();
  }
}

// Values whose range is below their floating-point resolution (d_loss 1e17 then 1e17 + 16, or
// steps 1e17 apart by 16) drew axis ticks in a loop that never ended; now the chart is drawn.
TEST(TrainReport, RangesNarrowerThanTheirResolutionAreDrawn) {
  TrainingRun run;
  run.name = "r";
  run.log = parse_json_lines("{\"step\":1e17,\"d_loss\":1e17,\"g_grad_norm\":1}\n"
                             "{\"step\":1.0000000000000002e17,\"d_loss\":1.0000000000000002e17,\"g_grad_norm\":1}\n", "log");
  const cv::Mat img = training_report({run}, "t");
  EXPECT_EQ(img.cols, 1500);
}

TEST(Train, HessianPenaltyIsLoggedDeterministicResumableAndChangesTheGenerator) {
  const Dataset d = render_dataset(6, 0, 48);
  GanTrainOptions o = tiny_gan("hinge", 1, "dcgan");
  o.steps = 4;
  const Generator plain = train_gan(d, o);
  o.hessian_penalty = 1.0;
  o.hessian_batch = 4;
  std::vector<TrainStats> a_stats, b_stats;
  const Generator a = train_gan(d, o, [&](const TrainStats& s) { a_stats.push_back(s); });
  const Generator b = train_gan(d, o, [&](const TrainStats& s) { b_stats.push_back(s); });
  expect_same_weights(*a, *b, "hessian, two runs");
  ASSERT_EQ(a_stats.size(), 4u);
  for (const auto& st : a_stats) {
    ASSERT_TRUE(st.losses.count("hessian"));
    EXPECT_TRUE(std::isfinite(st.losses.at("hessian")));
    EXPECT_GT(st.losses.at("hessian"), 0.0);  // a random DCGAN is far from linear in z
  }
  EXPECT_EQ(a_stats.back().losses, b_stats.back().losses);
  EXPECT_FALSE(differing_weights(*plain, *a).empty()) << "the penalty must reach G's weights";
  // Resumed from a checkpoint, it continues exactly like the uninterrupted run.
  test::TempDir dir;
  std::vector<TrainStats> r_stats;
  const Generator resumed = train_gan_resumed(d, o, dir, 2, r_stats);
  expect_same_weights(*a, *resumed, "hessian, resumed");
  EXPECT_EQ(r_stats.back().losses, a_stats.back().losses);
}
