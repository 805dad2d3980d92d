// The edit settings' one JSON form: defaults, round trip, field-named validation.
#include <gtest/gtest.h>

#include "latentedit/attributes.h"
#include "latentedit/errors.h"
#include "latentedit/batch.h"
#include "latentedit/spec.h"
#include "test_util.h"

using namespace latentedit;
using json = nlohmann::json;

namespace {
const auto& A = celeba_attributes();

std::vector<std::string> errors_of(const json& j) {
  SettingsErrors e;
  EditSettings::from_json(j, A, e);
  return e.errors;
}
}  // namespace

// Absent fields take EditSpec's defaults, which are NOT the course's (course_spec() is): they
// were chosen from the measured success-drift curve (docs/edit-quality.md).
TEST(Spec, AbsentFieldsTakeTheMeasuredDefaults) {
  const EditSettings s = EditSettings::from_json({{"add", {"Smiling"}}}, A);
  const EditSpec d;
  EXPECT_EQ(s.spec.steps, d.steps);
  EXPECT_EQ(s.spec.steps, 20);  // 20 x 0.125: chosen from the success-drift curve (MODEL_CARD)
  EXPECT_EQ(s.spec.step_size, d.step_size);
  EXPECT_EQ(s.spec.penalty, 0.1);
  EXPECT_EQ(s.spec.method, Method::kAuto);  // chosen from the success-drift curve (docs/edit-quality.md)
  EXPECT_EQ(resolve_method(Method::kAuto, true), Method::kLatent);
  EXPECT_EQ(resolve_method(Method::kAuto, false), Method::kProjected);  // bundles without a latent classifier
  EXPECT_EQ(resolve_method(Method::kBoundary, true), Method::kBoundary);
  EXPECT_EQ(s.spec.eot, 2);
  EXPECT_EQ(s.spec.rank, 8);  // rank 8, falling back to 4 and 2 below p 0.999: chosen from the curve (MODEL_CARD)
  EXPECT_EQ(s.spec.fallback_ranks, std::vector<int>({4, 2}));
  EXPECT_EQ(s.spec.accept_prob, 0.999);
  EXPECT_EQ(s.spec.ladder, std::vector<double>({0.5, 0.75}));  // latent at 6, then 9, then 12: chosen from the curve (MODEL_CARD)
  EXPECT_EQ(s.spec.penalty_kind, PenaltyKind::kL2);
  EXPECT_FALSE(s.spec.target_prob.has_value());
  EXPECT_EQ(s.spec.record_steps, std::vector<int>{10});  // the middle step, one home: default_record_steps
  EXPECT_EQ(default_record_steps(3), std::vector<int>{});
  ASSERT_EQ(s.spec.targets.size(), 1u);
  EXPECT_EQ(A[s.spec.targets[0].attribute], "Smiling");
  EXPECT_TRUE(s.outputs.grid && s.outputs.pairs && s.outputs.report && !s.outputs.strips);
  // strength: a distance for boundary (3), a target logit for latent (12), unless given.
  EXPECT_FALSE(s.spec.strength.has_value());
  EXPECT_EQ(s.spec.strength_value(Method::kBoundary), 3.0);
  EXPECT_EQ(s.spec.strength_value(Method::kLatent), kLatentStrength);
  const EditSettings six = EditSettings::from_json({{"add", "Smiling"}, {"method", "latent"}, {"strength", 6}}, A);
  EXPECT_EQ(six.spec.strength_value(Method::kLatent), 6.0);
  EXPECT_EQ(EditSettings::from_json(six.to_json(A), A).spec.strength, 6.0);
}

// Each latent's attempts in order: the ladder's latent passes, then projected's ranks.
TEST(Spec, PassesAreTheLadderThenTheProjectedRanks) {
  EditSpec s;
  s.method = Method::kLatent;
  s.strength = 8.0;
  auto str = [](const std::vector<Pass>& ps) {
    std::string o;
    for (const Pass& p : ps)
      o += (o.empty() ? "" : " ") + to_string(p.method) +
           (p.method == Method::kLatent ? ":" + std::to_string(int(p.strength)) : ":r" + std::to_string(p.rank)) +
           (p.accept == 0.99 ? "@0.99" : p.accept == 0.999 ? "@0.999" : "@?");
    return o;
  };
  s.latent_accept_prob = 0.99;
  s.accept_prob = 0.999;
  EXPECT_EQ(str(s.passes()), "latent:4@0.99 latent:6@0.99 latent:8@0.99 projected:r8@0.999 projected:r4@0.999 projected:r2@0.999");
  s.fallback_ranks.clear();
  EXPECT_EQ(str(s.passes()), "latent:4@0.99 latent:6@0.99 latent:8@0.99");
  s.ladder.clear();
  EXPECT_EQ(str(s.passes()), "latent:8@0.99");
  s.method = Method::kProjected;
  s.fallback_ranks = {2};
  EXPECT_EQ(str(s.passes()), "projected:r8@0.999 projected:r2@0.999");
  s.method = Method::kGradient;
  EXPECT_EQ(s.passes().size(), 1u);
}

TEST(Spec, ToJsonRoundTripsAndIsCanonical) {
  const json in = {{"add", {"smiling:0.9", "Blond hair"}}, {"remove", "eyeglasses"}, {"keep", {"male"}},
                   {"steps", 12}, {"step_size", 0.05}, {"penalty", 0.3}, {"penalty_kind", "l1"}, {"prior", 0.01},
                   {"target_prob", 0.8}, {"batch_mean", true}, {"show_steps", {3, 6}}, {"scale", 3},
                   {"outputs", {{"strip", true}, {"pairs", false}}}, {"fallback_ranks", {6, 2}}, {"accept_prob", 0.99}, {"ladder", {0.25, 0.6}},
                   {"latent_accept_prob", 0.98}};
  const EditSettings s = EditSettings::from_json(in, A);
  EXPECT_EQ(s.spec.ladder, std::vector<double>({0.25, 0.6}));
  EXPECT_EQ(s.spec.latent_accept_prob, 0.98);
  EXPECT_TRUE(EditSettings::from_json({{"add", "Smiling"}, {"ladder", json::array()}}, A).spec.ladder.empty());
  EXPECT_EQ(s.spec.fallback_ranks, std::vector<int>({6, 2}));
  EXPECT_EQ(s.spec.accept_prob, 0.99);
  EXPECT_TRUE(EditSettings::from_json({{"add", "Smiling"}, {"fallback_ranks", json::array()}}, A).spec.fallback_ranks.empty());
  const json j = s.to_json(A);
  EXPECT_EQ(j["add"], json({"Smiling:0.9", "Blond_Hair"}));
  EXPECT_EQ(j["remove"], json({"Eyeglasses"}));
  EXPECT_EQ(j["keep"], json({"Male"}));
  EXPECT_EQ(j["show_steps"].size(), 13u);  // strips record every step
  const EditSettings back = EditSettings::from_json(j, A);
  EXPECT_EQ(back.to_json(A), j);
  EXPECT_EQ(back.spec.penalty_kind, PenaltyKind::kL1);
  EXPECT_EQ(*back.spec.stop_prob(back.spec.targets[0]), 0.9);
  EXPECT_EQ(*back.spec.stop_prob(back.spec.targets[1]), 0.8);  // target_prob applies where none is given
}

TEST(Spec, ErrorsNameTheFieldAndSayHowToFixIt) {
  const auto e = errors_of({{"add", {"Smilling"}}, {"steps", 0}, {"step_size", -1}, {"penalty_kind", "l3"}, {"stepz", 3},
                            {"outputs", {{"gird", true}}}});
  const std::string all = [&] { std::string s; for (auto& x : e) s += x + "\n"; return s; }();
  for (const char* want : {R"(add[0]: unknown attribute "Smilling" (did you mean "Smiling"?))", "steps: 0 is out of range; use 1..100000",
                           "step_size: -1 is out of range", R"(penalty_kind: expected "l2", "l1" or "squared")",
                           R"(stepz: unknown setting (did you mean "steps"?))", R"(outputs.gird: unknown output (did you mean "grid"?))"})
    EXPECT_NE(all.find(want), std::string::npos) << want << "\n" << all;
  EXPECT_EQ(e.size(), 6u) << all;
  EXPECT_THROW(EditSettings::from_json(json{{"steps", 3}}, A), UsageError);  // nothing to edit
  EXPECT_NE(errors_of({{"add", "Smiling"}, {"keep", "smiling"}}).at(0).find("both edited and kept"), std::string::npos);
  EXPECT_NE(errors_of({{"add", "Smiling"}, {"remove", "smiling"}}).at(0).find("named twice"), std::string::npos);
  EXPECT_NE(errors_of({{"add", "Smiling"}, {"fallback_ranks", {4, 0}}}).at(0).find("fallback_ranks[1]: 0 is out of range; use 1..64"),
            std::string::npos);
  EXPECT_NE(errors_of({{"add", "Smiling"}, {"fallback_ranks", 4}}).at(0).find("fallback_ranks: expected a list"), std::string::npos);
  // The ladder's messages come from its one descriptor: the list, each item's range, the rule.
  const std::vector<std::pair<json, std::string>> ladders = {
      {json({0.75, 0.5}), "ladder: fractions of the strength must increase and lie in (0, 1), e.g. [0.5, 0.75] (got 0.5)"},
      {json({0.5, 1.0}), "ladder[1]: 1 is out of range; use a value in (0, 1)"},
      {json({0.0}), "ladder[0]: 0 is out of range; use a value in (0, 1)"},
      {json(0.5), "ladder: expected a list of at most 8 numbers in (0, 1), e.g. [0.5, 0.75], got 0.5"},
      {json({"half"}), "ladder[0]: expected a number, got string \"half\""}};
  for (const auto& [bad, want] : ladders) EXPECT_EQ(errors_of({{"add", "Smiling"}, {"ladder", bad}}).at(0), want) << bad.dump();
  EXPECT_NE(errors_of({{"add", "Smiling"}, {"latent_accept_prob", 1}}).at(0).find("latent_accept_prob: 1 is out of range"),
            std::string::npos);
  EXPECT_NE(errors_of({{"add", "Smiling"}, {"accept_prob", 0.3}}).at(0).find("accept_prob: 0.3 is out of range; use a value in (0.5, 1)"),
            std::string::npos);
}

TEST(Spec, ValidateNamesFields) {
  EditSpec s;
  s.targets = {{31, Direction::kAdd, std::nullopt}};
  s.step_size = 0;
  try {
    validate(s, 40);
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "step_size: 0 is out of range; use a value in (0, 10]");
  }
  s.step_size = 0.1;
  s.record_steps = {s.steps + 1};
  EXPECT_THROW(validate(s, 40), UsageError);
  s.record_steps.clear();
  s.ladder = {0.5, 0.5};
  EXPECT_THROW(validate(s, 40), UsageError);
}

// docs/batch.schema.json is generated from the settings' one table: regenerate it with
// `latentedit batch --schema > docs/batch.schema.json` when a setting changes.
TEST(Spec, CommittedBatchSchemaIsTheGeneratedOne) {
  const json committed = test::read_json(std::string(LATENTEDIT_TEST_FIXTURES) + "/../../docs/batch.schema.json");
  EXPECT_EQ(committed, batch_schema()) << "docs/batch.schema.json is stale: latentedit batch --schema > docs/batch.schema.json";
  // Every edit setting is in it, with the default the code uses.
  const json& props = committed["$defs"]["settings"]["properties"];
  for (const auto& f : EditSettings::fields()) EXPECT_TRUE(props.contains(f)) << f;
  EXPECT_EQ(props["steps"]["default"], EditSpec{}.steps);
  EXPECT_EQ(props["latent_accept_prob"]["default"], EditSpec{}.latent_accept_prob);
}
