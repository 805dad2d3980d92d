// latentedit (internal) — the latent models' MLPs (Linear, SiLU, ..., Linear; weights (out, in)
// as nn.Linear stores them) run forward and backward to their input by hand, for the latent
// method's optimisation: a hundred Adam steps on a few latents, where libtorch's per-operation
// and autograd costs outweighed the arithmetic (docs/PERFORMANCE.md). FP32 only; each row's
// arithmetic is the same whatever the number of rows, so a latent's result does not depend on
// the other rows it runs with (tested).
#pragma once
#include <vector>

#include "latentedit/bundle.h"

namespace latentedit {

// An MLP's FP32 weights, as raw pointers into the Mlp's tensors (which must outlive it).
struct MlpView {
  struct Layer {
    const float* w;
    const float* b;
    int in, out;
  };
  std::vector<Layer> layers;
  int in() const { return layers.front().in; }
  int out() const { return layers.back().out; }
};

// The view of `mlp`, or an empty one when its weights are not contiguous FP32 (e.g. bfloat16),
// a layer's input width is not a multiple of 16, or the layers' shapes do not chain.
MlpView mlp_view(const Mlp& mlp);

// What a forward pass keeps for the backward one, per hidden layer: the pre-activations a, their
// sigmoids (SiLU's derivative needs both) and the activations a * sigmoid(a) (the next layer's input).
struct MlpTape {
  std::vector<std::vector<float>> pre, sig, act;
};

// out (M, mlp.out()) = mlp(x (M, mlp.in())), remembering what backward needs in `tape`.
void mlp_forward(const MlpView& mlp, const float* x, int M, MlpTape& tape, float* out);
// gx (M, mlp.in()) += d(sum gout * out)/dx for the x of the last mlp_forward with `tape`.
void mlp_backward(const MlpView& mlp, const MlpTape& tape, const float* gout, int M, float* gx);

}  // namespace latentedit
