// `latentedit directions`: fit the bundle's attribute directions (InterFaceGAN boundaries in z)
// and attribute correlation; writes DIR/directions.safetensors and lists it in model.json.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "common.h"
#include "io/fsutil.h"
#include "latentedit/directions.h"
#include "edit/option_fields.h"
#include "model/networks.h"

namespace latentedit::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct DirectionsCliOptions {
  CommonOptions common;
  FieldFlags flags;  // DirectionsOptions (directions_fields)
  bool json_out = false;
};

int run_directions(const DirectionsCliOptions& o) {
  const DirectionsOptions od = from_flags(directions_fields(), o.flags);
  const int threads = o.common.apply_threads();
  if (o.common.model.empty() && !o.common.generator.empty())
    throw UsageError("directions are stored in a bundle: pass --model DIR (convert files with `latentedit convert` first)");
  const std::string dir = o.common.model.empty() ? default_bundle_dir(o.common.argv0) : o.common.model;
  const Models m = load_bundle(dir);
  // Staged before the fit: a read-only or unwritable bundle is refused before minutes of work.
  BundleWriter bundle(dir, "directions", false, BundleWriter::kExtend, m.manifest);  // the bundle it was asked to extend
  const Directions d = fit_directions(m, od, [&](const std::string& what) { log(o.common.quiet, "directions: " + what); });
  const json record = {{"samples", od.samples}, {"seed", od.seed}, {"confidence", od.confidence},
                       {"correlation_from", od.correlation_from}, {"threads", threads},
                       {"latent_classifier", od.latent_samples == 0 ? json(nullptr)
                                             : json{{"samples", od.latent_samples}, {"hidden", od.latent_hidden},
                                                    {"depth", od.latent_depth}, {"epochs", od.latent_epochs},
                                                    {"members", od.latent_members}, {"seed", od.seed + 1},
                                                    {"heldout_agreement", d.latent_agreement.mean().item<double>()}}},
                       {"latent_thumbnail", d.thumbnail.empty() ? json(nullptr)
                                            : json{{"size", kThumbnail}, {"epochs", od.thumbnail_epochs},
                                                   {"heldout_r2", d.thumbnail_r2.mean().item<double>()}}}};
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
  add_flags(app, o->flags, directions_fields());
  app->add_flag("--json", o->json_out, "Print the boundary accuracies as JSON");
  o->common.add_to(app);
  cmds.push_back({app, [o] { return run_directions(*o); }});
}

}  // namespace latentedit::cli
