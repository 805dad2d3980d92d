#include "model/fused.h"

#include <map>

#include "latentedit/errors.h"

namespace latentedit {
namespace F = torch::nn::functional;

namespace {
constexpr double kBnEps = 1e-5;  // nn.BatchNorm2d's default, as in the course code

struct Lookup {
  std::map<std::string, torch::Tensor> m;
  explicit Lookup(const NamedTensors& sd) {
    for (const auto& [k, v] : sd) m[k] = v.detach().to(torch::kFloat32);
  }
  torch::Tensor operator()(const std::string& k) const {
    auto it = m.find(k);
    if (it == m.end()) throw ModelError("fused network: missing " + k);
    return it->second;
  }
  bool has(const std::string& k) const { return m.count(k) > 0; }
};

// Folds BatchNorm `bn` (prefix) into per-output-channel scale and shift of a conv's output.
std::pair<torch::Tensor, torch::Tensor> bn_fold(const Lookup& L, const std::string& bn) {
  const torch::Tensor s = L(bn + ".weight") / (L(bn + ".running_var") + kBnEps).sqrt();
  return {s, L(bn + ".bias") - L(bn + ".running_mean") * s};
}

// ConvTranspose2d(stride 2, padding 0) weight (Cin, Cout, K, K) as a Conv2d weight
// (4 Cout, Cin, J, J), J = ceil(K/2), whose output channel c*4 + py*2 + px is output phase
// (py, px) of channel c: y[2a+p] = sum_j x[a-j] w[p+2j] = sum_t xpad[a+t] w[p+2(J-1-t)].
torch::Tensor subpixel_weight(const torch::Tensor& w) {
  const int64_t cin = w.size(0), cout = w.size(1), K = w.size(2), J = (K + 1) / 2;
  torch::Tensor out = torch::zeros({cout, 2, 2, cin, J, J});
  for (int64_t py = 0; py < 2; ++py)
    for (int64_t px = 0; px < 2; ++px)
      for (int64_t ty = 0; ty < J; ++ty)
        for (int64_t tx = 0; tx < J; ++tx) {
          const int64_t ky = py + 2 * (J - 1 - ty), kx = px + 2 * (J - 1 - tx);
          if (ky < K && kx < K)
            out.select(1, py).select(1, px).select(3, tx).select(2, ty).copy_(w.select(3, kx).select(2, ky).t());
        }
  return out.reshape({cout * 4, cin, J, J}).contiguous();
}
}  // namespace

TensorFn fused_generator(const NamedTensors& sd, const GeneratorOptions& o, torch::ScalarType dtype) {
  const Lookup L(sd);
  struct Layer {
    torch::Tensor w, b;        // first layer: matrix; others: sub-pixel conv weight and bias
    torch::Tensor wt, bt;      // others, FP32 only: the folded transposed-conv weight and bias
    int64_t K = 0, cout = 0;
    bool first = false, final = false;
  };
  std::vector<Layer> layers;
  for (int i = 0; i < 5; ++i) {
    const std::string p = "gen." + std::to_string(i);
    torch::Tensor w = L(p + ".0.weight"), b = L(p + ".0.bias");
    Layer l;
    l.K = w.size(2);
    l.cout = w.size(1);
    l.final = i == 4;
    l.first = i == 0;
    if (!l.final) {
      auto [s, t] = bn_fold(L, p + ".1");
      w = w * s.view({1, -1, 1, 1});
      b = b * s + t;
    }
    if (l.first) {
      // 1x1 input: out[n, c, ky, kx] = sum_i z[n, i] w[i, c, ky, kx] + b[c].
      l.w = w.reshape({w.size(0), -1}).contiguous();
      l.b = b.repeat_interleave(l.K * l.K).contiguous();
    } else {
      l.w = subpixel_weight(w);
      l.b = b.repeat_interleave(4).contiguous();
      // libtorch 1.13's CPU conv_transpose2d has no working bfloat16 path: BF16 always takes the
      // sub-pixel form (which oneDNN runs natively in bfloat16), so only FP32 keeps these.
      if (dtype == torch::kFloat32) {
        l.wt = w.contiguous();
        l.bt = b.contiguous();
      }
    }
    for (torch::Tensor* t : {&l.w, &l.b, &l.wt, &l.bt})
      if (t->defined()) *t = t->to(dtype);
    layers.push_back(l);
  }
  const int64_t z_dim = o.z_dim;
  return [layers, z_dim, dtype](const torch::Tensor& z) {
    const int64_t N = z.size(0);
    torch::Tensor x;
    for (const auto& l : layers) {
      if (l.first) {
        x = torch::addmm(l.b, z.reshape({N, z_dim}).to(dtype), l.w).view({N, l.cout, l.K, l.K});
      } else if (N == 1 && l.wt.defined()) {
        // For a single image the sub-pixel form is slower (measured): keep the transposed conv.
        x = torch::conv_transpose2d(x, l.wt, l.bt, 2);
      } else {
        const int64_t H = x.size(2), J = (l.K + 1) / 2, out = (H - 1) * 2 + l.K;
        x = F::pixel_shuffle(torch::conv2d(x, l.w, l.b, 1, J - 1), 2);
        if (x.size(2) != out) x = x.slice(2, 0, out).slice(3, 0, out);
      }
      x = l.final ? torch::tanh(x) : torch::relu(x);
    }
    return x.to(torch::kFloat32);
  };
}

TensorFn fused_classifier(const NamedTensors& sd, const ClassifierOptions& o, torch::ScalarType dtype) {
  const Lookup L(sd);
  struct Layer {
    torch::Tensor w, b;
    int64_t stride;
    bool final;
  };
  std::vector<Layer> layers;
  const int64_t strides[4] = {2, 2, 3, 2};
  for (int i = 0; i < 4; ++i) {
    const std::string p = "classifier." + std::to_string(i);
    torch::Tensor w = L(p + ".0.weight"), b = L(p + ".0.bias");
    const bool final = i == 3;
    if (!final) {
      auto [s, t] = bn_fold(L, p + ".1");
      w = w * s.view({-1, 1, 1, 1});
      b = b * s + t;
    }
    layers.push_back({w.to(dtype).contiguous(), b.to(dtype).contiguous(), strides[i], final});
  }
  (void)o;
  return [layers, dtype](const torch::Tensor& img) {
    torch::Tensor x = img.to(dtype);
    for (const auto& l : layers) {
      x = torch::conv2d(x, l.w, l.b, l.stride);
      if (!l.final) x = torch::leaky_relu(x, 0.2);
    }
    return x.view({x.size(0), -1}).to(torch::kFloat32);
  };
}

int64_t generator_flops(const GeneratorOptions& o) {
  const int64_t h = o.hidden_dim;
  const int64_t ch[6] = {o.z_dim, h * 8, h * 4, h * 2, h, o.im_chan};
  int64_t H = 1, total = 0;
  for (int i = 0; i < 5; ++i) {
    const int64_t K = i == 4 ? 4 : 3;
    total += 2 * ch[i] * ch[i + 1] * K * K * H * H;  // every input pixel meets every tap
    H = (H - 1) * 2 + K;
  }
  return total;
}

int64_t classifier_flops(const ClassifierOptions& o, int64_t image_size) {
  const int64_t h = o.hidden_dim;
  const int64_t ch[5] = {o.im_chan, h, h * 2, h * 4, o.n_classes};
  const int64_t strides[4] = {2, 2, 3, 2};
  int64_t H = image_size, total = 0;
  for (int i = 0; i < 4; ++i) {
    H = (H - 4) / strides[i] + 1;
    total += 2 * ch[i] * ch[i + 1] * 16 * H * H;
  }
  return total;
}

}  // namespace latentedit
