// latentedit — the course architectures (DeepLearning.AI GANs C1W4) as LibTorch modules.
//
// Parameter and buffer names equal the PyTorch state_dict keys of the course code, so
// weights map one to one:
//   Generator:  gen.{0..3}.0.{weight,bias}            ConvTranspose2d (k3 s2; last k4 s2)
//               gen.{0..3}.1.{weight,bias,running_mean,running_var,num_batches_tracked}
//               gen.4.0.{weight,bias}                 then Tanh
//   Classifier: classifier.{0..2}.0.{weight,bias}     Conv2d k4 s2 (third block s3)
//               classifier.{0..2}.1.*                 BatchNorm2d, LeakyReLU(0.2)
//               classifier.3.0.{weight,bias}          Conv2d(4h -> n_classes, k4 s2)
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "latentedit/safetensors.h"

namespace latentedit {

struct GeneratorOptions {
  int64_t z_dim = 64;
  int64_t im_chan = 3;
  int64_t hidden_dim = 64;
};

// z (N, z_dim) -> image (N, im_chan, 64, 64) in [-1, 1].
class GeneratorImpl : public torch::nn::Module {
 public:
  explicit GeneratorImpl(const GeneratorOptions& o = {});
  torch::Tensor forward(const torch::Tensor& z);
  const GeneratorOptions& options() const { return opt_; }

 private:
  GeneratorOptions opt_;
  torch::nn::Sequential gen_{nullptr};
};
TORCH_MODULE(Generator);

struct ClassifierOptions {
  int64_t im_chan = 3;
  int64_t n_classes = 40;
  int64_t hidden_dim = 64;
};

// image (N, im_chan, 64, 64) -> logits (N, n_classes).
class ClassifierImpl : public torch::nn::Module {
 public:
  explicit ClassifierImpl(const ClassifierOptions& o = {});
  torch::Tensor forward(const torch::Tensor& x);
  // Penultimate features: the third block's output averaged over space, (N, 4*hidden).
  torch::Tensor features(const torch::Tensor& x);
  const ClassifierOptions& options() const { return opt_; }

 private:
  ClassifierOptions opt_;
  torch::nn::Sequential classifier_{nullptr};
};
TORCH_MODULE(Classifier);

// The module's parameters and buffers as named CPU tensors (state_dict order).
NamedTensors state_dict(const torch::nn::Module& m);

// Copies `weights` into `m`. Every parameter/buffer must be present with the same shape;
// extra keys are an error too. Throws ModelError listing missing / unexpected / mismatched
// keys (`what` names the file in the message). Floating dtypes are converted.
void load_state_dict(torch::nn::Module& m, const NamedTensors& weights, const std::string& what);

// Puts a module in eval mode and freezes every parameter (requires_grad = false).
void freeze(torch::nn::Module& m);

// Infers the course generator's options from a state_dict's shapes. Throws ModelError.
GeneratorOptions infer_generator_options(const NamedTensors& sd, const std::string& what);
// Infers the course classifier's options from a state_dict's shapes. Throws ModelError.
ClassifierOptions infer_classifier_options(const NamedTensors& sd, const std::string& what);

}  // namespace latentedit
