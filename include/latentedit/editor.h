// latentedit — the latent editor (C1W4 "controllable generation", generalised).
//
// Usage:
//   Models m = load_bundle(dir);
//   EditSpec spec;
//   spec.targets = {{find_attribute(m.attributes, "Smiling"), Direction::kAdd, {}}};
//   torch::Tensor z = sample_latents(7, 8, m.z_dim);
//   EditResult r = edit(m, z, spec, [](const EditProgress& p) { ... });
//
// Per latent i and step k the editor maximises
//   s_i = mean_t(sign_t * logit_t) - penalty * ||logits_keep(z) - logits_keep(z0)||  - prior * (||z|| - sqrt(d))^2
// and updates z_i <- z_i + step_size * ds_i/dz_i (ascent). sign_t = +1 for add, -1 for remove.
// With `batch_mean` the update uses the gradient of the batch mean of s_i, exactly as the
// course notebook (so its effective step shrinks with the batch size).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "latentedit/bundle.h"

namespace latentedit {

enum class Direction { kAdd, kRemove };

struct Target {
  int attribute = 0;                 // index into Models::attributes
  Direction direction = Direction::kAdd;
  // Stop this latent when the probability reaches `stop_prob` (add) or falls to
  // 1 - stop_prob (remove). Unset: never stop early for this target.
  std::optional<double> stop_prob;
};

// How the change of the kept attributes' logits is penalised (per latent).
enum class PenaltyKind {
  kL2,   // ||delta||_2, the course's choice
  kL1,   // mean |delta|
  kSquared,  // mean delta^2
};

struct EditSpec {
  std::vector<Target> targets;
  std::vector<int> keep;             // empty: all attributes that are not targets
  PenaltyKind penalty_kind = PenaltyKind::kL2;
  double penalty = 0.1;
  int steps = 10;
  double step_size = 0.1;
  double prior = 0.0;                // weight of (||z|| - sqrt(z_dim))^2
  bool batch_mean = false;           // course scaling of the gradient (see above)
  std::vector<int> record_steps;     // steps whose images are kept (0 and `steps` always are)
  // Latents are edited in chunks of at most this many (0 = all at once). Each latent's update
  // does not depend on the others, so this only bounds memory (results agree to float
  // rounding); per image-step, one batch of 64 was as fast as or faster than chunks of 16
  // or 32 on the 2-core test machine (bench/edit_bench.cc, section 1).
  int64_t micro_batch = 64;
};

struct EditProgress {
  int step = 0, steps = 0;           // `step` of `steps` updates done (over all micro-batches)
  int active = 0;                    // latents still moving
  double mean_target_prob = 0.0;     // mean over latents and targets (direction-aware)
};
using EditCallback = std::function<void(const EditProgress&)>;

struct EditResult {
  torch::Tensor z_before, z_after;   // (N, z_dim)
  torch::Tensor logits;              // (steps+1, N, C): logits after k updates
  torch::Tensor probs;               // sigmoid(logits)
  std::vector<int> stopped_at;       // per latent: step where it stopped (steps if it never did)
  std::map<int, torch::Tensor> images;  // step -> (N, 3, H, W) in the model's output range
  std::vector<int> keep;             // the kept attribute indices actually used
  double seconds = 0.0;              // wall time of the edit loop
};

// Validates a spec against the models; throws UsageError on anything out of range.
void validate(const EditSpec& spec, const Models& m);

// Draws N latents exactly as Python: torch.manual_seed(seed); torch.randn(n, z_dim).
torch::Tensor sample_latents(uint64_t seed, int64_t n, int64_t z_dim);

// Runs the edit. Deterministic for the same inputs and thread count.
EditResult edit(const Models& m, const torch::Tensor& z0, const EditSpec& spec,
                const EditCallback& progress = nullptr);

// Generates images (no gradient) in the model's output range.
torch::Tensor generate(const Models& m, const torch::Tensor& z);
// Attribute logits of images given in the model's range (no gradient).
torch::Tensor classify(const Network& classifier, const torch::Tensor& images, int64_t batch = 256);

}  // namespace latentedit
