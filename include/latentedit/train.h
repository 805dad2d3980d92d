// latentedit — training the course classifier and a course-architecture GAN in C++.
//
// Determinism: batch order and noise for step s come from generators seeded by (seed, s), so a
// run resumed from a checkpoint continues exactly as an uninterrupted one (same thread count).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>

#include "latentedit/dataset.h"
#include "latentedit/models.h"

namespace latentedit {

struct TrainStats {
  int64_t step = 0, steps = 0;
  std::map<std::string, double> losses;  // running means since the last report
  double seconds = 0;                    // since this run started
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

struct GanTrainOptions {
  int64_t z_dim = 64;
  int64_t g_hidden = 32;
  int64_t d_hidden = 32;
  int64_t steps = 3000;
  int64_t batch = 64;
  double lr_g = 2e-4, lr_d = 2e-4;  // Adam, betas (0, 0.9)
  double ema = 0.999;               // EMA of the generator's weights (0 = off)
  uint64_t seed = 1;
  std::string checkpoint;
  int64_t checkpoint_every = 500;
  bool resume = false;
  int64_t report_every = 20;
  int64_t bn_calibration_batches = 50;  // batches used to recompute the exported G's BN stats
};

// Trains a course generator against a spectral-norm discriminator with the hinge loss; returns
// the EMA generator (eval mode) with BatchNorm statistics recomputed for its weights.
Generator train_gan(const Dataset& data, const GanTrainOptions& o, const TrainCallback& cb = nullptr);

// The discriminator used by train_gan: convs k4 s2 p1 3->h->2h->4h->8h with LeakyReLU(0.2),
// then k4 -> 1 logit; every conv spectrally normalised (one power iteration per forward).
class SNDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit SNDiscriminatorImpl(int64_t hidden_dim = 32);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  struct Layer {
    torch::Tensor weight, bias, u;
    int64_t stride, padding;
  };
  std::vector<Layer> layers_;
};
TORCH_MODULE(SNDiscriminator);

}  // namespace latentedit
