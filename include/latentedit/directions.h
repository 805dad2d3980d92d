// latentedit — fitting the bundle's attribute directions (InterFaceGAN): sample latents, label
// them with the editing classifier (confident labels only), fit one linear boundary per
// attribute in z by logistic regression, and measure the attributes' correlation. The boundary
// method edits along these normals; the correlation drives the default keep mask.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

#include "latentedit/bundle.h"
#include "latentedit/safetensors.h"

namespace latentedit {

struct DirectionsOptions {
  int64_t samples = 20000;     // latents drawn (seed `seed`, as `edit --seed`)
  uint64_t seed = 12345;
  double confidence = 0.8;     // a label is used when p >= confidence (present) or p <= 1 - confidence (absent)
  double l2 = 1e-3;            // ridge on the boundary weights
  int iterations = 200;        // L-BFGS iterations
  // Correlation of the attributes, from: "samples" (the classifier's labels of the generator's
  // samples: any bundle) or "procedural" (latentedit's procedural face labels, the training
  // labels of bundles trained on them; CelebA attribute lists only).
  std::string correlation_from = "samples";
  // The latent classifier (for --method latent): an ensemble of latent_members MLPs z -> logits
  // (latent_depth hidden layers of latent_hidden units, SiLU), each regressed on the editing
  // classifier's logits (clipped to +-12) of the same latent_samples generated faces (seed + 1;
  // the last 5 % held out to measure agreement), AdamW, latent_epochs epochs of batches of 256,
  // learning rate warmed up to 2e-3 then cosine-decayed; the members differ in initialisation
  // and batch order. latent_samples 0: none.
  int64_t latent_samples = 100000;
  int latent_hidden = 512, latent_depth = 3, latent_epochs = 30, latent_members = 3;
  // The latent thumbnail model (the latent method holds it): an MLP of the same shape regressed
  // on the same faces' kThumbnail x kThumbnail colour thumbnails, for thumbnail_epochs epochs
  // (0: none), plus the correlation of each attribute's logit with each thumbnail value.
  int thumbnail_epochs = 10;
};

// The options' JSON form (model.json's "directions" record) and validation, from their one table.
nlohmann::json to_json(const DirectionsOptions& o);
void validate(const DirectionsOptions& o);

// Fits the directions of `m` (its generator and editing classifier). Deterministic.
Directions fit_directions(const Models& m, const DirectionsOptions& o,
                          const std::function<void(const std::string&)>& progress = nullptr);

// The latent classifier's logits for z (N, z_dim) -> (N, C); differentiable. `d` must have one.
torch::Tensor latent_logits(const Directions& d, const torch::Tensor& z);

// The latent thumbnail model's prediction for z (N, z_dim) -> (N, 3 kThumbnail^2) in the
// generator's output range; differentiable. `d` must have one.
torch::Tensor latent_thumbnail(const Directions& d, const torch::Tensor& z);

// The tensors of directions.safetensors.
NamedTensors directions_tensors(const Directions& d);

}  // namespace latentedit
