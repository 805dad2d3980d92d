// latentedit — model bundles: a directory with model.json and weight files.
//
// model.json:
// {
//   "format": "latentedit-bundle", "version": 1,
//   "name": "procedural-faces-v1", "z_dim": 64, "image_size": 64,
//   "output_range": [-1, 1], "attributes": ["5_o_Clock_Shadow", ...],
//   "generator":  {"arch": "dcgan-course-generator", "hidden_dim": 32, "weights": "generator.safetensors"},
//   "classifier": {"arch": "dcgan-course-classifier", "hidden_dim": 32, "weights": "classifier.safetensors"},
//   "auditor":    {...optional, like classifier...}
// }
// "arch": "torchscript" with "file": "x.pt" loads a TorchScript module instead; weights may be
// .safetensors or .pth (PyTorch checkpoint, read by latentedit's safe unpickler).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "latentedit/models.h"

namespace latentedit {

// A loaded network: frozen, eval mode, a differentiable function of its input.
struct Network {
  std::string arch;          // "dcgan-course-generator", "dcgan-course-classifier", "torchscript"
  std::string source;        // file it was loaded from
  int64_t hidden_dim = 0;    // 0 for TorchScript
  int64_t parameters = 0;    // number of scalar parameters
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  // The same forward computed in another floating-point type (input and output stay float32):
  // course architectures and their ensembles; empty for TorchScript. set_precision uses it.
  std::function<std::function<torch::Tensor(const torch::Tensor&)>(torch::ScalarType)> forward_in;
  // Penultimate features (classifiers of the course architecture only; empty otherwise).
  std::function<torch::Tensor(const torch::Tensor&)> features;
  std::shared_ptr<void> holder;  // keeps the module alive
  std::shared_ptr<torch::nn::Module> module;  // course architectures: the module (for state_dict)
};

// Side of the colour thumbnail the latent thumbnail model predicts (3 x 4 x 4 = 48 values).
constexpr int64_t kThumbnail = 4;

// A multi-layer perceptron: Linear layers in order, SiLU between them.
struct Mlp {
  std::vector<torch::Tensor> weights, biases;
  bool empty() const { return weights.empty(); }
};

// Linear attribute boundaries in z (InterFaceGAN) and the attributes' correlation, fitted by
// `latentedit directions` (directions.h) and stored in the bundle as directions.safetensors.
struct Directions {
  torch::Tensor normals;      // (C, z_dim) unit normals; n_c . z + offset_c = signed distance (> 0: present)
  torch::Tensor offsets;      // (C)
  torch::Tensor correlation;  // (C, C) correlation of the attributes' labels
  torch::Tensor accuracy;     // (C) agreement of each boundary with the classifier's confident labels
  // The latent classifier (optional; needed by the latent method): an ensemble of MLPs z -> C
  // logits, each fitted to the editing classifier's logits of generated faces; its logits are the
  // members' mean. Member m's Linear layers in order (SiLU between), stored like a PyTorch
  // nn.Sequential as latent_classifier.{0,2,4,...}.{weight,bias} (member 0) and
  // latent_classifier_m.{0,2,...} (member m >= 1).
  std::vector<Mlp> latent_classifier;  // member m's tensors: latent_classifier_name(m) + ".0.weight", ...
  torch::Tensor latent_agreement;  // (C) the ensemble's sign agreement with the editing classifier on held-out latents
  // The latent thumbnail model (optional; the latent method holds it): an MLP z -> the generated
  // face's colour thumbnail (3 x 4 x 4 area means, flattened), stored as latent_thumbnail.{0,2,...};
  // its held-out R^2 per value, and the correlation of each attribute's logit with each value (C, 48).
  Mlp thumbnail;
  torch::Tensor thumbnail_r2, thumbnail_correlation;
  std::string source;         // file it was loaded from
};

// The tensor-name prefix of the latent classifier's member m in directions.safetensors:
// "latent_classifier" for member 0, "latent_classifier_m" after it.
std::string latent_classifier_name(size_t member);

// The arithmetic of the networks that edit (generator and editing classifier). kBf16: their
// weights and activations in bfloat16, through oneDNN's native kernels; z, the loss and every
// update stay float32, and the auditor (the judge) always runs in float32.
enum class Precision { kFp32, kBf16 };
std::string to_string(Precision p);              // "fp32", "bf16"
Precision parse_precision(const std::string& s);  // throws UsageError

// Whether this CPU runs bfloat16 arithmetic natively (AVX-512 BF16 or AMX-BF16). Elsewhere
// oneDNN emulates it, slower than float32.
bool cpu_has_bf16();

// Everything the editor needs: generator, editing classifier, optional auditor, metadata.
struct Models {
  std::string name;
  std::string dir;                    // bundle directory ("" when built from files)
  int64_t z_dim = 64;
  int64_t image_size = 64;
  double range_lo = -1.0, range_hi = 1.0;   // generator output / classifier input range
  std::vector<std::string> attributes;
  Network generator, classifier;
  std::optional<Network> auditor;
  std::optional<Directions> directions;  // needed by the boundary method and the correlation mask
  nlohmann::json manifest;            // the model.json that was read (or synthesised)
  // Directions found without labels (model.json "discovered", latentedit directions --discover):
  // discovered.safetensors' tensors METHOD.vectors (K, z_dim) and METHOD.values (K), as float32,
  // checked against the manifest's record when the bundle loads; empty when there are none.
  NamedTensors discovered;
  // What the generator was trained on, in one line (model.json "training_data"; "" if unknown),
  // and the reconstruction PSNR (dB) below which an inverted image is far from anything the
  // generator draws ("inversion_warning_psnr": chosen from held-out data; 0: no warning).
  std::string training_data;
  double inversion_warning_psnr = 0;
  Precision precision = Precision::kFp32;  // set_precision's choice
};

// Throws UsageError when `p` is bf16 and `native_bf16` is false (emulated bfloat16 would only be
// slower): what a caller can check before loading anything.
void check_precision(Precision p, bool native_bf16 = cpu_has_bf16());

// Rebuilds the generator's and the editing classifier's forward in `p`, and converts the latent method's MLPs (the
// directions' latent classifier and thumbnail model) to it (the auditor is left in
// float32). Throws UsageError as check_precision does, or when a network cannot change precision
// (TorchScript).
void set_precision(Models& m, Precision p, bool native_bf16 = cpu_has_bf16());

// A bundle's model.json read and validated (name, z_dim, image_size, output_range, attributes,
// format, version, and that a generator and a classifier are named), without loading any
// network: `dir` only names the bundle in messages. Throws ModelError.
Models read_manifest(const nlohmann::json& manifest, const std::string& dir);

// Loads a bundle directory. Throws ModelError naming the missing/corrupt piece.
Models load_bundle(const std::string& dir);

// Builds Models from a generator and a classifier file (.pth, .safetensors or TorchScript .pt).
// Shapes are inferred from the weights; attributes default to CelebA's 40.
Models load_from_files(const std::string& generator_file, const std::string& classifier_file);

// One network from a file (.pth, .safetensors or TorchScript .pt); `role` names it in errors.
Network load_network_file(const std::string& file, const std::string& role, bool generator);


// Writes model.json atomically into `dir`. Throws IoError.
void write_manifest(const std::string& dir, const nlohmann::json& manifest);

// Every change to a bundle goes through a BundleWriter: model.json is read (or begun from a
// header), changed, and published together with the files it names at commit() — staged beside
// the bundle, renamed into place, nothing half-written (docs/cli.md "Outputs").
class StagedDir;
class BundleWriter {
 public:
  // kNew: a new bundle (replaces a previous output of `command`; someone else's directory needs
  // force); kAdd: networks are added to the bundle in `dir` (created if new); kExtend: the bundle
  // in `dir`, which must exist, gains files (directions).
  enum Mode { kNew, kAdd, kExtend };
  // `header` (manifest_header) starts the manifest when there is none to read; with kAdd its
  // attributes must equal the existing bundle's (ModelError otherwise).
  BundleWriter(const std::string& dir, const std::string& command, bool force, Mode mode, const nlohmann::json& header);
  ~BundleWriter();  // not committed: the staged files are removed, the bundle is as it was
  // A course-architecture network as ROLE.safetensors ("generator", "classifier", "auditor");
  // member k > 0 writes ROLE_k.safetensors and joins the role's ensemble (the role's single
  // network becoming a member). `training`, unless null, is recorded under "training".
  void put_weights(const std::string& role, const NamedTensors& weights, const std::string& arch, int64_t hidden,
                   const nlohmann::json& training = nullptr, int64_t member = 0,
                   const std::map<std::string, std::string>& file_meta = {});
  // A network file as it is (TorchScript), listed as `role`.
  void put_file(const std::string& role, const std::string& bytes, const std::string& file, const std::string& arch, int64_t hidden);
  // directions.safetensors and its "directions" entry (`record` plus the file name).
  void put_directions(const Directions& d, const nlohmann::json& record);
  // Any other safetensors file of the bundle (listed in the manifest by the caller, with set).
  void put_tensors(const std::string& file, const NamedTensors& tensors, const std::map<std::string, std::string>& meta);
  // Any other top-level key ("z_dim", "description", ...).
  void set(const std::string& key, const nlohmann::json& value);
  const nlohmann::json& manifest() const { return manifest_; }
  // Publishes the files and model.json; with check_loads, the staged bundle must load first.
  void commit(bool check_loads = false);
  // "classifier" / "classifier_2": the file stem of a role's member.
  static std::string member_file(const std::string& role, int64_t member, const std::string& ext);

 private:
  std::unique_ptr<StagedDir> staged_;
  nlohmann::json manifest_;
};

// The common part of a model.json (format, version, name, sizes, range, attributes); the one
// place a manifest is assembled, with manifest_entry for each network.
nlohmann::json manifest_header(const std::string& name, int64_t z_dim, int64_t image_size, double lo, double hi,
                               const std::vector<std::string>& attributes);
// One network's entry: {"arch", "hidden_dim", "weights": file}, or {"arch": "torchscript", "file"}.
nlohmann::json manifest_entry(const std::string& arch, int64_t hidden_dim, const std::string& file);
// A manifest for course-architecture networks with the given widths and weight files.
nlohmann::json make_manifest(const std::string& name, int64_t z_dim, int64_t gen_hidden,
                             const std::string& gen_weights, int64_t cls_hidden,
                             const std::string& cls_weights, const std::vector<std::string>& attributes);

}  // namespace latentedit
