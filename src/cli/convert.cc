// `latentedit convert`: PyTorch checkpoints (.pth, either format) or TorchScript files ->
// a model bundle (safetensors + model.json).
#include <filesystem>
#include <memory>

#include "common.h"
#include "latentedit/bundle.h"
#include "latentedit/errors.h"
#include "latentedit/fsutil.h"
#include "latentedit/models.h"
#include "latentedit/pth.h"
#include "latentedit/safetensors.h"

namespace latentedit::cli {
namespace {
namespace fs = std::filesystem;

struct ConvertOptions {
  CommonOptions common;
  std::string auditor, out, name;
};

int run_convert(const ConvertOptions& o) {
  o.common.apply_threads();
  if (o.common.generator.empty()) throw UsageError("convert needs --generator FILE and --classifier FILE");
  const Models m = o.common.load_models();
  std::optional<Network> auditor;
  if (!o.auditor.empty()) auditor = load_from_files(o.common.generator, o.auditor).classifier;
  const fs::path out(o.out);
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    throw IoError(o.out + " exists and is not empty; choose a new --out directory");
  const fs::path tmp = o.out + ".partial";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  make_dirs(tmp.string());
  try {
    nlohmann::json j = {{"format", "latentedit-bundle"}, {"version", 1},
                        {"name", o.name.empty() ? m.name : o.name}, {"z_dim", m.z_dim}, {"image_size", m.image_size},
                        {"output_range", {m.range_lo, m.range_hi}}, {"attributes", m.attributes}};
    auto put = [&](const Network& net, const std::string& role) {
      if (net.arch == "torchscript") {
        const std::string file = role + ".pt";
        fs::copy_file(net.source, tmp / file);
        j[role] = {{"arch", "torchscript"}, {"file", file}};
        return;
      }
      const std::string file = role + ".safetensors";
      const NamedTensors sd = state_dict(*net.module);
      save_safetensors((tmp / file).string(), sd, {{"format", "pt"}, {"source", fs::path(net.source).filename().string()}});
      j[role] = {{"arch", net.arch}, {"hidden_dim", net.hidden_dim}, {"weights", file}};
    };
    put(m.generator, "generator");
    put(m.classifier, "classifier");
    if (auditor) put(*auditor, "auditor");
    write_manifest(tmp.string(), j);
    load_bundle(tmp.string());  // the bundle must load before it is published
    if (fs::exists(out)) fs::remove(out);
    fs::rename(tmp, out);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  std::printf("wrote bundle %s (generator %s, classifier %s%s)\n", o.out.c_str(), m.generator.arch.c_str(),
              m.classifier.arch.c_str(), auditor ? ", auditor" : "");
  return 0;
}
}  // namespace

void register_convert(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<ConvertOptions>();
  o->common.argv0 = argv0;
  CLI::App* app = root.add_subcommand("convert", "Convert PyTorch .pth / TorchScript files into a model bundle");
  app->add_option("--auditor", o->auditor, "Optional auditor classifier file");
  app->add_option("--out", o->out, "Bundle directory to create")->required();
  app->add_option("--name", o->name, "Bundle name");
  o->common.add_to(app);
  cmds.push_back({app, [o] { return run_convert(*o); }});
}

}  // namespace latentedit::cli
