#include "latentedit/train.h"
#include "io/fsutil.h"
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <filesystem>

#include "latentedit/errors.h"

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
  if (batch < 1) throw UsageError("--batch must be positive");
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
      cb({step + 1, o.steps, meter.take(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
  }
  net->eval();
  return net;
}

SNDiscriminatorImpl::SNDiscriminatorImpl(int64_t h) {
  const int64_t ch[] = {3, h, 2 * h, 4 * h, 8 * h};
  for (int i = 0; i < 5; ++i) {
    const int64_t in = i < 4 ? ch[i] : ch[4], out = i < 4 ? ch[i + 1] : 1;
    Layer l;
    l.weight = register_parameter("conv" + std::to_string(i) + "_weight", torch::randn({out, in, 4, 4}) * 0.02);
    l.bias = register_parameter("conv" + std::to_string(i) + "_bias", torch::zeros({out}));
    l.u = register_buffer("conv" + std::to_string(i) + "_u", F::normalize(torch::randn({out}), F::NormalizeFuncOptions().dim(0)));
    l.stride = i < 4 ? 2 : 1;
    l.padding = i < 4 ? 1 : 0;
    layers_.push_back(l);
  }
}

torch::Tensor SNDiscriminatorImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = layers_[i];
    const torch::Tensor w = l.weight.view({l.weight.size(0), -1});
    torch::Tensor u = l.u, v;
    {
      torch::NoGradGuard ng;
      v = F::normalize(torch::mv(w.t(), u), F::NormalizeFuncOptions().dim(0).eps(1e-12));
      u = F::normalize(torch::mv(w, v), F::NormalizeFuncOptions().dim(0).eps(1e-12));
      if (is_training()) l.u.copy_(u);
    }
    const torch::Tensor sigma = torch::dot(u, torch::mv(w, v));
    y = F::conv2d(y, l.weight / sigma, F::Conv2dFuncOptions().bias(l.bias).stride(l.stride).padding(l.padding));
    if (i + 1 < layers_.size()) y = F::leaky_relu(y, F::LeakyReLUFuncOptions().negative_slope(0.2));
  }
  return y.view({y.size(0)});
}

Generator train_gan(const Dataset& data, const GanTrainOptions& o, const TrainCallback& cb) {
  check_data(data, o.batch);
  torch::manual_seed(o.seed);
  GeneratorOptions go;
  go.z_dim = o.z_dim;
  go.hidden_dim = o.g_hidden;
  Generator g(go), ema(go);
  init_weights(*g, 1.0, o.seed);  // BatchNorm gamma ~ N(1, 0.02): see MODEL_CARD.md
  SNDiscriminator d(o.d_hidden);
  {
    torch::NoGradGuard ng;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed + 1);
    for (auto& p : d->named_parameters())
      if (p.value().dim() == 4) p.value().normal_(0.0, 0.02, gen);
  }
  {
    torch::NoGradGuard ng;
    auto src = g->named_parameters(true);
    for (auto& p : ema->named_parameters(true)) p.value().copy_(src[p.key()]);
  }
  freeze(*ema);
  torch::optim::Adam opt_g(g->parameters(), torch::optim::AdamOptions(o.lr_g).betas({0.0, 0.9}));
  torch::optim::Adam opt_d(d->parameters(), torch::optim::AdamOptions(o.lr_d).betas({0.0, 0.9}));
  int64_t start = 0;
  if (o.resume && !o.checkpoint.empty() && fs::exists(o.checkpoint)) {
    auto ar = open_checkpoint(o.checkpoint);
    start = load_step(ar);
    torch::serialize::InputArchive a1, a2, a3, a4, a5;
    ar.read("g", a1);
    ar.read("d", a2);
    ar.read("ema", a3);
    ar.read("opt_g", a4);
    ar.read("opt_d", a5);
    g->load(a1);
    d->load(a2);
    ema->load(a3);
    opt_g.load(a4);
    opt_d.load(a5);
    freeze(*ema);
  }
  g->train();
  d->train();
  Batcher batcher(data.images.size(0), o.batch, o.seed);
  Meter meter;
  const auto t0 = std::chrono::steady_clock::now();
  auto ema_params = ema->parameters(true);
  auto g_params = g->parameters(true);
  for (int64_t step = start; step < o.steps; ++step) {
    auto zg = step_generator(o.seed, step, 1);
    const torch::Tensor real = to_model_range(data.images.index_select(0, batcher.indices(step)));
    const int64_t B = real.size(0);
    // Discriminator: hinge loss.
    const torch::Tensor z1 = torch::randn({B, o.z_dim}, zg);
    torch::Tensor fake;
    {
      torch::NoGradGuard ng;
      fake = g->forward(z1);
    }
    opt_d.zero_grad();
    const torch::Tensor d_real = d->forward(real), d_fake = d->forward(fake);
    const torch::Tensor loss_d = torch::relu(1.0 - d_real).mean() + torch::relu(1.0 + d_fake).mean();
    loss_d.backward();
    opt_d.step();
    // Generator: -D(G(z)).
    const torch::Tensor z2 = torch::randn({B, o.z_dim}, zg);
    opt_g.zero_grad();
    for (auto& p : d->parameters()) p.set_requires_grad(false);
    const torch::Tensor loss_g = -d->forward(g->forward(z2)).mean();
    loss_g.backward();
    for (auto& p : d->parameters()) p.set_requires_grad(true);
    opt_g.step();
    if (o.ema > 0) {
      torch::NoGradGuard ng;
      const double decay = std::min(o.ema, (1.0 + step) / (10.0 + step));
      for (size_t i = 0; i < ema_params.size(); ++i) ema_params[i].mul_(decay).add_(g_params[i], 1.0 - decay);
    }
    meter.add({{"d_loss", loss_d.item<double>()}, {"g_loss", loss_g.item<double>()},
               {"d_real", d_real.mean().item<double>()}, {"d_fake", d_fake.mean().item<double>()}});
    const bool last = step + 1 == o.steps;
    if (!o.checkpoint.empty() && ((step + 1) % o.checkpoint_every == 0 || last)) {
      torch::serialize::OutputArchive ar, a1, a2, a3, a4, a5;
      g->save(a1);
      d->save(a2);
      ema->save(a3);
      opt_g.save(a4);
      opt_d.save(a5);
      ar.write("step", torch::tensor(step + 1));
      ar.write("g", a1);
      ar.write("d", a2);
      ar.write("ema", a3);
      ar.write("opt_g", a4);
      ar.write("opt_d", a5);
      save_archive(ar, o.checkpoint);
    }
    if (cb && ((step + 1) % o.report_every == 0 || last))
      cb({step + 1, o.steps, meter.take(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
  }
  Generator out = o.ema > 0 ? ema : g;
  // Recompute BatchNorm statistics for the exported weights (cumulative average over
  // calibration batches), so eval-mode images match what the weights draw.
  {
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
  freeze(*out);
  return out;
}

}  // namespace latentedit
