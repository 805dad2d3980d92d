// Edit methods on small random models: each moves the target the asked way; projected lowers
// the first-order change of the kept logits; boundary moves along unit normals orthogonal to
// the conditions; the correlation mask and EOT; directions fitting; adversarial training.
#include <gtest/gtest.h>

#include "latentedit/directions.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/train.h"
#include "test_util.h"

using namespace latentedit;

namespace {
struct Methods : ::testing::Test {
  static void SetUpTestSuite() {
    dir = new test::TempDir();
    test::make_random_bundle(dir->str(), 8, 8, 3, true);
    models = new Models(load_bundle(dir->str()));
    DirectionsOptions o;
    o.samples = 2000;
    o.confidence = 0.6;
    o.latent_samples = 2000;
    o.latent_hidden = 64;
    o.latent_epochs = 8;
    models->directions = fit_directions(*models, o);
  }
  static void TearDownTestSuite() {
    delete models;
    delete dir;
  }
  static test::TempDir* dir;
  static Models* models;
  const Models& m = *models;
  int smiling = find_attribute(m.attributes, "Smiling");

  EditSpec spec(Method method, Direction d = Direction::kAdd) const {
    EditSpec s;
    s.targets = {{smiling, d, std::nullopt}};
    s.method = method;
    s.keep_mask = KeepMask::kUniform;
    s.fallback_ranks.clear();  // one pass (ProjectedFallsBackPerLatent and LatentLadder test the cascades)
    s.ladder.clear();
    return s;
  }
};
test::TempDir* Methods::dir = nullptr;
Models* Methods::models = nullptr;

torch::Tensor kept_logits(const Models& m, const torch::Tensor& z, const std::vector<int>& keep) {
  return classify(m.classifier, generate(m, z)).index_select(1, torch::tensor(std::vector<int64_t>(keep.begin(), keep.end())));
}

// Checks a two-pass cascade latent by latent against its passes run alone: a latent keeps pass
// `a` where a's final target probability reached `accept` (or b's came no closer), else pass `b`
// (its z, logits and final image). Returns which latents kept `a`, and how many reached `accept`.
struct Kept {
  std::vector<bool> first;
  int accepted = 0;
};
Kept expect_cascade(const EditResult& got, const EditResult& a, const EditResult& b, int target, double accept) {
  const auto pa = a.probs[a.probs.size(0) - 1].select(1, target), pb = b.probs[b.probs.size(0) - 1].select(1, target);
  Kept k;
  for (int64_t i = 0; i < got.z_after.size(0); ++i) {
    const bool reached = pa[i].item<double>() >= accept;
    const bool first = reached || pb[i].item<double>() <= pa[i].item<double>();
    const EditResult& want = first ? a : b;
    k.first.push_back(first);
    k.accepted += reached;
    EXPECT_TRUE(torch::allclose(got.z_after[i], want.z_after[i], 1e-4, 1e-5)) << i;
    EXPECT_TRUE(torch::allclose(got.logits.select(1, i), want.logits.select(1, i), 1e-4, 1e-4)) << i;
    EXPECT_TRUE(torch::allclose(got.images.rbegin()->second[i], want.images.rbegin()->second[i], 1e-4, 1e-5)) << i;
  }
  return k;
}
}  // namespace

TEST_F(Methods, EveryMethodMovesTheTargetTheAskedWay) {
  const auto z = sample_latents(21, 16, m.z_dim);
  for (Method method : {Method::kGradient, Method::kProjected, Method::kBoundary}) {
    for (Direction d : {Direction::kAdd, Direction::kRemove}) {
      EditSpec s = spec(method, d);
      s.penalty = 0.0;
      const auto r = edit(m, z, s);
      const auto before = r.logits[0].select(1, smiling), after = r.logits[s.steps].select(1, smiling);
      const auto moved = d == Direction::kAdd ? after - before : before - after;
      EXPECT_GT(moved.mean().item<double>(), 0.0) << to_string(method) << " " << to_string(d);
      EXPECT_TRUE(torch::isfinite(r.z_after).all().item<bool>());
    }
  }
}

TEST_F(Methods, ProjectedLowersTheFirstOrderChangeOfKeptLogits) {
  const auto z = sample_latents(5, 12, m.z_dim);
  EditSpec g = spec(Method::kGradient), p = spec(Method::kProjected);
  for (EditSpec* s : {&g, &p}) {
    s->steps = 1;
    s->step_size = 1e-3;  // one small step: the change is first order
    s->penalty = 0.0;
  }
  p.rank = 39;  // the whole row space of the 39 kept logits' Jacobian
  const auto rg = edit(m, z, g), rp = edit(m, z, p);
  const auto k0 = kept_logits(m, z, rg.keep);
  const double dg = (kept_logits(m, rg.z_after, rg.keep) - k0).abs().mean().item<double>();
  const double dp = (kept_logits(m, rp.z_after, rp.keep) - k0).abs().mean().item<double>();
  EXPECT_LT(dp, 0.2 * dg) << "gradient " << dg << " projected " << dp;
  // A partial rank removes less, but still some of it.
  p.rank = 4;
  const double d4 = (kept_logits(m, edit(m, z, p).z_after, rg.keep) - k0).abs().mean().item<double>();
  EXPECT_LT(d4, dg);
  EXPECT_GT(d4, dp);
}

TEST_F(Methods, ProjectedFallsBackPerLatentToTheNextRankUntilTheTargetIsConvincing) {
  const auto z = sample_latents(9, 12, m.z_dim);
  EditSpec one = spec(Method::kProjected);
  one.steps = 6;
  one.step_size = 0.3;
  one.eot = 1;
  one.rank = 24;
  EditSpec two = one;
  two.rank = 2;
  const auto r24 = edit(m, z, one), r2 = edit(m, z, two);
  // The acceptance threshold: the median of pass 1's final target probabilities, so that some
  // latents keep pass 1 and others fall back.
  const auto p24 = r24.probs[one.steps].select(1, smiling);
  EditSpec cas = one;
  cas.fallback_ranks = {2};
  cas.accept_prob = std::max(0.51, p24.median().item<double>() + 1e-6);
  const auto rc = edit(m, z, cas);
  ASSERT_EQ(rc.ranks.size(), 12u);
  // In the cascade a latent stops the step it reaches accept_prob: each pass is the pass run alone
  // with that stop probability. Short of it at rank 24: rank 2's edit where it came closer, else
  // rank 24's.
  one.target_prob = two.target_prob = cas.accept_prob;
  const auto s24 = edit(m, z, one), s2 = edit(m, z, two);
  const Kept k = expect_cascade(rc, s24, s2, smiling, cas.accept_prob);
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(rc.ranks[i], k.first[i] ? 24 : 2) << i;
  EXPECT_GT(k.accepted, 0);
  EXPECT_LT(k.accepted, 12);
  EXPECT_TRUE(torch::allclose(rc.probs, torch::sigmoid(rc.logits)));
  // Gradient and boundary edits have no ranks; one pass at `rank` records it for every latent.
  EXPECT_TRUE(edit(m, z, spec(Method::kGradient)).ranks.empty());
  EXPECT_EQ(r24.ranks, std::vector<int>(12, 24));
}

TEST_F(Methods, BoundaryMovesAlongUnitNormalsOrthogonalToTheConditions) {
  const Directions& D = *m.directions;
  EXPECT_TRUE(torch::allclose(D.normals.norm(2, {1}), torch::ones({40}), 1e-5, 1e-5));
  const int male = find_attribute(m.attributes, "Male"), young = find_attribute(m.attributes, "Young");
  EditSpec s = spec(Method::kBoundary);
  s.condition = {male, young};
  s.strength = 2.0;
  const auto z = sample_latents(9, 8, m.z_dim);
  const auto r = edit(m, z, s);
  const auto dz = r.z_after - r.z_before;
  for (int c : {male, young}) EXPECT_LT(dz.matmul(D.normals[c]).abs().max().item<double>(), 1e-4) << m.attributes[c];
  // Every latent ends `strength` past the target's boundary (or was already beyond it).
  const auto dist = r.z_after.matmul(D.normals[smiling]) + D.offsets[smiling];
  EXPECT_GT(dist.min().item<double>(), 2.0 - 1e-3);
  // Without directions the method says how to get them.
  Models bare = load_bundle(dir->str());
  try {
    edit(bare, z, s);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(e.remedy(), Remedy::kFitDirections) << e.what();  // the CLI names `latentedit directions`
  }
}

// The latent method reaches the asked logit of the latent classifier and, for the same distance
// moved, changes the kept attributes' latent logits less than a move along the latent
// classifier's own target gradient (the gradient method's update, in the latent classifier).
// The random model's classifier barely varies (|logits| < 0.1), so its fitted latent classifier
// does too: this test gives the bundle a random latent classifier with a trained one's scale
// (logits of a few units) to exercise the update rule.
TEST_F(Methods, LatentReachesItsTargetLogitAndHoldsTheKeptLatentLogits) {
  Models lm = m;
  Directions D = *m.directions;
  torch::manual_seed(4);
  D.latent_classifier = {Mlp{{torch::randn({64, m.z_dim}) * (2.0 / std::sqrt(m.z_dim)), torch::randn({40, 64}) * (3.0 / 8.0)},
                             {torch::zeros({64}), torch::zeros({40})}}};
  lm.directions = D;
  const auto z = sample_latents(31, 12, m.z_dim);
  for (Direction d : {Direction::kAdd, Direction::kRemove}) {
    EditSpec s = spec(Method::kLatent, d);
    s.strength = 4.0;
    const double sign = d == Direction::kAdd ? 1 : -1;
    const auto r = edit(lm, z, s);
    torch::NoGradGuard ng;
    const auto f0 = latent_logits(D, r.z_before), f1 = latent_logits(D, r.z_after);
    // (The miss term is a penalty traded against the others, so a latent may land a little short.)
    EXPECT_GT((sign * f1.select(1, smiling)).min().item<double>(), 0.8 * *s.strength) << to_string(d);
    // The same distance along the target's latent-classifier gradient, per latent.
    torch::Tensor g;
    {
      torch::AutoGradMode on(true);
      const auto zz = r.z_before.clone().requires_grad_(true);
      g = torch::autograd::grad({(sign * latent_logits(D, zz).select(1, smiling)).sum()}, {zz})[0];
    }
    const auto len = (r.z_after - r.z_before).norm(2, {1}, true);
    const auto zg = r.z_before + len * g / g.norm(2, {1}, true);
    const auto ki = torch::tensor(std::vector<int64_t>(r.keep.begin(), r.keep.end()));
    const auto kept_latent = (f1 - f0).index_select(1, ki).abs().mean().item<double>();
    const auto kept_gradient = (latent_logits(D, zg) - f0).index_select(1, ki).abs().mean().item<double>();
    EXPECT_LT(kept_latent, 0.5 * kept_gradient) << to_string(d);
  }
  // Deterministic; without a latent classifier the method says how to get one.
  EXPECT_TRUE(torch::equal(edit(lm, z, spec(Method::kLatent)).z_after, edit(lm, z, spec(Method::kLatent)).z_after));
  D.latent_classifier.clear();
  lm.directions = D;
  try {
    edit(lm, z, spec(Method::kLatent));
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(e.remedy(), Remedy::kFitDirections) << e.what();  // the CLI names `latentedit directions`
  }
}

// The ladder: each latent keeps the first (smallest) latent pass that the editing classifier puts
// past accept_prob, else the one that came closest; EditResult::strengths says which.
TEST_F(Methods, LatentLadderKeepsTheSmallestMoveTheEditingClassifierAccepts) {
  const auto z = sample_latents(33, 12, m.z_dim);
  EditSpec full = spec(Method::kLatent);
  full.strength = 6.0;
  EditSpec half = full;
  half.strength = 3.0;
  const auto r6 = edit(m, z, full), r3 = edit(m, z, half);
  const auto p3 = r3.probs[full.steps].select(1, smiling);
  EditSpec lad = full;
  lad.ladder = {0.5};
  lad.latent_accept_prob = std::max(0.51, p3.median().item<double>() + 1e-6);  // some latents keep the half move
  lad.accept_prob = 0.51;  // projected's threshold: not the latent passes'
  const auto rl = edit(m, z, lad);
  ASSERT_EQ(rl.strengths.size(), 12u);
  const Kept k = expect_cascade(rl, r3, r6, smiling, lad.latent_accept_prob);
  for (int64_t i = 0; i < 12; ++i) {
    EXPECT_EQ(rl.ranks[i], 0) << i;
    EXPECT_EQ(rl.strengths[i], k.first[i] ? 3.0 : 6.0) << i;
  }
  EXPECT_GT(k.accepted, 0);
  EXPECT_LT(k.accepted, 12);
  // The half move is smaller where it is kept.
  const auto dz3 = (r3.z_after - r3.z_before).norm(2, {1}), dz6 = (r6.z_after - r6.z_before).norm(2, {1});
  EXPECT_LT(dz3.mean().item<double>(), dz6.mean().item<double>());
  // One pass records its strength for every latent.
  EXPECT_EQ(r6.strengths, std::vector<double>(12, 6.0));
}

// The latent method's projected passes push only the latents the latent passes left short of
// latent_accept_prob, each from the best point so far (where the latent pass left it, or an
// earlier projected pass where that came closer) until it reaches accept_prob; the result shows
// each latent's kept move from z0 in evenly spaced steps.
TEST_F(Methods, LatentCascadePushesTheShortLatentsOnFromTheLatentPass) {
  const auto z = sample_latents(35, 12, m.z_dim);
  EditSpec lat = spec(Method::kLatent);
  lat.strength = 3.0;
  lat.steps = 6;
  lat.step_size = 0.3;
  lat.eot = 1;
  lat.rank = 4;
  const auto rl = edit(m, z, lat);
  const auto pl = rl.probs[lat.steps].select(1, smiling);
  EditSpec cas = lat;
  cas.fallback_ranks = {2};
  cas.latent_accept_prob = cas.accept_prob = std::max(0.51, pl.median().item<double>() + 1e-6);
  const auto rc = edit(m, z, cas);
  // The short latents pushed alone from the latent pass's end, at rank 4 and at rank 2.
  const auto short_idx = (pl < cas.accept_prob).nonzero().view({-1});
  ASSERT_GT(short_idx.numel(), 0);
  ASSERT_LT(short_idx.numel(), 12);
  EditSpec push = spec(Method::kProjected);
  push.steps = lat.steps, push.step_size = lat.step_size, push.eot = lat.eot, push.rank = 4;
  push.target_prob = cas.accept_prob;
  const auto zs = rl.z_after.index_select(0, short_idx);
  const auto r4 = edit(m, zs, push);
  const auto p4 = r4.probs[lat.steps].select(1, smiling);
  // Rank 2 goes on from rank 4's end where that came closer, else from the latent pass's.
  const auto closer4 = p4 > pl.index_select(0, short_idx);
  push.rank = 2;
  const auto r2 = edit(m, torch::where(closer4.unsqueeze(1), r4.z_after, zs), push);
  const auto p2 = r2.probs[lat.steps].select(1, smiling);
  int pushed = 0;
  for (int64_t i = 0, j = 0; i < 12; ++i) {
    torch::Tensor want = rl.z_after[i];
    int rank = 0;
    if (j < short_idx.numel() && short_idx[j].item<int64_t>() == i) {
      double best = pl[i].item<double>();
      if (p4[j].item<double>() > best) best = p4[j].item<double>(), want = r4.z_after[j], rank = 4;
      if (best < cas.accept_prob && p2[j].item<double>() > best) want = r2.z_after[j], rank = 2;
      ++j;
    }
    pushed += rank != 0;
    EXPECT_EQ(rc.ranks[i], rank) << i;
    EXPECT_TRUE(torch::allclose(rc.z_after[i], want, 1e-4, 1e-5)) << i;
  }
  EXPECT_GT(pushed, 0);
  // Steps 0 and `steps` are the start and the kept end; step k is k/steps of the way.
  const auto pk = classify(m.classifier, generate(m, rc.z_after));
  EXPECT_TRUE(torch::allclose(rc.logits[lat.steps], pk, 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(rc.logits[0], classify(m.classifier, generate(m, z)), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(rc.images.at(lat.steps), generate(m, rc.z_after), 1e-4, 1e-5));
  const auto mid = classify(m.classifier, generate(m, z + 0.5 * (rc.z_after - z)));
  EXPECT_TRUE(torch::allclose(rc.logits[lat.steps / 2], mid, 1e-4, 1e-4));
}

// A small batch runs every latent pass of every latent in one optimisation, a larger one pass by
// pass: the same edit either way.
TEST_F(Methods, LatentPassesTogetherOrOneByOneGiveTheSameEdit) {
  const auto z = sample_latents(36, 12, m.z_dim);
  EditSpec lad = spec(Method::kLatent);
  lad.strength = 4.0;
  lad.ladder = {0.5};
  lad.latent_accept_prob = 0.9;
  const auto whole = edit(m, z, lad);  // 12 latents x 2 passes: pass by pass
  for (int64_t b = 0; b < 12; b += 2) {
    const auto part = edit(m, z.slice(0, b, b + 2), lad);  // 2 x 2: together
    EXPECT_TRUE(torch::equal(part.z_after, whole.z_after.slice(0, b, b + 2))) << b;  // bit for bit (edit/mlp_kernel.h)
    for (int64_t i = 0; i < 2; ++i) EXPECT_EQ(part.strengths[i], whole.strengths[b + i]) << b + i;
  }
}

// The latent passes' optimisation written out by hand (edit/mlp_kernel.h, the FP32 path) is the
// libtorch autograd one: the same bundle with its MLPs' weights stored strided (which the hand
// path does not read) runs the autograd code; both edits agree, with the thumbnail hold and the
// correlation mask's weights on the kept logits, adding and removing.
TEST_F(Methods, LatentByHandEqualsTheAutogradOptimisation) {
  ASSERT_FALSE(m.directions->thumbnail.empty());
  Models strided = m;
  Directions D = *m.directions;
  auto restride = [](Mlp& mlp) {
    for (auto& w : mlp.weights) w = w.t().contiguous().t();
  };
  for (auto& mlp : D.latent_classifier) restride(mlp);
  restride(D.thumbnail);
  strided.directions = D;
  const auto z = sample_latents(44, 6, m.z_dim);
  for (Direction d : {Direction::kAdd, Direction::kRemove}) {
    EditSpec s = spec(Method::kLatent, d);
    s.strength = 4.0;
    s.keep_mask = KeepMask::kCorrelation;
    const auto by_hand = edit(m, z, s), autograd = edit(strided, z, s);
    EXPECT_GT((by_hand.z_after - by_hand.z_before).norm().item<double>(), 0.1) << to_string(d);
    EXPECT_TRUE(torch::allclose(by_hand.z_after, autograd.z_after, 1e-4, 1e-5))
        << to_string(d) << " max diff " << (by_hand.z_after - autograd.z_after).abs().max().item<double>();
  }
}

// The latent thumbnail model holds what no attribute measures (backgrounds, clothes): with it the
// latent method changes the predicted thumbnail far less for the same target, unless the target
// is fully correlated with every thumbnail value (then nothing is held and the edit is as without).
TEST_F(Methods, LatentHoldsTheThumbnailUnlessTheTargetGoesWithIt) {
  ASSERT_FALSE(m.directions->thumbnail.empty());
  Models lm = m;
  Directions D = *m.directions;
  torch::manual_seed(4);
  D.latent_classifier = {Mlp{{torch::randn({64, m.z_dim}) * (2.0 / std::sqrt(m.z_dim)), torch::randn({40, 64}) * (3.0 / 8.0)},
                             {torch::zeros({64}), torch::zeros({40})}}};
  // (Like the latent classifier, the random generator's fitted thumbnail model barely varies: a
  // random one with a real one's scale, values of a few tenths.)
  D.thumbnail = {{torch::randn({64, m.z_dim}) * (2.0 / std::sqrt(m.z_dim)), torch::randn({48, 64}) * (0.3 / 8.0)},
                 {torch::zeros({64}), torch::zeros({48})}};
  D.thumbnail_correlation = torch::zeros({40, 48});
  lm.directions = D;
  Models free_m = lm;
  Directions F = D;
  F.thumbnail = {};
  free_m.directions = F;
  const auto z = sample_latents(32, 12, m.z_dim);
  EditSpec s = spec(Method::kLatent);
  s.strength = 4.0;
  const auto held = edit(lm, z, s), free = edit(free_m, z, s);
  torch::NoGradGuard ng;
  auto thumb_change = [&](const EditResult& r) {
    return (latent_thumbnail(D, r.z_after) - latent_thumbnail(D, r.z_before)).abs().mean().item<double>();
  };
  EXPECT_LT(thumb_change(held), 0.5 * thumb_change(free));
  EXPECT_GT(latent_logits(D, held.z_after).select(1, smiling).min().item<double>(), 0.8 * *s.strength);
  D.thumbnail_correlation.select(0, smiling).fill_(1.0);  // the target goes with every thumbnail value
  lm.directions = D;
  EXPECT_TRUE(torch::equal(edit(lm, z, s).z_after, free.z_after));
}

TEST_F(Methods, CorrelationMaskFreesTiedAttributesAndExplicitKeepOverridesIt) {
  Models tied = m;
  Directions D = *m.directions;
  const int goatee = find_attribute(m.attributes, "Goatee");
  D.correlation = torch::eye(40);
  D.correlation[smiling][goatee] = D.correlation[goatee][smiling] = 1.0;  // perfectly tied
  tied.directions = D;
  const auto z = sample_latents(2, 8, m.z_dim);
  EditSpec masked = spec(Method::kGradient), uniform = spec(Method::kGradient);
  masked.keep_mask = KeepMask::kCorrelation;
  masked.penalty = uniform.penalty = 5.0;
  const auto a = edit(tied, z, masked), b = edit(tied, z, uniform);
  EXPECT_FALSE(torch::equal(a.z_after, b.z_after)) << "a tied attribute must not be penalised";
  masked.keep = {goatee};  // explicit keep: exactly these, unmasked
  uniform.keep = {goatee};
  EXPECT_TRUE(torch::equal(edit(tied, z, masked).z_after, edit(tied, z, uniform).z_after));
}

TEST_F(Methods, EotAveragesOverViewsDeterministically) {
  const auto z = sample_latents(3, 6, m.z_dim);
  EditSpec s = spec(Method::kGradient);
  s.eot = 3;
  const auto a = edit(m, z, s), b = edit(m, z, s);
  EXPECT_TRUE(torch::equal(a.z_after, b.z_after));
  EXPECT_FALSE(torch::equal(a.z_after, edit(m, z, spec(Method::kGradient)).z_after));
  EXPECT_GT((a.logits[10].select(1, smiling) - a.logits[0].select(1, smiling)).mean().item<double>(), 0.0);
}

TEST(Directions, FitSeparatesTheClassifiersConfidentLabels) {
  test::TempDir d;
  test::make_random_bundle(d.str(), 8, 8, 4, false);
  const Models m = load_bundle(d.str());
  DirectionsOptions o;
  o.samples = 3000;
  o.confidence = 0.6;
  o.latent_samples = 3000;
  o.latent_hidden = 32;
  o.latent_depth = 2;
  o.latent_epochs = 6;
  o.latent_members = 2;
  const Directions a = fit_directions(m, o), b = fit_directions(m, o);
  EXPECT_TRUE(torch::equal(a.normals, b.normals));
  ASSERT_EQ(a.latent_classifier.size(), 2u);
  for (const Mlp& member : a.latent_classifier) {
    ASSERT_EQ(member.weights.size(), 3u);  // two hidden layers and the output layer
    EXPECT_EQ(member.weights.back().sizes(), (std::vector<int64_t>{40, 32}));
  }
  for (size_t k = 0; k < 2; ++k)
    for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(a.latent_classifier[k].weights[i], b.latent_classifier[k].weights[i]));
  // The members differ (their own initialisation) and the ensemble's logits are their mean.
  EXPECT_FALSE(torch::equal(a.latent_classifier[0].weights[0], a.latent_classifier[1].weights[0]));
  {
    torch::NoGradGuard ng;
    const auto z = sample_latents(5, 16, m.z_dim);
    Directions one = a, two = a;
    one.latent_classifier = {a.latent_classifier[0]};
    two.latent_classifier = {a.latent_classifier[1]};
    EXPECT_TRUE(torch::allclose(latent_logits(a, z), (latent_logits(one, z) + latent_logits(two, z)) / 2, 1e-5, 1e-6));
  }
  // The latent classifier learned the classifier's verdicts on latents it did not see (better than chance).
  EXPECT_GT(a.latent_agreement.mean().item<double>(), 0.65);
  // Stored as nn.Sequential state_dicts (latent_classifier.0/.2/.4, the second member
  // latent_classifier_1.0/...) and read back by load_bundle, members and all.
  const NamedTensors t = directions_tensors(a);
  for (const char* k : {"latent_classifier.0.weight", "latent_classifier.2.bias", "latent_classifier.4.weight", "latent_classifier_1.0.weight",
                        "latent_classifier_1.4.bias", "latent_classifier.agreement"})
    EXPECT_TRUE(std::any_of(t.begin(), t.end(), [&](const auto& p) { return p.first == k; })) << k;
  // The thumbnail model: same shape, 3 x 4 x 4 outputs, deterministic, with its held-out R^2 and
  // each attribute's correlation to each value. (A random generator's thumbnails barely vary, so
  // R^2 is not asserted here; the bundled model's is 0.995, model.json.)
  ASSERT_EQ(a.thumbnail.weights.size(), 3u);
  EXPECT_EQ(a.thumbnail.weights.back().sizes(), (std::vector<int64_t>{48, 32}));
  EXPECT_TRUE(torch::equal(a.thumbnail.weights.back(), b.thumbnail.weights.back()));
  EXPECT_TRUE(torch::isfinite(a.thumbnail_r2).all().item<bool>());
  EXPECT_LE(a.thumbnail_r2.max().item<double>(), 1.0);
  EXPECT_EQ(a.thumbnail_correlation.sizes(), (std::vector<int64_t>{40, 48}));
  EXPECT_LE(a.thumbnail_correlation.abs().max().item<double>(), 1.0 + 1e-5);
  for (const char* k : {"latent_thumbnail.0.weight", "latent_thumbnail.4.bias", "latent_thumbnail.r2", "latent_thumbnail.correlation"})
    EXPECT_TRUE(std::any_of(t.begin(), t.end(), [&](const auto& p) { return p.first == k; })) << k;
  o.thumbnail_epochs = 0;
  EXPECT_TRUE(fit_directions(m, o).thumbnail.empty());
  o.latent_samples = 0;
  EXPECT_TRUE(fit_directions(m, o).latent_classifier.empty());
  EXPECT_EQ(a.correlation.sizes(), (std::vector<int64_t>{40, 40}));
  EXPECT_TRUE(torch::allclose(a.correlation, a.correlation.t()));
  // Better than chance on average (a random generator and classifier are far from linear in z).
  EXPECT_GT(a.accuracy.mean().item<double>(), 0.6);
}

TEST(Train, AdversarialClassifierTrainingRunsAndIsDeterministic) {
  const Dataset d = render_dataset(3, 0, 64);
  ClassifierTrainOptions o;
  o.hidden_dim = 4;
  o.batch = 16;
  o.steps = 4;
  o.adversarial_eps = 0.05;
  o.pgd_steps = 2;
  o.augment = true;
  std::map<std::string, double> last;
  const Classifier a = train_classifier(d, o, [&](const TrainStats& s) { last = s.losses; });
  const Classifier b = train_classifier(d, o);
  ASSERT_TRUE(last.count("adv_loss"));
  EXPECT_GE(last.at("adv_loss"), 0.0);
  EXPECT_LE(last.at("acc"), 1.0);  // one meter entry per step: accuracy stays a fraction
  const auto sa = state_dict(*a), sb = state_dict(*b);
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  // Fine-tuning starts from the given weights.
  o.init = sa;
  o.steps = 1;
  o.adversarial_eps = 0;
  o.augment = false;
  const Classifier c = train_classifier(d, o);
  EXPECT_LT((state_dict(*c)[0].second - sa[0].second).abs().max().item<double>(), 0.05);
}
