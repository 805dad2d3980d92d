#include <gtest/gtest.h>

#include "latentedit/evaluate.h"
#include "test_util.h"

using namespace latentedit;

TEST(Evaluate, TinyModelGivesCompleteSelfConsistentJson) {
  test::TempDir d;
  test::make_random_bundle(d.str(), 4, 4, 1, true);
  const Models m = load_bundle(d.str());
  EvalOptions o;
  o.seeds = 24;
  o.min_latents = 1;
  o.heldout = 40;
  o.samples = 60;
  o.attributes = {31, 15};
  o.baseline = course_baseline();
  std::string table;
  const auto r = evaluate(m, o, &table);
  ASSERT_TRUE(r.contains("per_attribute"));
  ASSERT_TRUE(r.contains("summary"));
  ASSERT_TRUE(r.contains("heldout"));
  ASSERT_TRUE(r.contains("generated_vs_rendered"));
  const auto& rows = r["per_attribute"];
  ASSERT_GE(rows.size(), 2u);
  double success = 0, drift = 0;
  int64_t n_attr31 = 0;
  for (const auto& row : rows) {
    for (const char* k : {"edit", "baseline"}) {
      for (const char* f : {"success", "fooled"}) {
        EXPECT_GE(row[k][f].get<double>(), 0.0);
        EXPECT_LE(row[k][f].get<double>(), 1.0);
      }
      EXPECT_GE(row[k]["drift"].get<double>(), 0.0);
    }
    success += row["edit"]["success"].get<double>();
    drift += row["edit"]["drift"].get<double>();
    if (row["attribute"] == "Smiling") n_attr31 += row["edit"]["n"].get<int64_t>();
  }
  // Both directions together cover every seed once; the summary is the mean of the rows.
  if (rows.size() == 4) EXPECT_EQ(n_attr31, 24);
  EXPECT_NEAR(r["summary"]["edit"]["success"].get<double>(), success / rows.size(), 1e-9);
  EXPECT_NEAR(r["summary"]["edit"]["drift"].get<double>(), drift / rows.size(), 1e-9);
  EXPECT_EQ(r["summary"]["entries"].get<size_t>(), rows.size());
  const double acc = r["heldout"]["classifier"]["mean"].get<double>();
  EXPECT_GE(acc, 0.0);
  EXPECT_LE(acc, 1.0);
  EXPECT_EQ(r["generated_vs_rendered"]["frequencies"].size(), 40u);
  EXPECT_GE(r["generated_vs_rendered"]["frechet_auditor_features"].get<double>(), 0.0);
  EXPECT_NE(table.find("MEAN"), std::string::npos);
}

TEST(Evaluate, FrechetDistanceOfASetWithItselfIsZeroAndGrowsWithShift) {
  torch::manual_seed(0);
  const auto a = torch::randn({500, 6});
  EXPECT_NEAR(frechet_distance(a, a), 0.0, 1e-6);
  EXPECT_NEAR(frechet_distance(a, a + 2.0), 6 * 4.0, 1e-6);  // mean shift of 2 in 6 dims
}
