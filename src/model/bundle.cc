#include "latentedit/bundle.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <torch/script.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "latentedit/attributes.h"
#include "latentedit/directions.h"
#include "latentedit/errors.h"
#include "model/fused.h"
#include "io/fsutil.h"
#include "io/json_read.h"
#include "latentedit/models.h"
#include "io/pth.h"
#include "latentedit/safetensors.h"
#include "model/networks.h"

#ifndef LATENTEDIT_INSTALL_DATADIR
#define LATENTEDIT_INSTALL_DATADIR ""
#endif

namespace latentedit {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kDefaultBundle = "faces64";

int64_t count_params(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters(true)) n += p.numel();
  return n;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// Weights from .safetensors or a PyTorch checkpoint; `key` picks {"gen": ...} style entries.
NamedTensors read_weights(const std::string& path, const std::string& key) {
  if (!fs::exists(path))
    throw ModelError("weights file " + path + " does not exist (check the path in model.json)");
  if (ends_with(path, ".safetensors")) return load_safetensors(path).tensors;
  return pth_state_dict(load_pth(path), key, path);
}

bool is_torchscript(const std::string& path) {
  // TorchScript archives are zips that contain constants.pkl / code/; plain checkpoints don't.
  std::ifstream f(path, std::ios::binary);
  char magic[2] = {0, 0};
  f.read(magic, 2);
  if (magic[0] != 'P' || magic[1] != 'K') return false;
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return bytes.find("constants.pkl") != std::string::npos;
}

Network torchscript_network(const std::string& path, const std::string& role) {
  auto mod = std::make_shared<torch::jit::Module>();
  try {
    *mod = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    std::string first = e.what_without_backtrace();
    first = first.substr(0, first.find('\n'));
    throw ModelError(path + ": cannot load TorchScript " + role + ": " + first +
                     " (export it with PyTorch <= 1.13, the LibTorch version latentedit links)");
  }
  mod->eval();
  int64_t n = 0;
  for (const auto& p : mod->parameters()) {
    p.set_requires_grad(false);
    n += p.numel();
  }
  Network net;
  net.arch = "torchscript";
  net.source = path;
  net.parameters = n;
  net.forward = [mod](const torch::Tensor& x) { return mod->forward({x}).toTensor(); };
  net.holder = mod;
  return net;
}

// A course-architecture module built from `weights`, frozen, wrapped as a Network; the edit loop
// runs `fused` (BatchNorm folded, sub-pixel convolutions), which tests/fused_test.cc proves is the
// same function as the module.
// `net.holder` is the module's shared_ptr<Holder>.
template <typename Holder, typename Options, typename Fuse>
Network course_network(const char* arch, const NamedTensors& weights, const std::string& source,
                       const Options& o, Fuse fused) {
  auto m = std::make_shared<Holder>(o);
  load_state_dict(**m, weights, source);
  freeze(**m);
  Network net;
  net.arch = arch;
  net.source = source;
  net.hidden_dim = o.hidden_dim;
  net.parameters = count_params(**m);
  const NamedTensors sd = state_dict(**m);
  net.forward = fused(sd, o, torch::kFloat32);
  net.forward_in = [sd, o, fused](torch::ScalarType t) { return fused(sd, o, t); };
  net.holder = m;
  net.module = m->ptr();
  return net;
}

}  // namespace

Network make_generator_network(const NamedTensors& weights, const std::string& source,
                               std::optional<GeneratorOptions> opt) {
  return course_network<Generator>("dcgan-course-generator", weights, source,
                                   opt ? *opt : infer_generator_options(weights, source), fused_generator);
}

Network make_classifier_network(const NamedTensors& weights, const std::string& source,
                                std::optional<ClassifierOptions> opt) {
  Network net = course_network<Classifier>("dcgan-course-classifier", weights, source,
                                           opt ? *opt : infer_classifier_options(weights, source), fused_classifier);
  auto c = std::static_pointer_cast<Classifier>(net.holder);
  net.features = [c](const torch::Tensor& x) { return (*c)->features(x); };
  return net;
}

std::string to_string(Precision p) { return p == Precision::kBf16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::kFp32;
  if (s == "bf16") return Precision::kBf16;
  throw UsageError("precision must be fp32 or bf16 (got \"" + s + "\")");
}

// CPUID directly: clang 14's __builtin_cpu_supports knows neither feature name.
bool cpu_has_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0xE6) != 0xE6) return false;  // the OS saves the AVX-512 state
  const bool avx512_bf16 = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
  const bool amx_bf16 = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 22));
  return avx512_bf16 || amx_bf16;
#else
  return false;
#endif
}

void check_precision(Precision p, bool native_bf16) {
  if (p == Precision::kBf16 && !native_bf16)
    throw UsageError("precision bf16 needs a CPU with AVX-512 BF16 or AMX (this one has neither, and emulated bfloat16 is "
                     "slower than fp32); use fp32");
}

void set_precision(Models& m, Precision p, bool native_bf16) {
  check_precision(p, native_bf16);
  const torch::ScalarType t = p == Precision::kBf16 ? torch::kBFloat16 : torch::kFloat32;
  // A network without forward_in (TorchScript) runs as exported, in float32.
  for (Network* n : {&m.generator, &m.classifier})
    if (n->forward && !n->forward_in && p != Precision::kFp32)
      throw UsageError("precision " + to_string(p) + " needs course-architecture networks; " + n->source + " is " + n->arch +
                       " (it runs as exported, in fp32)");
  for (Network* n : {&m.generator, &m.classifier})
    if (n->forward && n->forward_in) n->forward = n->forward_in(t);
  // The latent method's MLPs (the latent classifier and thumbnail model) too: run_mlp runs them in
  // their weights' type, taking and giving float32.
  if (m.directions) {
    auto convert = [t](Mlp& mlp) {
      for (auto& w : mlp.weights) w = w.to(t);
      for (auto& b : mlp.biases) b = b.to(t);
    };
    for (Mlp& mlp : m.directions->latent_classifier) convert(mlp);
    convert(m.directions->thumbnail);
  }
  m.precision = p;
}

Network ensemble_network(std::vector<Network> members) {
  if (members.size() < 2) throw ModelError("an ensemble needs at least 2 classifiers");
  Network net;
  net.arch = "ensemble";
  for (const Network& n : members) {
    net.source += (net.source.empty() ? "" : " + ") + n.source;
    net.parameters += n.parameters;
    net.hidden_dim = std::max(net.hidden_dim, n.hidden_dim);
  }
  auto held = std::make_shared<std::vector<Network>>(std::move(members));
  using Fn = std::function<torch::Tensor(const torch::Tensor&)>;
  auto mean_of = [](std::vector<Fn> fs) {
    return [fs](const torch::Tensor& x) {
      torch::Tensor sum = fs[0](x);
      for (size_t i = 1; i < fs.size(); ++i) sum = sum + fs[i](x);
      return sum / static_cast<double>(fs.size());
    };
  };
  std::vector<Fn> fs;
  for (const Network& n : *held) fs.push_back(n.forward);
  net.forward = mean_of(fs);
  if (std::all_of(held->begin(), held->end(), [](const Network& n) { return bool(n.forward_in); }))
    net.forward_in = [held, mean_of](torch::ScalarType t) {
      std::vector<Fn> in;
      for (const Network& n : *held) in.push_back(n.forward_in(t));
      return Fn(mean_of(in));
    };
  if (std::all_of(held->begin(), held->end(), [](const Network& n) { return bool(n.features); }))
    net.features = [held](const torch::Tensor& x) {
      std::vector<torch::Tensor> f;
      for (const Network& n : *held) f.push_back(n.features(x));
      return torch::cat(f, 1);
    };
  net.holder = held;
  return net;
}

namespace {

template <typename T>
T get_field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw ModelError(where + ": missing \"" + key + "\"");
  const json& v = j.at(key);
  // nlohmann converts 1e300 to an integer by a cast (undefined behaviour): integers must be integers.
  if constexpr (std::is_integral_v<T>)
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)))
      throw ModelError(where + ": \"" + key + "\" must be a whole number (" + v.dump().substr(0, 60) + ")");
  try {
    return v.get<T>();
  } catch (const json::exception&) {
    throw ModelError(where + ": \"" + key + "\" has the wrong type (" + j.at(key).dump().substr(0, 60) + ")");
  }
}

Network load_network(const json& spec, const std::string& dir, const std::string& role,
                     const Models& m) {
  const std::string where = dir + "/model.json: \"" + role + "\"";
  if (!spec.is_object()) throw ModelError(where + " must be an object");
  const std::string arch = get_field<std::string>(spec, "arch", where);
  if (arch == "ensemble") {
    if (role == "generator") throw ModelError(where + ": an ensemble is for classifiers only");
    if (!spec.contains("members") || !spec["members"].is_array() || spec["members"].size() < 2 ||
        spec["members"].size() > 16)
      throw ModelError(where + ": an ensemble needs \"members\": a list of 2..16 classifier entries");
    std::vector<Network> members;
    for (size_t i = 0; i < spec["members"].size(); ++i) {
      const json& e = spec["members"][i];
      if (e.is_object() && e.value("arch", "") == "ensemble")
        throw ModelError(where + ": ensemble member " + std::to_string(i) + " is itself an ensemble; list its members instead");
      members.push_back(load_network(e, dir, role + "\" member " + std::to_string(i) + "\"", m));
    }
    return ensemble_network(std::move(members));
  }
  if (arch == "torchscript") {
    const std::string file = (fs::path(dir) / get_field<std::string>(spec, "file", where)).string();
    if (!fs::exists(file)) throw ModelError(where + ": TorchScript file " + file + " does not exist");
    return torchscript_network(file, role);
  }
  const std::string file = (fs::path(dir) / get_field<std::string>(spec, "weights", where)).string();
  const int64_t hidden = get_field<int64_t>(spec, "hidden_dim", where);
  if (hidden <= 0 || hidden > 4096) throw ModelError(where + ": hidden_dim must be in 1..4096");
  if (arch == "dcgan-course-generator") {
    GeneratorOptions o;
    o.z_dim = m.z_dim;
    o.hidden_dim = hidden;
    return make_generator_network(read_weights(file, "gen"), file, o);
  }
  if (arch == "dcgan-course-classifier") {
    ClassifierOptions o;
    o.hidden_dim = hidden;
    o.n_classes = static_cast<int64_t>(m.attributes.size());
    return make_classifier_network(read_weights(file, "classifier"), file, o);
  }
  throw ModelError(where + ": unknown arch \"" + arch +
                   "\" (use dcgan-course-generator, dcgan-course-classifier or torchscript)");
}

}  // namespace

namespace {
std::string shape_str(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

// One probe forward through each loaded network, so a wrong kind of file, a wrong size or
// NaN/Inf weights fail at load time with one line instead of mid-edit: the generator must map a
// (1, z_dim) latent to finite (1, 3, S, S) pixels, each classifier an image to finite (1, C) logits.
void probe_networks(Models& m) {
  torch::NoGradGuard ng;
  auto run = [&](const Network& net, const std::string& role, const torch::Tensor& x) {
    try {
      return net.forward(x);
    } catch (const std::exception& e) {
      // libtorch's first line, or a TorchScript traceback's last ("RuntimeError: ...").
      const auto* ce = dynamic_cast<const c10::Error*>(&e);
      const std::string first = one_line(ce ? ce->what_without_backtrace() : e.what());
      throw ModelError(net.source + ": the " + role + " fails on a " + shape_str(x) + " input: " + first +
                       " (is it a " + role + " of this kind, for this model's sizes?)");
    }
  };
  const int64_t S = m.image_size;
  torch::Tensor img = torch::zeros({1, 3, S, S});
  if (m.generator.forward) {
    const torch::Tensor z = torch::linspace(-1.5, 1.5, m.z_dim).view({1, m.z_dim});
    img = run(m.generator, "generator", z);
    if (img.dim() != 4 || img.size(0) != 1 || img.size(1) != 3 || img.size(2) != S || img.size(3) != S)
      throw ModelError(m.generator.source + ": the generator outputs " + shape_str(img) + " for one latent; latentedit needs (1, 3, " +
                       std::to_string(S) + ", " + std::to_string(S) + ") (an RGB generator of the model's image_size)");
    if (!torch::isfinite(img).all().item<bool>())
      throw ModelError(m.generator.source + ": the generator outputs NaN or infinite pixels (damaged weights?); retrain or re-export it");
  }
  const int64_t C = static_cast<int64_t>(m.attributes.size());
  auto check_classifier = [&](Network& net, const std::string& role) {
    if (!net.forward) return;
    const torch::Tensor y = run(net, role, img);
    if (y.dim() != 2 || y.size(0) != 1 || y.size(1) != C)
      throw ModelError(net.source + ": the " + role + " outputs " + shape_str(y) + " for one image; latentedit needs (1, " +
                       std::to_string(C) + "), one logit per attribute");
    if (!torch::isfinite(y).all().item<bool>())
      throw ModelError(net.source + ": the " + role + " outputs NaN or infinite scores (damaged weights?); retrain or re-export it");
  };
  check_classifier(m.classifier, "classifier");
  if (m.auditor) check_classifier(*m.auditor, "auditor");
}

// model.json's fields beyond the networks: what this version reads.
void check_manifest(const json& j, const std::string& mpath, const Models& m) {
  if (j.contains("format") && j["format"] != "latentedit-bundle")
    throw ModelError(mpath + ": \"format\" is " + j["format"].dump() + "; expected \"latentedit-bundle\"");
  if (j.contains("version") && j["version"] != 1)
    throw ModelError(mpath + ": bundle version " + j["version"].dump() + " is not supported (this latentedit reads version 1; upgrade latentedit)");
  if (m.image_size < 8 || m.image_size > 1024) throw ModelError(mpath + ": image_size must be in 8..1024");
  std::set<std::string> seen;
  for (const auto& a : m.attributes) {
    if (a.empty() || a.size() > 100 || a.find_first_of(",: \t\n") != std::string::npos)
      throw ModelError(mpath + ": attribute name \"" + a.substr(0, 100) + "\" is empty, too long or holds ',', ':' or spaces; rename it");
    if (!seen.insert(a).second) throw ModelError(mpath + ": attribute \"" + a + "\" is listed twice; attribute names must be unique");
  }
}
}  // namespace

Models read_manifest(const json& j, const std::string& dir) {
  const std::string mpath = (fs::path(dir) / "model.json").string();
  if (!j.is_object()) throw ModelError(mpath + " must hold a JSON object");
  Models m;
  m.dir = dir;
  m.manifest = j;
  m.name = j.contains("name") ? get_field<std::string>(j, "name", mpath) : fs::path(dir).filename().string();
  m.z_dim = get_field<int64_t>(j, "z_dim", mpath);
  m.image_size = j.contains("image_size") ? get_field<int64_t>(j, "image_size", mpath) : 64;
  if (m.z_dim <= 0 || m.z_dim > 65536) throw ModelError(mpath + ": z_dim must be in 1..65536");
  if (j.contains("output_range")) {
    auto r = get_field<std::vector<double>>(j, "output_range", mpath);
    if (r.size() != 2 || !(r[0] < r[1])) throw ModelError(mpath + ": output_range must be [lo, hi] with lo < hi");
    m.range_lo = r[0];
    m.range_hi = r[1];
  }
  m.attributes = j.contains("attributes") ? get_field<std::vector<std::string>>(j, "attributes", mpath)
                                          : celeba_attributes();
  if (m.attributes.empty() || m.attributes.size() > 4096) throw ModelError(mpath + ": \"attributes\" must list 1..4096 names");
  if (j.contains("training_data")) m.training_data = get_field<std::string>(j, "training_data", mpath);
  if (j.contains("inversion_warning_psnr")) {
    m.inversion_warning_psnr = get_field<double>(j, "inversion_warning_psnr", mpath);
    if (!(m.inversion_warning_psnr > 0 && m.inversion_warning_psnr < 100))
      throw ModelError(mpath + ": inversion_warning_psnr must be a PSNR in dB in (0, 100)");
  }
  check_manifest(j, mpath, m);
  if (!j.contains("generator"))
    throw ModelError(mpath + ": no \"generator\"", Remedy::kTrainGenerator, dir);
  if (!j.contains("classifier"))
    throw ModelError(mpath + ": no \"classifier\"", Remedy::kTrainClassifier, dir);
  return m;
}

std::string latent_classifier_name(size_t member) {
  return member == 0 ? "latent_classifier" : "latent_classifier_" + std::to_string(member);
}

Models load_bundle(const std::string& dir) {
  if (!fs::is_directory(dir))
    throw ModelError("model bundle " + dir + " is not a directory (give a bundle directory with a model.json, or set LATENTEDIT_MODEL)");
  const std::string mpath = (fs::path(dir) / "model.json").string();
  if (!fs::exists(mpath))
    throw ModelError(dir + " has no model.json (not a latentedit model bundle; see docs/bundles.md)");
  Models m = read_manifest(parse_json(read_file(mpath, true), mpath, ErrorKind::kModel), dir);
  const json& j = m.manifest;
  m.generator = load_network(j["generator"], dir, "generator", m);
  m.classifier = load_network(j["classifier"], dir, "classifier", m);
  if (j.contains("auditor") && !j["auditor"].is_null()) m.auditor = load_network(j["auditor"], dir, "auditor", m);
  // The weights file of model.json's entry `key` ({"weights": "KEY.safetensors", ...}), in the bundle.
  auto entry_weights = [&](const std::string& key) {
    const json& d = j[key];
    if (!d.is_object() || !d.contains("weights") || !d["weights"].is_string())
      throw ModelError(mpath + ": \"" + key + "\" must be {\"weights\": \"" + key + ".safetensors\", ...}");
    return (fs::path(dir) / d["weights"].get<std::string>()).string();
  };
  if (j.contains("directions") && !j["directions"].is_null()) {
    const std::string file = entry_weights("directions");
    const NamedTensors w = read_weights(file, "");
    Directions dirs;
    dirs.source = file;
    const int64_t C = static_cast<int64_t>(m.attributes.size());
    auto get = [&](const char* k, std::vector<int64_t> shape) {
      const auto it = std::find_if(w.begin(), w.end(), [&](const auto& p) { return p.first == k; });
      if (it == w.end() || it->second.sizes() != c10::IntArrayRef(shape))
        throw ModelError(file + ": tensor \"" + k + "\" is missing or has the wrong shape", Remedy::kFitDirections, dir);
      return it->second.to(torch::kFloat32).contiguous();
    };
    dirs.normals = get("normals", {C, m.z_dim});
    dirs.offsets = get("offsets", {C});
    dirs.correlation = get("correlation", {C, C});
    dirs.accuracy = get("accuracy", {C});
    if (!torch::isfinite(dirs.normals).all().item<bool>() || !torch::isfinite(dirs.correlation).all().item<bool>())
      throw ModelError(file + " holds non-finite values", Remedy::kFitDirections, dir);
    // The latent classifier's members and the thumbnail model: NAME.0, .2, ... (Linear layers of
    // an nn.Sequential with SiLU between them), z_dim inputs; returns the number of outputs (0: none stored).
    auto read_mlp = [&](const std::string& name, Mlp& mlp) {
      int64_t in = m.z_dim;
      for (int i = 0;; i += 2) {
        const std::string k = name + "." + std::to_string(i);
        const auto wt = std::find_if(w.begin(), w.end(), [&](const auto& p) { return p.first == k + ".weight"; });
        if (wt == w.end()) break;
        const int64_t out = wt->second.dim() == 2 ? wt->second.size(0) : -1;
        mlp.weights.push_back(get((k + ".weight").c_str(), {out, in}));
        mlp.biases.push_back(get((k + ".bias").c_str(), {out}));
        in = out;
      }
      for (const auto& t : mlp.weights)
        if (!torch::isfinite(t).all().item<bool>()) throw ModelError(file + " holds non-finite values", Remedy::kFitDirections, dir);
      return mlp.empty() ? int64_t{0} : in;
    };
    for (size_t member = 0;; ++member) {
      Mlp mlp;
      const std::string name = latent_classifier_name(member);
      const int64_t out = read_mlp(name, mlp);
      if (out == 0) break;
      if (out != C)
        throw ModelError(file + ": the latent classifier's last layer (" + name + ") has " + std::to_string(out) + " outputs, the bundle " +
                         std::to_string(C) + " attributes", Remedy::kFitDirections, dir);
      dirs.latent_classifier.push_back(std::move(mlp));
    }
    // Members are read until the first missing one; any other latent_classifier_* tensor (a member
    // after a gap) would be ignored silently, so the file is refused instead.
    auto of_a_read_member = [&](const std::string& t) {  // t names a tensor of member 1.. that was read
      for (size_t k = 1; k < dirs.latent_classifier.size(); ++k)
        if (t.rfind(latent_classifier_name(k) + ".", 0) == 0) return true;
      return false;
    };
    for (const auto& p : w)
      if (p.first.rfind("latent_classifier_", 0) == 0 && !of_a_read_member(p.first))
        throw ModelError(file + ": tensor \"" + p.first + "\" belongs to a latent classifier member after a missing one (" +
                         std::to_string(dirs.latent_classifier.size()) + " read)", Remedy::kFitDirections, dir);
    if (!dirs.latent_classifier.empty()) dirs.latent_agreement = get("latent_classifier.agreement", {C});
    const int64_t th_out = read_mlp("latent_thumbnail", dirs.thumbnail);
    if (th_out != 0) {
      if (th_out != 3 * kThumbnail * kThumbnail)
        throw ModelError(file + ": the latent thumbnail model's last layer has " + std::to_string(th_out) + " outputs, expected " +
                         std::to_string(3 * kThumbnail * kThumbnail) + "", Remedy::kFitDirections, dir);
      dirs.thumbnail_r2 = get("latent_thumbnail.r2", {th_out});
      dirs.thumbnail_correlation = get("latent_thumbnail.correlation", {C, th_out});
      if (!torch::isfinite(dirs.thumbnail_correlation).all().item<bool>())
        throw ModelError(file + " holds non-finite values", Remedy::kFitDirections, dir);
    }
    m.directions = dirs;
  }
  if (j.contains("discovered") && !j["discovered"].is_null()) {
    // The discovered directions (latentedit directions --discover): the vectors of every method
    // model.json lists, (count, z_dim) and finite.
    const json& d = j["discovered"];
    const std::string file = entry_weights("discovered");
    const NamedTensors w = read_weights(file, "");
    for (const char* method : {"sefa", "ganspace"}) {
      if (!d.contains(method)) continue;
      const std::string again = "; run latentedit directions --discover " + std::string(method) + " --model " + dir + " again";
      if (!d[method].is_object() || !d[method].contains("directions") || !d[method]["directions"].is_array())
        throw ModelError(mpath + ": \"discovered\"." + method + " has no list of directions" + again);
      const int64_t K = static_cast<int64_t>(d[method]["directions"].size());
      for (const char* part : {".vectors", ".values"}) {
        const std::string k = method + std::string(part);
        const auto it = std::find_if(w.begin(), w.end(), [&](const auto& p) { return p.first == k; });
        const std::vector<int64_t> shape = part == std::string(".vectors") ? std::vector<int64_t>{K, m.z_dim} : std::vector<int64_t>{K};
        if (it == w.end() || it->second.sizes() != c10::IntArrayRef(shape))
          throw ModelError(file + ": tensor \"" + k + "\" is missing or does not match model.json's " + std::to_string(K) + " directions" + again);
        const torch::Tensor t = it->second.to(torch::kFloat32).contiguous();
        if (!torch::isfinite(t).all().item<bool>()) throw ModelError(file + ": \"" + k + "\" holds non-finite values" + again);
        if (part == std::string(".vectors") && K > 0 && (t.norm(2, 1) - 1).abs().max().item<double>() > 1e-3)
          throw ModelError(file + ": \"" + k + "\" holds vectors that are not of unit length (a move's strength is its length)" + again);
        m.discovered.emplace_back(k, t);
      }
    }
  }
  probe_networks(m);
  return m;
}

Network load_network_file(const std::string& file, const std::string& role, bool generator) {
  if (!fs::exists(file)) throw ModelError(role + " file " + file + " does not exist");
  if (is_torchscript(file)) return torchscript_network(file, role);
  const NamedTensors w = read_weights(file, generator ? "gen" : "classifier");
  return generator ? make_generator_network(w, file, std::nullopt) : make_classifier_network(w, file, std::nullopt);
}

Models load_from_files(const std::string& generator_file, const std::string& classifier_file) {
  Models m;
  m.attributes = celeba_attributes();
  if (!generator_file.empty()) m.generator = load_network_file(generator_file, "generator", true);
  if (!classifier_file.empty()) m.classifier = load_network_file(classifier_file, "classifier", false);
  if (generator_file.empty() || m.generator.arch == "torchscript") {
    // Probe z_dim: the course uses 64; a TorchScript generator must accept (N, z_dim).
    m.z_dim = 64;
  } else {
    m.z_dim = infer_generator_options(read_weights(generator_file, "gen"), generator_file).z_dim;
  }
  if (!classifier_file.empty() && m.classifier.arch != "torchscript") {
    const auto co = infer_classifier_options(read_weights(classifier_file, "classifier"), classifier_file);
    if (co.n_classes != static_cast<int64_t>(m.attributes.size())) {
      m.attributes.clear();
      for (int64_t i = 0; i < co.n_classes; ++i) m.attributes.push_back("class_" + std::to_string(i));
    }
  }
  m.name = fs::path(generator_file).stem().string() + (generator_file.empty() || classifier_file.empty() ? "" : "+") +
           fs::path(classifier_file).stem().string();
  m.manifest = {{"name", m.name}, {"z_dim", m.z_dim}, {"image_size", m.image_size},
                {"output_range", {m.range_lo, m.range_hi}}, {"attributes", m.attributes},
                {"generator", {{"arch", m.generator.arch}, {"file", generator_file}}},
                {"classifier", {{"arch", m.classifier.arch}, {"file", classifier_file}}}};
  probe_networks(m);
  return m;
}

std::string models_content_sha256(const Models& m) {
  std::string all;
  auto add = [&](const std::string& sources) {
    size_t from = 0;
    while (true) {  // an ensemble's source is its members' joined by " + "
      const size_t to = sources.find(" + ", from);
      const std::string f = sources.substr(from, to == std::string::npos ? std::string::npos : to - from);
      std::error_code ec;
      all += (!f.empty() && fs::is_regular_file(f, ec) ? sha256_hex(read_file(f, true)) : "name:" + f) + "\n";
      if (to == std::string::npos) break;
      from = to + 3;
    }
  };
  add(m.generator.source);
  add(m.classifier.source);
  add(m.auditor ? m.auditor->source : "");
  add(m.directions ? m.directions->source : "");
  // discovered.safetensors only where there is one, so bundles without keep their content hash.
  if (m.manifest.is_object() && m.manifest.contains("discovered") && m.manifest["discovered"].is_object() && !m.dir.empty())
    add((fs::path(m.dir) / m.manifest["discovered"].value("weights", "")).string());
  return sha256_hex(all);
}

std::string default_bundle_dir(const std::string& argv0) {
  if (const char* env = std::getenv("LATENTEDIT_MODEL"); env && *env) return env;
  std::vector<fs::path> roots;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) exe = fs::absolute(argv0, ec);
  const fs::path d = exe.parent_path();
  roots = {d / "pretrained", d / ".." / "pretrained", d / ".." / "share" / "latentedit" / "pretrained"};
  if (*LATENTEDIT_INSTALL_DATADIR) roots.emplace_back(fs::path(LATENTEDIT_INSTALL_DATADIR) / "pretrained");
  for (const auto& r : roots)
    if (fs::exists(r / kDefaultBundle / "model.json")) return (r / kDefaultBundle).lexically_normal().string();
  throw ModelError(std::string("no bundled model found (looked for pretrained/") + kDefaultBundle +
                   " beside the executable and in the install prefix); give a bundle directory or set LATENTEDIT_MODEL");
}

void write_manifest(const std::string& dir, const json& manifest) {
  write_file_atomic((fs::path(dir) / "model.json").string(), manifest.dump(2) + "\n");
}

json manifest_header(const std::string& name, int64_t z_dim, int64_t image_size, double lo, double hi,
                     const std::vector<std::string>& attributes) {
  return {{"format", "latentedit-bundle"}, {"version", 1}, {"name", name}, {"z_dim", z_dim}, {"image_size", image_size},
          {"output_range", {lo, hi}}, {"attributes", attributes}};
}

json manifest_entry(const std::string& arch, int64_t hidden_dim, const std::string& file) {
  if (arch == "torchscript") return {{"arch", arch}, {"file", file}};
  return {{"arch", arch}, {"hidden_dim", hidden_dim}, {"weights", file}};
}

json make_manifest(const std::string& name, int64_t z_dim, int64_t gen_hidden, const std::string& gen_weights,
                   int64_t cls_hidden, const std::string& cls_weights,
                   const std::vector<std::string>& attributes) {
  json j = manifest_header(name, z_dim, 64, -1, 1, attributes);
  j["generator"] = manifest_entry("dcgan-course-generator", gen_hidden, gen_weights);
  j["classifier"] = manifest_entry("dcgan-course-classifier", cls_hidden, cls_weights);
  return j;
}

}  // namespace latentedit

namespace latentedit {

BundleWriter::BundleWriter(const std::string& dir, const std::string& command, bool force, Mode mode, const json& header)
    : staged_(std::make_unique<StagedDir>(dir, command, force,
                                          mode == kNew ? StagedDir::kReplace : mode == kAdd ? StagedDir::kAdd : StagedDir::kOwned)) {
  const std::string path = (fs::path(dir) / "model.json").string();
  if (mode != kNew && fs::exists(path)) {
    manifest_ = parse_json(read_file(path, true), path, ErrorKind::kModel);
    if (header.contains("attributes") && manifest_.value("attributes", header["attributes"]) != header["attributes"])
      throw ModelError(path + " lists other attributes than the new network's; write it into another bundle directory");
  } else {
    manifest_ = header;
  }
}

BundleWriter::~BundleWriter() = default;

std::string BundleWriter::member_file(const std::string& role, int64_t member, const std::string& ext) {
  return (member > 0 ? role + "_" + std::to_string(member) : role) + ext;
}

void BundleWriter::put_weights(const std::string& role, const NamedTensors& weights, const std::string& arch, int64_t hidden,
                               const json& training, int64_t member, const std::map<std::string, std::string>& file_meta) {
  const std::string file = member_file(role, member, ".safetensors");
  std::map<std::string, std::string> meta = file_meta;
  meta.emplace("format", "pt");
  staged_->add(file, serialize_safetensors(weights, meta));
  json entry = manifest_entry(arch, hidden, file);
  // Ensemble members: the entry joins (or replaces the same file in) the role's member list; the
  // role's single network, if any, becomes a member.
  json& j = manifest_;
  const bool was_ensemble = j.contains(role) && j[role].is_object() && j[role].value("arch", "") == "ensemble";
  if (member > 0 || was_ensemble) {
    std::vector<json> members;
    if (was_ensemble && j[role].contains("members") && j[role]["members"].is_array())
      for (const json& e : j[role]["members"]) members.push_back(e);
    else if (j.contains(role) && j[role].is_object())
      members.push_back(j[role]);
    members.erase(std::remove_if(members.begin(), members.end(), [&](const json& e) { return e.value("weights", "") == file; }),
                  members.end());
    members.push_back(entry);
    std::sort(members.begin(), members.end(), [](const json& a, const json& b) { return a.value("weights", "") < b.value("weights", ""); });
    if (members.size() > 1) entry = {{"arch", "ensemble"}, {"members", members}};
  }
  j[role] = entry;
  if (!training.is_null()) j["training"][member_file(role, member, "")] = training;
}

void BundleWriter::put_file(const std::string& role, const std::string& bytes, const std::string& file, const std::string& arch,
                            int64_t hidden) {
  staged_->add(file, bytes);
  manifest_[role] = manifest_entry(arch, hidden, file);
}

void BundleWriter::put_directions(const Directions& d, const json& record) {
  staged_->add("directions.safetensors", serialize_safetensors(directions_tensors(d), {{"format", "latentedit-directions"}}));
  json entry = record;
  entry["weights"] = "directions.safetensors";
  manifest_["directions"] = entry;
}

void BundleWriter::put_tensors(const std::string& file, const NamedTensors& tensors, const std::map<std::string, std::string>& meta) {
  staged_->add(file, serialize_safetensors(tensors, meta));
}

void BundleWriter::set(const std::string& key, const json& value) { manifest_[key] = value; }

void BundleWriter::commit(bool check_loads) {
  staged_->add("model.json", manifest_.dump(2) + "\n");
  if (check_loads) load_bundle(staged_->staging_dir());  // it must load before it is published
  staged_->commit();
}

}  // namespace latentedit
