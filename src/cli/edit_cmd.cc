// `latentedit edit`: edit latents toward/away from attributes; writes grid, pairs, report.
#include <torch/torch.h>

#include <chrono>
#include <memory>

#include "common.h"
#include "io/fsutil.h"
#include "latentedit/batch.h"
#include "latentedit/discover.h"
#include "latentedit/editor.h"
#include "latentedit/image.h"
#include "latentedit/invert.h"
#include "latentedit/outputs.h"
#include "edit/messages.h"

namespace latentedit::cli {
namespace {
using json = nlohmann::json;

struct EditOptions {
  CommonOptions common;
  EditFlags flags;
  uint64_t seed = 0;
  int count = 8;
  bool json_out = false;
  OutOptions out;
  std::string latents, latents_from = "after";
  std::vector<std::string> images;
  InvertOptions inv;
};

// Prints one line per latent: the targets' probabilities before -> after (and the auditor's).
void print_latents(const json& rep) {
  for (const auto& l : rep["latents"]) {
    std::string line = "#" + std::to_string(l["index"].get<int>());
    for (auto it = l["targets"].begin(); it != l["targets"].end(); ++it) {
      char b[160];
      std::snprintf(b, sizeof b, "  %s %.3f -> %.3f", it.key().c_str(), (*it)["prob_before"].get<double>(),
                    (*it)["prob_after"].get<double>());
      line += b;
      if (it->contains("auditor_after")) {
        std::snprintf(b, sizeof b, " (auditor %.3f -> %.3f)", (*it)["auditor_before"].get<double>(),
                      (*it)["auditor_after"].get<double>());
        line += b;
      }
    }
    if (l["targets"].empty()) {  // a move along an unnamed direction: how much the attributes moved
      char b[80];
      std::snprintf(b, sizeof b, "  mean |change| of the attributes %.3f", l["kept_drift"].get<double>());
      line += b;
    }
    if (l.contains("auditor_confirmed") && !l["auditor_confirmed"].get<bool>()) line += "  [auditor does not confirm]";
    std::printf("%s\n", line.c_str());
  }
}

int run_edit(const EditOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const int threads = o.common.apply_threads();
  const Models m = o.common.load_models();
  const auto t_loaded = std::chrono::steady_clock::now();

  // Flags -> the settings' JSON form, validated by the same code as job files.
  const json sj = o.flags.to_json();
  if (!sj.contains("add") && !sj.contains("remove") && !sj.contains("direction"))
    throw UsageError("nothing to edit: give at least one --add or --remove attribute, or a --direction to move along");
  const EditSettings settings = settings_from_flags(sj, m.attributes);
  resolve_moves(m, settings.spec);  // unknown directions are refused before any work
  // The grid's height, checked as soon as the number of latents is known (before any inversion).
  auto check_grid = [&](int64_t n, const std::string& fix) {
    const int64_t side = n * (m.image_size * settings.outputs.scale + 8);
    if (side > 32768)
      throw UsageError("the grid would be about " + std::to_string(side) + " px tall (limit 32768); " + fix + " or lower --scale");
  };
  if (!o.images.empty()) check_grid(static_cast<int64_t>(o.images.size()), "edit fewer --image files");
  else if (o.latents.empty()) check_grid(o.count, "lower --count");

  StagedDir staged(o.out.out, "edit", o.out.force);  // refuses someone else's directory before any work

  // The latents: from --seed/--count, a file (--latents), or inverted photos (--image).
  torch::Tensor z0, photos;
  json source;
  std::vector<std::string> inversion_notes;  // photos far from anything the generator draws
  if (!o.latents.empty()) {
    z0 = read_latents_file(o.latents, o.latents_from, m.z_dim);
    if (!torch::isfinite(z0).all().item<bool>())
      throw InputError("--latents: " + o.latents + " holds NaN or infinite values; nothing was written");
    check_grid(z0.size(0), "edit fewer latents");
    source = {{"latents_file", o.latents}, {"latents_from", o.latents_from}, {"count", z0.size(0)}};
  } else if (!o.images.empty()) {
    std::vector<torch::Tensor> xs;
    for (const auto& p : o.images) xs.push_back(load_image_for_model(p, static_cast<int>(m.image_size), m.range_lo, m.range_hi));
    photos = torch::stack(xs);
    InvertOptions io = o.inv;
    io.perceptual = m.classifier.features ? io.perceptual : 0.0;
    std::unique_ptr<ProgressBar> ibar;
    const InvertResult inv = invert(m, photos, io, invert_progress(ibar, io.batch, o.common.quiet));
    if (ibar) ibar->finish();
    z0 = inv.z;
    json psnrs = json::array();
    for (double v : inv.psnr) psnrs.push_back(v);
    source = {{"images", o.images}, {"count", z0.size(0)}, {"inversion_psnr", psnrs}, {"inversion_steps", io.steps}};
    inversion_notes = inversion_warnings(m, inv, o.images);
    if (!inversion_notes.empty()) source["inversion_warnings"] = inversion_notes;
  } else {
    z0 = sample_latents(o.seed, o.count, m.z_dim);
    source = {{"seed", o.seed}, {"count", o.count}};
  }
  if (settings.spec.moves.empty()) note_without_latent_classifier(m, settings.spec.method, o.common.quiet);
  std::unique_ptr<ProgressBar> bar;  // created on the first report: micro-batches multiply the updates
  int pass = 1;                      // a cascade (EditSpec::passes): one bar per pass
  const EditResult r = edit(m, z0, settings.spec, [&](const EditProgress& p) {
    if (bar && p.pass != pass) bar->finish(), bar.reset();
    pass = p.pass;
    if (!bar)
      bar = std::make_unique<ProgressBar>(p.pass == 1 ? std::string("edit") : "edit pass " + std::to_string(p.pass) + "/" +
                                                                                  std::to_string(p.passes),
                                          p.steps, o.common.quiet);
    char b[64];
    std::snprintf(b, sizeof b, "p=%.3f active=%d", p.mean_target_prob, p.active);
    bar->update(p.step, b);
  });
  if (bar) bar->finish();
  if (edit_diverged(r)) throw UsageError(std::string(kDivergedHint) + " (--step-size); nothing was written");
  const Audit a = audit_edit(m, settings.spec, r);

  // Everything is rendered in memory first; files are written only once all succeeded.
  const auto t_render = std::chrono::steady_clock::now();
  OutputContext ctx;
  ctx.command = "edit";
  ctx.source = source;
  ctx.photos = photos;
  ctx.label = source_label(ctx.source);
  ctx.header = {{"threads", threads}, {"precision", to_string(m.precision)}, {"out", o.out.out}};
  EditOutputs outputs = make_edit_outputs(m, settings, r, a, ctx);
  auto secs = [](auto a0, auto b0) { return std::chrono::duration<double>(b0 - a0).count(); };
  const auto t_end = std::chrono::steady_clock::now();
  outputs.report["timings"] = {{"load_s", secs(t0, t_loaded)}, {"edit_s", r.seconds}, {"render_s", secs(t_render, t_end)},
                               {"total_s", secs(t0, t_end)}};
  for (const auto& [name, bytes] : outputs.files()) staged.add(name, bytes);
  staged.commit();
  for (const auto& w : inversion_notes) std::fprintf(stderr, "latentedit: warning: %s\n", w.c_str());

  if (o.json_out) {
    print_json(report_summary(outputs.report));
  } else {
    print_latents(outputs.report);
    std::printf("wrote %s (grid.png, %d before/after pairs, report.json)\n", o.out.out.c_str(), static_cast<int>(z0.size(0)));
  }
  return 0;
}
}  // namespace

void register_edit(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<EditOptions>();
  o->common.argv0 = argv0;
  CLI::App* app = root.add_subcommand("edit", "Edit latents toward (--add) or away from (--remove) attributes, or move them along discovered directions (--direction)");
  auto* seed = app->add_option("--seed", o->seed, "Seed: z = torch.manual_seed(seed); torch.randn(count, z_dim)");
  auto* count = app->add_option("--count", o->count, "Number of latents edited together")->check(CLI::Range(1, 4096));
  auto* lat = app->add_option("--latents", o->latents,
                              "Edit the latents of a file instead: invert's latents.json, a report.json, {\"z\": [[...]]} or [[...]]")
                  ->excludes(seed)
                  ->excludes(count);
  app->add_option("--latents-from", o->latents_from, "With a report.json: start from its z \"after\" or \"before\"")
      ->check(CLI::IsMember({"after", "before"}));
  app->add_option("--image", o->images, "Edit photos: each is inverted first (see `invert`); the grid starts with the photo")
      ->excludes(seed)
      ->excludes(count)
      ->excludes(lat);
  app->add_option("--invert-steps", o->inv.steps, "With --image: inversion steps")->check(CLI::Range(1, 100000));
  o->flags.add_to(app);
  o->out.add_to(app, "Output directory");
  app->add_flag("--json", o->json_out, "Print the report summary as JSON on stdout");
  o->common.add_to(app);
  o->common.add_precision(app);
  cmds.push_back({app, [o] { return run_edit(*o); }});
}

}  // namespace latentedit::cli
