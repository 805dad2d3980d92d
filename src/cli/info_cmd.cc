// `latentedit attributes`, `sample`, `score`: look at a model without editing.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "common.h"
#include "latentedit/editor.h"
#include "io/fsutil.h"
#include "latentedit/image.h"
#include "latentedit/outputs.h"

namespace latentedit::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct InfoOptions {
  CommonOptions common;
  bool json_out = false;
  uint64_t seed = 0;
  int count = 8;
  OutOptions out;
  std::vector<std::string> images;
};

int run_attributes(const InfoOptions& o) {
  o.common.apply_threads();
  const Models m = o.common.load_models(CommonOptions::kClassifier);
  if (o.json_out) {
    print_json({{"model", m.name}, {"attributes", m.attributes}});
  } else {
    for (size_t i = 0; i < m.attributes.size(); ++i) std::printf("%2zu  %s\n", i, m.attributes[i].c_str());
  }
  return 0;
}

int run_sample(const InfoOptions& o) {
  o.common.apply_threads();
  StagedDir staged(o.out.out, "sample", o.out.force);  // all images appear together, or none
  const Models m = o.common.load_models(CommonOptions::kGenerator);
  const torch::Tensor z = sample_latents(o.seed, o.count, m.z_dim);
  const torch::Tensor img = generate(m, z);
  if (!torch::isfinite(img).all().item<bool>())
    throw ModelError(m.generator.source + ": the generator produced NaN or infinite pixels for seed " + std::to_string(o.seed) +
                     "; nothing was written (check the generator's weights)");
  const bool scored = static_cast<bool>(m.classifier.forward);  // --generator alone: images only
  const torch::Tensor probs = scored ? torch::sigmoid(classify(m.classifier, img)) : torch::Tensor();
  json samples = json::array();
  for (int i = 0; i < o.count; ++i) {
    char name[48];
    std::snprintf(name, sizeof name, "sample_%03d.png", i);
    staged.add(name, encode_png(tensor_to_bgr(img[i], m.range_lo, m.range_hi)));
    json present = json::array();
    for (size_t c = 0; scored && c < m.attributes.size(); ++c)
      if (probs[i][static_cast<int64_t>(c)].item<double>() > 0.5) present.push_back(m.attributes[c]);
    samples.push_back({{"file", name}, {"index", i}, {"attributes", present}});
  }
  staged.commit();
  const json rep = {{"model", m.name}, {"seed", o.seed}, {"count", o.count}, {"samples", samples}};
  if (o.json_out) print_json(rep);
  else
    for (const auto& s : samples) std::printf("%s  %s\n", s["file"].get<std::string>().c_str(), s["attributes"].dump().c_str());
  return 0;
}

int run_score(const InfoOptions& o) {
  o.common.apply_threads();
  const Models m = o.common.load_models(CommonOptions::kClassifier);
  std::vector<torch::Tensor> batch;
  for (const auto& p : o.images)
    batch.push_back(load_image_for_model(p, static_cast<int>(m.image_size), m.range_lo, m.range_hi));
  const torch::Tensor logits = classify(m.classifier, torch::stack(batch));
  if (!torch::isfinite(logits).all().item<bool>())
    throw ModelError(m.classifier.source + ": the classifier produced NaN or infinite scores; check its weights");
  const torch::Tensor probs = torch::sigmoid(logits);
  json out = json::array();
  for (size_t i = 0; i < o.images.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    out.push_back({{"image", o.images[i]}, {"probs", attribute_values(m.attributes, probs[row])}, {"logits", to_floats(logits[row])}});
  }
  if (o.json_out) {
    print_json({{"model", m.name}, {"images", out}});
    return 0;
  }
  for (const auto& e : out) {
    std::printf("%s\n", e["image"].get<std::string>().c_str());
    for (size_t c = 0; c < m.attributes.size(); ++c)
      std::printf("  %-20s %.3f%s\n", m.attributes[c].c_str(), e["probs"][m.attributes[c]].get<double>(),
                  e["probs"][m.attributes[c]].get<double>() > 0.5 ? "  *" : "");
  }
  return 0;
}
}  // namespace

void register_info(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<InfoOptions>();
  o->common.argv0 = argv0;
  CLI::App* a = root.add_subcommand("attributes", "List the loaded model's attribute names in order");
  a->add_flag("--json", o->json_out, "Print JSON");
  o->common.add_to(a);
  cmds.push_back({a, [o] { return run_attributes(*o); }});

  auto so = std::make_shared<InfoOptions>();
  so->common.argv0 = argv0;
  CLI::App* s = root.add_subcommand("sample", "Generate images from seeded latents");
  s->add_option("--seed", so->seed, "Seed: z = torch.manual_seed(seed); torch.randn(count, z_dim)");
  s->add_option("--count", so->count, "Number of images")->check(CLI::Range(1, 4096));
  so->out.add_to(s, "Output directory");
  s->add_flag("--json", so->json_out, "Print JSON");
  so->common.add_to(s);
  cmds.push_back({s, [so] { return run_sample(*so); }});

  auto co = std::make_shared<InfoOptions>();
  co->common.argv0 = argv0;
  CLI::App* c = root.add_subcommand("score", "Score images: all attribute probabilities per image");
  c->add_option("images", co->images, "Image files (resized on the shorter side with INTER_AREA, center-cropped)")->required();
  c->add_flag("--json", co->json_out, "Print JSON (probabilities and logits)");
  co->common.add_to(c);
  cmds.push_back({c, [co] { return run_score(*co); }});
}

}  // namespace latentedit::cli
