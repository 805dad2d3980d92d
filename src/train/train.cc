#include "latentedit/train.h"
#include "io/fsutil.h"
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "latentedit/errors.h"
#include "latentedit/evaluate.h"

namespace latentedit {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

at::Generator step_generator(uint64_t seed, int64_t step, uint64_t stream) {
  return at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + static_cast<uint64_t>(step) * 7919ULL + stream);
}

// Batch indices for `step`: epochs are random permutations seeded by (seed, epoch).
class Batcher {
 public:
  Batcher(int64_t n, int64_t batch, uint64_t seed) : n_(n), batch_(std::min(batch, n)), seed_(seed) {}
  torch::Tensor indices(int64_t step) {
    const int64_t per_epoch = n_ / batch_;
    const int64_t epoch = step / per_epoch, pos = step % per_epoch;
    if (epoch != epoch_) {
      auto g = at::make_generator<at::CPUGeneratorImpl>(seed_ * 31337ULL + static_cast<uint64_t>(epoch));
      perm_ = torch::randperm(n_, g, torch::kInt64);
      epoch_ = epoch;
    }
    return perm_.slice(0, pos * batch_, (pos + 1) * batch_);
  }

 private:
  int64_t n_, batch_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  torch::Tensor perm_;
};

struct Meter {
  std::map<std::string, double> sum;
  int64_t n = 0;
  void add(const std::map<std::string, double>& v) {
    for (const auto& [k, x] : v) sum[k] += x;
    ++n;
  }
  std::map<std::string, double> take() {
    std::map<std::string, double> out;
    for (const auto& [k, x] : sum) out[k] = x / std::max<int64_t>(n, 1);
    sum.clear();
    n = 0;
    return out;
  }
};

TrainStats stats_at(int64_t step, int64_t steps, Meter& meter, std::chrono::steady_clock::time_point t0) {
  TrainStats s;
  s.step = step;
  s.steps = steps;
  s.losses = meter.take();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

void save_archive(torch::serialize::OutputArchive& ar, const std::string& path) {
  std::ostringstream bytes;
  try {
    ar.save_to(bytes);
  } catch (const c10::Error&) {
    throw IoError("cannot serialise checkpoint " + path);
  }
  write_file_atomic(path, bytes.str());  // temp file, fsync, rename
}

int64_t load_step(torch::serialize::InputArchive& ar) {
  torch::Tensor s;
  ar.read("step", s);
  return s.item<int64_t>();
}

void check_data(const Dataset& d, int64_t batch) {
  if (!d.images.defined() || d.images.size(0) < 1) throw InputError("no training images");
  if (d.images.size(2) != 64 || d.images.size(3) != 64) throw InputError("training images must be 64x64");
  if (batch < 1) throw UsageError("batch must be at least 1");
}

torch::serialize::InputArchive open_checkpoint(const std::string& path) {
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path);
  } catch (const c10::Error&) {
    throw ModelError("cannot read checkpoint " + path + " (corrupt, or from another model; delete it to start over)");
  }
  return ar;
}

void init_weights(torch::nn::Module& m, double bn_mean, uint64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard ng;
  for (auto& p : m.named_parameters(true)) {
    const std::string& k = p.key();
    // Conv weights are 4-D; BatchNorm weights/biases are 1-D.
    if (p.value().dim() == 4) p.value().normal_(0.0, 0.02, g);
    else if (k.size() > 7 && k.substr(k.size() - 7) == ".weight") p.value().normal_(bn_mean, 0.02, g);
    else p.value().zero_();
  }
}


// Random horizontal flips and shifts of up to 2 px (edge-replicated), per image.
torch::Tensor augment_batch(const torch::Tensor& x, at::Generator& g) {
  const int64_t N = x.size(0);
  const auto flip = torch::rand({N}, g) < 0.5;
  torch::Tensor out = torch::where(flip.view({N, 1, 1, 1}), x.flip({3}), x);
  const auto shifts = torch::randint(-2, 3, {N, 2}, g);
  const auto padded = F::pad(out, F::PadFuncOptions({2, 2, 2, 2}).mode(torch::kReplicate));
  std::vector<torch::Tensor> rows;
  const auto acc = shifts.accessor<int64_t, 2>();
  for (int64_t i = 0; i < N; ++i)
    rows.push_back(padded[i].slice(1, 2 + acc[i][0], 2 + acc[i][0] + x.size(2)).slice(2, 2 + acc[i][1], 2 + acc[i][1] + x.size(3)));
  return torch::stack(rows);
}

// L-infinity PGD on the BCE loss: random start in the eps-ball, `steps` signed-gradient steps of
// 2.5 * eps / steps, projected to the ball and the [-1, 1] range. BatchNorm uses its running
// statistics during the attack (eval mode) so the attack does not change them.
torch::Tensor pgd_attack(ClassifierImpl& net, const torch::Tensor& x, const torch::Tensor& y, double eps, int64_t steps,
                         at::Generator& g) {
  const bool was_training = net.is_training();
  net.eval();
  const double alpha = 2.5 * eps / static_cast<double>(std::max<int64_t>(steps, 1));
  torch::Tensor xa = (x + (torch::rand(x.sizes(), g) * 2 - 1) * eps).clamp(-1, 1).detach();
  for (int64_t k = 0; k < steps; ++k) {
    xa.set_requires_grad(true);
    const auto l = F::binary_cross_entropy_with_logits(net.forward(xa), y);
    const auto grad = torch::autograd::grad({l}, {xa})[0];
    xa = (xa.detach() + alpha * grad.sign());
    xa = torch::min(torch::max(xa, x - eps), x + eps).clamp(-1, 1).detach();
  }
  if (was_training) net.train();
  return xa;
}

}  // namespace

Classifier train_classifier(const Dataset& data, const ClassifierTrainOptions& o, const TrainCallback& cb) {
  validate(o);
  check_data(data, o.batch);
  torch::manual_seed(o.seed);
  ClassifierOptions co;
  co.hidden_dim = o.hidden_dim;
  co.n_classes = data.labels.size(1);
  Classifier net(co);
  init_weights(*net, 1.0, o.seed);
  if (!o.init.empty()) load_state_dict(*net, o.init, "the initial classifier");
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.lr).betas({0.5, 0.999}));
  int64_t start = 0;
  if (o.resume && !o.checkpoint.empty() && fs::exists(o.checkpoint)) {
    auto ar = open_checkpoint(o.checkpoint);
    start = load_step(ar);
    torch::serialize::InputArchive m, op;
    ar.read("model", m);
    ar.read("optimizer", op);
    net->load(m);
    opt.load(op);
  }
  net->train();
  Batcher batcher(data.images.size(0), o.batch, o.seed);
  Meter meter;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = start; step < o.steps; ++step) {
    const torch::Tensor idx = batcher.indices(step);
    torch::Tensor x = to_model_range(data.images.index_select(0, idx));
    const torch::Tensor y = data.labels.index_select(0, idx);
    auto gen = step_generator(o.seed, step, 7);
    if (o.augment) x = augment_batch(x, gen);
    opt.zero_grad();
    const torch::Tensor logits = net->forward(x);
    torch::Tensor loss = F::binary_cross_entropy_with_logits(logits, y);
    std::map<std::string, double> shown;
    if (o.adversarial_eps > 0) {
      const torch::Tensor xa = pgd_attack(*net, x, y, o.adversarial_eps, o.pgd_steps, gen);
      const torch::Tensor adv = F::binary_cross_entropy_with_logits(net->forward(xa), y);
      shown["adv_loss"] = adv.item<double>();
      loss = 0.5 * (loss + adv);
    }
    loss.backward();
    opt.step();
    const double acc = ((logits.detach() > 0).to(torch::kFloat32) == y).to(torch::kFloat32).mean().item<double>();
    shown["loss"] = loss.item<double>();
    shown["acc"] = acc;
    meter.add(shown);
    const bool last = step + 1 == o.steps;
    if (!o.checkpoint.empty() && ((step + 1) % o.checkpoint_every == 0 || last)) {
      torch::serialize::OutputArchive ar, m, op;
      net->save(m);
      opt.save(op);
      ar.write("step", torch::tensor(step + 1));
      ar.write("model", m);
      ar.write("optimizer", op);
      save_archive(ar, o.checkpoint);
    }
    if (cb && ((step + 1) % o.report_every == 0 || last))
      cb(stats_at(step + 1, o.steps, meter, t0));
  }
  net->eval();
  return net;
}

namespace {
// -V(D, G) of the paper, which D minimises: -E[log D(x)] - E[log(1 - D(G(z)))], with
// softplus(-l) = -log D and softplus(l) = -log(1 - D) for D = sigmoid(l) (no overflow).
torch::Tensor minus_value(const torch::Tensor& r, const torch::Tensor& f) { return F::softplus(-r).mean() + F::softplus(f).mean(); }
}  // namespace

const std::vector<GanLoss>& gan_losses() {
  static const std::vector<GanLoss> losses = {
      {"minimax", "D: -E[log D(x)] - E[log(1 - D(G(z)))]; G: E[log(1 - D(G(z)))] (the paper's V, saturating)", minus_value,
       [](const torch::Tensor& f) { return -F::softplus(f).mean(); }},
      {"non-saturating", "D: as minimax; G: -E[log D(G(z))] (the paper's practical choice; the course's BCE)", minus_value,
       [](const torch::Tensor& f) { return F::softplus(-f).mean(); }},
      {"hinge", "D: E[max(0, 1 - l(x))] + E[max(0, 1 + l(G(z)))]; G: -E[l(G(z))] (l: D's logit)",
       [](const torch::Tensor& r, const torch::Tensor& f) { return torch::relu(1.0 - r).mean() + torch::relu(1.0 + f).mean(); },
       [](const torch::Tensor& f) { return -f.mean(); }},
  };
  return losses;
}

const GanLoss& gan_loss(const std::string& name) {
  std::string names;
  for (const auto& l : gan_losses()) {
    if (l.name == name) return l;
    names += (names.empty() ? "" : ", ") + l.name;
  }
  throw UsageError("unknown GAN loss \"" + name + "\"; use one of " + names);
}

DiscriminatorImpl::DiscriminatorImpl(int64_t h, const std::string& arch, bool spectral_norm) : spectral_norm_(spectral_norm) {
  if (arch != "dcgan" && arch != "course") throw UsageError("unknown discriminator \"" + arch + "\"; use dcgan or course");
  const bool course = arch == "course";
  const std::vector<int64_t> ch = course ? std::vector<int64_t>{3, h, 2 * h, 4 * h, 1} : std::vector<int64_t>{3, h, 2 * h, 4 * h, 8 * h, 1};
  const int n = static_cast<int>(ch.size()) - 1;
  for (int i = 0; i < n; ++i) {
    const int64_t in = ch[i], out = ch[i + 1];
    Layer l;
    const std::string k = "conv" + std::to_string(i);
    l.weight = register_parameter(k + "_weight", torch::randn({out, in, 4, 4}) * 0.02);
    l.bias = register_parameter(k + "_bias", torch::zeros({out}));
    l.u = register_buffer(k + "_u", F::normalize(torch::randn({out}), F::NormalizeFuncOptions().dim(0)));
    const bool last = i + 1 == n;
    l.stride = course ? (i == 2 ? 3 : 2) : (last ? 1 : 2);
    l.padding = course || last ? 0 : 1;
    if (course && !last) l.bn = register_module("bn" + std::to_string(i), torch::nn::BatchNorm2d(out));
    layers_.push_back(l);
  }
}

torch::Tensor DiscriminatorImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = layers_[i];
    torch::Tensor w = l.weight;
    if (spectral_norm_) {
      const torch::Tensor w2 = l.weight.view({l.weight.size(0), -1});
      torch::Tensor u = l.u, v;
      {
        torch::NoGradGuard ng;
        v = F::normalize(torch::mv(w2.t(), u), F::NormalizeFuncOptions().dim(0).eps(1e-12));
        u = F::normalize(torch::mv(w2, v), F::NormalizeFuncOptions().dim(0).eps(1e-12));
        if (is_training()) l.u.copy_(u);
      }
      w = l.weight / torch::dot(u, torch::mv(w2, v));
    }
    y = F::conv2d(y, w, F::Conv2dFuncOptions().bias(l.bias).stride(l.stride).padding(l.padding));
    if (i + 1 < layers_.size()) {
      if (l.bn) y = l.bn->forward(y);
      y = F::leaky_relu(y, F::LeakyReLUFuncOptions().negative_slope(0.2));
    }
  }
  return y.view({y.size(0)});
}

namespace {
// Pairwise L2 distances between the rows of x, the diagonal set to +inf.
torch::Tensor pairwise(const torch::Tensor& x) {
  const torch::Tensor flat = x.reshape({x.size(0), -1}).to(torch::kFloat64);
  torch::Tensor d = torch::cdist(flat, flat);
  d.fill_diagonal_(std::numeric_limits<double>::infinity());
  return d;
}
double mean_offdiagonal(const torch::Tensor& d) {
  const int64_t n = d.size(0);
  return torch::where(torch::isinf(d), torch::zeros_like(d), d).sum().item<double>() / static_cast<double>(n * (n - 1));
}
}  // namespace

CollapseProbe::CollapseProbe(const Dataset& data, int64_t z_dim, int64_t samples, uint64_t seed, const Network* judge)
    : judge_(judge) {
  check_data(data, 1);
  const int64_t n = std::max<int64_t>(2, std::min<int64_t>(samples, data.images.size(0)));
  if (data.images.size(0) < 2) throw InputError("mode-collapse diagnostics need at least 2 training images");
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  z_ = torch::randn({std::max<int64_t>(samples, 8), z_dim}, g);
  torch::NoGradGuard ng;
  const torch::Tensor x = to_model_range(data.images.slice(0, 0, n));
  const torch::Tensor d = pairwise(x);
  data_pairwise_ = mean_offdiagonal(d);
  data_nn_median_ = std::get<0>(d.min(1)).median().item<double>();
  if (judge_) {
    data_freq_ = (torch::sigmoid(judge_->forward(x)) > 0.5).to(torch::kFloat64).mean(0);
    if (judge_->features) data_features_ = judge_->features(x);
  }
}

CollapseDiagnostics CollapseProbe::measure(const std::function<torch::Tensor(const torch::Tensor&)>& generate) const {
  CollapseDiagnostics r;
  torch::NoGradGuard ng;
  const torch::Tensor x = generate(z_);
  if (!torch::isfinite(x).all().item<bool>()) {
    r.collapsing = true;
    r.reason = "the generator outputs non-finite values";
    return r;
  }
  const torch::Tensor d = pairwise(x);
  r.pairwise_ratio = mean_offdiagonal(d) / std::max(data_pairwise_, 1e-12);
  const torch::Tensor nn = std::get<0>(d.min(1));
  r.duplicate_share = (nn < kDuplicateFraction * data_nn_median_).to(torch::kFloat64).mean().item<double>();
  if (judge_) {
    const torch::Tensor f = (torch::sigmoid(judge_->forward(x)) > 0.5).to(torch::kFloat64).mean(0);
    const torch::Tensor gap = (f - data_freq_).abs();
    r.frequency_gap = gap.mean().item<double>();
    r.max_frequency_gap = gap.max().item<double>();
    r.worst_attribute = static_cast<int>(gap.argmax().item<int64_t>());
    if (data_features_.defined()) r.frechet = frechet_distance(judge_->features(x), data_features_);
  }
  char b[160];
  if (r.pairwise_ratio < kCollapseRatio) {
    std::snprintf(b, sizeof b, "samples are %.2fx as far apart as training images (below %.2f)", r.pairwise_ratio, kCollapseRatio);
    r.reason = b;
  } else if (r.duplicate_share > kCollapseDuplicates) {
    std::snprintf(b, sizeof b, "%.0f%% of samples have a near-duplicate (above %.0f%%)", 100 * r.duplicate_share,
                  100 * kCollapseDuplicates);
    r.reason = b;
  }
  r.collapsing = !r.reason.empty();
  return r;
}

namespace {
// Peebles et al. 2020: the variance over k Rademacher directions of the central second
// difference of G along them, max over output elements, on the first `hessian_batch` latents;
// all 2k perturbed batches run in one forward.
torch::Tensor hessian_penalty(Generator& g, const torch::Tensor& z, const torch::Tensor& gz, const GanTrainOptions& o,
                              at::Generator& gen) {
  const int64_t n = std::min<int64_t>(o.hessian_batch, z.size(0));
  const torch::Tensor zs = z.slice(0, 0, n), center = gz.slice(0, 0, n);
  const torch::Tensor v = torch::randint(0, 2, {o.hessian_k, n, z.size(1)}, gen).to(torch::kFloat32).mul(2).sub(1) * o.hessian_eps;
  const torch::Tensor out = g->forward(torch::cat({(zs.unsqueeze(0) + v).flatten(0, 1), (zs.unsqueeze(0) - v).flatten(0, 1)}));
  const torch::Tensor plus = out.slice(0, 0, o.hessian_k * n), minus = out.slice(0, o.hessian_k * n, 2 * o.hessian_k * n);
  const torch::Tensor second = (plus + minus).view({o.hessian_k, n, -1}).sub(2 * center.reshape({1, n, -1})) /
                               (o.hessian_eps * o.hessian_eps);  // (k, n, pixels)
  return second.var(0, /*unbiased=*/true).max();
}
}  // namespace

namespace {
// Everything a GAN run carries from step to step (and through a checkpoint).
struct GanState {
  Generator g, ema;
  Discriminator d;
  torch::optim::Adam opt_g, opt_d;
  int64_t start = 0, d_updates = 0;
  double r1 = std::numeric_limits<double>::quiet_NaN();  // the last R1 measured

  GanState(const GanTrainOptions& o, GeneratorOptions go)
      : g(go), ema(go), d(o.d_hidden, o.discriminator, o.spectral_norm),
        opt_g(g->parameters(), torch::optim::AdamOptions(o.lr_g).betas({o.beta1, o.beta2})),
        opt_d(d->parameters(), torch::optim::AdamOptions(o.lr_d).betas({o.beta1, o.beta2})) {}
};

void load_gan_checkpoint(GanState& s, const GanTrainOptions& o) {
  auto ar = open_checkpoint(o.checkpoint);
  s.start = load_step(ar);
  torch::serialize::InputArchive a1, a2, a3, a4, a5;
  try {
    ar.read("g", a1);
    ar.read("d", a2);
    ar.read("ema", a3);
    ar.read("opt_g", a4);
    ar.read("opt_d", a5);
    s.g->load(a1);
    s.d->load(a2);
    s.ema->load(a3);
    s.opt_g.load(a4);
    s.opt_d.load(a5);
  } catch (const c10::Error&) {
    throw ModelError("checkpoint " + o.checkpoint + " is from another network shape or discriminator (g_hidden, "
                     "d_hidden, discriminator, z_dim); resume with the same settings or delete it to start over");
  }
  torch::Tensor du;
  s.d_updates = ar.try_read("d_updates", du) ? du.item<int64_t>() : s.start * o.d_steps;
  freeze(*s.ema);
}

void save_gan_checkpoint(GanState& s, const GanTrainOptions& o, int64_t steps_done) {
  torch::serialize::OutputArchive ar, a1, a2, a3, a4, a5;
  s.g->save(a1);
  s.d->save(a2);
  s.ema->save(a3);
  s.opt_g.save(a4);
  s.opt_d.save(a5);
  ar.write("step", torch::tensor(steps_done));
  ar.write("d_updates", torch::tensor(s.d_updates));
  ar.write("g", a1);
  ar.write("d", a2);
  ar.write("ema", a3);
  ar.write("opt_g", a4);
  ar.write("opt_d", a5);
  save_archive(ar, o.checkpoint);
}

// Linear decay of both learning rates to 0 at the last step, from lr_decay_from on.
void decay_learning_rates(GanState& s, const GanTrainOptions& o, int64_t step) {
  if (o.lr_decay_from <= 0 || step < o.lr_decay_from) return;
  const double f = 1.0 - static_cast<double>(step - o.lr_decay_from) / static_cast<double>(std::max<int64_t>(1, o.steps - o.lr_decay_from));
  for (auto& [opt, lr0] : {std::pair<torch::optim::Adam*, double>{&s.opt_g, o.lr_g}, {&s.opt_d, o.lr_d}})
    for (auto& group : opt->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr0 * f);
}

// One discriminator update on `real` and G's samples of fresh noise; adds its figures to `rec`
// (each divided by d_steps, so d_steps updates sum to their mean).
void d_step(GanState& s, const GanTrainOptions& o, const GanLoss& loss, const torch::Tensor& real, at::Generator& zg,
            std::map<std::string, double>& rec) {
  const torch::Tensor z1 = torch::randn({real.size(0), o.z_dim}, zg);
  torch::Tensor fake;
  {
    torch::NoGradGuard ng;
    fake = s.g->forward(z1);
  }
  s.opt_d.zero_grad();
  // R1 (Mescheder et al. 2018) on this batch's real images every r1_every updates (lazy, as
  // StyleGAN2: the weight scaled by the interval): (gamma / 2) E ||grad_x l(x)||^2.
  const bool r1_now = o.r1 > 0 && s.d_updates % o.r1_every == 0;
  const torch::Tensor real_in = r1_now ? real.detach().requires_grad_(true) : real;
  const torch::Tensor lr = s.d->forward(real_in), lf = s.d->forward(fake);
  torch::Tensor loss_d = loss.d(lr, lf);
  if (r1_now) {
    const torch::Tensor gx = torch::autograd::grad({lr.sum()}, {real_in}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    const torch::Tensor r1 = gx.pow(2).flatten(1).sum(1).mean();
    s.r1 = r1.item<double>();
    loss_d = loss_d + (0.5 * o.r1 * static_cast<double>(o.r1_every)) * r1;
  }
  loss_d.backward();
  s.opt_d.step();
  ++s.d_updates;
  rec["d_loss"] += loss_d.item<double>() / o.d_steps;
  rec["d_real"] += torch::sigmoid(lr.detach()).mean().item<double>() / o.d_steps;
  rec["d_fake"] += torch::sigmoid(lf.detach()).mean().item<double>() / o.d_steps;
}

// One generator update on fresh noise (D frozen), then the EMA; adds its figures to `rec`.
void g_step(GanState& s, const GanTrainOptions& o, const GanLoss& loss, int64_t B, int64_t step, at::Generator& zg,
            std::map<std::string, double>& rec) {
  const torch::Tensor z2 = torch::randn({B, o.z_dim}, zg);
  s.opt_g.zero_grad();
  for (auto& p : s.d->parameters()) p.set_requires_grad(false);
  const torch::Tensor gz = s.g->forward(z2);
  torch::Tensor lf = s.d->forward(gz);
  lf.retain_grad();
  const torch::Tensor loss_g = loss.g(lf);
  torch::Tensor total_g = loss_g;
  if (o.hessian_penalty > 0) {
    const torch::Tensor hp = hessian_penalty(s.g, z2, gz, o, zg);
    rec["hessian"] = hp.item<double>();
    total_g = total_g + o.hessian_penalty * hp;
  }
  total_g.backward();
  for (auto& p : s.d->parameters()) p.set_requires_grad(true);
  double gnorm2 = 0;
  const auto g_params = s.g->parameters(true);
  for (const auto& p : g_params)
    if (p.grad().defined()) gnorm2 += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
  // d(mean loss)/d l_i = (1/B) d(loss_i)/d l_i: scale back to per-sample derivatives.
  const double logit_grad = (lf.grad() * static_cast<double>(B)).to(torch::kFloat64).pow(2).mean().sqrt().item<double>();
  s.opt_g.step();
  if (o.ema > 0) {
    torch::NoGradGuard ng;
    const double decay = std::min(o.ema, (1.0 + step) / (10.0 + step));
    const auto ema_params = s.ema->parameters(true);
    for (size_t i = 0; i < ema_params.size(); ++i) ema_params[i].mul_(decay).add_(g_params[i], 1.0 - decay);
  }
  rec["g_loss"] = loss_g.item<double>();
  rec["g_grad_norm"] = std::sqrt(gnorm2);
  rec["g_logit_grad"] = logit_grad;
}

// The diagnostics of the training G with batch statistics; momentum 0 (and the batch counter put
// back) leaves its buffers as they were, so diagnostics never change what training computes.
void diagnose(Generator& g, const CollapseProbe& probe, TrainStats& st) {
  std::vector<std::pair<torch::nn::BatchNorm2dImpl*, torch::Tensor>> bns;
  for (auto& m : g->modules(false))
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) bns.emplace_back(bn, bn->num_batches_tracked.clone());
  for (auto& [bn, n] : bns) bn->options.momentum(0.0);
  const auto gen = [&](const torch::Tensor& z) { return g->forward(z); };
  st.diagnostics = std::make_shared<CollapseDiagnostics>(probe.measure(gen));
  {
    torch::NoGradGuard ng;
    st.samples = g->forward(probe.latents()).slice(0, 0, 8).clone();
  }
  for (auto& [bn, n] : bns) {
    bn->options.momentum(0.1);
    bn->num_batches_tracked.copy_(n);
  }
}

// BatchNorm statistics recomputed for the exported weights (cumulative average over calibration
// batches), so eval-mode images match what the weights draw.
void calibrate_exported(Generator& out, const GanTrainOptions& o) {
  torch::NoGradGuard ng;
  for (auto& m : out->modules(false))
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->reset_running_stats();
      bn->options.momentum(c10::nullopt);
    }
  out->train();
  for (int64_t i = 0; i < o.bn_calibration_batches; ++i) {
    auto zg = step_generator(o.seed, o.steps + i, 2);
    out->forward(torch::randn({std::max<int64_t>(o.batch, 64), o.z_dim}, zg));
  }
  for (auto& m : out->modules(false))
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) bn->options.momentum(0.1);
}
}  // namespace

Generator train_gan(const Dataset& data, const GanTrainOptions& o, const TrainCallback& cb) {
  check_data(data, o.batch);
  const GanLoss& loss = gan_loss(o.loss);
  validate(o);
  torch::manual_seed(o.seed);
  GeneratorOptions go;
  go.z_dim = o.z_dim;
  go.hidden_dim = o.g_hidden;
  GanState s(o, go);
  init_weights(*s.g, o.g_bn_gamma_mean, o.seed);  // default gamma ~ N(1, 0.02): see MODEL_CARD.md
  {
    torch::NoGradGuard ng;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed + 1);
    for (auto& p : s.d->named_parameters()) {
      const std::string& k = p.key();
      if (p.value().dim() == 4) p.value().normal_(0.0, 0.02, gen);
      else if (k.rfind("bn", 0) == 0 && k.size() > 7 && k.substr(k.size() - 7) == ".weight") p.value().normal_(1.0, 0.02, gen);
    }
    auto src = s.g->named_parameters(true);
    for (auto& p : s.ema->named_parameters(true)) p.value().copy_(src[p.key()]);
  }
  freeze(*s.ema);
  if (o.resume && !o.checkpoint.empty() && fs::exists(o.checkpoint)) load_gan_checkpoint(s, o);
  s.g->train();
  s.d->train();
  std::optional<CollapseProbe> probe;
  if (o.diagnose_every > 0) probe.emplace(data, o.z_dim, o.diagnose_samples, o.seed + 77, o.judge);
  Batcher batcher(data.images.size(0), o.batch, o.seed);
  Meter meter;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = s.start; step < o.steps; ++step) {
    auto zg = step_generator(o.seed, step, 1);
    decay_learning_rates(s, o, step);
    std::map<std::string, double> record = {{"d_loss", 0.0}, {"d_real", 0.0}, {"d_fake", 0.0}};
    // Discriminator: d_steps updates, each on a fresh data batch and fresh noise; then G.
    for (int64_t k = 0; k < o.d_steps; ++k)
      d_step(s, o, loss, to_model_range(data.images.index_select(0, batcher.indices(step * o.d_steps + k))), zg, record);
    g_step(s, o, loss, std::min(o.batch, data.images.size(0)), step, zg, record);
    if (o.r1 > 0 && std::isfinite(s.r1)) record["r1"] = s.r1;
    meter.add(record);
    const bool last = step + 1 == o.steps;
    if (!o.checkpoint.empty() && ((step + 1) % o.checkpoint_every == 0 || last)) save_gan_checkpoint(s, o, step + 1);
    const bool diagnosing = probe && ((step + 1) % o.diagnose_every == 0 || last);
    if (cb && ((step + 1) % o.report_every == 0 || last || diagnosing)) {
      TrainStats st = stats_at(step + 1, o.steps, meter, t0);
      st.resumed_from = s.start;
      st.d_updates = s.d_updates;
      st.g_updates = step + 1;
      if (diagnosing) diagnose(s.g, *probe, st);
      cb(st);
    }
  }
  Generator out = o.ema > 0 ? s.ema : s.g;
  calibrate_exported(out, o);
  freeze(*out);
  return out;
}

}  // namespace latentedit
