// Directions found without labels (discover.h): SeFa and GANSpace on tiny random generators, and
// the naming on a planted generator/classifier pair.
#include <gtest/gtest.h>

#include <fstream>
#include <torch/script.h>

#include "latentedit/attributes.h"
#include "latentedit/discover.h"
#include "latentedit/editor.h"
#include "latentedit/image.h"
#include "test_util.h"

namespace latentedit {
namespace {
namespace fs = std::filesystem;

struct Discover : test::WithRandomBundle<::testing::Test, 8, 4, 11> {};

TEST_F(Discover, SefaVectorsAreUnitOrthogonalEigenvectorsOfAtA) {
  const torch::Tensor w = first_layer_weight(m->generator, m->z_dim);
  const auto [v, values] = sefa_directions(w, 10);
  ASSERT_EQ(v.sizes(), (std::vector<int64_t>{10, m->z_dim}));
  const torch::Tensor gram = v.matmul(v.t()).to(torch::kDouble);
  EXPECT_TRUE(torch::allclose(gram, torch::eye(10, torch::kDouble), 1e-4, 1e-5)) << gram;
  // Another way: the right singular vectors of A = W as (out*kh*kw) x z_dim, by singular value.
  const torch::Tensor a = w.permute({1, 2, 3, 0}).reshape({-1, m->z_dim}).to(torch::kDouble);
  const auto [u, s, vh] = torch::linalg::svd(a, false, c10::nullopt);
  for (int k = 0; k < 10; ++k) {
    EXPECT_NEAR(std::fabs(vh[k].dot(v[k].to(torch::kDouble)).item<double>()), 1.0, 1e-4) << k;
    EXPECT_NEAR(values[k].item<double>(), s[k].pow(2).item<double>(), 1e-3 * s[0].pow(2).item<double>());
  }
  for (int k = 1; k < 10; ++k) EXPECT_GE(values[k - 1].item<double>(), values[k].item<double>());
}

TEST_F(Discover, SefaFindsAPlantedDominantAxis) {
  torch::Tensor w = first_layer_weight(m->generator, m->z_dim).clone();
  w[5] *= 50;  // z axis 5 drives the first layer far more than any other
  const auto [v, values] = sefa_directions(w, 1);
  EXPECT_NEAR(v[0][5].item<double>(), 1.0, 1e-3);
}

TEST_F(Discover, GanspaceIsDeterministicUnitAndExplainsVariance) {
  auto act = [&](const torch::Tensor& z) { return first_layer_activations(m->generator, z); };
  const auto [a, va] = ganspace_directions(act, m->z_dim, 5, 512, 3);
  const auto [b, vb] = ganspace_directions(act, m->z_dim, 5, 512, 3);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_TRUE(torch::equal(va, vb));
  EXPECT_TRUE(torch::allclose(a.norm(2, 1), torch::ones(5), 1e-5, 1e-5));
  EXPECT_GT(va.sum().item<double>(), 0.0);
  EXPECT_LE(va.sum().item<double>(), 1.0 + 1e-6);
  for (int k = 1; k < 5; ++k) EXPECT_GE(va[k - 1].item<double>(), va[k].item<double>());
  // A different seed samples other latents: other (but close) directions.
  const auto [c, vc] = ganspace_directions(act, m->z_dim, 5, 512, 4);
  EXPECT_FALSE(torch::equal(a, c));
  // Too few samples, too many directions: refused.
  EXPECT_THROW(ganspace_directions(act, m->z_dim, 5, 16, 3), UsageError);
  EXPECT_THROW(sefa_directions(first_layer_weight(m->generator, m->z_dim), 65), UsageError);
}

// A planted pair: z axis 0 brightens the image's red channel, the classifier's Smiling logit reads
// the red channel; every other attribute and axis does nothing.
TEST(DiscoverNaming, APlantedDirectionIsNamedByTheAttributeItChanges) {
  Models m;
  m.name = "planted";
  m.z_dim = 8;
  m.attributes = celeba_attributes();
  const int64_t smiling = std::find(m.attributes.begin(), m.attributes.end(), "Smiling") - m.attributes.begin();
  m.generator.forward = [](const torch::Tensor& z) {
    torch::Tensor img = torch::zeros({z.size(0), 3, 64, 64});
    img.select(1, 2) += torch::tanh(z.select(1, 0)).view({-1, 1, 1});  // BGR? channel 2 either way
    img.select(1, 0).slice(1, 0, 8) += torch::tanh(z.select(1, 1)).view({-1, 1, 1});  // axis 1: a border stripe
    return img;
  };
  m.classifier.forward = [smiling](const torch::Tensor& x) {
    torch::Tensor logits = torch::zeros({x.size(0), 40});
    logits.select(1, smiling) += 4 * x.select(1, 2).mean({1, 2});
    return logits;
  };
  DiscoverOptions o;
  o.effect_samples = 64;
  o.strength = 2;
  const std::vector<std::string>& a = m.attributes;
  torch::Tensor e0 = torch::zeros({8}), e1 = torch::zeros({8}), e2 = torch::zeros({8});
  e0[0] = 1, e1[1] = 1, e2[2] = 1;
  bool dominant = false;
  EXPECT_EQ(name_direction(1, measure_direction(m, e0, o), a, &dominant), "#1 +Smiling");
  EXPECT_TRUE(dominant);
  EXPECT_EQ(name_direction(2, measure_direction(m, -e0, o), a), "#2 -Smiling");
  EXPECT_EQ(name_direction(3, measure_direction(m, e1, o), a, &dominant), "#3 (background)");
  EXPECT_FALSE(dominant);
  EXPECT_EQ(name_direction(4, measure_direction(m, e2, o), a), "#4 (unnamed)");
  // Two clear changes: both named, the larger first; an auditor that disagrees withholds a name.
  DirectionEffect e;
  e.delta_p.assign(40, 0.0);
  e.delta_p[20] = 0.5, e.delta_p[36] = -0.3;
  EXPECT_EQ(name_direction(5, e, a, &dominant), "#5 +" + a[20] + " -" + a[36]);
  EXPECT_FALSE(dominant);
  e.auditor_delta_p.assign(40, 0.0);
  e.auditor_delta_p[36] = -0.2;
  EXPECT_EQ(name_direction(6, e, a), "#6 (unnamed)");
}

TEST(DiscoverMoves, NamesStrengthsAndTheSumOfMoves) {
  EXPECT_EQ(parse_direction_move("sefa#3:2").direction, "sefa#3");
  EXPECT_EQ(*parse_direction_move("sefa#3:-1.5").strength, -1.5);
  EXPECT_FALSE(parse_direction_move("#3 +Male").strength);
  EXPECT_EQ(to_string(parse_direction_move("sefa#3:-1.5")), "sefa#3:-1.5");
  EXPECT_THROW(parse_direction_move("sefa#3:abc"), UsageError);
  EXPECT_THROW(parse_direction_move("sefa#3:nan"), UsageError);
  EXPECT_THROW(parse_direction_move(":2"), UsageError);
  const nlohmann::json disc = {{"weights", "discovered.safetensors"},
                               {"sefa", {{"directions", {{{"index", 1}, {"name", "#1 +Male"}}, {{"index", 2}, {"name", "#2 (unnamed)"}}}}}}};
  Models m;
  m.z_dim = 4;
  m.attributes = celeba_attributes();
  m.manifest = {{"discovered", disc}};
  m.discovered = {{"sefa.vectors", torch::eye(4).slice(0, 0, 2)}, {"sefa.values", torch::ones({2})}};
  auto spec = [](std::vector<DirectionMove> mv, std::optional<double> strength = std::nullopt) {
    EditSpec s;
    s.moves = std::move(mv);
    s.strength = strength;
    return s;
  };
  auto delta = [&](const EditSpec& s) { return moves_delta(resolve_moves(m, s), 4); };
  EXPECT_TRUE(torch::allclose(delta(spec({{"sefa#1", 2.0}, {"#2", -1.0}, {"#1 +Male", 0.5}})), torch::tensor({2.5f, -1.f, 0.f, 0.f})));
  EXPECT_TRUE(torch::allclose(delta(spec({{"sefa#2", std::nullopt}})), torch::tensor({0.f, 3.f, 0.f, 0.f})));        // kDirectionStrength
  EXPECT_TRUE(torch::allclose(delta(spec({{"sefa#2", std::nullopt}}, 1.5)), torch::tensor({0.f, 1.5f, 0.f, 0.f})));  // --strength
  EXPECT_THROW(delta(spec({{"sefa#3", 1.0}})), UsageError);      // there are two
  EXPECT_THROW(delta(spec({{"ganspace#1", 1.0}})), UsageError);  // not stored
  EXPECT_THROW(delta(spec({{"+Male", 1.0}})), UsageError);       // not a full name
  EXPECT_THROW(delta(spec({{"boundary#Smiling", 1.0}})), UsageError);  // no boundaries
  // The attributes a move is about come from the names, signed by the strength; opposite moves cancel.
  const int male = find_attribute(m.attributes, "Male"), smiling = find_attribute(m.attributes, "Smiling");
  auto targets = [&](const EditSpec& s) {
    std::vector<std::pair<int, bool>> out;
    for (const auto& t : edit_targets(m, s)) out.emplace_back(t.attribute, t.direction == Direction::kAdd);
    return out;
  };
  EXPECT_EQ(targets(spec({{"sefa#1", 2.0}})), (std::vector<std::pair<int, bool>>{{male, true}}));
  EXPECT_EQ(targets(spec({{"sefa#1", -2.0}})), (std::vector<std::pair<int, bool>>{{male, false}}));
  EXPECT_TRUE(targets(spec({{"sefa#1", 1.0}, {"#1 +Male", -1.0}})).empty());
  EXPECT_TRUE(targets(spec({{"sefa#2", 1.0}})).empty());
  // A boundary normal is a direction too: unit, towards where the attribute is present.
  Directions d;
  d.normals = torch::zeros({40, 4});
  d.normals[smiling][3] = 2.0;
  m.directions = d;
  EXPECT_TRUE(torch::allclose(delta(spec({{"boundary#smiling", -1.0}})), torch::tensor({0.f, 0.f, 0.f, -1.f})));
  EXPECT_EQ(targets(spec({{"boundary#Smiling", -1.0}})), (std::vector<std::pair<int, bool>>{{smiling, false}}));
  EXPECT_THROW(delta(spec({{"boundary#Smilling", 1.0}})), UsageError);
  // With both methods stored, a bare #K is ambiguous.
  m.manifest["discovered"]["ganspace"] = disc["sefa"];
  m.discovered.emplace_back("ganspace.vectors", torch::eye(4).slice(0, 2, 4));
  EXPECT_THROW(delta(spec({{"#1", 1.0}})), UsageError);
  EXPECT_THROW(delta(spec({{"#1 +Male", 1.0}})), UsageError);  // a name both methods have
  EXPECT_TRUE(torch::allclose(delta(spec({{"ganspace#1 +Male", 1.0}})), torch::tensor({0.f, 0.f, 1.f, 0.f})));
  EXPECT_TRUE(torch::allclose(delta(spec({{"ganspace#1", 1.0}})), torch::tensor({0.f, 0.f, 1.f, 0.f})));
}

TEST_F(Discover, MovingAlongADirectionInterpolatesAndEndsAtTheSum) {
  const torch::Tensor z = sample_latents(1, 3, m->z_dim);
  const auto [v, values] = sefa_directions(first_layer_weight(m->generator, m->z_dim), 2);
  const torch::Tensor delta = v[0] * 2 - v[1];
  const EditResult r = move_along(*m, z, delta, 4, {2});
  EXPECT_TRUE(torch::allclose(r.z_after, z + delta));
  EXPECT_EQ(r.logits.sizes(), (std::vector<int64_t>{5, 3, 40}));
  EXPECT_EQ(r.images.size(), 3u);  // 0, 2, 4
  EXPECT_TRUE(torch::allclose(r.logits[0], classify(m->classifier, generate(*m, z)), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(r.logits[4], classify(m->classifier, generate(*m, z + delta)), 1e-5, 1e-5));
  EXPECT_THROW(move_along(*m, z, delta, 0), UsageError);
}

// A traced course generator keeps its weights as parameters: discovery reads them there. A module
// without any (a frozen export) is refused with the reason.
TEST(DiscoverTorchScript, ATracedCourseGeneratorIsReadAFrozenOneIsRefused) {
  const Models ts = load_from_files(test::fixture("gen_script.pt"), test::fixture("cls_script.pt"));
  ASSERT_EQ(ts.generator.arch, "torchscript");
  const torch::Tensor w = first_layer_weight(ts.generator, ts.z_dim);
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{64, 32, 3, 3}));
  const auto [v, values] = sefa_directions(w, 4);
  EXPECT_TRUE(torch::allclose(v.matmul(v.t()), torch::eye(4), 1e-5, 1e-5));
  EXPECT_EQ(first_layer_activations(ts.generator, torch::randn({3, 64})).size(0), 3);
  Network frozen;
  frozen.arch = "torchscript";
  frozen.source = "frozen.pt";
  auto mod = std::make_shared<torch::jit::Module>("Frozen");
  mod->define("def forward(self, x):\n    return x\n");
  frozen.holder = mod;
  try {
    first_layer_weight(frozen, 64);
    ADD_FAILURE() << "a module without weights was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("frozen"), std::string::npos) << e.what();
  }
}

struct DiscoverCli : Discover {};

TEST_F(DiscoverCli, StoresListsDrawsAndKeepsTheBoundaries) {
  test::TempDir d;
  fs::copy(*dir / "bundle", d / "b", fs::copy_options::recursive);
  std::string out, err;
  ASSERT_EQ(test::run_cli("directions -q --samples 2000 --latent-samples 0 --thumbnail-epochs 0 --model " + d / "b", &out, &err), 0) << err;
  const std::string boundaries = test::read_json(d / "b/model.json")["directions"].dump();
  ASSERT_EQ(test::run_cli("directions -q --discover sefa --count 4 --model " + d / "b", &out, &err), 0) << err;
  ASSERT_EQ(test::run_cli("directions -q --discover ganspace --count 3 --discover-samples 256 --model " + d / "b", &out, &err), 0) << err;
  const nlohmann::json j = test::read_json(d / "b/model.json");
  EXPECT_EQ(j["directions"].dump(), boundaries);  // the boundaries stay
  ASSERT_EQ(j["discovered"]["sefa"]["directions"].size(), 4u);   // the first method's stay too
  ASSERT_EQ(j["discovered"]["ganspace"]["directions"].size(), 3u);
  EXPECT_EQ(j["discovered"]["sefa"]["directions"][0]["delta_p"].size(), 40u);
  const SafetensorsFile f = load_safetensors(d / "b/discovered.safetensors");
  EXPECT_EQ(f.tensors.size(), 4u);
  EXPECT_NO_THROW(load_bundle(d / "b"));
  ASSERT_EQ(test::run_cli("directions --list --json --model " + d / "b", &out, &err), 0) << err;
  EXPECT_EQ(nlohmann::json::parse(out)["sefa"], j["discovered"]["sefa"]);
  ASSERT_EQ(test::run_cli("directions --list -q --discover sefa --sheet " + d / "s.png" + " --model " + d / "b", &out, &err), 0) << err;
  EXPECT_NE(out.find("#1"), std::string::npos) << out;
  const cv::Mat sheet = read_image(d / "s.png");
  EXPECT_GT(sheet.rows, 4 * 64);
  EXPECT_GT(sheet.cols, 14 * 64);
  // Editing along them: the same outputs as any edit; moves add, --strength is the default strength.
  ASSERT_EQ(test::run_cli("edit -q --seed 3 --count 2 --direction sefa#1:2 --direction ganspace#2 --strength 1.5 --model " + d / "b" +
                              " --out " + d / "e",
                          &out, &err),
            0)
      << err;
  const nlohmann::json rep = test::read_json(d / "e/report.json");
  EXPECT_EQ(rep["method_used"], "direction");
  EXPECT_EQ(rep["settings"]["direction"], nlohmann::json({"sefa#1:2", "ganspace#2"}));
  ASSERT_EQ(rep["directions"].size(), 2u);
  EXPECT_EQ(rep["directions"][1]["direction"], "ganspace#2");
  EXPECT_EQ(rep["directions"][1]["strength"], 1.5);
  EXPECT_EQ(rep["directions"][0]["name"], j["discovered"]["sefa"]["directions"][0]["name"]);
  EXPECT_EQ(rep["directions"][0]["discovered_delta_p"], j["discovered"]["sefa"]["directions"][0]["delta_p"]);
  const Models bm = load_bundle(d / "b");
  auto vec = [&](const std::string& k) {
    for (const auto& [n, t] : bm.discovered)
      if (n == k) return t;
    return torch::Tensor();
  };
  const torch::Tensor want = vec("sefa.vectors")[0] * 2 + vec("ganspace.vectors")[1] * 1.5;
  for (const auto& l : rep["latents"]) {
    const torch::Tensor got = torch::tensor(l["z_after"].get<std::vector<float>>()) - torch::tensor(l["z_before"].get<std::vector<float>>());
    EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-4));
  }
  EXPECT_TRUE(fs::exists(d / "e/grid.png"));
  // ... and in a batch job file, checked before any work (an unknown direction names its job).
  std::ofstream(d / "jobs.json") << R"({"jobs": [{"id": "a", "seed": 1, "count": 2, "direction": ["sefa#2:-1"]}]})";
  ASSERT_EQ(test::run_cli("batch -q " + d / "jobs.json" + " --model " + d / "b" + " --out " + d / "o", &out, &err), 0) << err;
  EXPECT_TRUE(fs::exists(d / "o/a/grid.png"));
  std::ofstream(d / "bad.json") << R"({"jobs": [{"id": "a", "seed": 1, "direction": ["sefa#9"]}]})";
  EXPECT_EQ(test::run_cli("batch -q " + d / "bad.json" + " --model " + d / "b" + " --out " + d / "o2", &out, &err), 3);  // a job file with errors (as any)
  EXPECT_NE(err.find("sefa#9"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(d / "o2"));
  // The sheet file is not overwritten without --force; a TorchScript-free bundle has no discovered list.
  EXPECT_EQ(test::run_cli("directions --list -q --sheet " + d / "s.png" + " --model " + d / "b", &out, &err), 5) << err;
  EXPECT_EQ(test::run_cli("directions --list -q --model " + *dir / "bundle", &out, &err), 2) << err;
}

}  // namespace
}  // namespace latentedit
