// latentedit — GAN inversion: find z with G(z) close to a given image, so every edit works on
// a real photo. In the manner of stylegan2-ada's projector (Karras et al. 2020), adapted to a
// z-space DCGAN:
//
//   loss_i(z) = pixel * mean((G(z) - x_i)^2)                         (the model's range)
//             + perceptual * mean((f(G(z)) - f(x_i))^2) / mean(f(x_i)^2)   f: the editing
//                 classifier's penultimate features (never the auditor's: it stays a judge)
//             + prior * (||z|| - sqrt(d))^2                          (z near the Gaussian shell)
//
// Start: `candidates` random z are drawn once (shared by all images); each image's `restarts`
// optimisations start from its best-scoring distinct candidates. Adam, with the learning rate
// warmed up linearly over the first `warmup` of the steps and ramped down with a cosine over the
// last 25 %; noise of std noise * max(0, 1 - t / (0.75 T))^2 is added to z in the forward pass
// (decaying to 0 at 75 % of the steps). Each image keeps the restart with the lowest final loss.
// Deterministic for the same inputs, seed and thread count.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "latentedit/bundle.h"

namespace latentedit {

struct InvertOptions {
  int steps = 200;
  int restarts = 2;          // optimisations per image, from its best distinct candidates
  int candidates = 256;      // random z scored once to choose the starting points
  bool search = true;        // false: each restart starts from its own random z (no candidate search)
  double lr = 0.1;           // Adam's peak learning rate
  double warmup = 0.05;      // fraction of the steps of linear warm-up
  double noise = 0.1;        // initial std of the latent noise
  double pixel = 1.0;
  double perceptual = 0.1;  // chosen on 32 held-out faces: 0.1 kept attributes best (docs/invert.md)
  double prior = 0.01;
  uint64_t seed = 0;
  int64_t batch = 32;        // images optimised together (bounds memory; the noise draws depend on it, so
                             // keep it fixed to reproduce a result)
};

struct InvertProgress {
  int step = 0, steps = 0;
  int64_t done = 0, total = 0;  // images finished / all
  double mean_psnr = 0.0;       // of the current chunk, at this step
};

struct InvertResult {
  torch::Tensor z;                   // (N, z_dim)
  torch::Tensor reconstruction;      // (N, 3, H, W) = G(z), the model's range
  std::vector<double> psnr;          // dB, pixels in [0, 1]
  std::vector<double> feature_distance;  // ||f(G(z)) - f(x)|| / ||f(x)|| (editing classifier)
  std::vector<double> loss;          // final loss of the kept restart
  double seconds = 0.0;
};

// The options' JSON form and validation (UsageError naming the field), from their one table.
nlohmann::json to_json(const InvertOptions& o);
void validate(const InvertOptions& o);

// Inverts images (N, 3, H, W) given in the model's range at its size (load_image_for_model).
// Needs a generator and a course-architecture classifier (for the perceptual term; with a
// TorchScript classifier, set perceptual = 0). Throws UsageError for bad options.
InvertResult invert(const Models& m, const torch::Tensor& images, const InvertOptions& o,
                    const std::function<void(const InvertProgress&)>& progress = nullptr);

// One line per image whose reconstruction is far from it (PSNR below the bundle's
// inversion_warning_psnr): what was measured, the bound, and what the generator draws — the edit
// would be of a different face. `names[i]` names image i (a file, a job). Empty when the bundle
// sets no bound or every image is close.
std::vector<std::string> inversion_warnings(const Models& m, const InvertResult& r, const std::vector<std::string>& names);
// The same for one image of reconstruction PSNR `psnr_db`: the line, or "".
std::string inversion_warning(const Models& m, double psnr_db, const std::string& name);

// PSNR in dB between images in [lo, hi] (per row), pixels mapped to [0, 1].
std::vector<double> psnr(const torch::Tensor& a, const torch::Tensor& b, double lo, double hi);

}  // namespace latentedit
