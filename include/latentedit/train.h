// latentedit — training the course classifier and a course-architecture GAN in C++.
//
// Determinism: batch order and noise for step s come from generators seeded by (seed, s), so a
// run resumed from a checkpoint continues exactly as an uninterrupted one (same thread count).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "latentedit/bundle.h"
#include "latentedit/dataset.h"
#include "latentedit/errors.h"
#include "latentedit/models.h"
#include "latentedit/train_report.h"

namespace latentedit {

struct CollapseDiagnostics;
struct TrainStats {
  int64_t step = 0, steps = 0;
  std::map<std::string, double> losses;  // running means since the last report
  double seconds = 0;                    // since this run started
  int64_t resumed_from = 0;              // the step this run started at (> 0 after --resume)
  int64_t d_updates = 0, g_updates = 0;  // optimiser steps taken so far (GAN; resumes included)
  std::shared_ptr<const CollapseDiagnostics> diagnostics;  // GAN, at diagnostic steps only
  torch::Tensor samples;                                   // with diagnostics: G on fixed latents
};
using TrainCallback = std::function<void(const TrainStats&)>;

struct ClassifierTrainOptions {
  int64_t hidden_dim = 32;
  int64_t steps = 3000;
  int64_t batch = 128;
  double lr = 1e-3;                 // Adam, betas (0.5, 0.999) as the course
  uint64_t seed = 1;
  std::string checkpoint;           // file for periodic checkpoints ("" = none)
  int64_t checkpoint_every = 500;
  bool resume = false;              // continue from `checkpoint` if it exists
  int64_t report_every = 20;
  // Robust training (for guidance whose input-gradient means the attribute): each batch's loss
  // is the mean of the clean loss and the loss on an L-infinity PGD attack of radius
  // `adversarial_eps` (in the model's [-1, 1] input range; 0 = off) with `pgd_steps` signed-
  // gradient steps of 2.5 * eps / pgd_steps from a random start.
  double adversarial_eps = 0.0;
  int64_t pgd_steps = 3;
  bool augment = false;             // random horizontal flips and +-2 px shifts
  NamedTensors init;                // start from these weights (fine-tuning) instead of N(0, 0.02)
};

// Trains the course classifier (BCE-with-logits over all attributes) on `data` (images
// uint8, labels 0/1). Returns the trained module in eval mode.
Classifier train_classifier(const Dataset& data, const ClassifierTrainOptions& o, const TrainCallback& cb = nullptr);

// A GAN loss, written on the discriminator's logits l (D(x) = sigmoid(l)): one entry of
// gan_losses() is all a new loss needs. `d` is minimised by the discriminator, `g` by the
// generator; both return the batch mean.
struct GanLoss {
  std::string name;
  std::string formula;  // as shown by `train gan --help`
  torch::Tensor (*d)(const torch::Tensor& real_logits, const torch::Tensor& fake_logits);
  torch::Tensor (*g)(const torch::Tensor& fake_logits);
};
// minimax (the paper's V(D, G), G descending the same V: saturating), non-saturating
// (G maximises log D(G(z))), hinge.
const std::vector<GanLoss>& gan_losses();
// The loss called `name`; UsageError listing the choices otherwise.
const GanLoss& gan_loss(const std::string& name);

struct GanTrainOptions {
  std::string recipe = "default";   // "course": the course's values for the settings not given (gan_train_fields)
  int64_t z_dim = 64;
  int64_t g_hidden = 32;
  int64_t d_hidden = 32;
  int64_t steps = 3000;             // generator updates
  int64_t batch = 64;
  std::string loss = "hinge";       // a gan_losses() name
  int64_t d_steps = 1;              // discriminator updates (each on a fresh batch) per generator update
  std::string discriminator = "dcgan";  // "dcgan" (no BatchNorm) or "course" (the course Classifier layout, BatchNorm)
  bool spectral_norm = true;        // every D conv spectrally normalised (one power iteration per forward)
  double lr_g = 2e-4, lr_d = 2e-4;  // Adam
  double beta1 = 0.0, beta2 = 0.9;  // Adam betas (the course: 0.5, 0.999)
  double g_bn_gamma_mean = 1.0;     // G's BatchNorm weights ~ N(this, 0.02) (the course: 0)
  double ema = 0.999;               // EMA of the generator's weights (0 = off)
  // Hessian penalty (Peebles et al. 2020) on G w.r.t. z, weight hessian_penalty (0 = off): the
  // variance over hessian_k Rademacher directions v of the central second difference
  // (G(z + eps v) - 2 G(z) + G(z - eps v)) / eps^2, max over output elements, on the first
  // hessian_batch latents of each generator batch. It drives the Hessian's off-diagonal terms to
  // zero: each latent coordinate's effect on the image stops depending on the others.
  double hessian_penalty = 0.0;
  double hessian_eps = 0.1;
  int64_t hessian_k = 2;
  int64_t hessian_batch = 16;
  // R1 gradient penalty on real data (Mescheder et al. 2018), weight gamma = r1 (0 = off), applied
  // every r1_every discriminator updates with its weight scaled by the interval (lazy
  // regularisation, Karras et al. 2020). Usually with spectral_norm off.
  double r1 = 0.0;
  int64_t r1_every = 16;
  // From this generator update on, both learning rates fall linearly to 0 at `steps` (0 = constant).
  int64_t lr_decay_from = 0;
  uint64_t seed = 1;
  std::string checkpoint;
  int64_t checkpoint_every = 500;
  bool resume = false;
  int64_t report_every = 20;
  int64_t bn_calibration_batches = 50;  // batches used to recompute the exported G's BN stats
  // Mode-collapse diagnostics (CollapseProbe) every this many generator updates and at the end
  // (0 = off); `judge` (optional) is a classifier for the attribute frequencies.
  int64_t diagnose_every = 250;
  int64_t diagnose_samples = 256;
  const Network* judge = nullptr;
};

// What a generator's samples say about mode collapse, against the training data.
struct CollapseDiagnostics {
  double pairwise_ratio = 0;    // mean pairwise L2 distance of the samples / the same on data
  double duplicate_share = 0;   // share of samples whose nearest other sample is a near-duplicate
  double frequency_gap = std::numeric_limits<double>::quiet_NaN();      // mean |freq_gen - freq_data| (judge)
  double max_frequency_gap = std::numeric_limits<double>::quiet_NaN();  // its largest attribute
  int worst_attribute = -1;
  double frechet = std::numeric_limits<double>::quiet_NaN();  // in the judge's penultimate features
  bool collapsing = false;
  std::string reason;           // why `collapsing` (empty otherwise)
};

// Measures a generator against fixed data statistics. Samples come from fixed latents, so
// two measurements differ only by the generator. A near-duplicate is a sample whose nearest
// other sample is closer than kDuplicateFraction x the data's median nearest-neighbour
// distance; the generator is called collapsing when pairwise_ratio < kCollapseRatio or
// duplicate_share > kCollapseDuplicates.
class CollapseProbe {
 public:
  static constexpr double kDuplicateFraction = 0.25, kCollapseRatio = 0.5, kCollapseDuplicates = 0.2;
  // Uses the first `samples` images of `data` (or all, if fewer) and draws `samples` latents from `seed`.
  CollapseProbe(const Dataset& data, int64_t z_dim, int64_t samples, uint64_t seed, const Network* judge);
  // `generate` maps latents (N, z_dim) to images (N, 3, 64, 64) in [-1, 1].
  CollapseDiagnostics measure(const std::function<torch::Tensor(const torch::Tensor&)>& generate) const;
  const torch::Tensor& latents() const { return z_; }

 private:
  torch::Tensor z_;
  double data_pairwise_ = 0, data_nn_median_ = 0;
  torch::Tensor data_freq_, data_features_;
  const Network* judge_;
};

// Training statistics of a GAN, per report interval (TrainStats::losses) of train_gan:
//   d_loss, g_loss        the two losses (running means)
//   d_real, d_fake        mean D(x) and D(G(z)) as probabilities, sigmoid of the logits
//   g_grad_norm           L2 norm of the gradient of g_loss over all generator parameters
//   g_logit_grad          RMS over the batch of d(per-sample g loss)/d(D's logit on G(z)): the
//                         signal the loss passes to G (minimax: D(G(z)), vanishing as D wins;
//                         non-saturating: 1 - D(G(z)); hinge: 1)
// and, every diagnose_every updates, TrainStats::diagnostics plus `samples`: G(z) for the
// probe's first 8 latents, (8, 3, 64, 64) in [-1, 1] (the training G, batch statistics).

// The options' JSON form (the `training` record of model.json, a run's log), read from it (unknown
// keys, wrong types and ranges are added to `errors`, each naming its field), and validation
// (UsageError naming the field). One table per struct declares every field (train_fields.cc).
nlohmann::json to_json(const ClassifierTrainOptions& o);
nlohmann::json to_json(const GanTrainOptions& o);
ClassifierTrainOptions classifier_train_options_from_json(const nlohmann::json& j, SettingsErrors& errors);
GanTrainOptions gan_train_options_from_json(const nlohmann::json& j, SettingsErrors& errors);
void validate(const ClassifierTrainOptions& o);
void validate(const GanTrainOptions& o);

// ---- a run's directory ---------------------------------------------------------------------
// train gan's outputs besides the bundle: DIR/training_log.jsonl (a "start"/"resume" event with
// the settings, then a record per report: losses, D outputs, gradient norms, diagnostics),
// DIR/training_samples/step_NNNNNN.png (a row of samples per diagnosis), DIR/training_report.png
// (train_report.h) and DIR/progress.json (step, steps/s, ETA, total wall time over resumed
// sittings, resumes, images seen, the latest losses and diagnostics).
inline constexpr const char* kTrainingLog = "training_log.jsonl";
inline constexpr const char* kTrainingSamples = "training_samples";
inline constexpr const char* kTrainingReport = "training_report.png";
inline constexpr const char* kTrainingProgress = "progress.json";

// Diagnostics as the log records them (non-finite figures as null, the worst attribute by name).
nlohmann::json diagnostics_json(const CollapseDiagnostics& d, const std::vector<std::string>& attributes);

// Writes a run's directory as train_gan reports (use it as, or call it from, the TrainCallback):
// the first report trims the log and samples to the step it resumed from and appends the event.
class TrainingRunWriter {
 public:
  TrainingRunWriter(std::string dir, nlohmann::json settings, std::vector<std::string> attributes, std::string title);
  void operator()(const TrainStats& s);
  void write_report() const;  // DIR/training_report.png from everything logged so far
  bool has_log() const { return !run_.log.empty(); }

 private:
  std::string dir_;
  nlohmann::json settings_, last_diagnostics_;
  std::vector<std::string> attributes_;
  std::string title_;
  bool started_ = false;
  int resumes_ = 0;
  double earlier_seconds_ = 0;
  TrainingRun run_;
};

// Trains a course generator against `o.discriminator` with `o.loss`; returns the EMA generator
// (or G itself when ema = 0; eval mode) with BatchNorm statistics recomputed for its weights.
Generator train_gan(const Dataset& data, const GanTrainOptions& o, const TrainCallback& cb = nullptr);

// The discriminator of train_gan. "dcgan": convs k4 s2 p1 3->h->2h->4h->8h with LeakyReLU(0.2),
// then k4 -> 1 logit, no BatchNorm. "course": the course Classifier's layout (k4 s2, s2, s3, s2;
// BatchNorm + LeakyReLU(0.2)) with one output. With `spectral_norm`, every conv weight is
// divided by its largest singular value (one power iteration per training forward).
class DiscriminatorImpl : public torch::nn::Module {
 public:
  explicit DiscriminatorImpl(int64_t hidden_dim = 32, const std::string& arch = "dcgan", bool spectral_norm = true);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  struct Layer {
    torch::Tensor weight, bias, u;
    int64_t stride, padding;
    torch::nn::BatchNorm2d bn{nullptr};
  };
  std::vector<Layer> layers_;
  bool spectral_norm_;
};
TORCH_MODULE(Discriminator);

}  // namespace latentedit
