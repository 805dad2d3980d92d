// `latentedit directions`: fit the bundle's attribute directions (InterFaceGAN boundaries in z)
// and attribute correlation; writes DIR/directions.safetensors and lists it in model.json.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "common.h"
#include "io/fsutil.h"
#include "latentedit/directions.h"

namespace latentedit::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct DirectionsCliOptions {
  CommonOptions common;
  DirectionsOptions d;
  bool json_out = false;
};

int run_directions(const DirectionsCliOptions& o) {
  const int threads = o.common.apply_threads();
  if (o.common.model.empty() && !o.common.generator.empty())
    throw UsageError("directions are stored in a bundle: pass --model DIR (convert files with `latentedit convert` first)");
  const std::string dir = o.common.model.empty() ? default_bundle_dir(o.common.argv0) : o.common.model;
  const Models m = load_bundle(dir);
  const Directions d = fit_directions(m, o.d, [&](const std::string& what) { log(o.common.quiet, "directions: " + what); });
  const json record = {{"samples", o.d.samples}, {"seed", o.d.seed}, {"confidence", o.d.confidence},
                       {"correlation_from", o.d.correlation_from}, {"threads", threads},
                       {"latent_classifier", o.d.latent_samples == 0 ? json(nullptr)
                                             : json{{"samples", o.d.latent_samples}, {"hidden", o.d.latent_hidden},
                                                    {"depth", o.d.latent_depth}, {"epochs", o.d.latent_epochs},
                                                    {"members", o.d.latent_members}, {"seed", o.d.seed + 1},
                                                    {"heldout_agreement", d.latent_agreement.mean().item<double>()}}},
                       {"latent_thumbnail", d.thumbnail.empty() ? json(nullptr)
                                            : json{{"size", kThumbnail}, {"epochs", o.d.thumbnail_epochs},
                                                   {"heldout_r2", d.thumbnail_r2.mean().item<double>()}}}};
  BundleWriter bundle(dir, "directions", false, BundleWriter::kExtend, m.manifest);  // the bundle it was asked to extend
  bundle.put_directions(d, record);
  bundle.commit();
  json acc = json::object();
  for (size_t c = 0; c < m.attributes.size(); ++c) acc[m.attributes[c]] = d.accuracy[static_cast<int64_t>(c)].item<double>();
  if (o.json_out) {
    json j = {{"bundle", dir}, {"boundary_accuracy", acc}, {"mean_accuracy", d.accuracy.mean().item<double>()}};
    if (!d.latent_classifier.empty()) j["latent_classifier_agreement"] = d.latent_agreement.mean().item<double>();
    if (!d.thumbnail.empty()) j["latent_thumbnail_r2"] = d.thumbnail_r2.mean().item<double>();
    print_json(j);
  } else {
    for (size_t c = 0; c < m.attributes.size(); ++c)
      std::printf("%-20s boundary accuracy %.3f\n", m.attributes[c].c_str(), d.accuracy[static_cast<int64_t>(c)].item<double>());
    if (!d.latent_classifier.empty())
      std::printf("latent classifier: held-out sign agreement with the editing classifier %.4f (min %.4f)\n",
                  d.latent_agreement.mean().item<double>(), d.latent_agreement.min().item<double>());
    if (!d.thumbnail.empty())
      std::printf("latent thumbnail: held-out R^2 %.4f (min %.4f)\n", d.thumbnail_r2.mean().item<double>(), d.thumbnail_r2.min().item<double>());
    std::printf("wrote %s/directions.safetensors (mean boundary accuracy %.3f)\n", dir.c_str(), d.accuracy.mean().item<double>());
  }
  return 0;
}
}  // namespace

void register_directions(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<DirectionsCliOptions>();
  o->common.argv0 = argv0;
  CLI::App* app = root.add_subcommand("directions", "Fit the bundle's attribute boundaries in z (for --method boundary), latent classifier (--method latent) and correlations");
  app->add_option("--samples", o->d.samples, "Latents sampled and labelled by the editing classifier")
      ->check(CLI::Range(int64_t{100}, int64_t{10000000}));
  app->add_option("--seed", o->d.seed, "Seed of those latents");
  app->add_option("--confidence", o->d.confidence, "Use a label only when p >= this or p <= 1 - this")->check(real_range(0.51, 0.999));
  app->add_option("--correlation-from", o->d.correlation_from,
                  "Attribute correlation from the classifier's labels of generated samples, or from latentedit's procedural "
                  "face labels (the training labels of procedural bundles)")
      ->check(CLI::IsMember({"samples", "procedural"}));
  app->add_option("--latent-samples", o->d.latent_samples,
                  "Latents labelled to fit the latent classifier (for --method latent; 0: none, e.g. for a quick refit)")
      ->check(CLI::Range(int64_t{0}, int64_t{10000000}));
  app->add_option("--latent-epochs", o->d.latent_epochs, "Epochs of the latent classifier's training")->check(CLI::Range(1, 1000));
  app->add_option("--latent-hidden", o->d.latent_hidden, "Units per hidden layer of the latent classifier")->check(CLI::Range(1, 4096));
  app->add_option("--latent-depth", o->d.latent_depth, "Hidden layers of the latent classifier")->check(CLI::Range(1, 8));
  app->add_option("--latent-members", o->d.latent_members,
                  "MLPs in the latent classifier's ensemble (trained on the same latents from different initialisations; "
                  "the latent method follows their mean, which is harder to game than one MLP)")
      ->check(CLI::Range(1, 16));
  app->add_option("--thumbnail-epochs", o->d.thumbnail_epochs,
                  "Epochs of the latent thumbnail model (z -> the face's 4x4 colour thumbnail, same shape as the latent "
                  "classifier; the latent method holds it so backgrounds and clothes stay; 0: none)")
      ->check(CLI::Range(0, 1000));
  app->add_flag("--json", o->json_out, "Print the boundary accuracies as JSON");
  o->common.add_to(app);
  cmds.push_back({app, [o] { return run_directions(*o); }});
}

}  // namespace latentedit::cli
