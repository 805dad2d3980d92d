// latentedit — directions nobody labelled: found from the generator alone, then named with the
// classifier and checked by the auditor.
//   SeFa (Shen & Zhou, CVPR 2021): the top eigenvectors of A^T A, A the generator's first layer
//     weight as (out*kh*kw) x z_dim — closed form, no sampling.
//   GANSpace (Harkonen et al., NeurIPS 2020): PCA of the first layer's activations (after its
//     BatchNorm and ReLU) over `samples` latents, each component mapped back to z by least-squares
//     regression of z on the component scores, as the paper does for generators without a mapping
//     network; unit vectors.
// Each direction is then measured: `samples_effect` latents moved by -strength and +strength,
// the mean change of every attribute's probability (editing classifier and auditor) and of the
// pixels in the centre (the face) and the border (the background) of the image.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "latentedit/bundle.h"
#include "latentedit/editor.h"
#include "latentedit/safetensors.h"

namespace latentedit {

struct DiscoverOptions {
  std::string method = "sefa";  // "sefa" or "ganspace"
  int count = 20;               // K directions
  int64_t samples = 4000;       // ganspace: latents whose activations are analysed
  int64_t effect_samples = 256; // latents moved to measure each direction's effect
  double strength = 3.0;        // the move, in units of z's standard deviation
  uint64_t seed = 12345;
};

// What moving along one direction does, averaged over the effect latents.
struct DirectionEffect {
  std::vector<double> delta_p;          // per attribute: mean p(z + s v) - p(z - s v), editing classifier
  std::vector<double> auditor_delta_p;  // the same with the auditor (empty without one)
  double pixel_centre = 0, pixel_border = 0;  // mean |image(z + s v) - image(z - s v)| in the output range
};

struct DiscoveredDirection {
  int index = 0;        // 1-based, in the method's order (largest eigenvalue / variance first)
  std::string name;     // "#3 +Male -Wearing_Lipstick", "#5 (background)", "#7 (unnamed)"
  bool dominant = false;// the top |delta_p| is at least twice the second
  double value = 0;     // sefa: eigenvalue of A^T A; ganspace: fraction of the activations' variance
  torch::Tensor vector; // (z_dim) unit
  DirectionEffect effect;
};

struct Discovered {
  std::string method;
  DiscoverOptions options;
  std::vector<DiscoveredDirection> directions;
  double seconds_find = 0, seconds_measure = 0;  // wall time: finding the vectors; measuring them
};

// The generator's first layer weight (z_dim, out, kh, kw) — course architecture and its .pth; a
// TorchScript generator is refused (UsageError, naming what to do).
torch::Tensor first_layer_weight(const Network& generator, int64_t z_dim);

// SeFa: (K, z_dim) unit, orthogonal rows and their eigenvalues (K), largest first.
std::pair<torch::Tensor, torch::Tensor> sefa_directions(const torch::Tensor& first_weight, int count);

// GANSpace on `activations(z)` (N, z_dim) -> (N, D): (K, z_dim) unit rows and the fraction of the
// activations' variance each component explains.
std::pair<torch::Tensor, torch::Tensor> ganspace_directions(const std::function<torch::Tensor(const torch::Tensor&)>& activations,
                                                            int64_t z_dim, int count, int64_t samples, uint64_t seed);

// The first layer's activations (after BatchNorm and ReLU) of the course generator.
torch::Tensor first_layer_activations(const Network& generator, const torch::Tensor& z);

// Measures one direction (see above). Deterministic for the options' seed.
DirectionEffect measure_direction(const Models& m, const torch::Tensor& v, const DiscoverOptions& o);

// The name of direction `index` from its effect: its one or two clearest attribute changes
// ("+Male", "+Male -Wearing_Lipstick": |delta_p| >= 0.10, confirmed in sign by the auditor where
// there is one), else "(background)" when the border changes more than the centre, else
// "(unnamed)". Sets `dominant`.
std::string name_direction(int index, const DirectionEffect& e, const std::vector<std::string>& attributes, bool* dominant = nullptr);

// Finds, measures and names. progress gets one line per stage.
Discovered discover_directions(const Models& m, const DiscoverOptions& o,
                               const std::function<void(const std::string&)>& progress = nullptr);

// Storage (discovered.safetensors: METHOD.vectors (K, z_dim), METHOD.values (K)) and the
// manifest's record of one method: options, names and the full effect table.
NamedTensors discovered_tensors(const Discovered& d);
nlohmann::json discovered_record(const Discovered& d, const std::vector<std::string>& attributes);

// A sheet: one row per direction, columns at strengths -3..+3 on `latents` fixed latents, each
// row labelled with its name and top attribute changes. PNG bytes.
std::string direction_sheet(const Models& m, const Discovered& d, int latents = 2, uint64_t seed = 7);

// ---- editing along discovered directions (edit --direction, batch, POST /edit) -------------

// One move of an edit resolved against a model.
struct ResolvedMove {
  std::string method;     // "sefa", "ganspace" or "boundary"
  int index = 0;          // 1-based in the method's order; boundary: the attribute's index + 1
  std::string label;      // "sefa#3", "boundary#Smiling"
  std::string name;       // the stored name ("#3 +Male -Wearing_Lipstick"); boundary: "+Smiling"
  double strength = 0;    // z units, signed
  torch::Tensor vector;   // (z_dim) unit
  nlohmann::json record;  // the stored record (delta_p table, pixel change); null for boundary
};

// The spec's moves on this model: "METHOD#K", "#K" (when one method is stored), a full stored
// name, or "boundary#ATTRIBUTE" (the bundle's boundary normal, pointing to where it is present).
// Throws UsageError naming the directions there are, ModelError when the files disagree.
std::vector<ResolvedMove> resolve_moves(const Models& m, const EditSpec& spec);

// The sum of strength x vector.
torch::Tensor moves_delta(const std::vector<ResolvedMove>& moves, int64_t z_dim);

// The attributes an edit is about: spec.targets, or for moves the attributes their names give
// ("#3 +Male -Wearing_Lipstick" at strength > 0: add Male, remove Wearing_Lipstick; negative
// strength reverses; moves that cancel on an attribute drop it). Unnamed directions give none.
std::vector<Target> edit_targets(const Models& m, const EditSpec& spec);

// z0 + t * delta for t = k / steps, k = 0..steps, as an edit's result: the logits at every point,
// images at 0, `steps` and `record_steps`; every attribute is "kept" (all are measured).
EditResult move_along(const Models& m, const torch::Tensor& z0, const torch::Tensor& delta, int steps,
                      const std::vector<int>& record_steps = {});

}  // namespace latentedit
