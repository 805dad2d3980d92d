// `latentedit convert`: PyTorch checkpoints (.pth, either format) or TorchScript files ->
// a model bundle (safetensors + model.json).
#include <filesystem>
#include <memory>

#include "common.h"
#include "latentedit/bundle.h"
#include "latentedit/errors.h"
#include "io/fsutil.h"
#include "latentedit/models.h"
#include "latentedit/safetensors.h"

namespace latentedit::cli {
namespace {
namespace fs = std::filesystem;

struct ConvertOptions {
  CommonOptions common;
  std::string auditor, name;
  OutOptions out;
};

int run_convert(const ConvertOptions& o) {
  o.common.apply_threads();
  if (o.common.generator.empty()) throw UsageError("convert needs --generator FILE and --classifier FILE");
  const Models m = o.common.load_models();
  std::optional<Network> auditor;
  if (!o.auditor.empty()) auditor = load_from_files(o.common.generator, o.auditor).classifier;
  // Everything is staged, and published once the bundle loads.
  BundleWriter bundle(o.out.out, "convert", o.out.force, BundleWriter::kNew,
                      manifest_header(o.name.empty() ? m.name : o.name, m.z_dim, m.image_size, m.range_lo, m.range_hi, m.attributes));
  auto put = [&](const Network& net, const std::string& role) {
    if (net.arch == "torchscript") bundle.put_file(role, read_file(net.source, true), role + ".pt", net.arch, net.hidden_dim);
    else bundle.put_weights(role, state_dict(*net.module), net.arch, net.hidden_dim, nullptr, 0, {{"source", fs::path(net.source).filename().string()}});
  };
  put(m.generator, "generator");
  put(m.classifier, "classifier");
  if (auditor) put(*auditor, "auditor");
  bundle.commit(/*check_loads=*/true);
  std::printf("wrote bundle %s (generator %s, classifier %s%s)\n", o.out.out.c_str(), m.generator.arch.c_str(),
              m.classifier.arch.c_str(), auditor ? ", auditor" : "");
  return 0;
}
}  // namespace

void register_convert(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<ConvertOptions>();
  o->common.argv0 = argv0;
  CLI::App* app = root.add_subcommand("convert", "Convert PyTorch .pth / TorchScript files into a model bundle");
  app->add_option("--auditor", o->auditor, "Optional auditor classifier file");
  o->out.add_to(app, "Bundle directory to create");
  app->add_option("--name", o->name, "Bundle name");
  o->common.add_to(app);
  cmds.push_back({app, [o] { return run_convert(*o); }});
}

}  // namespace latentedit::cli
