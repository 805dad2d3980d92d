#include "latentedit/models.h"

#include <map>
#include <set>

#include "latentedit/errors.h"

namespace latentedit {
namespace nn = torch::nn;

namespace {
// nn::Sequential cannot nest (its forward is templated), so blocks subclass it.
struct BlockImpl : nn::SequentialImpl {
  using nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return nn::SequentialImpl::forward(x); }
};
TORCH_MODULE(Block);

Block gen_block(int64_t in, int64_t out, int64_t k, bool final) {
  Block s;
  s->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, out, k).stride(2)));
  if (final) {
    s->push_back(nn::Tanh());
  } else {
    s->push_back(nn::BatchNorm2d(out));
    s->push_back(nn::ReLU(nn::ReLUOptions(true)));
  }
  return s;
}

Block cls_block(int64_t in, int64_t out, int64_t stride, bool final) {
  Block s;
  s->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 4).stride(stride)));
  if (!final) {
    s->push_back(nn::BatchNorm2d(out));
    s->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)));
  }
  return s;
}
}  // namespace

GeneratorImpl::GeneratorImpl(const GeneratorOptions& o) : opt_(o) {
  const int64_t h = o.hidden_dim;
  gen_ = nn::Sequential(gen_block(o.z_dim, h * 8, 3, false), gen_block(h * 8, h * 4, 3, false),
                        gen_block(h * 4, h * 2, 3, false), gen_block(h * 2, h, 3, false),
                        gen_block(h, o.im_chan, 4, true));
  register_module("gen", gen_);
}

torch::Tensor GeneratorImpl::forward(const torch::Tensor& z) {
  return gen_->forward(z.view({z.size(0), opt_.z_dim, 1, 1}));
}

ClassifierImpl::ClassifierImpl(const ClassifierOptions& o) : opt_(o) {
  const int64_t h = o.hidden_dim;
  classifier_ = nn::Sequential(cls_block(o.im_chan, h, 2, false), cls_block(h, h * 2, 2, false),
                               cls_block(h * 2, h * 4, 3, false), cls_block(h * 4, o.n_classes, 2, true));
  register_module("classifier", classifier_);
}

torch::Tensor ClassifierImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = classifier_->forward(x);
  return y.view({y.size(0), -1});
}

torch::Tensor ClassifierImpl::features(const torch::Tensor& x) {
  torch::Tensor y = x;
  for (size_t i = 0; i < 3; ++i) y = classifier_[i]->as<BlockImpl>()->forward(y);
  return y.mean({2, 3});
}

NamedTensors state_dict(const torch::nn::Module& m) {
  NamedTensors out;
  for (const auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value().detach());
  for (const auto& b : m.named_buffers(true)) out.emplace_back(b.key(), b.value().detach());
  return out;
}

void load_state_dict(torch::nn::Module& m, const NamedTensors& weights, const std::string& what) {
  std::map<std::string, torch::Tensor> given(weights.begin(), weights.end());
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (const auto& p : m.named_parameters(true)) targets.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers(true)) targets.emplace_back(b.key(), b.value());
  for (const auto& [name, t] : targets) {
    auto it = given.find(name);
    if (it == given.end()) {
      // PyTorch < 0.4.1 checkpoints have no num_batches_tracked; it does not affect eval.
      if (name.size() > 19 && name.substr(name.size() - 19) == "num_batches_tracked") continue;
      missing.push_back(name);
      continue;
    }
    used.insert(name);
    if (it->second.sizes() != t.sizes()) {
      std::ostringstream s;
      s << name << " (file " << it->second.sizes() << ", model " << t.sizes() << ")";
      mismatched.push_back(s.str());
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : given)
    if (!used.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (size_t i = 0; i < v.size() && i < 6; ++i) s += (i ? ", " : "") + v[i];
      if (v.size() > 6) s += ", ... (" + std::to_string(v.size()) + " in all)";
      return s;
    };
    std::string msg = what + ": weights do not fit the architecture:";
    if (!missing.empty()) msg += " missing " + join(missing) + ";";
    if (!unexpected.empty()) msg += " unexpected " + join(unexpected) + ";";
    if (!mismatched.empty()) msg += " wrong shape " + join(mismatched) + ";";
    throw ModelError(msg + " check hidden_dim/z_dim in model.json or that the file is the right model");
  }
  torch::NoGradGuard ng;
  for (const auto& [name, t] : targets) {
    auto it = given.find(name);
    if (it == given.end()) continue;
    t.copy_(it->second.to(t.dtype()));
  }
}

void freeze(torch::nn::Module& m) {
  m.eval();
  for (auto& p : m.parameters(true)) p.set_requires_grad(false);
}

namespace {
const torch::Tensor& need(const NamedTensors& sd, const std::string& key, int64_t dim,
                          const std::string& what, const std::string& kind) {
  for (const auto& [k, t] : sd)
    if (k == key) {
      if (t.dim() != dim)
        throw ModelError(what + ": " + key + " has " + std::to_string(t.dim()) + " dimensions, expected " +
                         std::to_string(dim) + " (is this a course " + kind + "?)");
      return t;
    }
  throw ModelError(what + ": no tensor '" + key + "' (not a course " + kind +
                   " state_dict; expected keys like " + key + ")");
}
}  // namespace

GeneratorOptions infer_generator_options(const NamedTensors& sd, const std::string& what) {
  const auto& w0 = need(sd, "gen.0.0.weight", 4, what, "generator");  // (z_dim, 8h, 3, 3)
  const auto& w4 = need(sd, "gen.4.0.weight", 4, what, "generator");  // (h, im_chan, 4, 4)
  GeneratorOptions o;
  o.z_dim = w0.size(0);
  o.hidden_dim = w4.size(0);
  o.im_chan = w4.size(1);
  if (w0.size(1) != 8 * o.hidden_dim)
    throw ModelError(what + ": gen.0.0.weight has " + std::to_string(w0.size(1)) +
                     " output channels, expected 8 x hidden_dim = " + std::to_string(8 * o.hidden_dim));
  return o;
}

ClassifierOptions infer_classifier_options(const NamedTensors& sd, const std::string& what) {
  const auto& w0 = need(sd, "classifier.0.0.weight", 4, what, "classifier");  // (h, im_chan, 4, 4)
  const auto& w3 = need(sd, "classifier.3.0.weight", 4, what, "classifier");  // (n, 4h, 4, 4)
  ClassifierOptions o;
  o.hidden_dim = w0.size(0);
  o.im_chan = w0.size(1);
  o.n_classes = w3.size(0);
  return o;
}

}  // namespace latentedit
