// latentedit — measuring edit quality with an independent auditor classifier.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "latentedit/bundle.h"
#include "latentedit/editor.h"

namespace latentedit {

struct EvalOptions {
  int64_t seeds = 256;             // latents per attribute (seed s draws them as `edit --seed s`)
  uint64_t seed = 0;
  EditSpec edit;                   // the settings under test (targets are filled per attribute)
  EditSpec baseline;               // the course's plain settings (see course_baseline())
  int64_t heldout = 2000;          // procedural faces for classifier accuracy (0 = skip)
  uint64_t heldout_seed = 99;      // dataset seed of those faces (never used for training)
  int64_t samples = 2000;          // generated vs rendered faces for frequencies and Frechet distance
  int min_latents = 8;             // a direction is evaluated only with at least this many latents
  std::vector<int> attributes;     // empty: all
};

// The C1W4 settings: penalty 0.1 (L2), 10 steps of 0.1 on the gradient of the mean over a batch
// of 8 images, i.e. a per-latent step of 0.1 / 8.
EditSpec course_baseline();

using EvalCallback = std::function<void(int done, int total, const std::string& what)>;

// Runs the evaluation (see README "evaluate"). Needs an auditor in the bundle (ModelError if
// absent). Returns the JSON report; `table` receives a readable summary.
nlohmann::json evaluate(const Models& m, const EvalOptions& o, std::string* table = nullptr,
                        const EvalCallback& progress = nullptr);

// Frechet distance between Gaussians fitted to two feature sets (rows are samples).
double frechet_distance(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace latentedit
