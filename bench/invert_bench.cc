// Inversion quality and speed on the bundled model (issue 16's figures):
//   A. N procedural faces from a held-out data seed (not generator samples): PSNR, the editing
//      classifier's feature distance, attribute agreement target vs reconstruction (of 40) by
//      the editing classifier and by the auditor, time per image;
//   B. N generator samples with known z*: PSNR and |z - z*|.
// Usage: latentedit_invert_bench [--n 200] [--threads 2] [--steps S] [--restarts R] [--data-seed 103]
//                               [--perceptual W] [--lr LR] [--candidates K] [--init search|random]
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>

#include "latentedit/bundle.h"
#include "latentedit/dataset.h"
#include "latentedit/editor.h"
#include "latentedit/invert.h"
#include "io/runtime.h"
#include "bench_args.h"

using namespace latentedit;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x / static_cast<double>(v.size());
  return s;
}
// Mean over images of how many attributes fall on the same side of 0.5 in both.
double agreement(const Network& net, const torch::Tensor& a, const torch::Tensor& b) {
  const auto pa = torch::sigmoid(classify(net, a)) > 0.5, pb = torch::sigmoid(classify(net, b)) > 0.5;
  return (pa == pb).sum(1).to(torch::kFloat64).mean().item<double>();
}
void report(const char* what, const Models& m, const torch::Tensor& x, const InvertResult& r) {
  std::printf("%s\n", what);
  std::printf("   PSNR mean %.2f dB, median %.2f, min %.2f, max %.2f\n", mean(r.psnr), median(r.psnr),
              *std::min_element(r.psnr.begin(), r.psnr.end()), *std::max_element(r.psnr.begin(), r.psnr.end()));
  std::printf("   feature distance (editing classifier) mean %.3f\n", mean(r.feature_distance));
  std::printf("   attributes agreeing target vs reconstruction, of 40: editing classifier %.1f", agreement(m.classifier, x, r.reconstruction));
  if (m.auditor) std::printf(", auditor %.1f", agreement(*m.auditor, x, r.reconstruction));
  std::printf("\n   time %.2f s in all, %.3f s per image\n", r.seconds, r.seconds / static_cast<double>(x.size(0)));
}
}  // namespace

int main(int argc, char** argv) {
  int n = 200, threads = 2;
  uint64_t data_seed = 103;
  InvertOptions o;
  const char* usage =
      "usage: latentedit_invert_bench [--n N] [--threads N] [--steps S] [--restarts R] [--candidates C] [--data-seed S]\n"
      "                               [--perceptual W] [--lr X] [--init search|random]\n";
  const int done = bench::read_args(argc, argv, "latentedit_invert_bench", usage, [&](const std::string& a, const char* v) {
    const long long i = std::atoll(v);
    if (a == "--n") n = static_cast<int>(i);
    else if (a == "--threads") threads = static_cast<int>(i);
    else if (a == "--steps") o.steps = static_cast<int>(i);
    else if (a == "--restarts") o.restarts = static_cast<int>(i);
    else if (a == "--data-seed") data_seed = static_cast<uint64_t>(i);
    else if (a == "--perceptual") o.perceptual = std::atof(v);
    else if (a == "--lr") o.lr = std::atof(v);
    else if (a == "--candidates") o.candidates = static_cast<int>(i);
    else if (a == "--init") o.search = std::string(v) != "random";
    else return false;
    return true;
  });
  if (done >= 0) return done;
  tune_allocator();
  set_threads(threads);
  const Models m = load_bundle(std::string(LATENTEDIT_SOURCE_DIR) + "/pretrained/faces64");
  std::printf("latentedit invert benchmark: bundled %s, %d images, %d steps, %d restarts of %d candidates, perceptual %g, lr %g, "
              "%d threads (%u cores)\n\n", m.name.c_str(), n, o.steps, o.restarts, o.candidates, o.perceptual, o.lr, threads,
              std::thread::hardware_concurrency());

  const Dataset d = render_dataset(data_seed, 0, n, static_cast<int>(m.image_size));
  const torch::Tensor faces = to_model_range(d.images, m.range_lo, m.range_hi);
  const InvertResult a = invert(m, faces, o);
  report(("A. procedural faces, held-out data seed " + std::to_string(data_seed) + " (the bundle trained on seed 1)").c_str(), m, faces, a);

  const torch::Tensor z_star = sample_latents(777, n, m.z_dim);
  const torch::Tensor samples = generate(m, z_star);
  const InvertResult b = invert(m, samples, o);
  std::printf("\n");
  report("B. generator samples with known z* (seed 777)", m, samples, b);
  const torch::Tensor dz = (b.z - z_star).norm(2, 1);
  const torch::Tensor rel = dz / z_star.norm(2, 1);
  std::printf("   |z - z*| mean %.3f, median %.3f (|z*| ~ %.2f); relative mean %.3f\n", dz.mean().item<double>(),
              dz.median().item<double>(), z_star.norm(2, 1).mean().item<double>(), rel.mean().item<double>());
  return 0;
}
