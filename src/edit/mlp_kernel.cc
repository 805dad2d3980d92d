// The latent models' MLPs forward and backward by hand (mlp_kernel.h).
//
// Forward: four weight rows against up to four input rows at a time, each dot product in 16
// lanes summed in a fixed order at the end; backward (to the input only): four weight rows'
// contributions added into each input-gradient row at once. Every (weight row, input row) pair
// is computed by the same sequence of operations whichever block it falls in, so a row's result
// does not depend on M. Compiled for AVX-512, AVX2 and plain x86-64; the loader picks the
// machine's best (GCC's target_clones).
#include "edit/mlp_kernel.h"

#include <cmath>
#include <cstring>

namespace latentedit {
namespace {

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define LATENTEDIT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LATENTEDIT_CLONES
#endif

constexpr int kLanes = 16;

// y[r][i..i+3] = b + W[i..i+3] . x[r] for R rows of x.
template <int R>
inline void dot4(const float* w, int in, const float* const* x, float (*acc)[4][kLanes], float* const* y, const float* b) {
  const float* w0 = w;
  const float* w1 = w0 + in;
  const float* w2 = w1 + in;
  const float* w3 = w2 + in;
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < kLanes; ++l) acc[r][k][l] = 0.0f;
  for (int j = 0; j < in; j += kLanes)
    for (int r = 0; r < R; ++r) {
      const float* xr = x[r] + j;
      for (int l = 0; l < kLanes; ++l) {
        const float xv = xr[l];
        acc[r][0][l] += w0[j + l] * xv;
        acc[r][1][l] += w1[j + l] * xv;
        acc[r][2][l] += w2[j + l] * xv;
        acc[r][3][l] += w3[j + l] * xv;
      }
    }
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < 4; ++k) {
      float s = 0.0f;
      for (int l = 0; l < kLanes; ++l) s += acc[r][k][l];
      y[r][k] = s + b[k];
    }
}

// The same for one weight row (the last out % 4 rows): the same operations per pair.
inline float dot1(const float* w, int in, const float* x, float b) {
  float acc[kLanes] = {};
  for (int j = 0; j < in; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += w[j + l] * x[j + l];
  float s = 0.0f;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s + b;
}

LATENTEDIT_CLONES void linear_forward(const MlpView::Layer& L, const float* x, int M, float* y) {
  alignas(64) float acc[4][4][kLanes];
  int i = 0;
  for (; i + 4 <= L.out; i += 4) {
    const float* w = L.w + static_cast<size_t>(i) * L.in;
    int r = 0;
    for (; r + 4 <= M; r += 4) {
      const float* xs[4] = {x + static_cast<size_t>(r) * L.in, x + static_cast<size_t>(r + 1) * L.in,
                            x + static_cast<size_t>(r + 2) * L.in, x + static_cast<size_t>(r + 3) * L.in};
      float* ys[4] = {y + static_cast<size_t>(r) * L.out + i, y + static_cast<size_t>(r + 1) * L.out + i,
                      y + static_cast<size_t>(r + 2) * L.out + i, y + static_cast<size_t>(r + 3) * L.out + i};
      dot4<4>(w, L.in, xs, acc, ys, L.b + i);
    }
    for (; r < M; ++r) {
      const float* xs[1] = {x + static_cast<size_t>(r) * L.in};
      float* ys[1] = {y + static_cast<size_t>(r) * L.out + i};
      dot4<1>(w, L.in, xs, acc, ys, L.b + i);
    }
  }
  for (; i < L.out; ++i)
    for (int r = 0; r < M; ++r)
      y[static_cast<size_t>(r) * L.out + i] = dot1(L.w + static_cast<size_t>(i) * L.in, L.in, x + static_cast<size_t>(r) * L.in, L.b[i]);
}

// gx[r] += sum_i gy[r][i] W[i] (gx (M, in), gy (M, out)).
LATENTEDIT_CLONES void linear_backward(const MlpView::Layer& L, const float* gy, int M, float* gx) {
  int i = 0;
  for (; i + 4 <= L.out; i += 4) {
    const float* w0 = L.w + static_cast<size_t>(i) * L.in;
    const float* w1 = w0 + L.in;
    const float* w2 = w1 + L.in;
    const float* w3 = w2 + L.in;
    for (int r = 0; r < M; ++r) {
      const float* g = gy + static_cast<size_t>(r) * L.out + i;
      const float g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3];
      float* gr = gx + static_cast<size_t>(r) * L.in;
      for (int j = 0; j < L.in; ++j) gr[j] += g0 * w0[j] + g1 * w1[j] + g2 * w2[j] + g3 * w3[j];
    }
  }
  for (; i < L.out; ++i) {
    const float* w = L.w + static_cast<size_t>(i) * L.in;
    for (int r = 0; r < M; ++r) {
      const float g = gy[static_cast<size_t>(r) * L.out + i];
      float* gr = gx + static_cast<size_t>(r) * L.in;
      for (int j = 0; j < L.in; ++j) gr[j] += g * w[j];
    }
  }
}

float sigmoid(float a) { return 1.0f / (1.0f + std::exp(-a)); }

}  // namespace

MlpView mlp_view(const Mlp& mlp) {
  MlpView v;
  for (size_t i = 0; i < mlp.weights.size(); ++i) {
    const auto& w = mlp.weights[i];
    const auto& b = mlp.biases[i];
    if (w.scalar_type() != torch::kFloat32 || b.scalar_type() != torch::kFloat32 || !w.is_contiguous() || !b.is_contiguous() ||
        w.dim() != 2 || b.dim() != 1 || b.size(0) != w.size(0) || w.size(1) % kLanes != 0 ||
        (!v.layers.empty() && v.layers.back().out != w.size(1)))
      return {};
    v.layers.push_back({w.data_ptr<float>(), b.data_ptr<float>(), static_cast<int>(w.size(1)), static_cast<int>(w.size(0))});
  }
  return v;
}

void mlp_forward(const MlpView& mlp, const float* x, int M, MlpTape& tape, float* out) {
  const size_t n = mlp.layers.size();
  tape.pre.resize(n - 1);
  tape.sig.resize(n - 1);
  tape.act.resize(n - 1);
  const float* h = x;
  for (size_t k = 0; k + 1 < n; ++k) {
    const auto& L = mlp.layers[k];
    auto& a = tape.pre[k];
    auto& sg = tape.sig[k];
    auto& o = tape.act[k];
    a.resize(static_cast<size_t>(M) * L.out);
    sg.resize(a.size());
    o.resize(a.size());
    linear_forward(L, h, M, a.data());
    for (size_t q = 0; q < a.size(); ++q) {  // SiLU
      sg[q] = sigmoid(a[q]);
      o[q] = a[q] * sg[q];
    }
    h = o.data();
  }
  linear_forward(mlp.layers.back(), h, M, out);
}

void mlp_backward(const MlpView& mlp, const MlpTape& tape, const float* gout, int M, float* gx) {
  const size_t n = mlp.layers.size();
  std::vector<float> g(gout, gout + static_cast<size_t>(M) * mlp.out()), gi;
  for (size_t k = n; k-- > 0;) {
    const auto& L = mlp.layers[k];
    if (k + 1 < n) {  // through the SiLU after layer k: silu'(a) = s (1 + a (1 - s))
      const auto& a = tape.pre[k];
      const auto& sg = tape.sig[k];
      for (size_t q = 0; q < g.size(); ++q) g[q] *= sg[q] * (1.0f + a[q] * (1.0f - sg[q]));
    }
    if (k == 0) {
      linear_backward(L, g.data(), M, gx);
      return;
    }
    gi.assign(static_cast<size_t>(M) * L.in, 0.0f);
    linear_backward(L, g.data(), M, gi.data());
    g.swap(gi);
  }
}

}  // namespace latentedit
