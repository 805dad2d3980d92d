// `latentedit evaluate`: success, collateral drift, fooled rate and pixel change of edits,
// judged by the bundle's auditor, for the settings under test and the course's plain settings;
// classifier accuracy on held-out faces; generated vs rendered attribute frequencies and
// Frechet distance. Prints a table, writes the JSON report and the success-drift plot.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "common.h"
#include "edit/option_fields.h"
#include "io/fsutil.h"
#include "latentedit/attributes.h"
#include "latentedit/evaluate.h"
#include "latentedit/image.h"

namespace latentedit::cli {
namespace {
using json = nlohmann::json;

struct EvalCliOptions {
  CommonOptions common;
  EditFlags flags;
  FieldFlags eval_flags;  // EvalOptions (eval_fields)
  std::vector<std::string> attributes;
  std::string out, plot;
  bool force = false;
  bool json_out = false;
  bool generator_only = false;
  std::string sheet;     // --generator-only: a sample sheet (renders, baseline, this generator)
  std::string baseline;  // --generator-only: another bundle measured and drawn beside this one
};

// The generator's figures as a table (generator_quality's JSON).
std::string format_quality(const json& g) {
  char b[512];
  std::snprintf(b, sizeof b,
                "generator vs held-out rendered faces (%lld each, auditor features)   [rendered vs rendered]\n"
                "  Frechet distance   %8.3f   [%.3f]\n"
                "  precision (k=%d)   %8.3f   [%.3f]\n"
                "  recall (k=%d)      %8.3f   [%.3f]\n"
                "  attribute frequency gap: mean %.3f, max %.3f (%s), %lld/40 within 0.05\n"
                "  spread: pairwise distance %.3fx the rendered faces', near-duplicates %.1f%%\n",
                static_cast<long long>(g["samples"].get<int64_t>()), g["frechet_auditor_features"].get<double>(),
                g["frechet_rendered_vs_rendered"].get<double>(), g["k"].get<int>(), g["precision"].get<double>(),
                g["precision_rendered_vs_rendered"].get<double>(), g["k"].get<int>(), g["recall"].get<double>(),
                g["recall_rendered_vs_rendered"].get<double>(), g["mean_frequency_gap"].get<double>(), g["max_frequency_gap"].get<double>(),
                g["worst_attribute"].get<std::string>().c_str(), static_cast<long long>(g["attributes_within_0.05"].get<int64_t>()),
                g["pairwise_ratio"].get<double>(), 100 * g["near_duplicates"].get<double>());
  return b;
}

std::string fmt_stats(const EvalStats& s) {
  char b[96];
  std::snprintf(b, sizeof b, "%5.1f%% %5.3f %5.3f %5.1f%%", 100 * s.success, s.drift, s.masked_drift, 100 * s.fooled);
  return b;
}

// The table: per point the mean over entries; then per entry, each point's figures.
std::string format_table(const Models& m, const EvalResult& r) {
  std::string t;
  char b[256];
  std::snprintf(b, sizeof b, "%-28s %6s | %7s %5s %6s %6s %5s %6s\n", "setting", "n", "success", "drift", "masked",
                "fooled", "pixel", "|dz|");
  t += b;
  for (size_t p = 0; p < r.points.size(); ++p) {
    const EvalStats& s = r.mean[p];
    std::snprintf(b, sizeof b, "%-28s %6lld | %6.1f%% %5.3f %6.3f %5.1f%% %5.3f %6.2f\n", r.points[p].label.c_str(),
                  static_cast<long long>(s.n), 100 * s.success, s.drift, s.masked_drift, 100 * s.fooled, s.pixel, s.dz);
    t += b;
  }
  t += "\nper attribute (success drift masked fooled, one group per setting in the order above)\n";
  for (const auto& e : r.entries) {
    std::snprintf(b, sizeof b, "%-20s %-6s %4lld", m.attributes[e.attribute].c_str(), to_string(e.direction),
                  static_cast<long long>(e.stats.empty() ? 0 : e.stats[0].n));
    t += b;
    for (const auto& s : e.stats) t += " | " + fmt_stats(s);
    t += "\n";
  }
  std::snprintf(b, sizeof b, "(%zu entries, mean over entries; auditor-judged)\n", r.entries.size());
  t += b;
  if (!r.heldout.is_null()) {
    std::snprintf(b, sizeof b, "held-out accuracy (%lld faces): classifier %.2f%% (min %.2f%%), auditor %.2f%% (min %.2f%%)\n",
                  static_cast<long long>(r.heldout["faces"].get<int64_t>()), 100 * r.heldout["classifier"]["mean"].get<double>(),
                  100 * r.heldout["classifier"]["min"].get<double>(), 100 * r.heldout["auditor"]["mean"].get<double>(),
                  100 * r.heldout["auditor"]["min"].get<double>());
    t += b;
  }
  if (!r.generated.is_null()) {
    const json& g = r.generated;
    std::snprintf(b, sizeof b,
                  "generated vs rendered (%lld each, auditor): frequency gap mean %.3f max %.3f (%s), %lld/40 within 0.05; "
                  "Frechet distance %.3f (rendered vs rendered: %.3f)\n",
                  static_cast<long long>(g["samples"].get<int64_t>()), g["mean_frequency_gap"].get<double>(),
                  g["max_frequency_gap"].get<double>(), g["worst_attribute"].get<std::string>().c_str(),
                  static_cast<long long>(g["attributes_within_0.05"].get<int64_t>()), g["frechet_auditor_features"].get<double>(),
                  g["frechet_rendered_vs_rendered"].get<double>());
    t += b;
  }
  return t;
}

int run_evaluate(const EvalCliOptions& o) {
  const int threads = o.common.apply_threads();
  for (const auto& f : {o.out, o.plot, o.sheet})
    if (!f.empty()) claim_output_file(f, o.force);  // before minutes of work
  EvalOptions e = from_flags(eval_fields(), o.eval_flags);
  const Models m = o.common.load_models();
  if ((!o.sheet.empty() || !o.baseline.empty()) && !o.generator_only)
    throw UsageError(std::string(o.sheet.empty() ? "--baseline" : "--sheet") + " goes with --generator-only");
  if (o.generator_only) {  // the generator alone, as the field measures generators
    if (e.samples < 2) throw UsageError("--generator-only needs --samples (at least 8)");
    std::optional<Models> base;
    if (!o.baseline.empty()) {
      base = load_bundle(o.baseline);  // before minutes of work
      // Judged by this bundle's auditor, so both generators are measured in the same features.
      base->auditor = m.auditor;
      base->attributes = m.attributes;
      if (base->image_size != m.image_size || base->range_lo != m.range_lo || base->range_hi != m.range_hi)
        throw UsageError("--baseline: " + o.baseline + " draws other images (size or range) than " + m.name + "; compare like with like");
    }
    const json g = generator_quality(m, e.samples, e.seed + 1);
    json rep = {{"generator", m.generator.source}, {"generated_vs_rendered", g},
                {"settings", {{"samples", e.samples}, {"seed", e.seed}, {"threads", threads}}}};
    // The baseline measured in the same run, on the same held-out renders and seeds.
    const json gb = base ? generator_quality(*base, e.samples, e.seed + 1) : json();
    if (base) rep["baseline"] = {{"model", o.baseline}, {"generator", base->generator.source}, {"generated_vs_rendered", gb}};
    if (!o.sheet.empty()) {
      std::vector<std::pair<std::string, const Models*>> rows;
      // Rows named by their bundle directories (two bundles may share a model name).
      auto dir_name = [](const std::string& d, const std::string& fallback) {
        std::filesystem::path p = std::filesystem::path(d).lexically_normal();
        if (p.filename().empty()) p = p.parent_path();  // "dir/"
        const std::string n = p.filename().string();
        return n.empty() || n == "." ? fallback : n;
      };
      if (base) rows.emplace_back("baseline: " + dir_name(o.baseline, base->name), &*base);
      rows.emplace_back(dir_name(m.dir, m.name), &m);
      write_file_atomic(o.sheet, generator_sheet(rows));
    }
    if (!o.out.empty()) write_file_atomic(o.out, rep.dump(1) + "\n");
    if (o.json_out) print_json(rep);
    else {
      if (base) std::printf("%s (%s)\n", m.name.c_str(), m.generator.source.c_str());
      std::fputs(format_quality(g).c_str(), stdout);
      if (base) std::printf("\nbaseline %s (%s)\n%s", base->name.c_str(), base->generator.source.c_str(), format_quality(gb).c_str());
    }
    return 0;
  }
  json sj = o.flags.to_json();
  // A placeholder target so the settings validate (evaluate sets its own per entry): one that is
  // not a --condition.
  const std::vector<std::string> condition = sj.value("condition", std::vector<std::string>{});
  sj["add"] = m.attributes[0];
  for (const auto& a : m.attributes)
    if (std::find_if(condition.begin(), condition.end(),
                     [&](const std::string& c) { return normalize_attribute(c) == normalize_attribute(a); }) == condition.end()) {
      sj["add"] = a;
      break;
    }
  const EditSpec spec = settings_from_flags(sj, m.attributes).spec;
  try {
    add_eval_points(e, m, spec);
  } catch (const UsageError& err) {
    throw UsageError(std::string("--") + err.what());  // "methods: ..." is the flag --methods
  }
  if (m.directions) e.correlation = m.directions->correlation;
  for (const auto& a : o.attributes) e.attributes.push_back(find_attribute(m.attributes, a));
  ProgressBar bar("evaluate", e.attributes.empty() ? static_cast<int64_t>(m.attributes.size()) : static_cast<int64_t>(e.attributes.size()),
                  o.common.quiet);
  const EvalResult r = evaluate(m, e, [&](int done, int, const std::string& what) { bar.update(done, what); });
  bar.finish();
  json rep = r.to_json(m);
  rep["settings"] = {{"seeds", e.seeds}, {"seed", e.seed}, {"threads", threads}, {"precision", to_string(m.precision)},
                     {"course_note", "course C1W4: 10 steps of 0.1 on the mean over 8 latents = per-latent step 0.0125"}};
  if (!o.out.empty()) write_file_atomic(o.out, rep.dump(1) + "\n");
  if (!o.plot.empty()) write_file_atomic(o.plot, encode_png(pareto_plot(r, "latentedit evaluate: " + m.name)));
  if (o.json_out) print_json(rep);
  else std::fputs(format_table(m, r).c_str(), stdout);
  return 0;
}
}  // namespace

void register_evaluate(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<EvalCliOptions>();
  o->common.argv0 = argv0;
  CLI::App* app = root.add_subcommand("evaluate", "Measure edit quality with the bundle's auditor (vs the course settings)");
  o->flags.add_to(app, {"add", "remove", "keep", "direction", "show_steps", "scale"});
  add_flags(app, o->eval_flags, eval_fields());
  app->add_option("--attributes", o->attributes, "Only these attributes (default: all)")->delimiter(',');
  app->add_option("--out", o->out, "Also write the JSON report to this file");
  app->add_option("--plot", o->plot, "Also draw success vs drift, one line per method, to this PNG");
  app->add_flag("--json", o->json_out, "Print the JSON report instead of the table");
  app->add_flag("--generator-only", o->generator_only,
                "Measure only the generator against held-out rendered faces: Frechet distance, precision/recall (k-NN), "
                "attribute frequencies, spread (--samples faces each; no edits)");
  app->add_option("--sheet", o->sheet,
                  "With --generator-only: also draw a sample sheet to this PNG: held-out renders, the --baseline's samples, this "
                  "generator's samples of the same latents");
  app->add_option("--baseline", o->baseline,
                  "With --generator-only: also measure this bundle's generator in the same run (same renders, same seeds, judged by "
                  "this model's auditor) and draw it on the --sheet")
      ->check(CLI::ExistingDirectory);
  app->add_flag("--force", o->force, "Replace existing --out / --plot / --sheet files");
  o->common.add_to(app);
  o->common.add_precision(app);
  cmds.push_back({app, [o] { return run_evaluate(*o); }});
}

}  // namespace latentedit::cli
