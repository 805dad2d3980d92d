// `latentedit directions`: fit the bundle's attribute directions (InterFaceGAN boundaries in z)
// and attribute correlation; writes DIR/directions.safetensors and lists it in model.json.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <unistd.h>

#include "common.h"
#include "io/fsutil.h"
#include "io/json_read.h"
#include "latentedit/directions.h"
#include "latentedit/discover.h"
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
  std::string discover;     // sefa | ganspace: find directions without labels instead of fitting boundaries
  int count = 20;
  int64_t discover_samples = 4000;
  double strength = 3.0;
  bool list = false;        // print the bundle's discovered directions
  std::string sheet;        // PNG of the discovered directions
  bool force = false;
};

// One line per direction: name, value, the three largest changes (classifier, auditor), pixels.
void print_discovered(const json& rec, const std::string& method) {
  std::printf("%s: %zu directions (value: %s; effect of -%g..+%g on %s latents)\n", method.c_str(), rec["directions"].size(),
              rec.value("value", "").c_str(), rec.value("strength", 0.0), rec.value("strength", 0.0), rec["effect_samples"].dump().c_str());
  for (const auto& d : rec["directions"]) {
    std::vector<std::pair<double, std::string>> top;
    for (const auto& [k, v] : d["delta_p"].items()) top.push_back({-std::fabs(v.get<double>()), k});
    std::sort(top.begin(), top.end());
    std::string changes;
    for (size_t i = 0; i < std::min<size_t>(3, top.size()); ++i) {
      char b[128];
      const std::string& a = top[i].second;
      std::snprintf(b, sizeof b, "  %s %+.2f", a.c_str(), d["delta_p"][a].get<double>());
      changes += b;
      if (d.contains("auditor_delta_p")) std::snprintf(b, sizeof b, " (auditor %+.2f)", d["auditor_delta_p"][a].get<double>()), changes += b;
    }
    std::printf("%-34s %9.4g%s  pixels centre %.3f border %.3f%s\n", d["name"].get<std::string>().c_str(), d["value"].get<double>(),
                changes.c_str(), d["pixel_change"]["centre"].get<double>(), d["pixel_change"]["border"].get<double>(),
                d.value("dominant", false) ? "  dominant" : "");
  }
}

// Rebuilds a Discovered from the bundle's record and tensors (for --sheet without --discover).
Discovered stored_discovered(const Models& m, const std::string& method) {
  const json& rec = m.manifest["discovered"][method];
  const SafetensorsFile f = load_safetensors((fs::path(m.dir) / m.manifest["discovered"]["weights"].get<std::string>()).string());
  torch::Tensor vectors;
  for (const auto& [name, t] : f.tensors)
    if (name == method + ".vectors") vectors = t.to(torch::kFloat);
  if (!vectors.defined() || vectors.size(0) != static_cast<int64_t>(rec["directions"].size()))
    throw ModelError(m.dir + ": discovered.safetensors does not hold the " + method + " vectors model.json lists; run directions --discover " + method + " again");
  Discovered d;
  d.method = method;
  for (size_t k = 0; k < rec["directions"].size(); ++k) {
    const json& j = rec["directions"][k];
    DiscoveredDirection x;
    x.index = j["index"];
    x.name = j["name"];
    x.value = j["value"];
    x.vector = vectors[static_cast<int64_t>(k)];
    for (const auto& a : m.attributes) x.effect.delta_p.push_back(j["delta_p"].value(a, 0.0));
    d.directions.push_back(x);
  }
  return d;
}

int run_discover(const DirectionsCliOptions& o) {
  o.common.apply_threads();
  const bool bundle = !o.common.model.empty() || o.common.generator.empty();
  const std::string dir = o.common.model.empty() ? default_bundle_dir(o.common.argv0) : o.common.model;
  if (!o.sheet.empty()) {  // before any work: a sheet that cannot be written must not follow a stored discovery
    claim_output_file(o.sheet, o.force);
    const fs::path parent = fs::absolute(o.sheet).parent_path();
    std::error_code ec;
    if (!fs::is_directory(parent, ec) || ::access(parent.c_str(), W_OK) != 0)
      throw IoError("cannot write " + o.sheet + ": " + parent.string() + " is not a writable directory; create it or choose another path");
  }
  if (o.list) {
    const Models m = bundle ? read_manifest(parse_json(read_file(dir + "/model.json", true), dir + "/model.json", ErrorKind::kModel), dir)
                            : throw UsageError("--list reads a bundle's discovered directions: pass --model DIR");
    if (!m.manifest.contains("discovered") || !m.manifest["discovered"].is_object())
      throw UsageError(dir + " has no discovered directions; run directions --discover sefa (or ganspace) first");
    json out = json::object();
    for (const char* method : {"sefa", "ganspace"})
      if (m.manifest["discovered"].contains(method)) out[method] = m.manifest["discovered"][method];
    if (o.json_out) print_json(out);
    else for (const auto& [method, rec] : out.items()) print_discovered(rec, method);
    if (!o.sheet.empty()) {
      const Models full = load_bundle(dir);
      const std::string method = !o.discover.empty() ? o.discover : out.begin().key();
      if (!out.contains(method)) throw UsageError(dir + " has no " + method + " directions; run directions --discover " + method);
      write_file_atomic(o.sheet, direction_sheet(full, stored_discovered(full, method)));
      log(o.common.quiet, "wrote " + o.sheet);
    }
    return 0;
  }
  const Models m = o.common.load_models();
  DiscoverOptions d;
  d.method = o.discover;
  d.count = o.count;
  d.samples = o.discover_samples;
  d.strength = o.strength;
  // Staged before the work: an unwritable bundle is refused at once. Files given instead of a
  // bundle: nothing is stored (the directions are printed, and drawn with --sheet).
  std::unique_ptr<BundleWriter> writer;
  if (bundle) writer = std::make_unique<BundleWriter>(dir, "directions", false, BundleWriter::kExtend, m.manifest);
  const Discovered found = discover_directions(m, d, [&](const std::string& what) { log(o.common.quiet, "discover: " + what); });
  const json rec = discovered_record(found, m.attributes);
  if (writer) {
    // The other method's directions stay: its tensors are carried over into the new file.
    json entry = m.manifest.contains("discovered") && m.manifest["discovered"].is_object() ? m.manifest["discovered"] : json::object();
    NamedTensors tensors;
    if (entry.contains("weights")) {
      for (const auto& [name, t] : load_safetensors((fs::path(dir) / entry["weights"].get<std::string>()).string()).tensors)
        if (name.rfind(found.method + ".", 0) != 0) tensors.push_back({name, t});
    }
    for (const auto& t : discovered_tensors(found)) tensors.push_back(t);
    entry["weights"] = "discovered.safetensors";
    entry[found.method] = rec;
    writer->put_tensors("discovered.safetensors", tensors, {{"format", "latentedit-discovered"}});
    writer->set("discovered", entry);
    writer->commit();
  }
  if (!o.sheet.empty()) write_file_atomic(o.sheet, direction_sheet(m, found));
  if (o.json_out) print_json(rec);
  else print_discovered(rec, found.method);
  if (writer) log(o.common.quiet, "wrote " + dir + "/discovered.safetensors (" + found.method + ", kept in model.json \"discovered\")");
  if (!o.sheet.empty()) log(o.common.quiet, "wrote " + o.sheet);
  return 0;
}

int run_directions(const DirectionsCliOptions& o) {
  if (!o.discover.empty() || o.list) return run_discover(o);
  if (!o.sheet.empty()) throw UsageError("--sheet draws discovered directions: add --discover sefa|ganspace or --list");
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
  app->add_flag("--json", o->json_out, "Print the boundary accuracies (or the discovered directions' table) as JSON");
  app->add_option("--discover", o->discover, "Find directions without labels instead: sefa (closed form from the first layer) or ganspace (PCA of its activations); each is named from the classifier's changes and stored in discovered.safetensors")
      ->check(CLI::IsMember({"sefa", "ganspace"}));
  app->add_option("--count", o->count, "Directions to discover")->check(CLI::Range(1, 4096));
  app->add_option("--discover-samples", o->discover_samples, "ganspace: latents whose first-layer activations are analysed")->check(CLI::Range(16, 1000000));
  app->add_option("--strength", o->strength, "Move (in z units) used to measure and name each discovered direction")->check(CLI::Range(0.01, 100.0));
  app->add_flag("--list", o->list, "Print the bundle's discovered directions (with --json: their full table)");
  app->add_option("--sheet", o->sheet, "Write a PNG: a row per discovered direction at strengths -3..+3 on two fixed latents");
  app->add_flag("--force", o->force, "Replace an existing --sheet file");
  o->common.add_to(app);
  cmds.push_back({app, [o] { return run_directions(*o); }});
}

}  // namespace latentedit::cli
