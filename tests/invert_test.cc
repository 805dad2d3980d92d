// GAN inversion: the library (reconstruction, determinism, options) and the CLI (`invert`,
// `edit --latents`, `edit --image`).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/image.h"
#include "latentedit/invert.h"
#include "test_util.h"

using namespace latentedit;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {
struct Invert : test::WithRandomBundle<::testing::Test, 8, 4, 5> {
  std::string model() const { return " --model " + *dir / "bundle"; }
};
// The same bundle, used through the executable (the e2e tier).
struct InvertCli : Invert {};
}  // namespace

// On the bundled (trained) model: random tiny networks make nearly flat images, where any z is
// close to any other.
TEST_F(Invert, ReconstructsGeneratorSamplesFarBetterThanChance) {
  const Models b = load_bundle(test::fixture("../../pretrained/faces64"));
  const torch::Tensor z_star = sample_latents(21, 4, b.z_dim);
  const torch::Tensor x = generate(b, z_star);
  InvertOptions o;
  o.steps = 60;
  o.candidates = 64;
  const InvertResult r = invert(b, x, o);
  ASSERT_EQ(r.z.sizes(), z_star.sizes());
  ASSERT_EQ(r.psnr.size(), 4u);
  // Chance: the same images against other samples' images.
  const std::vector<double> chance = psnr(generate(b, sample_latents(22, 4, b.z_dim)), x, b.range_lo, b.range_hi);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_GT(r.psnr[i], chance[i] + 10.0) << i;
    EXPECT_GT(r.psnr[i], 25.0) << i;
    EXPECT_TRUE(std::isfinite(r.feature_distance[i]));
  }
  // The reported reconstruction is G(z) of the reported z.
  EXPECT_TRUE(torch::allclose(r.reconstruction, generate(b, r.z), 1e-4, 1e-4));
}

TEST_F(Invert, MoreStepsLowerTheLossAndTheSameSeedGivesTheSameLatents) {
  const torch::Tensor x = generate(*m, sample_latents(3, 2, m->z_dim));
  InvertOptions o;
  o.candidates = 32;
  o.steps = 1;
  const InvertResult one = invert(*m, x, o);
  o.steps = 40;
  const InvertResult many = invert(*m, x, o), again = invert(*m, x, o);
  for (size_t i = 0; i < 2; ++i) EXPECT_LT(many.loss[i], one.loss[i]) << i;
  EXPECT_TRUE(torch::equal(many.z, again.z));
  o.seed = 1;
  EXPECT_FALSE(torch::equal(invert(*m, x, o).z, many.z));
}

TEST_F(Invert, BadOptionsAreUsageErrors) {
  const torch::Tensor x = generate(*m, sample_latents(3, 1, m->z_dim));
  auto bad = [&](auto set) {
    InvertOptions o;
    set(o);
    EXPECT_THROW(invert(*m, x, o), UsageError);
  };
  bad([](InvertOptions& o) { o.steps = 0; });
  bad([](InvertOptions& o) { o.restarts = 3, o.candidates = 2; });
  bad([](InvertOptions& o) { o.lr = std::nan(""); });
  bad([](InvertOptions& o) { o.pixel = 0, o.perceptual = 0; });
  InvertOptions o;
  EXPECT_THROW(invert(*m, torch::zeros({1, 3, 32, 32}), o), UsageError);
}

TEST_F(InvertCli, CliWritesLatentsThatEditStartsFrom) {
  test::TempDir d;
  std::string out, err;
  ASSERT_EQ(test::run_cli("sample --seed 4 --count 2 -q --out " + d / "s" + model()), 0);
  ASSERT_EQ(test::run_cli("invert " + d / "s/sample_000.png " + d / "s/sample_001.png --steps 30 --candidates 32 --json -q --out " +
                              d / "inv" + model(), &out, &err), 0) << err;
  for (const char* f : {"latents.json", "grid.png", "reconstruction_000.png", "reconstruction_001.png"})
    EXPECT_TRUE(fs::exists(d / (std::string("inv/") + f))) << f;
  const json lat = test::read_json(d / "inv/latents.json");
  ASSERT_EQ(lat["z"].size(), 2u);
  ASSERT_EQ(lat["images"].size(), 2u);
  EXPECT_GT(lat["images"][0]["psnr"].get<double>(), 15.0);
  EXPECT_LE(lat["images"][0]["classifier"]["agree"].get<int>(), 40);
  EXPECT_TRUE(lat["images"][0].contains("auditor"));
  const json summary = json::parse(out);
  EXPECT_FALSE(summary.contains("z"));
  const cv::Mat grid = cv::imread(d / "inv/grid.png");
  EXPECT_GT(grid.cols, 3 * 128);
  // edit --latents starts from exactly those latents.
  ASSERT_EQ(test::run_cli("edit --latents " + d / "inv/latents.json --add Smiling --steps 2 -q --out " + d / "e" + model(), nullptr, &err), 0)
      << err;
  const json rep = test::read_json(d / "e/report.json");
  ASSERT_EQ(rep["latents"].size(), 2u);
  for (int k = 0; k < 64; k += 9)
    EXPECT_NEAR(rep["latents"][1]["z_before"][k].get<double>(), lat["z"][1][k].get<double>(), 1e-6);
  EXPECT_EQ(rep["source"]["latents_file"], d / "inv/latents.json");
}

TEST_F(InvertCli, EditImageShowsThePhotoFirst) {
  test::TempDir d;
  std::string err;
  ASSERT_EQ(test::run_cli("sample --seed 4 --count 1 -q --out " + d / "s" + model()), 0);
  ASSERT_EQ(test::run_cli("edit --image " + d / "s/sample_000.png --invert-steps 20 --add Smiling --steps 2 --show-steps 1 -q --out " +
                              d / "e" + model(), nullptr, &err), 0) << err;
  ASSERT_EQ(test::run_cli("edit --seed 4 --count 1 --add Smiling --steps 2 --show-steps 1 -q --out " + d / "e2" + model(), nullptr, &err), 0)
      << err;
  const cv::Mat with_photo = cv::imread(d / "e/grid.png"), plain = cv::imread(d / "e2/grid.png");
  const int extra = with_photo.cols - plain.cols;  // one more column: the photo at 2x, plus the gap
  EXPECT_GE(extra, 64 * 2);
  EXPECT_LE(extra, 64 * 2 + 16);
  const json rep = test::read_json(d / "e/report.json");
  EXPECT_EQ(rep["source"]["images"][0], d / "s/sample_000.png");
  EXPECT_GT(rep["source"]["inversion_psnr"][0].get<double>(), 10.0);
}

TEST_F(InvertCli, BadInputsAreOneLineErrorsAndWriteNothing) {
  test::TempDir d;
  {
    std::ofstream(d / "text.png") << "not an image";
  }
  std::string err;
  EXPECT_EQ(test::run_cli("invert " + d / "text.png --out " + d / "o" + model(), nullptr, &err), 3);
  EXPECT_NE(err.find("text.png"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(d / "o"));
  EXPECT_EQ(test::run_cli("invert " + d / "missing.png --out " + d / "o" + model(), nullptr, &err), 3) << err;
  EXPECT_EQ(test::run_cli("invert --out " + d / "o" + model(), nullptr, &err), 2) << err;
  EXPECT_EQ(test::run_cli("invert " + d / "text.png --steps 0 --out " + d / "o" + model(), nullptr, &err), 2) << err;
  EXPECT_EQ(test::run_cli("edit --image " + d / "text.png --seed 3 --add Smiling --out " + d / "o" + model(), nullptr, &err), 2) << err;
  EXPECT_EQ(test::run_cli("edit --latents " + d / "text.png --add Smiling --out " + d / "o" + model(), nullptr, &err), 3) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_FALSE(fs::exists(d / "o"));
}

// A batch job's "images" are inverted once and cached by content in OUT/.inversions: a rerun
// (even --redo) takes the cached latent when it is still that photo's.
TEST_F(InvertCli, BatchImagesAreInvertedOnceAndCached) {
  test::TempDir d;
  std::string err;
  ASSERT_EQ(test::run_cli("sample --seed 6 --count 1 -q --out " + d / "s" + model()), 0);
  {
    std::ofstream(d / "jobs.json") << R"({"jobs": [{"id": "photo", "images": ["s/sample_000.png"], "add": ["Smiling"], "steps": 2}]})";
  }
  ASSERT_EQ(test::run_cli("batch " + d / "jobs.json" + " -q --out " + d / "b" + model(), nullptr, &err), 0) << err;
  std::vector<fs::path> cached;
  for (const auto& e : fs::directory_iterator(d / "b/.inversions")) cached.push_back(e.path());
  ASSERT_EQ(cached.size(), 1u);
  json c = test::read_json(cached[0].string());
  const json rep = test::read_json(d / "b/photo/report.json");
  EXPECT_NEAR(rep["latents"][0]["z_before"][0].get<double>(), c["z"][0].get<double>(), 1e-6);
  EXPECT_EQ(rep["source"]["images"][0], "s/sample_000.png");
  // The grid starts with the photo: one column more than a seed job's.
  const cv::Mat grid = cv::imread(d / "b/photo/grid.png");
  EXPECT_GT(grid.cols, 4 * 128);
  // Rerun: the cache is used, nothing is inverted again (the cache file is not rewritten).
  const auto cached_time = fs::last_write_time(cached[0]);
  const double z0 = c["z"][0].get<double>();
  ASSERT_EQ(test::run_cli("batch " + d / "jobs.json" + " --redo -q --out " + d / "b" + model(), nullptr, &err), 0) << err;
  EXPECT_TRUE(fs::last_write_time(cached[0]) == cached_time);
  EXPECT_NEAR(test::read_json(d / "b/photo/report.json")["latents"][0]["z_before"][0].get<double>(), z0, 1e-6);
  // A cached value that is not this photo's (planted: huge, another latent, damaged) is never
  // used: the photo is inverted again and the cache replaced (issue 39).
  for (const json& planted : {json(1e30), json(c["z"][0].get<double>() + 2.5), json("x")}) {
    json bad = c;
    bad["z"][0] = planted;
    { std::ofstream(cached[0]) << bad.dump(); }
    ASSERT_EQ(test::run_cli("batch " + d / "jobs.json" + " --redo -q --out " + d / "b" + model(), nullptr, &err), 0) << err;
    EXPECT_NEAR(test::read_json(d / "b/photo/report.json")["latents"][0]["z_before"][0].get<double>(), z0, 1e-6) << planted;
    EXPECT_NEAR(test::read_json(cached[0].string())["z"][0].get<double>(), z0, 1e-6) << planted;
  }
  // A missing image is a job-file error with its path.
  {
    std::ofstream(d / "bad.json") << R"({"jobs": [{"id": "x", "images": ["nope.png"], "add": ["Smiling"]}]})";
  }
  EXPECT_EQ(test::run_cli("batch " + d / "bad.json" + " --dry-run" + model(), nullptr, &err), 3);
  EXPECT_NE(err.find("jobs[0].images[0]"), std::string::npos) << err;
}

// A reconstruction below the bundle's inversion_warning_psnr gets one line naming the figure, the
// bound and what the model draws; bundles without a bound (course checkpoints) never warn.
TEST_F(Invert, FarReconstructionsAreWarnedAboutOnlyBelowTheBundlesBound) {
  Models mm = *m;
  InvertResult r;
  r.psnr = {12.3, 20.0};
  EXPECT_TRUE(inversion_warnings(mm, r, {"a.jpg", "b.png"}).empty());  // no bound set
  mm.inversion_warning_psnr = 17;
  mm.training_data = "procedural cartoon faces";
  const auto w = inversion_warnings(mm, r, {"a.jpg", "b.png"});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].rfind("a.jpg: ", 0), 0u) << w[0];
  for (const char* part : {"12.3 dB", "below 17 dB", "procedural cartoon faces", "pretrained_celeba.pth"})
    EXPECT_NE(w[0].find(part), std::string::npos) << part << " in " << w[0];
  EXPECT_EQ(w[0].find('\n'), std::string::npos);
  // The bundled model sets both (model.json), chosen from held-out renders vs real photos.
  const Models bundled = load_bundle(std::string(LATENTEDIT_TEST_FIXTURES) + "/../../pretrained/faces64");
  EXPECT_EQ(bundled.inversion_warning_psnr, 19);
  EXPECT_NE(bundled.training_data.find("procedural"), std::string::npos);
}
