// Edit-loop benchmark: milliseconds per image-step of the C1W4 algorithm (10 steps, penalty
// 0.1) on course-size networks (generator and classifier hidden 64, random weights: speed does
// not depend on the values) and on the bundled model, at several batch sizes. Prints medians of
// `--reps` runs. Usage: latentedit_bench [--threads N] [--reps R] [--bundle DIR]
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "latentedit/bundle.h"
#include "latentedit/editor.h"
#include "latentedit/runtime.h"

using namespace latentedit;

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

static void bench(const char* label, const Models& m, int reps) {
  EditSpec s;
  s.targets = {{31, Direction::kAdd, std::nullopt}};
  s.steps = 10;
  for (int64_t n : {1, 8, 64}) {
    const auto z = sample_latents(0, n, m.z_dim);
    edit(m, z, s);  // warm-up
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) t.push_back(edit(m, z, s).seconds);
    const double ms = median(t) * 1000.0 / (n * s.steps);
    std::printf("%-28s batch %3lld: %7.2f ms per image-step (median of %d; %.1f ms per edit)\n", label,
                static_cast<long long>(n), ms, reps, median(t) * 1000.0);
  }
}

int main(int argc, char** argv) {
  int threads = 0, reps = 7;
  std::string bundle;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--bundle")) bundle = argv[i + 1];
  }
  std::printf("threads: %d\n", set_threads(threads));
  {
    torch::manual_seed(0);
    Models course;
    course.name = "course-size";
    course.attributes.resize(40);
    Generator g;
    Classifier c;
    course.generator = make_generator_network(state_dict(*g), "random");
    course.classifier = make_classifier_network(state_dict(*c), "random");
    bench("course size (hidden 64/64)", course, reps);
  }
  if (bundle.empty()) {
    try {
      bundle = default_bundle_dir(argv[0]);
    } catch (const std::exception&) {
    }
  }
  if (!bundle.empty() && std::filesystem::exists(bundle + "/model.json")) {
    const Models m = load_bundle(bundle);
    bench(("bundle " + m.name).c_str(), m, reps);
  }
  return 0;
}
