// `latentedit evaluate`: success, collateral drift, fooled rate and pixel change of edits,
// judged by the bundle's auditor, against the course's plain settings; classifier accuracy on
// held-out faces; generated vs rendered attribute frequencies and Frechet distance.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "common.h"
#include "latentedit/attributes.h"
#include "latentedit/evaluate.h"
#include "latentedit/fsutil.h"

namespace latentedit::cli {
namespace {
struct EvalCliOptions {
  CommonOptions common;
  EditSettings settings;
  int64_t seeds = 256, heldout = 2000, samples = 2000;
  uint64_t seed = 0;
  std::vector<std::string> attributes;
  std::string out;
  bool json_out = false;
};

int run_evaluate(const EvalCliOptions& o) {
  o.common.apply_threads();
  const Models m = o.common.load_models();
  EvalOptions e;
  e.seeds = o.seeds;
  e.seed = o.seed;
  e.heldout = o.heldout;
  e.samples = o.samples;
  e.edit = o.settings.to_spec();
  if (o.settings.target_prob) e.edit.targets = {{0, Direction::kAdd, o.settings.target_prob}};
  e.baseline = course_baseline();
  for (const auto& a : o.attributes) e.attributes.push_back(find_attribute(m.attributes, a));
  ProgressBar bar("evaluate", e.attributes.empty() ? static_cast<int64_t>(m.attributes.size()) : static_cast<int64_t>(e.attributes.size()),
                  o.common.quiet);
  std::string table;
  nlohmann::json rep = evaluate(m, e, &table, [&](int done, int, const std::string& what) { bar.update(done, what); });
  bar.finish();
  rep["settings"]["threads"] = o.common.threads;
  if (!o.out.empty()) write_file_atomic(o.out, rep.dump(1) + "\n");
  if (o.json_out) print_json(rep);
  else std::fputs(table.c_str(), stdout);
  return 0;
}
}  // namespace

void register_evaluate(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<EvalCliOptions>();
  o->common.argv0 = argv0;
  CLI::App* app = root.add_subcommand("evaluate", "Measure edit quality with the bundle's auditor (vs the course settings)");
  o->settings.add_to(app);
  app->add_option("--seeds", o->seeds, "Latents per attribute")->check(CLI::Range(int64_t{1}, int64_t{100000}));
  app->add_option("--seed", o->seed, "Seed of those latents");
  app->add_option("--heldout", o->heldout, "Held-out procedural faces for classifier accuracy (0 = skip)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  app->add_option("--samples", o->samples, "Generated and rendered faces for frequencies / Frechet distance (0 = skip)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  app->add_option("--attributes", o->attributes, "Only these attributes (default: all)")->delimiter(',');
  app->add_option("--out", o->out, "Also write the JSON report to this file");
  app->add_flag("--json", o->json_out, "Print the JSON report instead of the table");
  o->common.add_to(app);
  cmds.push_back({app, [o] { return run_evaluate(*o); }});
}

}  // namespace latentedit::cli
