// One output path: the staged writer, byte-identity with the outputs before the restructure,
// and `edit` and `batch` producing the same files for the same edit.
#include <gtest/gtest.h>

#include <fstream>

#include "io/fsutil.h"
#include "latentedit/errors.h"
#include "test_util.h"

using namespace latentedit;
namespace fs = std::filesystem;
using json = nlohmann::json;

TEST(StagedDir, IntoDirectoryPublishesAllOrNothingAndLeavesOtherFilesAlone) {
  test::TempDir d;
  const std::string out = d / "out";
  make_dirs(out);
  write_file_atomic(out + "/mine.txt", "not latentedit's");
  {
    StagedDir s(out, StagedDir::kIntoDirectory);
    s.add("a.png", "A");
    s.add("b.json", "B");
    EXPECT_FALSE(fs::exists(out + "/a.png"));  // nothing visible before commit
  }  // no commit: the temporaries are gone
  for (const auto& e : fs::directory_iterator(out)) EXPECT_EQ(e.path().filename(), "mine.txt");
  {
    StagedDir s(out, StagedDir::kIntoDirectory);
    s.add("a.png", "A");
    s.commit();
  }
  EXPECT_EQ(read_file(out + "/a.png"), "A");
  EXPECT_EQ(read_file(out + "/mine.txt"), "not latentedit's");
  {
    StagedDir s(d / "fresh", StagedDir::kIntoDirectory);
    s.add("x", "1");
  }
  EXPECT_FALSE(fs::exists(d / "fresh")) << "a directory it created and did not fill is removed";
}

TEST(StagedDir, NewDirectoryRefusesNonEmptyTargetsAndRenamesWhenComplete) {
  test::TempDir d;
  make_dirs(d / "full");
  write_file_atomic(d / "full/x", "x");
  EXPECT_THROW({ StagedDir s(d / "full", StagedDir::kNewDirectory); }, IoError);
  {
    StagedDir s(d / "new", StagedDir::kNewDirectory);
    s.add("sub/a.txt", "a");
    EXPECT_FALSE(fs::exists(d / "new"));
    s.commit();
  }
  EXPECT_EQ(read_file(d / "new/sub/a.txt"), "a");
  {
    StagedDir s(d / "abandoned", StagedDir::kNewDirectory);
    s.add("a.txt", "a");
  }
  for (const auto& e : fs::directory_iterator(d.path)) EXPECT_EQ(e.path().filename().string().find("partial"), std::string::npos);
}

namespace {
std::string bundled() { return std::string(LATENTEDIT_TEST_FIXTURES) + "/../../pretrained/faces64"; }
bool same_isa(const std::string& isa) {
  std::ifstream f("/proc/cpuinfo");
  std::string all((std::istreambuf_iterator<char>(f)), {});
  return (all.find("avx512f") != std::string::npos ? "avx512" : "avx2") == isa;
}
// sha256 of a report's latents without kept_drift, as scripts/golden recorded them.
std::string latents_sha(json rep) {
  for (auto& l : rep["latents"]) l.erase("kept_drift");
  return sha256_hex(rep["latents"].dump());
}
}  // namespace

TEST(Outputs, EditOutputsAreByteIdenticalToThoseBeforeTheRestructure) {
  // Recorded with the code before src/ was reorganised (tests/fixtures/golden_edit.json). Float
  // kernels differ between CPU generations, so the bytes are only comparable on the same ISA.
  const json g = test::read_json(test::fixture("golden_edit.json"));
  if (!same_isa(g["isa"])) GTEST_SKIP() << "golden outputs were recorded on an " << g["isa"] << " CPU";
  test::TempDir d;
  std::string err;
  ASSERT_EQ(test::run_cli(g["command"].get<std::string>() + " -q --model " + bundled() + " --out " + d / "e", nullptr, &err), 0) << err;
  for (auto it = g["files"].begin(); it != g["files"].end(); ++it)
    EXPECT_EQ(sha256_hex(read_file(d / ("e/" + it.key()))), it->get<std::string>()) << it.key();
  EXPECT_EQ(latents_sha(test::read_json(d / "e/report.json")), g["latents_sha256"]);
}

TEST(Outputs, EditAndBatchWriteTheSameFilesForTheSameEdit) {
  test::TempDir d;
  test::make_random_bundle(d / "bundle", 4, 4, 2, true);
  std::ofstream(d / "jobs.json") << R"({"jobs": [{"id": "j", "seed": 5, "count": 3, "add": ["Smiling"], "steps": 4}]})";
  std::string err;
  ASSERT_EQ(test::run_cli("edit --add Smiling --seed 5 --count 3 --steps 4 --threads 1 -q --model " + d / "bundle" + " --out " + d / "e",
                          nullptr, &err), 0) << err;
  ASSERT_EQ(test::run_cli("batch " + d / "jobs.json" + " --threads 1 -q --model " + d / "bundle" + " --out " + d / "b", nullptr, &err), 0)
      << err;
  const json e = test::read_json(d / "e/report.json"), b = test::read_json(d / "b/j/report.json");
  EXPECT_EQ(e["files"], b["files"]);
  EXPECT_EQ(e["settings"], b["settings"]);
  EXPECT_EQ(e["source"], b["source"]);
  EXPECT_EQ(e["latents"], b["latents"]);
  for (const auto& f : e["files"])
    if (f != "report.json" && f != "grid.png")  // the grid's subtitle names the job instead of the seed
      EXPECT_EQ(read_file(d / ("e/" + f.get<std::string>())), read_file(d / ("b/j/" + f.get<std::string>()))) << f;
}
