// latentedit — the latent editor (C1W4 "controllable generation", generalised).
//
// Usage:
//   Models m = load_bundle(dir);
//   EditSpec spec;                                  // spec.h: fields, defaults, JSON form
//   spec.targets = {{find_attribute(m.attributes, "Smiling"), Direction::kAdd, {}}};
//   torch::Tensor z = sample_latents(7, 8, m.z_dim);
//   EditResult r = edit(m, z, spec, [](const EditProgress& p) { ... });
//
// Methods (EditSpec::method), per latent i:
//
// gradient (the course's, generalised): each step ascends
//   s_i = mean_t(sign_t * logit_t) - penalty * ||w * (logits_keep(z) - logits_keep(z0))|| - prior * (||z|| - sqrt(d))^2
//   z_i <- z_i + step_size * ds_i/dz_i            sign_t = +1 for add, -1 for remove.
// With `batch_mean` the update uses the gradient of the batch mean of s_i, exactly as the
// course notebook (so its effective step shrinks with the batch size). w are the keep-mask
// weights: 1 - max_t |corr(t, k)| with the bundle's correlation (KeepMask::kCorrelation, the
// default when no explicit keep list is given), else 1.
// With eot = E > 0 the target term is averaged over the image and E random flips/shifts of it
// (expectation over transformation), so the gradient cannot rely on one exact pixel pattern.
//
// projected: the same gradient g, then per step the components along a rank-`rank` sketch of
// the kept logits' Jacobian row space are removed: Y = J_keep^T (w * Omega), Omega ~ N(0, 1)
// (K x rank), Q = orth(Y), g <- g - Q Q^T g. One batched backward gives g and Y; removing only
// the strongest directions (not all K) leaves room to move in a 64-dimensional z.
// The sketch is drawn every `sketch_every` steps (default 4) and reused between.
// With fallback_ranks (default: rank 8, then 4, then 2), a latent whose targets the editing classifier
// does not put past accept_prob (0.999) after a pass is edited again from its start with the
// next rank, and keeps the first pass that gets there (else the one that came closest): each latent gets the
// most constrained edit that still flips it convincingly (EditResult::ranks says which). In such a
// cascade a latent stops moving, and leaves the batch, the step its targets pass accept_prob.
//
// boundary (InterFaceGAN): no gradient steps. n_t = sign_t * normal_t of the target's linear
// boundary in z (Models::directions); made orthogonal to the normals of `condition` (and of the
// other targets): n_c = n - N_c^T (N_c N_c^T)^-1 N_c n, normalised. Each latent moves by
// alpha_i = max(0, (strength - d_i) / (n . n_c)) along n_c, d_i its signed distance toward the
// target side, so it ends `strength` past the boundary; steps 1..steps are evenly spaced points
// of that move.
//
// latent: no gradient steps through the image classifier. With f the bundle's latent classifier
// (an MLP z -> logits fitted to the editing classifier on generated faces, Directions), Adam
// (100 steps of 0.15) from z0 minimises
//   sum_t 10 relu(strength - s_t f_t(z))^2 + sum_k w_k (f_k(z) - f_k(z0))^2 + 0.3 ||z - z0||^2
// (s_t = +1 add / -1 remove, w_k the keep mask's weights); steps 1..steps are evenly spaced
// points of the move z0 -> z. The latent classifier sees no pixels, so the move cannot be an
// adversarial pixel pattern. With the ladder (default fractions 0.5, 0.75), the latent pass runs
// at strength x 0.5, x 0.75 and x 1 for the latents the editing classifier has not yet put past
// latent_accept_prob, each judged from one render of its end point (a small batch runs all the
// passes in one optimisation): each latent keeps the smallest move that flips it convincingly
// (EditResult::strengths). With fallback_ranks, a latent still short is then pushed by projected
// at `rank`, then at each of fallback_ranks, each pass starting from the best point so far (where
// the latent passes left it, or an earlier projected pass's end where that came closer) and
// stopping at accept_prob (EditSpec::passes). Unless a stop probability is set, the result's
// steps are the kept move z0 -> z at steps + 1 evenly spaced points, rendered once at the end. The
// default method, auto, is latent with the ladder and those fallbacks when the bundle has a
// latent classifier, else projected.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "latentedit/bundle.h"
#include "latentedit/spec.h"

namespace latentedit {

struct EditProgress {
  int step = 0, steps = 0;           // `step` of `steps` updates done (over all micro-batches)
  int active = 0;                    // latents still moving
  int pass = 1, passes = 1;          // which pass of EditSpec::passes() (1 = every latent's first)
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
  std::vector<int> ranks;            // projected / latent: per latent, the rank of the pass it kept (0: the
                                     // latent method's own pass; empty for other methods)
  std::vector<double> strengths;     // latent: per latent, the strength of the latent pass it kept (0: it
                                     // kept a projected pass); empty for other methods
  double seconds = 0.0;              // wall time of the edit loop
};

// Whether the bundle's directions include a latent classifier (what --method latent needs).
bool has_latent_classifier(const Models& m);

// The method an edit with `requested` runs on this bundle (auto resolved: resolve_method).
Method method_used(const Models& m, Method requested);

// Draws N latents exactly as Python: torch.manual_seed(seed); torch.randn(n, z_dim).
torch::Tensor sample_latents(uint64_t seed, int64_t n, int64_t z_dim);

// Runs the edit (validates `spec` first: UsageError). Deterministic for the same inputs and
// thread count.
EditResult edit(const Models& m, const torch::Tensor& z0, const EditSpec& spec,
                const EditCallback& progress = nullptr);

// Generates images (no gradient) in the model's output range.
torch::Tensor generate(const Models& m, const torch::Tensor& z);
// Attribute logits of images given in the model's range (no gradient).
torch::Tensor classify(const Network& classifier, const torch::Tensor& images, int64_t batch = 256);

}  // namespace latentedit
