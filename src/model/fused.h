// latentedit (internal) — inference rewrites of the course networks for the edit loop.
//
// The same functions as the eval-mode modules (tested: outputs and input gradients within
// 1e-5), but faster on the CPU with libtorch 1.13:
//  - BatchNorm (running statistics) folded into the preceding convolution's weight and bias;
//  - the generator's first layer, a transposed convolution of a 1x1 input, as one matrix
//    product;
//  - for batches of 2 or more, every other stride-2 transposed convolution as one regular
//    convolution producing the four output phases, then pixel_shuffle(2) (and a crop for odd
//    kernels). libtorch 1.13 runs ConvTranspose2d with im2col + GEMM; the regular convolution
//    goes through oneDNN. For a single image the transposed convolution is faster (measured)
//    and is kept.
// Weights are plain tensors without gradients; gradients flow to the input only.
// With `dtype` bfloat16 the folded weights and every activation are bfloat16 (oneDNN's native
// BF16 kernels on CPUs with AVX-512 BF16 or AMX); the input is converted on entry and the output
// returned as float32, so callers (the loss, the update of z) stay in FP32.
#pragma once
#include <torch/torch.h>

#include <functional>

#include "latentedit/models.h"

namespace latentedit {

using TensorFn = std::function<torch::Tensor(const torch::Tensor&)>;

// z (N, z_dim) -> image, from a course generator's state_dict (eval semantics).
TensorFn fused_generator(const NamedTensors& sd, const GeneratorOptions& o, torch::ScalarType dtype = torch::kFloat32);

// image -> logits (N, n_classes), from a course classifier's state_dict (eval semantics).
TensorFn fused_classifier(const NamedTensors& sd, const ClassifierOptions& o, torch::ScalarType dtype = torch::kFloat32);

// Counts the multiply-adds x 2 (FLOPs) of one forward pass of each network for one image.
int64_t generator_flops(const GeneratorOptions& o);
int64_t classifier_flops(const ClassifierOptions& o, int64_t image_size = 64);

}  // namespace latentedit
