// One output path: the staged writer, byte-identity with the outputs before the restructure,
// and `edit` and `batch` producing the same files for the same edit.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <fstream>

#include "io/fsutil.h"
#include "latentedit/errors.h"
#include "test_util.h"

using namespace latentedit;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).generic_string());
  std::sort(out.begin(), out.end());
  return out;
}
void stage(const std::string& dir, const std::vector<std::string>& names, bool force = false, bool commit = true) {
  StagedDir s(dir, "edit", force);
  for (const auto& n : names) s.add(n, "v:" + n);
  if (commit) s.commit();
}
}  // namespace

TEST(StagedDir, FreshDirectoryAppearsWholeOrNotAtAll) {
  test::TempDir d;
  stage(d / "new", {"a.png", "sub/b.json"}, false, /*commit=*/false);
  EXPECT_FALSE(fs::exists(d / "new"));
  for (const auto& e : fs::directory_iterator(d.path)) ADD_FAILURE() << "left behind: " << e.path();
  stage(d / "new", {"a.png", "sub/b.json"});
  EXPECT_EQ(listing(d / "new"), (std::vector<std::string>{kOutputMarker, "a.png", "sub/b.json"}));
  make_dirs(d / "empty");
  stage(d / "empty", {"x"});  // an empty directory counts as new
  EXPECT_EQ(read_file(d / "empty/x"), "v:x");
}

TEST(StagedDir, PreviousOutputIsReplacedAsAWholeAndOtherFilesAreKept) {
  test::TempDir d;
  const std::string out = d / "out";
  stage(out, {"grid.png", "latent_000.png", "latent_001.png", "report.json"});
  write_file_atomic(out + "/notes.txt", "the user's");  // added later by the user
  stage(out, {"grid.png", "latent_000.png", "report.json"});  // a smaller rerun
  EXPECT_EQ(listing(out), (std::vector<std::string>{kOutputMarker, "grid.png", "latent_000.png", "notes.txt", "report.json"}));
  EXPECT_EQ(read_file(out + "/notes.txt"), "the user's");
  // An abandoned rerun changes nothing.
  stage(out, {"grid.png"}, false, /*commit=*/false);
  EXPECT_EQ(listing(out).size(), 5u);
  // Another command's output is not this command's to replace.
  EXPECT_THROW({ StagedDir s(out, "sample", false); }, IoError);
}

TEST(StagedDir, ForeignDirectoriesAreRefusedUnlessForced) {
  test::TempDir d;
  const std::string out = d / "photos";
  make_dirs(out);
  write_file_atomic(out + "/grid.png", "holiday");
  write_file_atomic(out + "/other.jpg", "cat");
  try {
    stage(out, {"grid.png"});
    FAIL() << "a directory of someone's files was written into";
  } catch (const IoError& e) {
    EXPECT_EQ(e.remedy(), Remedy::kForce) << e.what();  // the CLI says --force
  }
  EXPECT_EQ(read_file(out + "/grid.png"), "holiday");
  stage(out, {"grid.png"}, /*force=*/true);
  EXPECT_EQ(read_file(out + "/grid.png"), "v:grid.png");
  EXPECT_EQ(read_file(out + "/other.jpg"), "cat");
  write_file_atomic(d / "file", "x");
  EXPECT_THROW(stage(d / "file", {"a"}, true), IoError) << "a file is never a directory, forced or not";
  EXPECT_THROW(stage("/", {"a"}, true), IoError) << "the filesystem root is always refused";
  EXPECT_THROW(claim_output("/", "edit", true), IoError);
  // A hand-edited marker cannot make a command delete files outside its directory.
  const std::string hacked = d / "hacked";
  stage(hacked, {"a"});
  write_file_atomic(hacked + "/" + kOutputMarker, R"({"format":"latentedit-output","command":"edit","files":["../file","/etc/hostname"]})");
  stage(hacked, {"a"});
  EXPECT_TRUE(fs::exists(d / "file"));
}

// Shards of one batch start side by side in a new directory: while one writes the directory's
// marker (its temporary file, not yet renamed), the others must not take the directory for
// someone's files (seen: a Slurm array task refused, 1 run in ~6 of the cluster test). Anything
// else beside that temporary file is still someone's.
TEST(StagedDir, AMarkerBeingWrittenIsNoOnesFiles) {
  test::TempDir d;
  const std::string out = d / "shards";
  make_dirs(out);
  write_file_atomic(out + "/" + kOutputMarker + ".tmp.4242", "{");
  EXPECT_EQ(claim_output(out, "batch", false), OutputClaim::kFresh);
  adopt_output(out, "batch");
  EXPECT_EQ(claim_output(out, "batch", false), OutputClaim::kPrevious);
  const std::string mixed = d / "mixed";
  make_dirs(mixed);
  write_file_atomic(mixed + "/" + kOutputMarker + ".tmp.4242", "{");
  write_file_atomic(mixed + "/notes.txt", "mine");
  EXPECT_THROW(claim_output(mixed, "batch", false), IoError);
}

TEST(StagedDir, AddModeKeepsThePreviousFiles) {
  test::TempDir d;
  const std::string out = d / "bundle";
  {
    StagedDir s(out, "train", false, StagedDir::kAdd);
    s.add("generator.safetensors", "g");
    s.commit();
  }
  {
    StagedDir s(out, "train", false, StagedDir::kAdd);
    s.add("classifier.safetensors", "c");
    s.commit();
  }
  EXPECT_EQ(listing(out), (std::vector<std::string>{kOutputMarker, "classifier.safetensors", "generator.safetensors"}));
  EXPECT_EQ(claim_output(out, "train", false), OutputClaim::kPrevious);
}

namespace {
std::string bundled() { return std::string(LATENTEDIT_TEST_FIXTURES) + "/../../pretrained/faces64"; }
// "AuthenticAMD avx512", "GenuineIntel avx2", ...: the CPU family whose float kernels (oneDNN's and
// OpenBLAS's, chosen per vendor and ISA) produced a set of golden bytes.
std::string cpu_family() {
  std::ifstream f("/proc/cpuinfo");
  std::string all((std::istreambuf_iterator<char>(f)), {});
  std::string vendor = "unknown";
  for (const char* v : {"AuthenticAMD", "GenuineIntel"})
    if (all.find(v) != std::string::npos) vendor = v;
  return vendor + (all.find("avx512f") != std::string::npos ? " avx512" : " avx2");
}
// sha256 of a report's latents without kept_drift, as recorded in tests/fixtures/golden_edit.json.
std::string latents_sha(json rep) {
  for (auto& l : rep["latents"]) l.erase("kept_drift");
  return sha256_hex(rep["latents"].dump());
}
}  // namespace

TEST(OutputsCli, EditOutputsAreByteIdenticalToThoseBeforeTheRestructure) {
  // Recorded with the code before src/ was reorganised (tests/fixtures/golden_edit.json). Float
  // kernels differ between CPU vendors and generations (measured: on a GenuineIntel AVX-512 CPU
  // oneDNN's AVX-512 convolutions change an image and OpenBLAS's kernels the latents' last digits),
  // so the bytes are only comparable on the family that recorded them.
  const json g = test::read_json(test::fixture("golden_edit.json"));
  const std::string family = g["cpu_vendor"].get<std::string>() + " " + g["isa"].get<std::string>();
  if (cpu_family() != family)
    GTEST_SKIP() << "golden outputs were recorded on an " << family << " CPU; this one is " << cpu_family();
  test::TempDir d;
  // The golden edit predates the bundled ensemble: it used what is now member 0 alone.
  json j = test::read_json(bundled() + "/model.json");
  if (j["classifier"]["arch"] == "ensemble") j["classifier"] = j["classifier"]["members"][0];
  fs::create_directories(d / "m");
  for (const auto& e : fs::directory_iterator(bundled()))
    if (e.path().extension() == ".safetensors") fs::create_symlink(fs::canonical(e.path()), d / ("m/" + e.path().filename().string()));
  write_manifest(d / "m", j);
  std::string err;
  ASSERT_EQ(test::run_cli(g["command"].get<std::string>() + " -q --model " + d / "m" + " --out " + d / "e", nullptr, &err), 0) << err;
  for (auto it = g["files"].begin(); it != g["files"].end(); ++it)
    EXPECT_EQ(sha256_hex(read_file(d / ("e/" + it.key()))), it->get<std::string>()) << it.key();
  EXPECT_EQ(latents_sha(test::read_json(d / "e/report.json")), g["latents_sha256"]);
}

TEST(OutputsCli, EditAndBatchWriteTheSameFilesForTheSameEdit) {
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

extern char** environ;

// Ctrl-C (or SIGTERM) while a command computes leaves nothing: no output, no hidden staging
// directory beside it; and a staging directory a killed process left (its pid gone) is removed by
// the next run of the same output.
TEST(OutputsCli, InterruptedCommandsLeaveNoStagingDirectory) {
  test::TempDir d;
  test::make_random_bundle(d / "bundle", 4, 4, 3, false);
  fs::create_directories(d / ".e.partial-999999999");  // a dead process's leftovers (no such pid)
  std::ofstream(d / ".e.partial-999999999/grid.png") << "stale";
  for (int sig : {SIGINT, SIGTERM}) {
    std::vector<std::string> args = {LATENTEDIT_CLI, "edit", "--add", "Smiling", "--seed", "1", "--count", "64", "--steps", "4000",
                                      "--method", "gradient", "--threads", "1", "-q", "--model", d / "bundle", "--out", d / "e"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // As a user runs it: without the suite's OMP_NUM_THREADS=1, OpenBLAS starts its threads when
    // the library loads, before the CLI can block signals (they once killed the process there).
    std::vector<char*> env;
    for (char** e = environ; *e; ++e)
      if (std::string(*e).rfind("OMP_NUM_THREADS=", 0) != 0 && std::string(*e).rfind("OPENBLAS_NUM_THREADS=", 0) != 0) env.push_back(*e);
    env.push_back(nullptr);
    pid_t pid;
    ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), env.data()), 0);
    // Wait until its staging directory exists (the edit is running), then interrupt it.
    const std::string stage = d / (".e.partial-" + std::to_string(pid));
    for (int i = 0; i < 3000 && !fs::exists(stage); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(fs::exists(stage)) << "the edit did not start within 30 s";
    EXPECT_FALSE(fs::exists(d / ".e.partial-999999999")) << "a dead process's staging directory was kept";
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
    EXPECT_FALSE(fs::exists(stage));
    EXPECT_FALSE(fs::exists(d / "e"));
  }
}

// A mount point as the output (staged inside it: it cannot be renamed onto), and a read-only bundle
// refused by `directions` before its fit. Needs mount(2) (root); skipped otherwise.
TEST(OutputsCli, AMountPointIsAnOutputAReadOnlyBundleIsRefusedAtOnce) {
  test::TempDir d;
  fs::create_directories(d / "mnt");
  if (std::system(("mount -t tmpfs none " + d / "mnt" + " 2>/dev/null").c_str()) != 0) GTEST_SKIP() << "cannot mount a tmpfs here";
  test::make_random_bundle(d / "bundle", 4, 4, 3, false);
  std::string out, err;
  EXPECT_EQ(test::run_cli("sample --seed 1 --count 2 -q --model " + d / "bundle" + " --out " + d / "mnt", &out, &err), 0) << err;
  EXPECT_TRUE(fs::exists(d / "mnt/sample_001.png"));
  EXPECT_EQ(test::run_cli("sample --seed 2 --count 1 -q --model " + d / "bundle" + " --out " + d / "mnt", &out, &err), 0) << err;
  EXPECT_FALSE(fs::exists(d / "mnt/sample_001.png"));  // the previous output's file, replaced
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(d / "mnt")) entries += e.path().filename().string().find("partial") == std::string::npos ? 1 : 100;
  EXPECT_EQ(entries, 2u);  // sample_000.png and the marker; no staging directory left
  EXPECT_EQ(std::system(("umount " + d / "mnt").c_str()), 0);
  // A read-only bind mount of a bundle: refused in one line before the fit (exit 5).
  ASSERT_EQ(std::system(("mount --bind " + d / "bundle" + " " + d / "bundle" + " && mount -o remount,bind,ro " + d / "bundle").c_str()), 0);
  const int rc = test::run_cli("directions -q --samples 4096 --model " + d / "bundle", &out, &err);
  std::system(("umount " + d / "bundle").c_str());
  EXPECT_EQ(rc, 5) << err;
  EXPECT_NE(err.find("Read-only file system"), std::string::npos) << err;
}
