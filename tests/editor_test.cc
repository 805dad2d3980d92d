#include <gtest/gtest.h>
#include <torch/torch.h>

#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/outputs.h"
#include "test_util.h"

using namespace latentedit;

namespace {
struct EditorTest : ::testing::Test {
  static void SetUpTestSuite() {
    dir = new test::TempDir();
    test::make_random_bundle(dir->str(), 8, 8, 3, true);
  }
  static void TearDownTestSuite() { delete dir; }
  static test::TempDir* dir;
  Models m = load_bundle(dir->str());
  int smiling = find_attribute(m.attributes, "Smiling");
};
test::TempDir* EditorTest::dir = nullptr;

// The course's gradient method, which these tests check against its formula.
EditSpec spec_for(int attr, Direction d, double penalty) {
  EditSpec s = course_spec();
  s.targets = {{attr, d, std::nullopt}};
  s.penalty = penalty;
  return s;
}

// The per-latent score the editor ascends, computed directly (no autograd).
torch::Tensor score(const Models& m, const torch::Tensor& z, const torch::Tensor& orig, const EditSpec& s,
                    const std::vector<int>& keep) {
  torch::NoGradGuard ng;
  const auto lg = m.classifier.forward(m.generator.forward(z));
  torch::Tensor sc = torch::zeros({z.size(0)});
  for (const auto& t : s.targets) sc += (t.direction == Direction::kAdd ? 1 : -1) * lg.select(1, t.attribute);
  sc /= static_cast<double>(s.targets.size());
  std::vector<int64_t> k(keep.begin(), keep.end());
  const auto ki = torch::tensor(k);
  sc -= s.penalty * (lg.index_select(1, ki) - orig.index_select(1, ki)).norm(2, {1});
  sc -= s.prior * (z.norm(2, {1}) - 8.0).pow(2);
  return sc;
}
}  // namespace

TEST_F(EditorTest, SeedsMatchPythonTorchStream) {
  const auto want = test::read_json(test::fixture("expected.json"))["randn_seed7_8x64"].get<std::vector<float>>();
  const auto z = sample_latents(7, 8, 64).reshape({-1});
  ASSERT_EQ(z.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(z[i].item<float>(), want[i], 1e-6) << i;
}

TEST_F(EditorTest, AscentRaisesAndDescentLowersTheTargetLogit) {
  const auto z = sample_latents(11, 32, m.z_dim);
  for (int attr : {smiling, find_attribute(m.attributes, "Eyeglasses"), find_attribute(m.attributes, "Young")}) {
    const auto up = edit(m, z, spec_for(attr, Direction::kAdd, 0.0));
    const auto down = edit(m, z, spec_for(attr, Direction::kRemove, 0.0));
    const auto before = up.logits[0].select(1, attr);
    EXPECT_TRUE((up.logits[10].select(1, attr) > before).all().item<bool>()) << m.attributes[attr];
    EXPECT_TRUE((down.logits[10].select(1, attr) < before).all().item<bool>()) << m.attributes[attr];
    EXPECT_EQ(up.logits.size(0), 11);
  }
}

TEST_F(EditorTest, PenaltyLowersDriftOfKeptAttributes) {
  const auto z = sample_latents(5, 32, m.z_dim);
  auto drift = [&](double penalty) {
    const auto r = edit(m, z, spec_for(smiling, Direction::kAdd, penalty));
    std::vector<int64_t> k(r.keep.begin(), r.keep.end());
    const auto ki = torch::tensor(k);
    return (r.logits[10].index_select(1, ki) - r.logits[0].index_select(1, ki)).norm(2, {1}).mean().item<double>();
  };
  const double d0 = drift(0.0), d1 = drift(1.0);
  EXPECT_LT(d1, d0 * 0.9) << "drift with penalty " << d1 << " vs without " << d0;
}

TEST_F(EditorTest, OneStepIsZPlusStepTimesFiniteDifferenceGradient) {
  EditSpec s = spec_for(smiling, Direction::kAdd, 0.5);
  s.targets = {{smiling, Direction::kAdd, std::nullopt}, {find_attribute(m.attributes, "Male"), Direction::kRemove, std::nullopt}};
  s.penalty = 0.5;
  s.prior = 0.05;
  s.step_size = 0.05;
  const auto z0 = sample_latents(3, 4, m.z_dim);
  s.steps = 1;
  const auto r1 = edit(m, z0, s);
  s.steps = 2;
  const auto r2 = edit(m, z0, s);
  // Step 2 starts where step 1 ended and uses z0's logits as the reference of the penalty.
  const auto z1 = r1.z_after;
  torch::Tensor orig;
  {
    torch::NoGradGuard ng;
    orig = m.classifier.forward(m.generator.forward(z0));
  }
  const double h = 1e-2;
  int checked = 0;
  for (int64_t d : {0, 5, 17, 40, 63}) {
    auto zp = z1.clone(), zm = z1.clone();
    zp.select(1, d) += h;
    zm.select(1, d) -= h;
    const auto fd = (score(m, zp, orig, s, r2.keep) - score(m, zm, orig, s, r2.keep)) / (2 * h);
    const auto got = (r2.z_after.select(1, d) - z1.select(1, d)) / s.step_size;
    for (int64_t i = 0; i < 4; ++i) {
      EXPECT_NEAR(got[i].item<double>(), fd[i].item<double>(), 2e-2 + 0.05 * std::abs(fd[i].item<double>()))
          << "latent " << i << " dim " << d;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 20);
}

TEST_F(EditorTest, BatchMeanScalesTheStepByOneOverN) {
  EditSpec s = spec_for(smiling, Direction::kAdd, 0.1);
  s.steps = 1;
  const auto z0 = sample_latents(9, 8, m.z_dim);
  const auto a = edit(m, z0, s);
  s.batch_mean = true;
  const auto b = edit(m, z0, s);
  EXPECT_TRUE(torch::allclose((a.z_after - z0) / 8, b.z_after - z0, 1e-4, 1e-6));
}

// Micro-batches change only speed: the same z, logits, stops and images as one batch, also with
// the course's batch-mean scaling and per-latent stopping.
TEST_F(EditorTest, MicroBatchesGiveTheSameResultAsOneBatch) {
  for (bool batch_mean : {false, true}) {
    EditSpec s = spec_for(smiling, Direction::kAdd, 0.1);
    s.steps = 6;
    s.batch_mean = batch_mean;
    s.targets[0].stop_prob = 0.6;
    s.record_steps = {3};
    const auto z0 = sample_latents(4, 11, m.z_dim);
    s.micro_batch = 0;
    const auto whole = edit(m, z0, s);
    s.micro_batch = 4;  // chunks of 4, 4, 3
    std::vector<int> seen;
    const auto chunked = edit(m, z0, s, [&](const EditProgress& p) { seen.push_back(p.step); });
    EXPECT_TRUE(torch::allclose(whole.z_after, chunked.z_after, 1e-5, 1e-5)) << batch_mean;
    EXPECT_TRUE(torch::allclose(whole.logits, chunked.logits, 1e-4, 1e-4)) << batch_mean;
    EXPECT_EQ(whole.stopped_at, chunked.stopped_at);
    ASSERT_EQ(chunked.images.size(), 3u);
    EXPECT_TRUE(torch::allclose(whole.images.at(3), chunked.images.at(3), 1e-5, 1e-5));
    ASSERT_FALSE(seen.empty());
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));  // progress runs over all chunks
  }
}

TEST_F(EditorTest, LatentsStopAtTheTargetProbability) {
  EditSpec s = spec_for(smiling, Direction::kAdd, 0.0);
  s.steps = 40;
  s.step_size = 0.5;
  const auto z = sample_latents(2, 16, m.z_dim);
  const auto free = edit(m, z, s);
  const auto p0 = free.probs[0].select(1, smiling);
  const double target = std::min(0.99, p0.max().item<double>() + 0.05);
  s.targets[0].stop_prob = target;
  const auto r = edit(m, z, s);
  int stopped = 0;
  for (int64_t i = 0; i < 16; ++i) {
    const int at = r.stopped_at[i];
    if (at < s.steps) {
      ++stopped;
      EXPECT_GE(r.probs[at][i][smiling].item<double>(), target);
      if (at > 0) EXPECT_LT(r.probs[at - 1][i][smiling].item<double>(), target);
      // Once stopped, the latent no longer moves.
      EXPECT_TRUE(torch::equal(r.logits[at][i], r.logits[s.steps][i]));
    }
  }
  EXPECT_GT(stopped, 0);
}

// A second target that is already past its own stop probability does not stop a latent whose
// other target has none: that one runs every step (it stopped at step 0 before the fix).
TEST_F(EditorTest, ATargetWithoutStopProbabilityKeepsTheLatentGoing) {
  EditSpec s = spec_for(smiling, Direction::kAdd, 0.0);
  s.steps = 5;
  const int other = smiling == 0 ? 1 : 0;
  s.targets.push_back({other, Direction::kRemove, 1e-6});  // stop once 1 - p >= 1e-6: reached at step 0
  const auto z = sample_latents(4, 6, m.z_dim);
  const auto r = edit(m, z, s);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(r.stopped_at[i], s.steps) << i;
  EXPECT_FALSE(torch::equal(r.z_after, r.z_before));
}

TEST_F(EditorTest, DeterministicBitForBit) {
  EditSpec s = spec_for(smiling, Direction::kAdd, 0.1);
  s.record_steps = {5};
  const auto z = sample_latents(1, 8, m.z_dim);
  const auto a = edit(m, z, s), b = edit(m, z, s);
  EXPECT_TRUE(torch::equal(a.z_after, b.z_after));
  EXPECT_TRUE(torch::equal(a.logits, b.logits));
  EXPECT_TRUE(torch::equal(a.images.at(5), b.images.at(5)));
  EXPECT_EQ(a.images.size(), 3u);  // 0, 5, 10
}

TEST_F(EditorTest, InvalidSpecsAreUsageErrors) {
  const int C = static_cast<int>(m.attributes.size());
  EditSpec s;
  EXPECT_THROW(validate(s, C), UsageError);  // no targets
  s = spec_for(smiling, Direction::kAdd, 0.1);
  s.steps = 0;
  EXPECT_THROW(validate(s, C), UsageError);
  s = spec_for(smiling, Direction::kAdd, -1);
  EXPECT_THROW(validate(s, C), UsageError);
  s = spec_for(smiling, Direction::kAdd, 0.1);
  s.keep = {smiling};
  EXPECT_THROW(validate(s, C), UsageError);
  s = spec_for(smiling, Direction::kAdd, 0.1);
  s.targets.push_back(s.targets[0]);
  EXPECT_THROW(validate(s, C), UsageError);
}

TEST_F(EditorTest, ProgressCallbackSeesEveryStep) {
  std::vector<int> steps;
  edit(m, sample_latents(0, 2, m.z_dim), spec_for(smiling, Direction::kAdd, 0.1),
       [&](const EditProgress& p) { steps.push_back(p.step); });
  ASSERT_EQ(steps.size(), 11u);
  EXPECT_EQ(steps.back(), 10);
}

TEST_F(EditorTest, AuditAndReportAgree) {
  EditSpec s = spec_for(smiling, Direction::kAdd, 0.1);
  const auto r = edit(m, sample_latents(4, 3, m.z_dim), s);
  const Audit a = audit_edit(m, s, r);
  ASSERT_TRUE(a.present);
  EditSettings st;
  st.spec = s;
  const auto rep = make_edit_outputs(m, st, r, a, {}).report;
  ASSERT_EQ(rep["latents"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto& t = rep["latents"][i]["targets"]["Smiling"];
    EXPECT_NEAR(t["prob_after"].get<double>(), r.probs[10][i][smiling].item<double>(), 1e-6);
    EXPECT_EQ(rep["latents"][i]["auditor_confirmed"].get<bool>(), t["auditor_after"].get<double>() > 0.5);
    EXPECT_EQ(rep["latents"][i]["steps"].size(), 11u);
  }
}
