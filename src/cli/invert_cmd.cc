// `latentedit invert`: find latents whose generated images match given pictures.
#include <torch/torch.h>

#include <cstdio>
#include <memory>

#include "common.h"
#include "edit/option_fields.h"
#include "io/fsutil.h"
#include "latentedit/image.h"
#include "latentedit/invert.h"
#include "latentedit/outputs.h"

namespace latentedit::cli {
namespace {
using json = nlohmann::json;

struct InvertCmdOptions {
  CommonOptions common;
  std::vector<std::string> images;
  FieldFlags flags;  // InvertOptions (invert_fields)
  OutOptions out;
  bool json_out = false;
};

// Target vs reconstruction by one classifier: both probability sets and how many of the
// attributes fall on the same side of 0.5.
json agreement(const std::vector<std::string>& attrs, const torch::Tensor& pt, const torch::Tensor& pr) {
  const int64_t agree = ((pt > 0.5) == (pr > 0.5)).sum().item<int64_t>();
  return {{"agree", agree}, {"of", pt.size(0)}, {"target", attribute_values(attrs, pt)}, {"reconstruction", attribute_values(attrs, pr)}};
}

int run_invert(const InvertCmdOptions& o) {
  InvertOptions io = from_flags(invert_fields(), o.flags);
  try {
    validate(io);
  } catch (const UsageError& e) {
    throw UsageError(std::string("--") + e.what());  // "candidates: ..." is --candidates
  }
  const int threads = o.common.apply_threads();
  if (static_cast<int64_t>(o.images.size()) * (64 * 2 + 8) > 32768)
    throw UsageError(std::to_string(o.images.size()) + " images would make a grid taller than 32768 px; invert at most 240 per call");
  StagedDir staged(o.out.out, "invert", o.out.force);
  const Models m = o.common.load_models();
  std::vector<torch::Tensor> xs;
  for (const auto& p : o.images) xs.push_back(load_image_for_model(p, static_cast<int>(m.image_size), m.range_lo, m.range_hi));
  const torch::Tensor x = torch::stack(xs);
  if (!m.classifier.features && io.perceptual > 0) {
    log(o.common.quiet, "the classifier has no feature layer (not the course architecture): pixel loss only");
    io.perceptual = 0;
  }
  std::unique_ptr<ProgressBar> bar;
  const InvertResult r = invert(m, x, io, invert_progress(bar, io.batch, o.common.quiet));
  if (bar) bar->finish();
  if (!torch::isfinite(r.z).all().item<bool>() || !torch::isfinite(r.reconstruction).all().item<bool>())
    throw UsageError("the inversion diverged (NaN or infinite latents); lower --lr; nothing was written");

  const std::vector<std::string> warnings = inversion_warnings(m, r, o.images);
  const torch::Tensor pt = torch::sigmoid(classify(m.classifier, x)), pr = torch::sigmoid(classify(m.classifier, r.reconstruction));
  torch::Tensor at, ar;
  if (m.auditor) at = torch::sigmoid(classify(*m.auditor, x)), ar = torch::sigmoid(classify(*m.auditor, r.reconstruction));

  json images = json::array(), z = json::array();
  GridSpec g;
  g.title = "latentedit invert: " + std::to_string(x.size(0)) + " image" + (x.size(0) == 1 ? "" : "s") + "  (" + m.name + ")";
  char sub[160];
  std::snprintf(sub, sizeof sub, "%d steps, %d restarts of %d candidates, perceptual %.2g, prior %.2g, seed %llu", io.steps,
                io.restarts, io.candidates, io.perceptual, io.prior, static_cast<unsigned long long>(io.seed));
  g.subtitle = sub;
  g.column_labels = {"target", "reconstruction", "|difference| x4"};
  g.scale = 2;
  std::vector<std::vector<torch::Tensor>> cells;
  const double span = m.range_hi - m.range_lo;
  for (int64_t i = 0; i < x.size(0); ++i) {
    z.push_back(to_floats(r.z[i]));
    json e = {{"index", i},
              {"file", o.images[i]},
              {"psnr", r.psnr[i]},
              {"feature_distance", r.feature_distance[i]},
              {"loss", r.loss[i]},
              {"classifier", agreement(m.attributes, pt[i], pr[i])}};
    if (m.auditor) e["auditor"] = agreement(m.attributes, at[i], ar[i]);
    for (const auto& w : warnings)
      if (w.rfind(o.images[i] + ":", 0) == 0) e["warning"] = w;
    images.push_back(e);
    char name[32];
    std::snprintf(name, sizeof name, "reconstruction_%03d.png", static_cast<int>(i));
    staged.add(name, encode_png(tensor_to_bgr(r.reconstruction[i], m.range_lo, m.range_hi)));
    const torch::Tensor diff = m.range_lo + ((r.reconstruction[i] - x[i]).abs() * 4).clamp_max(span);
    cells.push_back({x[i], r.reconstruction[i], diff});
    char lab[200];
    std::snprintf(lab, sizeof lab, "#%d %.22s;PSNR %.1f dB, feat %.2f;agree %d/40%s", static_cast<int>(i),
                  std::filesystem::path(o.images[i]).filename().c_str(), r.psnr[i], r.feature_distance[i],
                  static_cast<int>(e["classifier"]["agree"].get<int64_t>()),
                  m.auditor ? (", auditor " + std::to_string(e["auditor"]["agree"].get<int64_t>())).c_str() : "");
    g.row_labels.push_back(lab);
  }
  staged.add("grid.png", encode_png(make_grid(cells, g, m.range_lo, m.range_hi)));
  double mean_psnr = 0;
  for (double v : r.psnr) mean_psnr += v / static_cast<double>(r.psnr.size());
  const json rep = {{"tool", "latentedit"},
                    {"version", LATENTEDIT_VERSION},
                    {"command", "invert"},
                    {"model", {{"name", m.name}, {"dir", m.dir}, {"generator", m.generator.source}, {"classifier", m.classifier.source}}},
                    {"settings",
                     {{"steps", io.steps}, {"restarts", io.restarts}, {"candidates", io.candidates}, {"lr", io.lr}, {"noise", io.noise},
                      {"pixel", io.pixel}, {"perceptual", io.perceptual}, {"prior", io.prior}, {"seed", io.seed}, {"batch", io.batch},
                      {"init", io.search ? "search" : "random"}}},
                    {"threads", threads},
                    {"precision", to_string(m.precision)},
                    {"z", z},
                    {"images", images},
                    {"mean_psnr", mean_psnr},
                    {"seconds", r.seconds}};
  staged.add("latents.json", rep.dump(1) + "\n");
  staged.commit();
  for (const auto& w : warnings) std::fprintf(stderr, "latentedit: warning: %s\n", w.c_str());
  if (o.json_out) {
    json summary = rep;
    summary.erase("z");
    for (auto& e : summary["images"]) {
      for (const char* k : {"classifier", "auditor"})
        if (e.contains(k)) e[k] = {{"agree", e[k]["agree"]}, {"of", e[k]["of"]}};
    }
    print_json(summary);
  } else {
    for (const auto& e : images)
      std::printf("%s  PSNR %.2f dB  features %.3f  attributes agree %d/40%s\n", e["file"].get<std::string>().c_str(),
                  e["psnr"].get<double>(), e["feature_distance"].get<double>(), static_cast<int>(e["classifier"]["agree"].get<int64_t>()),
                  e.contains("auditor") ? (" (auditor " + std::to_string(e["auditor"]["agree"].get<int64_t>()) + ")").c_str() : "");
    std::printf("wrote %s (latents.json, grid.png, %zu reconstructions); edit them: latentedit edit --latents %s/latents.json --add ...\n",
                o.out.out.c_str(), o.images.size(), o.out.out.c_str());
  }
  return 0;
}
}  // namespace

void register_invert(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<InvertCmdOptions>();
  o->common.argv0 = argv0;
  CLI::App* app = root.add_subcommand("invert", "Find latents whose generated faces match given images (then edit them with edit --latents)");
  app->add_option("images", o->images, "Image files (preprocessed as `score` does: shorter side to the model's size, centre crop)")
      ->required();
  add_flags(app, o->flags, invert_fields());
  o->out.add_to(app, "Output directory: latents.json, grid.png, reconstruction_NNN.png");
  app->add_flag("--json", o->json_out, "Print the summary as JSON on stdout");
  o->common.add_to(app);
  o->common.add_precision(app);
  cmds.push_back({app, [o] { return run_invert(*o); }});
}

}  // namespace latentedit::cli
