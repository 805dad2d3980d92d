// End-to-end tests of the `latentedit` executable.
#include <gtest/gtest.h>

#include <fstream>

#include <opencv2/imgcodecs.hpp>

#include "latentedit/spec.h"
#include "test_util.h"

using namespace latentedit;
namespace fs = std::filesystem;
using test::run_cli;

namespace {
struct Cli : ::testing::Test {
  static void SetUpTestSuite() {
    dir = new test::TempDir();
    test::make_random_bundle(*dir / "bundle", 4, 4, 2, true);
  }
  static void TearDownTestSuite() { delete dir; }
  static test::TempDir* dir;
  std::string model() const { return " --model " + *dir / "bundle"; }
};
test::TempDir* Cli::dir = nullptr;
}  // namespace

TEST_F(Cli, EditWritesGridPairsAndAConsistentReport) {
  test::TempDir out;
  std::string o, e;
  ASSERT_EQ(run_cli("edit --add Smiling --remove Eyeglasses --keep Male,Young --seed 7 --count 3 --steps 6 "
                    "--show-steps 2,4 --json --out " + out / "e" + model(), &o, &e), 0) << e;
  for (const char* f : {"grid.png", "report.json", "latent_000_before.png", "latent_002_after.png"})
    EXPECT_TRUE(fs::exists(out / (std::string("e/") + f))) << f;
  const auto rep = test::read_json(out / "e/report.json");
  const auto summary = nlohmann::json::parse(o);
  EXPECT_EQ(summary["edit"], "+Smiling -Eyeglasses");
  EXPECT_EQ(rep["source"]["seed"], 7);
  EXPECT_EQ(rep["settings"]["add"], nlohmann::json::array({"Smiling"}));
  EXPECT_EQ(rep["kept_attributes"], (std::vector<std::string>{"Male", "Young"}));
  ASSERT_EQ(rep["latents"].size(), 3u);
  for (const auto& l : rep["latents"]) {
    ASSERT_EQ(l["steps"].size(), 7u);
    const auto& t = l["targets"]["Smiling"];
    // The target numbers agree with the per-step probabilities.
    EXPECT_NEAR(t["prob_before"].get<double>(), l["steps"][0]["probs"][31].get<double>(), 1e-6);
    EXPECT_NEAR(t["prob_after"].get<double>(), l["steps"][6]["probs"][31].get<double>(), 1e-6);
    EXPECT_EQ(l["z_before"].size(), 64u);
    EXPECT_TRUE(l.contains("auditor_confirmed"));
  }
  // z_before is Python's torch.manual_seed(7); torch.randn(3, 64).
  const auto want = test::read_json(test::fixture("expected.json"))["randn_seed7_8x64"];
  EXPECT_NEAR(rep["latents"][1]["z_before"][0].get<double>(), want[64].get<double>(), 1e-6);
  EXPECT_EQ(rep["files"].size(), 1u + 2 * 3 + 1);
  const cv::Mat grid = cv::imread(out / "e/grid.png");
  ASSERT_FALSE(grid.empty());
  EXPECT_GT(grid.cols, 4 * 128);  // label column + before, 2 steps, after at 2x
  EXPECT_GT(grid.rows, 3 * 128);
  const cv::Mat face = cv::imread(out / "e/latent_000_after.png");
  EXPECT_EQ(face.rows, 64);
}

TEST_F(Cli, SameSeedSameBytes) {
  test::TempDir out;
  const std::string args = "edit --add Smiling --seed 3 --count 2 --threads 1 -q" + model() + " --out ";
  ASSERT_EQ(run_cli(args + out / "a"), 0);
  ASSERT_EQ(run_cli(args + out / "b"), 0);
  for (const char* f : {"grid.png", "latent_001_after.png"})
    EXPECT_EQ(read_file(out / (std::string("a/") + f)), read_file(out / (std::string("b/") + f))) << f;
  auto a = test::read_json(out / "a/report.json"), b = test::read_json(out / "b/report.json");
  EXPECT_EQ(a["latents"], b["latents"]);
}

TEST_F(Cli, UnknownAttributeSuggestsTheRightNameAndWritesNothing) {
  test::TempDir out;
  std::string o, e;
  EXPECT_EQ(run_cli("edit --add Smilling --out " + out / "x" + model(), &o, &e), 2);
  EXPECT_NE(e.find("--add: unknown attribute \"Smilling\" (did you mean \"Smiling\"?)"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(out / "x"));
  EXPECT_TRUE(o.empty());
}

TEST_F(Cli, BadOptionsAreUsageErrors) {
  test::TempDir out;
  std::string e;
  for (const std::string bad : {"--steps 0", "--steps ten", "--count -1", "--step-size -0.1", "--penalty-kind l3",
                                "--target-prob 1.5", "--add Smiling:2"}) {
    EXPECT_EQ(run_cli("edit --add Young " + bad + " --out " + out / "x" + model(), nullptr, &e), 2) << bad;
    EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << "one-line error expected for " << bad << ": " << e;
  }
  EXPECT_EQ(run_cli("edit --add Young" + model(), nullptr, &e), 2);  // --out missing
  EXPECT_FALSE(fs::exists(out / "x"));
}

TEST_F(Cli, BadModelAndBadInputHaveTheirOwnExitCodes) {
  test::TempDir out;
  std::string e;
  EXPECT_EQ(run_cli("edit --add Young --out " + out / "x" + " --model " + out / "nothing", nullptr, &e), 4);
  EXPECT_NE(e.find("not a directory"), std::string::npos) << e;
  write_file_atomic(out / "not-an-image.png", "hello");
  EXPECT_EQ(run_cli("score " + out / "not-an-image.png" + model(), nullptr, &e), 3);
  EXPECT_NE(e.find("cannot read image"), std::string::npos) << e;
  EXPECT_EQ(run_cli("edit --add Young --out " + out / "x" + " --generator " + test::fixture("evil_global.pth") +
                    " --classifier " + test::fixture("course_cls_zip.pth"), nullptr, &e), 4);
  EXPECT_NE(e.find("posix.system"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(out / "x"));
}

TEST_F(Cli, EveryCommandHasHelp) {
  for (const std::string c : {"edit", "attributes", "sample", "score", "dataset", "train classifier", "train gan",
                              "evaluate", "convert"}) {
    std::string o;
    EXPECT_EQ(run_cli(c + " --help", &o), 0) << c;
    EXPECT_NE(o.find("--"), std::string::npos) << c;
  }
}

TEST_F(Cli, AttributesSampleScore) {
  test::TempDir out;
  std::string o, e;
  ASSERT_EQ(run_cli("attributes --json" + model(), &o), 0);
  EXPECT_EQ(nlohmann::json::parse(o)["attributes"].size(), 40u);
  ASSERT_EQ(run_cli("sample --seed 1 --count 2 --out " + out / "s" + model(), &o, &e), 0) << e;
  ASSERT_TRUE(fs::exists(out / "s/sample_001.png"));
  ASSERT_EQ(run_cli("score --json " + out / "s/sample_000.png " + out / "s/sample_001.png" + model(), &o, &e), 0) << e;
  const auto j = nlohmann::json::parse(o);
  ASSERT_EQ(j["images"].size(), 2u);
  EXPECT_EQ(j["images"][0]["probs"].size(), 40u);
  EXPECT_EQ(j["images"][0]["logits"].size(), 40u);
}

TEST_F(Cli, CourseCheckpointsEditAndConvert) {
  test::TempDir out;
  std::string o, e;
  const std::string files = " --generator " + test::fixture("course_gen_legacy.pth") + " --classifier " +
                            test::fixture("course_cls_legacy.pth");
  ASSERT_EQ(run_cli("edit --add Smiling --count 2 --steps 3 --out " + out / "e" + files, &o, &e), 0) << e;
  EXPECT_TRUE(fs::exists(out / "e/grid.png"));
  ASSERT_EQ(run_cli("convert --out " + out / "b" + files, &o, &e), 0) << e;
  const auto j = test::read_json(out / "b/model.json");
  EXPECT_EQ(j["generator"]["hidden_dim"], 4);
  EXPECT_TRUE(fs::exists(out / "b/generator.safetensors"));
  // The converted bundle edits to the same numbers as the .pth files.
  ASSERT_EQ(run_cli("edit --add Smiling --count 2 --steps 3 -q --out " + out / "e2" + " --model " + out / "b", &o, &e), 0) << e;
  EXPECT_EQ(test::read_json(out / "e/report.json")["latents"], test::read_json(out / "e2/report.json")["latents"]);
  ASSERT_EQ(run_cli("convert --out " + out / "ts --generator " + test::fixture("gen_script.pt") + " --classifier " +
                    test::fixture("cls_script.pt"), &o, &e), 0) << e;
  EXPECT_EQ(test::read_json(out / "ts/model.json")["generator"]["arch"], "torchscript");
}

TEST_F(Cli, DatasetAndTrainingWriteABundle) {
  test::TempDir out;
  std::string o, e;
  ASSERT_EQ(run_cli("dataset --count 40 --seed 3 --out " + out / "d", &o, &e), 0) << e;
  ASSERT_EQ(run_cli("train classifier --data " + out / "d" + " --hidden 4 --steps 3 --batch 8 --out " + out / "b", &o, &e), 0) << e;
  ASSERT_EQ(run_cli("train gan --procedural 32 --g-hidden 4 --d-hidden 4 --steps 2 --batch 8 --out " + out / "b", &o, &e), 0) << e;
  const auto j = test::read_json(out / "b/model.json");
  EXPECT_EQ(j["classifier"]["hidden_dim"], 4);
  EXPECT_EQ(j["generator"]["weights"], "generator.safetensors");
  EXPECT_EQ(j["training"]["classifier"]["steps"], 3);
  ASSERT_EQ(run_cli("sample --count 1 --out " + out / "s" + " --model " + out / "b", &o, &e), 0) << e;

  // Ensemble members join the classifier; retraining a member replaces only that member.
  const std::string member = "train classifier --data " + out / "d" + " --hidden 4 --steps 2 --batch 8 --out " + out / "b";
  ASSERT_EQ(run_cli(member + " --member 2 --seed 5", &o, &e), 0) << e;
  ASSERT_EQ(run_cli(member + " --member 1 --seed 4", &o, &e), 0) << e;
  const std::string first = read_file(out / "b/classifier_1.safetensors");
  ASSERT_EQ(run_cli(member + " --member 1 --seed 6", &o, &e), 0) << e;
  EXPECT_NE(read_file(out / "b/classifier_1.safetensors"), first);
  auto k = test::read_json(out / "b/model.json");
  ASSERT_EQ(k["classifier"]["arch"], "ensemble");
  std::vector<std::string> files;
  for (const auto& m : k["classifier"]["members"]) files.push_back(m["weights"]);
  EXPECT_EQ(files, (std::vector<std::string>{"classifier.safetensors", "classifier_1.safetensors", "classifier_2.safetensors"}));
  EXPECT_EQ(k["training"]["classifier_1"]["seed"], 6);
  EXPECT_EQ(k["training"]["classifier"]["steps"], 3);  // member 0 untouched
  // Member 0 retrained: it stays one member of the ensemble.
  ASSERT_EQ(run_cli(member + " --seed 7", &o, &e), 0) << e;
  k = test::read_json(out / "b/model.json");
  EXPECT_EQ(k["classifier"]["members"].size(), 3u);
  EXPECT_EQ(k["training"]["classifier"]["seed"], 7);
  ASSERT_EQ(run_cli("edit --add Smiling --steps 1 --count 1 -q --out " + out / "e" + " --model " + out / "b", &o, &e), 0) << e;
  EXPECT_EQ(run_cli(member + " --member 16", &o, &e), 2);
}

TEST_F(Cli, TrainGanLogsDiagnosesResumesAndReports) {
  test::TempDir out;
  std::string o, e;
  const std::string base = "train gan --procedural 48 --g-hidden 4 --d-hidden 4 --batch 8 --diagnose-every 2 --diagnose-samples 16 "
                           "--checkpoint-every 2 --log-every 1 --threads 1 --loss minimax --d-steps 2 --out ";
  ASSERT_EQ(run_cli(base + out / "a" + " --steps 4", &o, &e), 0) << e;
  EXPECT_NE(o.find("diagnostics: pairwise ratio"), std::string::npos) << o;
  auto records = [&](const std::string& dir) {
    std::ifstream in(dir + "/training_log.jsonl");
    std::vector<nlohmann::json> r;
    for (std::string line; std::getline(in, line);) r.push_back(nlohmann::json::parse(line));
    return r;
  };
  auto log = records(out / "a");
  ASSERT_EQ(log.size(), 5u);  // a start record, then steps 1..4
  EXPECT_EQ(log[0]["event"], "start");
  EXPECT_EQ(log[0]["settings"]["loss"], "minimax");
  for (int s = 1; s <= 4; ++s) {
    EXPECT_EQ(log[s]["step"], s);
    EXPECT_EQ(log[s]["d_updates"], 2 * s);
    for (const char* k : {"d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "g_logit_grad"}) EXPECT_TRUE(log[s][k].is_number()) << k;
    EXPECT_EQ(log[s].contains("diagnostics"), s % 2 == 0) << s;
  }
  EXPECT_TRUE(fs::exists(out / "a/training_samples/step_000002.png"));
  EXPECT_TRUE(fs::exists(out / "a/training_report.png"));
  EXPECT_EQ(test::read_json(out / "a/model.json")["training"]["generator"]["d_steps"], 2);
  // Resume to 6: the log continues (no step twice) and the report covers all of it.
  ASSERT_EQ(run_cli(base + out / "a" + " --steps 6 --resume", &o, &e), 0) << e;
  log = records(out / "a");
  std::vector<int> steps;
  for (const auto& r : log)
    if (!r.contains("event")) steps.push_back(r["step"]);
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(log.back()["d_updates"], 12);
  // A fresh run into the same bundle starts a new log.
  ASSERT_EQ(run_cli(base + out / "a" + " --steps 2", &o, &e), 0) << e;
  EXPECT_EQ(records(out / "a").size(), 3u);
  EXPECT_FALSE(fs::exists(out / "a/training_samples/step_000004.png"));
  // The course recipe; then two runs compared in one picture.
  ASSERT_EQ(run_cli("train gan --recipe course --procedural 32 --g-hidden 4 --d-hidden 4 --batch 8 --steps 2 --diagnose-every 1 "
                    "--diagnose-samples 16 --threads 1 -q --out " + out / "c", &o, &e), 0) << e;
  const auto t = test::read_json(out / "c/model.json")["training"]["generator"];
  EXPECT_EQ(t["loss"], "non-saturating");
  EXPECT_EQ(t["discriminator"], "course");
  EXPECT_EQ(t["spectral_norm"], "off");  // as the flag writes it
  EXPECT_EQ(t["recipe"], "course");
  EXPECT_EQ(t["ema"], 0.0);
  EXPECT_EQ(t["betas"], nlohmann::json({0.5, 0.999}));
  ASSERT_EQ(run_cli("train report " + out / "a" + " " + out / "c" + " --names minimax,course --out " + out / "cmp.png", &o, &e), 0) << e;
  EXPECT_GT(fs::file_size(out / "cmp.png"), 10000u);
  EXPECT_EQ(run_cli("train report " + out / "a" + " " + out / "c" + " --names one --out " + out / "cmp2.png", &o, &e), 2);
  EXPECT_EQ(run_cli("train report " + out / "c" + " --out " + out / "cmp.png", &o, &e), 5);  // exists: --force
  EXPECT_EQ(run_cli("train report " + out / "nothing", &o, &e), 3);
  EXPECT_EQ(run_cli("train gan --betas 0.5,1.5 --out " + out / "x", &o, &e), 2);
  EXPECT_FALSE(fs::exists(out / "x"));
}

TEST_F(Cli, DirectionsThenEveryMethodAndTheEvaluateCurve) {
  test::TempDir d;
  fs::copy(*dir / "bundle", d / "b");
  std::string o, e;
  // Without directions, the boundary method says how to get them (usage error).
  EXPECT_EQ(run_cli("edit --add Smiling --method boundary --count 2 -q --model " + d / "b" + " --out " + d / "x", &o, &e), 2);
  EXPECT_NE(e.find("latentedit directions --model"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(d / "x"));
  ASSERT_EQ(run_cli("directions --samples 400 --confidence 0.6 --latent-samples 400 --latent-epochs 2 --latent-hidden 16 -q --model " +
                        d / "b", &o, &e), 0) << e;
  const auto dj = test::read_json(d / "b/model.json");
  ASSERT_TRUE(dj.contains("directions"));
  EXPECT_EQ(dj["directions"]["latent_classifier"]["samples"], 400);
  EXPECT_EQ(dj["directions"]["latent_classifier"]["members"], 3);  // the default ensemble
  for (const char* m : {"gradient --eot 1", "projected --rank 2", "boundary --strength 1 --condition Male", "latent --strength 2"}) {
    ASSERT_EQ(run_cli(std::string("edit --add Smiling --count 2 --steps 4 -q --method ") + m + " --model " + d / "b" + " --out " + d / "e",
                      &o, &e), 0) << m << "\n" << e;
    const auto rep = test::read_json(d / "e/report.json");
    EXPECT_EQ(rep["settings"]["method"], std::string(m).substr(0, std::string(m).find(' '))) << m;
  }
  EXPECT_EQ(run_cli("edit --add Smiling --method boundary --condition smiling -q --model " + d / "b" + " --out " + d / "y", &o, &e), 2);
  EXPECT_NE(e.find("is a target"), std::string::npos) << e;
  // With a latent classifier the default method (auto) is latent; the strength left unset is the
  // method's own default (a target logit), and the report says which method ran.
  ASSERT_EQ(run_cli("edit --add Smiling --count 1 -q --model " + d / "b" + " --out " + d / "l", &o, &e), 0) << e;
  const auto lr = test::read_json(d / "l/report.json");
  EXPECT_EQ(lr["settings"]["method"], "auto");
  EXPECT_EQ(lr["method_used"], "latent");
  EXPECT_TRUE(lr["settings"]["strength"].is_null());
  ASSERT_EQ(run_cli("evaluate --seeds 8 --heldout 0 --samples 0 --methods gradient,projected+eot1,boundary,latent --strengths 0.5,1 "
                    "--boundary-strengths 1 --latent-strengths 2 -q --model " + d / "b" + " --out " + d / "ev.json --plot " + d / "pareto.png",
                    &o, &e), 0) << e;
  const auto ev = test::read_json(d / "ev.json");
  EXPECT_EQ(ev["points"].size(), 2u + 2u + 1u + 1u + 1u);  // two curves of 2, boundary 1, latent 1, course
  EXPECT_EQ(ev["points"][2]["settings"]["eot"], 1);
  EXPECT_FALSE(cv::imread(d / "pareto.png").empty());
  EXPECT_NE(o.find("course C1W4"), std::string::npos) << o;
  EXPECT_EQ(run_cli("evaluate --methods projected+eotx -q --model " + d / "b", &o, &e), 2);
}

// docs/cli.md "Outputs": a smaller rerun replaces the previous output as a whole (stale pairs go,
// the user's own files stay); another command's output and someone's directory are refused
// (exit 5, nothing written) unless --force; a failed command leaves no directory behind.
TEST_F(Cli, OutputsArePreviousOrNewNeverSomeoneElses) {
  test::TempDir out;
  std::string o, e;
  const std::string dirx = out / "e";
  ASSERT_EQ(run_cli("edit --add Smiling --count 3 --steps 1 -q --out " + dirx + model(), &o, &e), 0) << e;
  ASSERT_TRUE(fs::exists(dirx + "/latent_002_after.png"));
  write_file_atomic(dirx + "/notes.txt", "mine");
  ASSERT_EQ(run_cli("edit --add Smiling --count 1 --steps 1 -q --out " + dirx + model(), &o, &e), 0) << e;
  EXPECT_FALSE(fs::exists(dirx + "/latent_001_after.png")) << "stale files of the previous edit remain";
  EXPECT_FALSE(fs::exists(dirx + "/latent_002_before.png"));
  EXPECT_TRUE(fs::exists(dirx + "/latent_000_after.png"));
  EXPECT_EQ(read_file(dirx + "/notes.txt"), "mine");
  EXPECT_EQ(test::read_json(dirx + "/report.json")["latents"].size(), 1u);
  // Another subcommand's output is not sample's to replace.
  EXPECT_EQ(run_cli("sample --count 1 -q --out " + dirx + model(), &o, &e), 5) << e;
  EXPECT_FALSE(fs::exists(dirx + "/sample_000.png"));
  // Someone's directory: refused, then written into with --force (only same-named files).
  make_dirs(out / "photos");
  write_file_atomic(out / "photos/grid.png", "holiday");
  write_file_atomic(out / "photos/cat.jpg", "cat");
  EXPECT_EQ(run_cli("edit --add Smiling --count 1 --steps 1 -q --out " + out / "photos" + model(), &o, &e), 5);
  EXPECT_NE(e.find("--force"), std::string::npos) << e;
  EXPECT_EQ(read_file(out / "photos/grid.png"), "holiday");
  ASSERT_EQ(run_cli("edit --add Smiling --count 1 --steps 1 -q --force --out " + out / "photos" + model(), &o, &e), 0) << e;
  EXPECT_NE(read_file(out / "photos/grid.png"), "holiday");
  EXPECT_EQ(read_file(out / "photos/cat.jpg"), "cat");
  // A failure after the claim leaves nothing.
  EXPECT_EQ(run_cli("train classifier --data " + out / "nowhere" + " -q --out " + out / "t", &o, &e), 3);
  EXPECT_FALSE(fs::exists(out / "t"));
  for (const auto& f : fs::directory_iterator(out.path)) EXPECT_EQ(f.path().filename().string().find("partial"), std::string::npos);
}

// Each subcommand asks only for the networks it uses.
TEST_F(Cli, ScoreNeedsOnlyAClassifierAndSampleOnlyAGenerator) {
  test::TempDir out;
  std::string o, e;
  ASSERT_EQ(run_cli("sample --count 2 -q --out " + out / "s --generator " + test::fixture("course_gen_zip.pth"), &o, &e), 0) << e;
  ASSERT_TRUE(fs::exists(out / "s/sample_001.png"));
  ASSERT_EQ(run_cli("score --json " + out / "s/sample_000.png --classifier " + test::fixture("course_cls_zip.pth"), &o, &e), 0) << e;
  EXPECT_EQ(nlohmann::json::parse(o)["images"][0]["probs"].size(), 40u);
  ASSERT_EQ(run_cli("attributes --classifier " + test::fixture("course_cls_zip.pth"), &o, &e), 0) << e;
}

// --precision bf16 edits where the CPU runs bfloat16 natively and says so in the report; elsewhere
// it is a usage error that names the CPU feature, and nothing is written.
TEST_F(Cli, PrecisionBf16EditsOrIsRefusedWithTheReason) {
  test::TempDir out;
  std::string o, e;
  const int rc = run_cli("edit --add Smiling --seed 7 --count 2 --steps 3 --method gradient -q --precision bf16 --out " + out / "e" + model(),
                         &o, &e);
  if (cpu_has_bf16()) {
    ASSERT_EQ(rc, 0) << e;
    const auto rep = test::read_json(out / "e/report.json");
    EXPECT_EQ(rep["precision"], "bf16");
    for (const auto& l : rep["latents"]) {
      const double p = l["targets"]["Smiling"]["prob_after"].get<double>();
      EXPECT_TRUE(p >= 0.0 && p <= 1.0);
    }
  } else {
    EXPECT_EQ(rc, 2);
    EXPECT_NE(e.find("AVX-512 BF16 or AMX"), std::string::npos) << e;
    EXPECT_FALSE(fs::exists(out / "e"));
  }
  EXPECT_EQ(run_cli("edit --add Smiling --precision fp16 --out " + out / "f" + model(), &o, &e), 2);
  EXPECT_NE(e.find("--precision"), std::string::npos) << e;
}
