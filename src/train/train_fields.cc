#include "train/train_fields.h"

namespace latentedit {
using json = nlohmann::json;
using K = FieldKind;

namespace {
// The fields every training loop has, for options struct T.
template <class T>
void add_loop_fields(FieldTable<T>& t) {
  t.push_back(bound<T>({"steps", K::kInt, "Optimisation steps", 1, 1e8}, [](T& o) -> int64_t& { return o.steps; }));
  t.push_back(bound<T>({"batch", K::kInt, "Batch size", 1, 65536}, [](T& o) -> int64_t& { return o.batch; }));
  t.push_back(bound<T>({"seed", K::kInt, "Training seed (initialisation, batch order, noise)", 0, kMaxSeed},
                       [](T& o) -> uint64_t& { return o.seed; }));
  t.push_back(bound<T>({"checkpoint_every", K::kInt, "Steps between checkpoints (DIR/<role>.ckpt)", 1, 1e8},
                       [](T& o) -> int64_t& { return o.checkpoint_every; }));
  t.push_back(bound<T>({"log_every", K::kInt, "Steps per progress report and training-log record (means over them)", 1, 1e8},
                       [](T& o) -> int64_t& { return o.report_every; }));
}

// Adam's two betas, each in [0, 1).
std::string betas_rule(const json& v) { return v.size() == 2 ? "" : "expected two values B1,B2 in [0, 1), e.g. [0.5, 0.999]"; }
}  // namespace

FieldTable<ClassifierTrainOptions> classifier_train_fields() {
  using T = ClassifierTrainOptions;
  FieldTable<T> t;
  t.push_back(bound<T>({"hidden", K::kInt, "hidden_dim of the course classifier", 1, 1024}, [](T& o) -> int64_t& { return o.hidden_dim; }));
  add_loop_fields(t);
  t.push_back(bound<T>({"lr", K::kReal, "Adam learning rate (betas 0.5, 0.999 as the course)", 0, 10, true}, [](T& o) -> double& { return o.lr; }));
  t.push_back(bound<T>({"adversarial", K::kReal,
                        "PGD adversarial training: L-inf radius EPS in the [-1, 1] input range (0 = off); loss = (clean + adversarial) / 2",
                        0, 1},
                       [](T& o) -> double& { return o.adversarial_eps; }));
  t.push_back(bound<T>({"pgd_steps", K::kInt, "PGD steps per batch (step 2.5 EPS / K, random start)", 1, 100}, [](T& o) -> int64_t& { return o.pgd_steps; }));
  t.push_back(bound<T>({"augment", K::kBool, "Random horizontal flips and +-2 px shifts"}, [](T& o) -> bool& { return o.augment; }));
  return t;
}

FieldTable<GanTrainOptions> gan_train_fields() {
  using T = GanTrainOptions;
  FieldTable<T> t;
  {
    FieldInfo f{"recipe", K::kChoice,
                "default (hinge, dcgan D + spectral norm, Adam (0, 0.9), EMA 0.999) or course (non-saturating BCE, the course's "
                "BatchNorm D, Adam (0.5, 0.999), no EMA, BN weights ~ N(0, 0.02)); settings given explicitly override the recipe"};
    f.choices = {"default", "course"};
    t.push_back({f, [](const T& o) { return json(o.recipe); },
                 [](T& o, const json& v) {
                   o.recipe = v.get<std::string>();
                   if (o.recipe != "course") return;
                   o.loss = "non-saturating";
                   o.discriminator = "course";
                   o.spectral_norm = false;
                   o.beta1 = 0.5;
                   o.beta2 = 0.999;
                   o.ema = 0.0;
                   o.g_bn_gamma_mean = 0.0;
                 }});
  }
  {
    FieldInfo f{"loss", K::kChoice, "Loss (D's logit l, D = sigmoid(l)):"};
    for (const auto& l : gan_losses()) {
      f.choices.push_back(l.name);
      f.help += "\n  " + l.name + ": " + l.formula;
    }
    t.push_back(bound<T>(f, [](T& o) -> std::string& { return o.loss; }));
  }
  t.push_back(bound<T>({"d_steps", K::kInt, "Discriminator updates (each on a fresh batch) per generator update (the paper's k)", 1, 100},
                       [](T& o) -> int64_t& { return o.d_steps; }));
  {
    FieldInfo f{"discriminator", K::kChoice,
                "dcgan (convs k4 s2 p1 3->h->2h->4h->8h, no BatchNorm) or course (the course Classifier layout with BatchNorm, one output)"};
    f.choices = {"dcgan", "course"};
    t.push_back(bound<T>(f, [](T& o) -> std::string& { return o.discriminator; }));
  }
  {
    FieldInfo f{"spectral_norm", K::kChoice, "Spectrally normalise every D conv: on or off"};
    f.choices = {"on", "off"};
    t.push_back({f, [](const T& o) { return json(o.spectral_norm ? "on" : "off"); }, [](T& o, const json& v) { o.spectral_norm = v == "on"; }});
  }
  {
    FieldInfo f{"betas", K::kRealList, "Adam betas for both networks, B1,B2", 0, 1, false, true};
    f.max_items = 2;
    f.example = "[0.5, 0.999]";
    f.rule = betas_rule;
    t.push_back({f, [](const T& o) { return json({o.beta1, o.beta2}); },
                 [](T& o, const json& v) {
                   o.beta1 = v[0].get<double>();
                   o.beta2 = v[1].get<double>();
                 }});
  }
  t.push_back(bound<T>({"z_dim", K::kInt, "Latent size", 1, 4096}, [](T& o) -> int64_t& { return o.z_dim; }));
  t.push_back(bound<T>({"g_hidden", K::kInt, "Generator hidden_dim (the course: 64)", 1, 1024}, [](T& o) -> int64_t& { return o.g_hidden; }));
  t.push_back(bound<T>({"d_hidden", K::kInt, "Discriminator width", 1, 1024}, [](T& o) -> int64_t& { return o.d_hidden; }));
  add_loop_fields(t);
  t.push_back(bound<T>({"lr_g", K::kReal, "Generator Adam learning rate", 0, 10, true}, [](T& o) -> double& { return o.lr_g; }));
  t.push_back(bound<T>({"lr_d", K::kReal, "Discriminator Adam learning rate", 0, 10, true}, [](T& o) -> double& { return o.lr_d; }));
  t.push_back(bound<T>({"lr_decay_from", K::kInt, "From this step on both learning rates fall linearly to 0 at the last step (0 = constant)", 0, 1e8},
                       [](T& o) -> int64_t& { return o.lr_decay_from; }));
  t.push_back(bound<T>({"ema", K::kReal, "EMA decay of the exported generator (0 = off)", 0, 0.99999}, [](T& o) -> double& { return o.ema; }));
  {
    FieldInfo f{"g_bn_gamma_mean", K::kReal, "G's BatchNorm weights start ~ N(this, 0.02) (the course: 0)", -10, 10};
    f.flag = false;
    t.push_back(bound<T>(f, [](T& o) -> double& { return o.g_bn_gamma_mean; }));
  }
  t.push_back(bound<T>({"r1", K::kReal,
                        "R1 gradient penalty on real images (Mescheder et al. 2018), weight gamma (0 = off); usually with `spectral_norm` off",
                        0, 1e6},
                       [](T& o) -> double& { return o.r1; }));
  t.push_back(bound<T>({"r1_every", K::kInt, "Apply R1 every N discriminator updates, its weight scaled by N (lazy regularisation)", 1, 1000},
                       [](T& o) -> int64_t& { return o.r1_every; }));
  t.push_back(bound<T>({"hessian_penalty", K::kReal,
                        "Weight of the Hessian penalty on G w.r.t. z (Peebles et al. 2020; 0 = off): variance over 2 Rademacher directions "
                        "of G's second difference, max over pixels, on 16 latents per batch; a run may switch it on when resuming",
                        0, 1e6},
                       [](T& o) -> double& { return o.hessian_penalty; }));
  t.push_back(bound<T>({"hessian_eps", K::kReal, "Finite-difference step of the Hessian penalty", 1e-4, 10}, [](T& o) -> double& { return o.hessian_eps; }));
  t.push_back(bound<T>({"diagnose_every", K::kInt,
                        "Mode-collapse diagnostics and a row of samples every N generator updates (DIR/training_samples/, "
                        "DIR/training_report.png; 0 = off)",
                        0, 1e8},
                       [](T& o) -> int64_t& { return o.diagnose_every; }));
  t.push_back(bound<T>({"diagnose_samples", K::kInt, "Samples (and training images) the diagnostics compare", 8, 4096},
                       [](T& o) -> int64_t& { return o.diagnose_samples; }));
  return t;
}

json to_json(const ClassifierTrainOptions& o) { return write_fields(classifier_train_fields(), o); }
json to_json(const GanTrainOptions& o) { return write_fields(gan_train_fields(), o); }
void validate(const ClassifierTrainOptions& o) { validate_fields(classifier_train_fields(), o); }
void validate(const GanTrainOptions& o) {
  validate_fields(gan_train_fields(), o);
  gan_loss(o.loss);
}

ClassifierTrainOptions classifier_train_options_from_json(const json& j, SettingsErrors& e) {
  ClassifierTrainOptions o;
  const auto t = classifier_train_fields();
  check_known_keys(j, field_names(t), e);
  read_fields(t, j, o, e);
  return o;
}

GanTrainOptions gan_train_options_from_json(const json& j, SettingsErrors& e) {
  GanTrainOptions o;
  const auto t = gan_train_fields();
  check_known_keys(j, field_names(t), e);
  read_fields(t, j, o, e);
  return o;
}

}  // namespace latentedit
