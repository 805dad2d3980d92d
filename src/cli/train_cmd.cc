// `latentedit train classifier|gan`: train on a CelebA-layout folder or procedural faces and
// write the result into a model bundle (safetensors + model.json).
#include <torch/torch.h>

#include <filesystem>
#include <memory>

#include "common.h"
#include "latentedit/attributes.h"
#include "latentedit/bundle.h"
#include "latentedit/dataset.h"
#include "latentedit/errors.h"
#include "io/fsutil.h"
#include "io/json_read.h"
#include "latentedit/safetensors.h"
#include "latentedit/train.h"

namespace latentedit::cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct DataSource {
  std::string data;          // CelebA-layout folder
  int64_t procedural = 50000;
  uint64_t data_seed = 1;
  int64_t limit = 0;

  void add_to(CLI::App* app) {
    app->add_option("--data", data, "CelebA-layout folder (list_attr_celeba.txt + img_align_celeba/); default: procedural faces");
    app->add_option("--procedural", procedural, "Number of procedural faces to render when --data is not given")
        ->check(CLI::Range(int64_t{16}, int64_t{5000000}));
    app->add_option("--data-seed", data_seed, "Seed of the procedural faces");
    app->add_option("--limit", limit, "Use only the first N images of --data (0: all)")->check(non_negative());
  }
  Dataset load(bool quiet) const {
    ProgressBar bar(data.empty() ? "render" : "load", data.empty() ? procedural : 1, quiet);
    Dataset d = data.empty() ? render_dataset(data_seed, 0, procedural, 64, [&](int64_t a, int64_t) { bar.update(a); })
                             : load_celeba(data, 64, limit, [&](int64_t a, int64_t b) { (void)a; (void)b; });
    bar.finish();
    return d;
  }
  json describe() const {
    return data.empty() ? json{{"procedural", procedural}, {"data_seed", data_seed}} : json{{"data", data}, {"limit", limit}};
  }
};

struct TrainCommon {
  CommonOptions common;
  DataSource src;
  OutOptions out;
  std::string name = "faces64";
  uint64_t seed = 1;
  int64_t steps = 3000, batch = 0, checkpoint_every = 500;
  bool resume = false;
};

// Publishes a trained network into the bundle DIR: its weights and model.json (read if present,
// else a fresh manifest for `d`; `role` set), staged and committed together.
void publish(const TrainCommon& o, const Dataset& d, const std::string& role, const NamedTensors& weights, const std::string& arch,
             int64_t hidden, const json& training, int64_t z_dim) {
  const std::string path = (fs::path(o.out.out) / "model.json").string();
  json j;
  if (fs::exists(path)) {
    j = parse_json(read_file(path, true), path, ErrorKind::kModel);
    if (j.value("attributes", json(d.attributes)) != json(d.attributes))
      throw ModelError(path + " lists other attributes than the training data; choose another --out");
  } else {
    j = manifest_header(o.name, z_dim > 0 ? z_dim : 64, 64, -1, 1, d.attributes);
  }
  if (z_dim > 0) j["z_dim"] = z_dim;
  const std::string file = role + ".safetensors";
  j[role] = manifest_entry(arch, hidden, file);
  j["training"][role] = training;
  StagedDir staged(o.out.out, "train", o.out.force, StagedDir::kAdd);  // the bundle grows: other networks stay
  staged.add(file, serialize_safetensors(weights, {{"format", "pt"}}));
  staged.add("model.json", j.dump(2) + "\n");
  staged.commit();
}

TrainCallback bar_callback(ProgressBar& bar) {
  return [&bar](const TrainStats& s) {
    std::string extra;
    char b[48];
    for (const auto& [k, v] : s.losses) {
      std::snprintf(b, sizeof b, "%s=%.4f ", k.c_str(), v);
      extra += b;
    }
    bar.update(s.step, extra);
  };
}

// The options every training loop shares, from the common flags.
template <typename T>
void fill_common(const TrainCommon& o, T& t, const std::string& checkpoint_name, int64_t default_batch) {
  t.steps = o.steps;
  t.batch = o.batch > 0 ? o.batch : default_batch;
  t.seed = o.seed;
  t.checkpoint = (fs::path(o.out.out) / checkpoint_name).string();
  t.checkpoint_every = o.checkpoint_every;
  t.resume = o.resume;
}

struct ClsOptions : TrainCommon {
  int64_t hidden = 32;
  double lr = 1e-3;
  std::string role = "classifier";
  double adversarial = 0.0;
  int64_t pgd_steps = 3;
  bool augment = false;
  std::string init;
};

int run_train_classifier(const ClsOptions& o) {
  const int threads = o.common.apply_threads();
  claim_output(o.out.out, "train", o.out.force);  // before any work; created only once training starts
  const Dataset d = o.src.load(o.common.quiet);
  ClassifierTrainOptions t;
  fill_common(o, t, o.role + ".ckpt", 128);
  t.hidden_dim = o.hidden;
  t.lr = o.lr;
  t.adversarial_eps = o.adversarial;
  t.pgd_steps = o.pgd_steps;
  t.augment = o.augment;
  if (!o.init.empty()) {
    const Network init = load_network_file(o.init, "--init classifier", false);
    if (!init.module) throw UsageError("--init needs course-architecture weights (.safetensors or .pth), not TorchScript");
    t.init = state_dict(*init.module);
    t.hidden_dim = init.hidden_dim;
  }
  adopt_output(o.out.out, "train");  // only once the data and the initial weights have loaded
  ProgressBar bar("train " + o.role, o.steps, o.common.quiet);
  TrainStats last;
  auto cb = bar_callback(bar);
  const auto t0 = std::chrono::steady_clock::now();
  Classifier net = train_classifier(d, t, [&](const TrainStats& s) { last = s; cb(s); });
  bar.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string file = o.role + ".safetensors";
  const json training = {{"steps", o.steps}, {"batch", t.batch}, {"lr", o.lr}, {"seed", o.seed}, {"threads", threads},
                         {"adversarial_eps", o.adversarial}, {"pgd_steps", o.pgd_steps}, {"augment", o.augment},
                         {"init", o.init.empty() ? json(nullptr) : json(o.init)},
                         {"seconds", secs}, {"final_losses", last.losses}, {"source", o.src.describe()}};
  publish(o, d, o.role, state_dict(*net), "dcgan-course-classifier", t.hidden_dim, training, 0);
  std::printf("wrote %s/%s (%s, hidden %lld) in %.0f s\n", o.out.out.c_str(), file.c_str(), o.role.c_str(),
              static_cast<long long>(o.hidden), secs);
  return 0;
}

struct GanOptions : TrainCommon {
  int64_t z_dim = 64, g_hidden = 32, d_hidden = 32;
  double lr_g = 2e-4, lr_d = 2e-4, ema = 0.999;
};

int run_train_gan(const GanOptions& o) {
  const int threads = o.common.apply_threads();
  claim_output(o.out.out, "train", o.out.force);
  const Dataset d = o.src.load(o.common.quiet);
  adopt_output(o.out.out, "train");  // only once the data has loaded
  GanTrainOptions t;
  t.z_dim = o.z_dim;
  t.g_hidden = o.g_hidden;
  t.d_hidden = o.d_hidden;
  fill_common(o, t, "generator.ckpt", 64);
  t.lr_g = o.lr_g;
  t.lr_d = o.lr_d;
  t.ema = o.ema;
  ProgressBar bar("train gan", o.steps, o.common.quiet);
  TrainStats last;
  auto cb = bar_callback(bar);
  const auto t0 = std::chrono::steady_clock::now();
  Generator g = train_gan(d, t, [&](const TrainStats& s) { last = s; cb(s); });
  bar.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const json training = {{"steps", o.steps}, {"batch", t.batch}, {"lr_g", o.lr_g}, {"lr_d", o.lr_d}, {"ema", o.ema},
                         {"d_hidden", o.d_hidden}, {"loss", "hinge"}, {"discriminator", "spectral-norm convs, no BatchNorm"},
                         {"seed", o.seed}, {"threads", threads}, {"seconds", secs}, {"final_losses", last.losses},
                         {"source", o.src.describe()}};
  publish(o, d, "generator", state_dict(*g), "dcgan-course-generator", o.g_hidden, training, o.z_dim);
  std::printf("wrote %s/generator.safetensors (hidden %lld, %lld steps) in %.0f s\n", o.out.out.c_str(),
              static_cast<long long>(o.g_hidden), static_cast<long long>(o.steps), secs);
  return 0;
}

void add_common(CLI::App* app, TrainCommon& o) {
  o.src.add_to(app);
  o.out.add_to(app, "Bundle directory to write into (networks trained into it accumulate; model.json is updated)");
  app->add_option("--name", o.name, "Bundle name (when model.json is new)");
  app->add_option("--seed", o.seed, "Training seed (initialisation, batch order, noise)");
  app->add_option("--steps", o.steps, "Optimisation steps")->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  app->add_option("--batch", o.batch, "Batch size (default 128 classifier, 64 gan)")->check(CLI::Range(int64_t{1}, int64_t{65536}));
  app->add_option("--checkpoint-every", o.checkpoint_every, "Steps between checkpoints (DIR/<role>.ckpt)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  app->add_flag("--resume", o.resume, "Continue from DIR/<role>.ckpt if present");
  o.common.add_to(app, /*models=*/false);
}
}  // namespace

void register_train(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  CLI::App* train = root.add_subcommand("train", "Train the classifier/auditor or the GAN");
  train->require_subcommand(1);
  auto c = std::make_shared<ClsOptions>();
  c->common.argv0 = argv0;
  CLI::App* ca = train->add_subcommand("classifier", "Train the course classifier (or the auditor with --role auditor)");
  add_common(ca, *c);
  ca->add_option("--hidden", c->hidden, "hidden_dim of the course classifier")->check(CLI::Range(int64_t{1}, int64_t{1024}));
  ca->add_option("--lr", c->lr, "Adam learning rate")->check(positive());
  ca->add_option("--role", c->role, "classifier (used to edit) or auditor (only judges edits)")
      ->check(CLI::IsMember({"classifier", "auditor"}));
  ca->add_option("--adversarial", c->adversarial,
                 "PGD adversarial training: L-inf radius EPS in the [-1,1] input range (0 = off); loss = (clean + adversarial) / 2")
      ->check(real_range(0.0, 1.0));
  ca->add_option("--pgd-steps", c->pgd_steps, "PGD steps per batch (step 2.5*EPS/K, random start)")->check(CLI::Range(int64_t{1}, int64_t{100}));
  ca->add_flag("--augment", c->augment, "Random horizontal flips and +-2 px shifts");
  ca->add_option("--init", c->init, "Start from this classifier's weights (.safetensors/.pth) instead of random: fine-tuning");
  cmds.push_back({ca, [c] { return run_train_classifier(*c); }});

  auto g = std::make_shared<GanOptions>();
  g->common.argv0 = argv0;
  CLI::App* ga = train->add_subcommand("gan", "Train a course-architecture generator (hinge loss, spectral-norm D, EMA)");
  add_common(ga, *g);
  ga->add_option("--z-dim", g->z_dim, "Latent size")->check(CLI::Range(int64_t{1}, int64_t{4096}));
  ga->add_option("--g-hidden", g->g_hidden, "Generator hidden_dim")->check(CLI::Range(int64_t{1}, int64_t{1024}));
  ga->add_option("--d-hidden", g->d_hidden, "Discriminator width")->check(CLI::Range(int64_t{1}, int64_t{1024}));
  ga->add_option("--lr-g", g->lr_g, "Generator Adam learning rate")->check(positive());
  ga->add_option("--lr-d", g->lr_d, "Discriminator Adam learning rate")->check(positive());
  ga->add_option("--ema", g->ema, "EMA decay of the exported generator (0 = off)")->check(real_range(0.0, 0.99999));
  cmds.push_back({ga, [g] { return run_train_gan(*g); }});
}

}  // namespace latentedit::cli
