// `latentedit batch`: validation, crash/resume, sharding, batching, failing jobs.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>

#include <opencv2/imgcodecs.hpp>
#include <set>
#include <thread>

#include "latentedit/batch.h"
#include "latentedit/safetensors.h"
#include "test_util.h"

extern char** environ;

using namespace latentedit;
namespace fs = std::filesystem;
using json = nlohmann::json;
using test::run_cli;

namespace {
struct Batch : ::testing::Test {
  static void SetUpTestSuite() {
    dir = new test::TempDir();
    test::make_random_bundle(*dir / "bundle", 4, 4, 5, true);
  }
  static void TearDownTestSuite() { delete dir; }
  static test::TempDir* dir;
  static std::string model() { return " --model " + *dir / "bundle"; }

  // Writes `text` as a job file in a fresh place and returns its path.
  static std::string write_jobs(const test::TempDir& d, const std::string& text, const std::string& name = "jobs.json") {
    std::ofstream(d / name) << text;
    return d / name;
  }
};
test::TempDir* Batch::dir = nullptr;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Every regular file under `root` (relative path -> bytes), skipping the journal and summary.
std::map<std::string, std::string> job_files(const fs::path& root) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string rel = fs::relative(e.path(), root).string();
    if (!e.is_regular_file() || rel.rfind(".journal", 0) == 0 || rel.rfind(".shards", 0) == 0 || rel == "summary.json" || rel == "plan.json" ||
        rel == ".latentedit-output.json")
      continue;
    m[rel] = slurp(e.path());
  }
  return m;
}

bool has_temp_files(const fs::path& root) {
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

// Checks that every file the summary lists exists once with the listed hash, that no other
// file sits in a job directory, and that PNGs decode.
void expect_consistent(const fs::path& out, const json& summary) {
  for (const auto& j : summary["jobs"]) {
    if (j["status"] != "ok") continue;
    std::set<std::string> listed;
    for (auto it = j["files"].begin(); it != j["files"].end(); ++it) {
      const fs::path f = out / j["id"].get<std::string>() / it.key();
      ASSERT_TRUE(fs::exists(f)) << f;
      EXPECT_EQ(sha256_hex(slurp(f)), it->get<std::string>()) << f;
      if (f.extension() == ".png") EXPECT_FALSE(cv::imread(f.string()).empty()) << f;
      listed.insert(it.key());
    }
    for (const auto& e : fs::directory_iterator(out / j["id"].get<std::string>()))
      EXPECT_TRUE(listed.count(e.path().filename().string())) << "unlisted file " << e.path();
  }
  EXPECT_FALSE(has_temp_files(out));
}

const char* kValidJob = R"({"id": "a", "seed": 1, "count": 2, "steps": 3, "add": ["Smiling"]})";

struct Malformed {
  const char* name;
  std::string text;
  std::string expect;  // a substring of stderr
};

std::vector<Malformed> malformed_cases() {
  auto one = [](const std::string& job) { return std::string(R"({"jobs": [)") + job + "]}"; };
  return {
      {"BadJson", R"({"jobs": [)", "jobs.json:1:11: invalid JSON"},
      {"NotAnObject", "[1, 2]", "$: the job file must be a JSON object"},
      {"NoJobs", R"({"jobs": []})", "jobs: expected a non-empty list of jobs"},
      {"UnknownTopKey", R"({"job": [], "jobs": [{"id": "a", "seed": 1, "add": ["Smiling"]}]})", R"(job: unknown key (did you mean "jobs"?))"},
      {"UnknownAttribute", one(R"({"id": "a", "seed": 1, "add": ["Smilling"]})"), R"(jobs[0].add[0]: unknown attribute "Smilling" (did you mean "Smiling"?))"},
      {"UnknownKeepAttribute", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "keep": ["Mail"]})"), R"(jobs[0].keep[0]: unknown attribute "Mail" (did you mean "Male"?))"},
      {"StepsWrongType", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "steps": "ten"})"), "jobs[0].steps: expected an integer, got string"},
      {"StepsTooMany", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "steps": 5000})"), "jobs[0].steps: 5000 is out of range; use 1..1000"},
      {"NegativeStepSize", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "step_size": -0.1})"), "jobs[0].step_size: -0.1 is out of range"},
      {"DefaultsPenalty", R"({"defaults": {"penalty": -1}, "jobs": [{"id": "a", "seed": 1, "add": ["Smiling"]}]})", "defaults.penalty: -1 is out of range"},
      {"UnknownDefault", R"({"defaults": {"setps": 3}, "jobs": [{"id": "a", "seed": 1, "add": ["Smiling"]}]})", R"(defaults.setps: unknown setting (did you mean "steps"?))"},
      {"DuplicateId", one(std::string(kValidJob) + "," + R"({"id": "A", "seed": 2, "add": ["Smiling"]})"), R"(jobs[1].id: duplicate id "A" (first used at jobs[0].id))"},
      {"DotDotId", one(R"({"id": "../evil", "seed": 1, "add": ["Smiling"]})"), R"(jobs[0].id: "../evil" is not a safe directory name)"},
      {"SlashId", one(R"({"id": "a/b", "seed": 1, "add": ["Smiling"]})"), R"(jobs[0].id: "a/b" is not a safe directory name)"},
      {"MissingId", one(R"({"seed": 1, "add": ["Smiling"]})"), "jobs[0].id: missing or not a string"},
      {"NoLatents", one(R"({"id": "a", "add": ["Smiling"]})"), "jobs[0]: no latents"},
      {"TwoLatentSources", one(R"({"id": "a", "seed": 1, "seeds": [1], "add": ["Smiling"]})"), "jobs[0]: give only one of"},
      {"NegativeSeed", one(R"({"id": "a", "seeds": [1, -2], "add": ["Smiling"]})"), "jobs[0].seeds[1]: expected a seed, an integer 0..18446744073709551615, got number -2"},
      {"MissingLatentsFile", one(R"({"id": "a", "latents_file": "nope.json", "add": ["Smiling"]})"), "jobs[0].latents_file: no such file"},
      {"WrongLatentSize", one(R"({"id": "a", "latents_file": "z.json", "add": ["Smiling"]})"), "jobs[0].latents_file: latent 0 in"},
      {"UnknownJobKey", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "stepz": 3})"), R"(jobs[0].stepz: unknown key (did you mean "steps"?))"},
      {"CountTooLarge", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "count": 5000})"), "jobs[0].count: 5000 is out of range; use 1..1024"},
      {"ScaleTooLarge", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "scale": 20})"), "jobs[0].scale: 20 is out of range; use 1..8"},
      {"GridTooLarge", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "count": 1000, "scale": 8})"), "jobs[0].scale: the grid would be about"},
      {"BadPenaltyKind", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "penalty_kind": "l3"})"), R"(jobs[0].penalty_kind: expected "l2", "l1" or "squared")"},
      {"TargetProbRange", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "target_prob": 1.5})"), "jobs[0].target_prob: 1.5 is out of range"},
      {"BadTargetSuffix", one(R"({"id": "a", "seed": 1, "add": ["Smiling:2"]})"), "jobs[0].add[0]: bad target 'Smiling:2'"},
      {"EditedAndKept", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "keep": ["smiling"]})"), "jobs[0].keep[0]: Smiling is both edited and kept"},
      {"NothingToEdit", one(R"({"id": "a", "seed": 1})"), "jobs[0]: nothing to edit"},
      {"UnknownOutput", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "outputs": {"gird": true}})"), R"(jobs[0].outputs.gird: unknown output (did you mean "grid"?))"},
      {"ShowStepsBeyond", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "steps": 4, "show_steps": [9]})"), "jobs[0].show_steps[0]: 9 is out of range"},
      {"AddTwice", one(R"({"id": "a", "seed": 1, "add": ["Smiling"], "remove": ["Smiling"]})"), "jobs[0].remove[0]: Smiling is named twice"},
  };
}

// The library reads and plans each malformed file (read_job_file + plan_batch, what `batch`
// does before any work): every case is a path-qualified error naming the problem.
struct JobFileMalformed : test::WithRandomBundle<::testing::TestWithParam<Malformed>, 4, 4, 5> {};

TEST_P(JobFileMalformed, GivesAPathQualifiedError) {
  test::TempDir d;
  std::ofstream(d / "z.json") << "[[1, 2, 3]]";  // a latents file with the wrong size
  const std::string jobs = Batch::write_jobs(d, GetParam().text);
  try {
    plan_batch(read_job_file(jobs), jobs, *m);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().expect), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Files, JobFileMalformed, ::testing::ValuesIn(malformed_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// ... and the executable says so on stderr with exit code 3 and writes nothing.
TEST_F(Batch, AMalformedFileIsExit3AndWritesNothing) {
  test::TempDir d;
  const std::string jobs = write_jobs(d, malformed_cases()[4].text);  // UnknownAttribute
  std::string out, err;
  EXPECT_EQ(run_cli("batch " + jobs + " --out " + d / "out" + model(), &out, &err), 3) << err;
  EXPECT_NE(err.find(malformed_cases()[4].expect), std::string::npos) << "stderr:\n" << err;
  EXPECT_FALSE(fs::exists(d / "out")) << "the output directory must not be created";
}

TEST_F(Batch, ReportsEveryErrorAtOnce) {
  test::TempDir d;
  const std::string jobs = write_jobs(d, R"({"jobs": [{"id": "a", "seed": 1, "add": ["Smilling"]},
      {"id": "b", "seed": 1, "add": ["Smiling"], "steps": 0}, {"id": "a", "seed": 2, "remove": ["Eyeglases"]}]})");
  std::string err;
  EXPECT_EQ(run_cli("batch " + jobs + " --out " + d / "out" + model(), nullptr, &err), 3);
  for (const char* e : {"jobs[0].add[0]", "jobs[1].steps", "jobs[2].id: duplicate", "jobs[2].remove[0]", "4 errors"})
    EXPECT_NE(err.find(e), std::string::npos) << e << "\n" << err;
}

TEST_F(Batch, BadShardIsAUsageError) {
  test::TempDir d;
  const std::string jobs = write_jobs(d, std::string(R"({"jobs": [)") + kValidJob + "]}");
  std::string err;
  EXPECT_EQ(run_cli("batch " + jobs + " --shard 3/3 --out " + d / "out" + model(), nullptr, &err), 2);
  EXPECT_NE(err.find("bad --shard '3/3'"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(d / "out"));
}

TEST_F(Batch, DryRunPrintsThePlanAndWritesNothing) {
  test::TempDir d;
  const std::string jobs = write_jobs(d, R"({"defaults": {"steps": 5, "count": 3}, "jobs": [
      {"id": "a", "seed": 1, "add": ["Smiling"]}, {"id": "b", "seeds": [4, 5], "add": ["smiling"]},
      {"id": "c", "seed": 2, "add": ["Smiling"], "penalty": 0.5}]})");
  std::string out, err;
  ASSERT_EQ(run_cli("batch " + jobs + " --dry-run --json --out " + d / "out" + model(), &out, &err), 0) << err;
  const json plan = json::parse(out);
  EXPECT_EQ(plan["jobs"], 3);
  EXPECT_EQ(plan["batches"], 2);  // a and b share settings; c has its own penalty
  EXPECT_EQ(plan["latents"], 3 + 2 + 3);
  EXPECT_EQ(plan["latent_steps"], 8 * 5);
  EXPECT_FALSE(fs::exists(d / "out"));
}

// Batching changes nothing: each job's result equals the job run alone.
TEST_F(Batch, MixedSettingsGiveTheSameResultsAsEachJobAlone) {
  test::TempDir d;
  const std::vector<std::string> job_list = {
      R"({"id": "a", "seed": 1, "count": 3, "add": ["Smiling"]})",
      R"({"id": "b", "seeds": [9, 10], "add": ["Smiling"]})",
      R"({"id": "c", "seed": 2, "count": 2, "remove": ["Eyeglasses"], "keep": ["Male"], "penalty": 0.5})",
      R"({"id": "d", "seed": 3, "count": 2, "add": ["Smiling:0.6"], "steps": 8})",
      R"({"id": "e", "seed": 4, "count": 2, "add": ["Smiling"], "penalty_kind": "l1", "prior": 0.1})"};
  std::string all = R"({"defaults": {"steps": 6}, "jobs": [)";
  for (size_t i = 0; i < job_list.size(); ++i) all += (i ? "," : "") + job_list[i];
  const std::string jobs = write_jobs(d, all + "]}");
  std::string err;
  ASSERT_EQ(run_cli("batch " + jobs + " -q --out " + d / "together" + model(), nullptr, &err), 0) << err;
  for (size_t i = 0; i < job_list.size(); ++i) {
    const std::string id(1, static_cast<char>('a' + i));
    const std::string alone = write_jobs(d, R"({"defaults": {"steps": 6}, "jobs": [)" + job_list[i] + "]}", id + ".json");
    ASSERT_EQ(run_cli("batch " + alone + " -q --out " + d / ("alone-" + id) + model(), nullptr, &err), 0) << err;
    const json t = test::read_json(d / ("together/" + id + "/report.json"));
    const json a = test::read_json(d / ("alone-" + id + "/" + id + "/report.json"));
    ASSERT_EQ(t["latents"].size(), a["latents"].size());
    for (size_t l = 0; l < t["latents"].size(); ++l) {
      EXPECT_EQ(t["latents"][l]["stopped_at"], a["latents"][l]["stopped_at"]);
      for (size_t k = 0; k < 64; ++k)
        ASSERT_NEAR(t["latents"][l]["z_after"][k].get<double>(), a["latents"][l]["z_after"][k].get<double>(), 1e-5) << id;
      const auto& ps = t["latents"][l]["steps"].back()["probs"];
      const auto& pa = a["latents"][l]["steps"].back()["probs"];
      for (size_t k = 0; k < 40; ++k) ASSERT_NEAR(ps[k].get<double>(), pa[k].get<double>(), 1e-5) << id;
    }
  }
}

TEST_F(Batch, ShardsMergedEqualTheSingleRunByteForByte) {
  test::TempDir d;
  std::string all = R"({"defaults": {"steps": 4, "count": 2, "outputs": {"strip": true}}, "jobs": [)";
  for (int i = 0; i < 7; ++i)
    all += (i ? "," : "") + std::string(R"({"id": "j)") + std::to_string(i) + R"(", "seed": )" + std::to_string(i) +
           R"(, "add": [")" + (i % 2 ? "Smiling" : "Eyeglasses") + R"("], "penalty": )" + std::to_string(0.1 * (i % 3)) + "}";
  const std::string jobs = write_jobs(d, all + "]}");
  std::string out, err;
  ASSERT_EQ(run_cli("batch " + jobs + " -q --out " + d / "single" + model(), nullptr, &err), 0) << err;
  for (int s = 0; s < 3; ++s) {
    ASSERT_EQ(run_cli("batch " + jobs + " -q --shard " + std::to_string(s) + "/3 --out " + d / "sharded" + model(), nullptr, &err), 0) << err;
    if (s == 1) {  // two of three shards done: merge refuses and names what is missing
      EXPECT_EQ(run_cli("batch merge " + d / "sharded", &out, &err), 7);
      EXPECT_NE(err.find("not finished"), std::string::npos) << err;
      EXPECT_NE(err.find("shards 2/3 not started"), std::string::npos) << err;
      EXPECT_FALSE(fs::exists(d / "sharded/summary.json"));
    }
  }
  ASSERT_EQ(run_cli("batch merge " + d / "sharded", &out, &err), 0) << err;
  const auto a = job_files(d / "single"), b = job_files(d / "sharded");
  ASSERT_EQ(a.size(), 7u * (1 + 2 * 2 + 2 + 1));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, bytes] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(bytes == b.at(name)) << name << " differs";
  }
  const json sa = test::read_json(d / "single/summary.json"), sb = test::read_json(d / "sharded/summary.json");
  ASSERT_EQ(sa["jobs"].size(), 7u);
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(sa["jobs"][i]["files"], sb["jobs"][i]["files"]);
  EXPECT_TRUE(read_file(d / "single/summary.json") == read_file(d / "sharded/summary.json")) << "the merged summary is not the single run's bytes";
  EXPECT_EQ(test::read_json(d / "sharded/.shards/1-of-3.json")["status"], "finished");
  expect_consistent(d / "sharded", sb);
}

TEST_F(Batch, AFailingJobIsReportedAndTheOthersFinish) {
  test::TempDir d;
  // A boundary edit on a bundle without boundaries (fails when the job runs); and a job that continues from another edit's report.
  std::string err;
  ASSERT_EQ(run_cli("edit --add Smiling --seed 3 --count 2 --steps 3 -q --out " + d / "prev" + model(), nullptr, &err), 0) << err;
  const std::string jobs = write_jobs(d, R"({"defaults": {"steps": 3}, "jobs": [
      {"id": "ok1", "seed": 1, "count": 2, "add": ["Smiling"]},
      {"id": "bad", "seed": 2, "add": ["Smiling"], "method": "boundary"},
      {"id": "continue", "latents_file": "prev/report.json", "add": ["Smiling"]}]})");
  std::string out;
  EXPECT_EQ(run_cli("batch " + jobs + " --json -q --out " + d / "out" + model(), &out, &err), 6) << err;
  EXPECT_NE(err.find("1 job failed"), std::string::npos) << err;
  const json s = test::read_json(d / "out/summary.json");
  EXPECT_EQ(s["ok"], 2);
  EXPECT_EQ(s["failed"], 1);
  EXPECT_EQ(s["jobs"][1]["status"], "failed");
  EXPECT_NE(s["jobs"][1]["error"].get<std::string>().find("boundar"), std::string::npos) << s["jobs"][1];
  expect_consistent(d / "out", s);
  // The continued job starts where the earlier edit ended.
  const json prev = test::read_json(d / "prev/report.json"), cont = test::read_json(d / "out/continue/report.json");
  EXPECT_EQ(prev["latents"][1]["z_after"], cont["latents"][1]["z_before"]);
  // Rerunning retries the failed job only.
  EXPECT_EQ(run_cli("batch " + jobs + " --json -q --out " + d / "out" + model(), &out, &err), 6);
  const json s2 = json::parse(out);
  EXPECT_EQ(s2["jobs"][0]["this_run"], "reused");
  EXPECT_EQ(s2["jobs"][1]["this_run"], "failed");
}

// SIGKILL at a random moment loses no finished job and leaves no torn file.
TEST_F(Batch, KilledMidRunResumesWithoutRedoingFinishedJobs) {
  test::TempDir d;
  std::string all = R"({"defaults": {"steps": 150, "count": 4, "method": "gradient", "eot": 0}, "jobs": [)";
  for (int i = 0; i < 16; ++i)  // distinct step sizes: every job is its own batch
    all += (i ? "," : "") + std::string(R"({"id": "k)") + std::to_string(i) + R"(", "seed": )" + std::to_string(i) +
           R"(, "add": ["Smiling"], "step_size": )" + std::to_string(0.01 + 0.001 * i) + "}";
  const std::string jobs = write_jobs(d, all + "]}");
  const std::string out = d / "out";
  std::vector<std::string> args = {LATENTEDIT_CLI, "batch", jobs, "-q", "--threads", "1", "--out", out, "--model", *dir / "bundle"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  // Wait until a few jobs are journaled, then kill without warning. The wait is generous: on a
  // loaded 2-core machine (ctest -j2 beside the evaluate-curve test) three jobs took over 30 s.
  bool killed = false;
  for (int t = 0; t < 60000 && !killed; ++t) {
    int n = 0;
    if (fs::exists(out + "/.journal"))
      for (const auto& e : fs::directory_iterator(out + "/.journal")) n += e.path().extension() == ".json";
    if (n >= 3) {
      ASSERT_EQ(kill(pid, SIGKILL), 0);
      killed = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (!killed) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(killed) << "three jobs were not journaled within 300 s";
  ASSERT_TRUE(WIFSIGNALED(status)) << "the batch finished before it could be killed; make it longer";
  std::map<std::string, fs::file_time_type> finished;  // files of journaled jobs and their mtimes
  for (const auto& e : fs::directory_iterator(out + "/.journal")) {
    if (e.path().extension() != ".json") continue;
    const json j = test::read_json(e.path().string());
    for (auto it = j["files"].begin(); it != j["files"].end(); ++it) {
      const fs::path f = fs::path(out) / j["id"].get<std::string>() / it.key();
      ASSERT_TRUE(fs::exists(f)) << "journaled job lost a file: " << f;
      finished[f.string()] = fs::last_write_time(f);
    }
  }
  ASSERT_FALSE(finished.empty());
  std::string sout, err;
  ASSERT_EQ(run_cli("batch " + jobs + " --json -q --threads 1 --out " + out + model(), &sout, &err), 0) << err;
  const json s = json::parse(sout);
  EXPECT_EQ(s["ok"], 16);
  int reused = 0;
  for (const auto& j : s["jobs"]) reused += j["this_run"] == "reused";
  EXPECT_GE(reused, 3);
  for (const auto& [f, t] : finished) EXPECT_TRUE(fs::last_write_time(f) == t) << f << " was rewritten";
  expect_consistent(out, test::read_json(out + "/summary.json"));
}

TEST_F(Batch, HelpWorksForBatchAndMerge) {
  std::string out;
  EXPECT_EQ(run_cli("batch --help", &out), 0);
  EXPECT_NE(out.find("--shard"), std::string::npos);
  EXPECT_EQ(run_cli("batch merge --help", &out), 0);
  EXPECT_NE(out.find("merge"), std::string::npos);
}

}  // namespace

namespace {
// The README's example job file stays valid.
TEST_F(Batch, TheExampleJobFileIsValid) {
  std::string out, err;
  const std::string file = std::string(LATENTEDIT_TEST_FIXTURES) + "/../../examples/jobs.json";
  ASSERT_EQ(run_cli("batch " + file + " --dry-run --json" + model(), &out, &err), 0) << err;
  EXPECT_EQ(json::parse(out)["jobs"], 4);
}
}  // namespace

// Another job file into the same OUT: the old file's jobs are removed (they are this command's
// stale outputs), the new ones written; a merge that fails removes an older complete summary.
TEST_F(Batch, ANewJobFileReplacesTheOldJobsAndAFailedMergeLeavesNoStaleSummary) {
  test::TempDir d;
  std::string out, err;
  const std::string first = write_jobs(d, R"({"defaults": {"steps": 1, "count": 1}, "jobs": [{"id": "old", "seed": 1, "add": ["Smiling"]}]})", "a.json");
  const std::string second = write_jobs(d, R"({"defaults": {"steps": 1, "count": 1}, "jobs": [{"id": "new", "seed": 2, "add": ["Smiling"]}]})", "b.json");
  ASSERT_EQ(run_cli("batch " + first + " -q --out " + d / "o" + model(), nullptr, &err), 0) << err;
  write_file_atomic(d / "o/mine.txt", "kept");
  ASSERT_EQ(run_cli("batch " + second + " -q --out " + d / "o" + model(), nullptr, &err), 0) << err;
  EXPECT_FALSE(fs::exists(d / "o/old"));
  EXPECT_FALSE(fs::exists(d / "o/.journal/old.json"));
  EXPECT_TRUE(fs::exists(d / "o/new/report.json"));
  EXPECT_EQ(read_file(d / "o/mine.txt"), "kept");
  ASSERT_TRUE(fs::exists(d / "o/summary.json"));
  fs::remove_all(d / "o/new");  // a job's files damaged: merge must not leave "complete" behind
  EXPECT_EQ(run_cli("batch merge " + d / "o", &out, &err), 7) << err;
  EXPECT_FALSE(fs::exists(d / "o/summary.json"));
  // Reserved ids are refused before anything runs.
  const std::string reserved = write_jobs(d, R"({"jobs": [{"id": "Summary.json", "seed": 1, "add": ["Smiling"]}]})", "r.json");
  EXPECT_EQ(run_cli("batch " + reserved + " -q --out " + d / "r" + model(), nullptr, &err), 3);
  EXPECT_NE(err.find("is reserved"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(d / "r"));
}

namespace {
// --shard auto's reading of the engines' environments (a map stands for the process's).
ShardOrigin from(const std::map<std::string, std::string>& env, int count = 0) {
  return shard_from_environment(
      [&](const char* n) -> const char* {
        auto it = env.find(n);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      count);
}

TEST(ShardFromEnvironment, ReadsEachEngineAndRefusesWhatDoesNotAddUp) {
  // Slurm: 0-based, 1-based and stepped arrays all map to 0..N-1.
  ShardOrigin o = from({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "3"}, {"SLURM_ARRAY_TASK_COUNT", "4"}});
  EXPECT_EQ(o.index, 2);
  EXPECT_EQ(o.count, 4);
  EXPECT_EQ(o.engine, "slurm");
  EXPECT_EQ(o.environment["SLURM_ARRAY_TASK_ID"], "2");
  o = from({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "1"}, {"SLURM_ARRAY_TASK_MAX", "8"}});
  EXPECT_EQ(o.index, 0);
  EXPECT_EQ(o.count, 8);
  o = from({{"SLURM_ARRAY_TASK_ID", "12"}, {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "15"}, {"SLURM_ARRAY_TASK_STEP", "4"}});
  EXPECT_EQ(o.index, 3);
  EXPECT_EQ(o.count, 4);
  // Kubernetes: the index from the pod, the count from the caller.
  o = from({{"JOB_COMPLETION_INDEX", "5"}}, 16);
  EXPECT_EQ(o.index, 5);
  EXPECT_EQ(o.count, 16);
  EXPECT_EQ(o.engine, "kubernetes");
  // AWS Batch.
  o = from({{"AWS_BATCH_JOB_ARRAY_INDEX", "0"}, {"AWS_BATCH_JOB_ARRAY_SIZE", "2"}});
  EXPECT_EQ(o.count, 2);
  EXPECT_EQ(o.engine, "aws-batch");
  // Two engines that agree are both recorded.
  o = from({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "1"}, {"JOB_COMPLETION_INDEX", "1"}});
  EXPECT_EQ(o.engine, "slurm+kubernetes");
  // Refused: each with one line that names the problem.
  auto refused = [](const std::map<std::string, std::string>& env, const std::string& says, int count = 0) {
    try {
      from(env, count);
      ADD_FAILURE() << "accepted: " << says;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  };
  refused({}, "no cluster engine's task index");
  refused({{"JOB_COMPLETION_INDEX", "0"}}, "does not see the Job's completions");
  refused({{"JOB_COMPLETION_INDEX", "4"}}, "not below the shard count 4", 4);
  refused({{"AWS_BATCH_JOB_ARRAY_INDEX", "3"}, {"AWS_BATCH_JOB_ARRAY_SIZE", "3"}}, "not below the shard count 3");
  refused({{"SLURM_ARRAY_TASK_ID", "5"}, {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "9"}, {"SLURM_ARRAY_TASK_COUNT", "3"}},
          "not one evenly stepped range");
  refused({{"SLURM_ARRAY_TASK_ID", "5"}, {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "15"}, {"SLURM_ARRAY_TASK_STEP", "4"}},
          "is not in the range");
  refused({{"SLURM_ARRAY_TASK_ID", "-1"}, {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "3"}}, "not a non-negative integer");
  refused({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "3"}}, "has 4 tasks but the shard count given is 8", 8);
  refused({{"SLURM_ARRAY_TASK_ID", "1"}, {"SLURM_ARRAY_TASK_MIN", "0"}, {"SLURM_ARRAY_TASK_MAX", "3"}, {"JOB_COMPLETION_INDEX", "2"}},
          "two engines disagree", 4);
}
}  // namespace

namespace {
// Seeds take every uint64 value, as `edit --seed` does: 2^63 and 2^64-1 are not clamped to 2^63-1.
TEST(JobSeeds, TakeTheWholeUnsignedRangeUnclamped) {
  test::TempDir d;
  test::make_random_bundle(d / "b", 4, 4, 3, false);
  const Models m = load_bundle(d / "b");
  for (const uint64_t seed : {uint64_t(1) << 63, ~uint64_t(0), uint64_t(9223372036854775807ull)}) {
    const json file = json::parse(R"({"jobs": [{"id": "a", "seed": )" + std::to_string(seed) + R"(, "count": 2, "add": ["Smiling"]},
                                                {"id": "b", "seeds": [)" + std::to_string(seed) + R"(], "add": ["Smiling"]}]})");
    const BatchPlan p = plan_batch(file, "jobs.json", m);
    EXPECT_TRUE(torch::equal(p.jobs[0].z, sample_latents(seed, 2, m.z_dim))) << seed;
    EXPECT_TRUE(torch::equal(p.jobs[1].z, sample_latents(seed, 1, m.z_dim))) << seed;
    EXPECT_EQ(p.jobs[0].source["seed"].get<uint64_t>(), seed);
  }
  EXPECT_FALSE(torch::equal(sample_latents(uint64_t(1) << 63, 1, m.z_dim), sample_latents(9223372036854775807ull, 1, m.z_dim)));
  try {
    plan_batch(json::parse(R"({"jobs": [{"id": "a", "seed": -1, "add": ["Smiling"]}]})"), "jobs.json", m);
    ADD_FAILURE() << "a negative seed was accepted";
  } catch (const BatchInvalid& e) {
    EXPECT_NE(std::string(e.what()).find("jobs[0].seed: expected a seed"), std::string::npos) << e.what();
  }
}
}  // namespace

// Finished jobs are keyed by the models' content, not their paths: changed weights (one bias of
// the generator) redo the job; the same bundle copied elsewhere reuses it.
TEST_F(Batch, ChangedWeightsRedoTheJobsAMovedBundleReusesThem) {
  test::TempDir d;
  fs::copy(*dir / "bundle", d / "m", fs::copy_options::recursive);
  const std::string jobs = write_jobs(d, R"({"defaults": {"steps": 2, "count": 1}, "jobs": [{"id": "a", "seed": 1, "add": ["Smiling"]}]})");
  std::string out, err;
  ASSERT_EQ(run_cli("batch " + jobs + " --json -q --out " + d / "o --model " + d / "m", &out, &err), 0) << err;
  fs::copy(d / "m", d / "moved", fs::copy_options::recursive);
  ASSERT_EQ(run_cli("batch " + jobs + " --json -q --out " + d / "o --model " + d / "moved", &out, &err), 0) << err;
  EXPECT_EQ(json::parse(out)["jobs"][0]["this_run"], "reused");
  // Flip one value of the generator's weights (same file name, same size).
  SafetensorsFile f = load_safetensors(d / "moved/generator.safetensors");
  NamedTensors& w = f.tensors;
  for (auto& [name, t] : w)
    if (name.find("bias") != std::string::npos) {
      t = t.clone();
      t.view({-1})[0] = -t.view({-1})[0] + 1.0f;
      break;
    }
  save_safetensors(d / "moved/generator.safetensors", w, f.metadata);
  ASSERT_EQ(run_cli("batch " + jobs + " --json -q --out " + d / "o --model " + d / "moved", &out, &err), 0) << err;
  EXPECT_EQ(json::parse(out)["jobs"][0]["this_run"], "done");
}
