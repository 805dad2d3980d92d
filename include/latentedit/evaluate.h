// latentedit — measuring edit quality with an independent auditor classifier, as a curve:
// each point is one setting (a method at one strength); for every (attribute, direction) the
// auditor judges success, drift of the other attributes, correlation-masked drift, how often
// the editing classifier was fooled, pixel change and how far z moved. Returns data; the CLI
// formats the table and draws the plot (pareto_plot).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "latentedit/bundle.h"
#include "latentedit/editor.h"

namespace latentedit {

// One setting under test: a spec without targets (they are filled per attribute).
struct EvalPoint {
  std::string curve;     // the line it belongs to in the plot ("gradient", "course", ...)
  std::string label;     // e.g. "gradient 10x0.1"
  double strength = 0;   // its position on the curve (steps x step size, or S)
  EditSpec spec;
};

// Auditor-judged figures of one point on one entry (or the mean over entries).
struct EvalStats {
  int64_t n = 0;
  double success = 0;        // the auditor's p crossed 0.5 as asked
  double drift = 0;          // mean |dp| of the other attributes (auditor)
  double masked_drift = 0;   // the same, each attribute weighted by 1 - |corr with the target|
  double fooled = 0;         // the editing classifier says done, the auditor does not
  double pixel = 0;          // mean |d pixel| in [0, 1]
  double target_gain = 0;    // mean auditor change of the target, in the asked direction
  double dz = 0;             // mean ||z_after - z_before||
  nlohmann::json to_json() const;
};

struct EvalEntry {
  int attribute = 0;
  Direction direction = Direction::kAdd;
  std::vector<EvalStats> stats;  // per point
};

struct EvalOptions {
  int64_t seeds = 256;             // latents per attribute (seed s draws them as `edit --seed s`)
  uint64_t seed = 0;
  std::vector<EvalPoint> points;   // the settings under test (add_eval_points fills them)
  // The sweep add_eval_points makes: empty methods: one point, the edit settings as given; else
  // per method (gradient, projected, boundary, latent; NAME+eotN: with N EOT views, else none) one
  // curve over its strengths: steps x step size for the gradient methods, the distance past the
  // boundary, the latent target logit.
  std::vector<std::string> methods;
  std::vector<double> strengths = {0.125, 0.25, 0.5, 1, 2}, boundary_strengths = {0.5, 1, 2, 3, 4},
                      latent_strengths = {3, 6, 9, 12, 15};
  int64_t heldout = 2000;          // procedural faces for classifier accuracy (0 = skip)
  uint64_t heldout_seed = 99;      // dataset seed of those faces (never used for training)
  int64_t samples = 2000;          // generated vs rendered faces for frequencies and Frechet distance
  int min_latents = 8;             // a direction is evaluated only with at least this many latents
  std::vector<int> attributes;     // empty: all
  // (C, C) attribute correlation for the masked drift; undefined: masked drift = drift.
  torch::Tensor correlation;
};

struct EvalResult {
  std::vector<EvalPoint> points;
  std::vector<EvalEntry> entries;
  std::vector<EvalStats> mean;     // per point: the mean over entries
  nlohmann::json heldout;          // classifier/auditor accuracy (null when skipped)
  nlohmann::json generated;        // generated vs rendered frequencies, Frechet distance (null when skipped)
  double seconds = 0;
  nlohmann::json to_json(const Models& m) const;
};

// The C1W4 settings: penalty 0.1 (L2), 10 steps of 0.1 on the gradient of the mean over a batch
// of 8 images, i.e. a per-latent step of 0.1 / 8.
EditSpec course_baseline();

using EvalCallback = std::function<void(int done, int total, const std::string& what)>;

// The options' JSON form and validation (their one table, evaluate.cc); the CLI's flags too.
nlohmann::json to_json(const EvalOptions& o);
void validate(const EvalOptions& o);

// Fills o.points from `spec` (targets ignored) and o's sweep, then the course baseline: one point
// when o.methods is empty (method auto resolved for the bundle `m`), else one curve per method.
// Throws UsageError for an unknown method or variant.
void add_eval_points(EvalOptions& o, const Models& m, const EditSpec& spec);

// A generator measured as the field measures generators, against held-out procedural faces
// (dataset seeds heldout_seed + 1 and + 2; `samples` each) in the auditor's penultimate features:
// Frechet distance and, as the floor beside it, the distance between the two rendered sets;
// precision and recall (Kynkaenniemi et al. 2019: k-NN balls, k = `k`), with the rendered sets'
// own figures; the auditor's attribute frequencies generated vs rendered; the samples' spread
// (mean pairwise pixel distance over the rendered faces') and near-duplicate share. Needs a
// course-architecture auditor and the CelebA attributes. Deterministic for a seed.
nlohmann::json generator_quality(const Models& m, int64_t samples = 2000, uint64_t seed = 1, uint64_t heldout_seed = 99, int k = 3);

// A sheet to compare generators by eye: a row of held-out rendered faces (procedural dataset seed
// `render_seed`, faces 0..count-1), then one row per generator — its samples of the same latents
// (sample_latents(seed, count)) — each row labelled. PNG bytes.
std::string generator_sheet(const std::vector<std::pair<std::string, const Models*>>& generators, int64_t count = 10,
                            uint64_t seed = 5, uint64_t render_seed = 5);

// Runs the evaluation. Needs an auditor in the bundle (ModelError if absent).
EvalResult evaluate(const Models& m, const EvalOptions& o, const EvalCallback& progress = nullptr);

// Success (x) against drift (y), one line per curve, one dot per point, labelled; readable
// without the JSON.
cv::Mat pareto_plot(const EvalResult& r, const std::string& title);

// Frechet distance between Gaussians fitted to two feature sets (rows are samples).
double frechet_distance(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace latentedit
