// `latentedit edit`: edit latents toward/away from attributes; writes grid, pairs, report.
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>

#include "common.h"
#include "latentedit/attributes.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/fsutil.h"
#include "latentedit/image.h"
#include "latentedit/report.h"

namespace latentedit::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct EditOptions {
  CommonOptions common;
  std::vector<std::string> add, remove, keep;
  EditSettings settings;
  uint64_t seed = 0;
  int count = 8, scale = 2;
  std::vector<int> show_steps;
  bool json_out = false;
  std::string out;
};

int run_edit(const EditOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const int threads = o.common.apply_threads();
  const Models m = o.common.load_models();
  const auto t_loaded = std::chrono::steady_clock::now();

  const EditSettings& st = o.settings;
  EditSpec spec = st.to_spec();
  auto add_targets = [&](const std::vector<std::string>& names, Direction d) {
    for (const auto& s : names) {
      auto [name, p] = parse_target(s);
      spec.targets.push_back({find_attribute(m.attributes, name), d, p ? p : st.target_prob});
    }
  };
  add_targets(o.add, Direction::kAdd);
  add_targets(o.remove, Direction::kRemove);
  for (const auto& k : o.keep) spec.keep.push_back(find_attribute(m.attributes, k));
  spec.record_steps = o.show_steps;
  if (o.show_steps.empty() && spec.steps >= 4) spec.record_steps = {spec.steps / 2};
  validate(spec, m);

  const torch::Tensor z0 = sample_latents(o.seed, o.count, m.z_dim);
  std::unique_ptr<ProgressBar> bar;  // created on the first report: micro-batches multiply the updates
  const EditResult r = edit(m, z0, spec, [&](const EditProgress& p) {
    if (!bar) bar = std::make_unique<ProgressBar>("edit", p.steps, o.common.quiet);
    char b[64];
    std::snprintf(b, sizeof b, "p=%.3f active=%d", p.mean_target_prob, p.active);
    bar->update(p.step, b);
  });
  if (bar) bar->finish();
  const Audit a = audit_edit(m, spec, r);

  // Everything is rendered in memory first; files are written only once all succeeded.
  const auto t_render = std::chrono::steady_clock::now();
  char sub[200];
  std::snprintf(sub, sizeof sub, "seed %llu  steps %d x %g  penalty %g (%s)%s", static_cast<unsigned long long>(o.seed),
                spec.steps, spec.step_size, spec.penalty, st.penalty_kind.c_str(),
                a.present ? "  audit: auditor classifier, ! = not confirmed" : "");
  EditImages what;
  what.scale = o.scale;
  what.subtitle = sub;
  const auto encoded = encode_edit_images(m, spec, r, a, what);
  json settings = {{"add", o.add}, {"remove", o.remove}, {"keep", o.keep}, {"seed", o.seed}, {"count", o.count},
                   {"steps", spec.steps}, {"step_size", spec.step_size}, {"penalty", spec.penalty},
                   {"penalty_kind", st.penalty_kind}, {"prior", spec.prior}, {"batch_mean", spec.batch_mean},
                   {"target_prob", st.target_prob ? json(*st.target_prob) : json(nullptr)},
                   {"recorded_steps", [&] { std::vector<int> s; for (auto& [k, v] : r.images) s.push_back(k); return s; }()},
                   {"threads", threads}};
  json rep = {{"tool", "latentedit"}, {"version", LATENTEDIT_VERSION}, {"command", "edit"}};
  rep.update(edit_report(m, spec, r, a, settings));
  json files = json::array();
  for (const auto& [name, b] : encoded) files.push_back(name);
  files.push_back("report.json");
  rep["files"] = files;
  rep["out"] = o.out;
  const auto t_end = std::chrono::steady_clock::now();
  auto secs = [](auto a0, auto b0) { return std::chrono::duration<double>(b0 - a0).count(); };
  rep["timings"] = {{"load_s", secs(t0, t_loaded)}, {"edit_s", r.seconds}, {"render_s", secs(t_render, t_end)},
                    {"total_s", secs(t0, t_end)}};

  make_dirs(o.out);
  for (const auto& [name, b] : encoded) write_file_atomic((fs::path(o.out) / name).string(), b);
  write_file_atomic((fs::path(o.out) / "report.json").string(), rep.dump(1) + "\n");

  if (o.json_out) {
    print_json(report_summary(rep));
  } else {
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
      if (l.contains("auditor_confirmed") && !l["auditor_confirmed"].get<bool>()) line += "  [auditor does not confirm]";
      std::printf("%s\n", line.c_str());
    }
    std::printf("wrote %s (grid.png, %d before/after pairs, report.json)\n", o.out.c_str(), o.count);
  }
  return 0;
}
}  // namespace

void register_edit(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<EditOptions>();
  o->common.argv0 = argv0;
  CLI::App* app = root.add_subcommand("edit", "Edit latents toward (--add) or away from (--remove) attributes");
  app->add_option("--add", o->add, "Attribute to add (gradient ascent); NAME or NAME:PROB to stop at PROB")->delimiter(',');
  app->add_option("--remove", o->remove, "Attribute to remove (descent); NAME or NAME:PROB")->delimiter(',');
  app->add_option("--keep", o->keep, "Attributes to hold steady (default: all others), comma-separated")->delimiter(',');
  app->add_option("--seed", o->seed, "Seed: z = torch.manual_seed(seed); torch.randn(count, z_dim)");
  app->add_option("--count", o->count, "Number of latents edited together")->check(CLI::Range(1, 4096));
  o->settings.add_to(app);
  app->add_option("--show-steps", o->show_steps, "Intermediate steps shown in the grid (default: steps/2)")->delimiter(',');
  app->add_option("--scale", o->scale, "Upscaling of each face in the grid")->check(CLI::Range(1, 8));
  app->add_option("--out", o->out, "Output directory")->required();
  app->add_flag("--json", o->json_out, "Print the report summary as JSON on stdout");
  o->common.add_to(app);
  cmds.push_back({app, [o] { return run_edit(*o); }});
}

}  // namespace latentedit::cli
