// `latentedit dataset`: procedural faces in CelebA's layout.
#include <chrono>
#include <memory>

#include "common.h"
#include "latentedit/dataset.h"

namespace latentedit::cli {
namespace {
struct DataOptions {
  CommonOptions common;
  int64_t count = 1000;
  uint64_t seed = 1;
  OutOptions out;
};

int run_dataset(const DataOptions& o) {
  o.common.apply_threads();
  ProgressBar bar("dataset", o.count, o.common.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  write_celeba_layout(o.out.out, o.seed, o.count, [&](int64_t done, int64_t) { bar.update(done); }, o.out.force);
  bar.finish();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %lld faces to %s (img_align_celeba/, list_attr_celeba.txt) in %.1f s\n",
              static_cast<long long>(o.count), o.out.out.c_str(), s);
  return 0;
}
}  // namespace

void register_data(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<DataOptions>();
  o->common.argv0 = argv0;
  CLI::App* app = root.add_subcommand("dataset", "Render procedural 40-attribute faces in CelebA's layout");
  app->add_option("--count", o->count, "Number of faces")->check(CLI::Range(int64_t{1}, int64_t{10000000}));
  app->add_option("--seed", o->seed, "Dataset seed (face i of seed s is always the same picture)");
  o->out.add_to(app, "Output directory");
  o->common.add_to(app, /*models=*/false);
  cmds.push_back({app, [o] { return run_dataset(*o); }});
}

}  // namespace latentedit::cli
