// latentedit — from an EditResult to what people read: the auditor's verdict, the drift of the
// other attributes, and the one set of files an edit produces (report.json, grid.png,
// before/after pairs, strips). `edit`, `batch` and the server all call make_edit_outputs, so
// the same settings give the same bytes whichever front end ran them.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "latentedit/editor.h"
#include "latentedit/spec.h"

namespace latentedit {

// The auditor's judgement of an edit (empty when the bundle has no auditor).
struct Audit {
  bool present = false;
  torch::Tensor before, after;       // (N, C) auditor probabilities of the first/last image
  std::vector<bool> confirmed;       // per latent: every target crossed 0.5 in the asked direction
  bool judged = true;                // false: the edit names no attribute (a move along an unnamed
                                     // direction), so there is nothing to confirm (confirmed: all true)
};

// Scores the first and last images of `r` with the auditor (if the bundle has one).
Audit audit_edit(const Models& m, const EditSpec& spec, const EditResult& r);

// True when the edit went non-finite anywhere (latents, scores or images): a step size too
// large for the model. Such a result is never reported as an edit (edit, batch and evaluate fail).
bool edit_diverged(const EditResult& r);

// Rows b..e of an edit and of its audit (a batch of several jobs is edited together).
EditResult slice(const EditResult& r, int64_t b, int64_t e);
Audit slice(const Audit& a, int64_t b, int64_t e);

// Drift: per row, the mean |after - before| over the attributes `attrs` (probabilities).
// The one definition used by reports, batch summaries and evaluate.
torch::Tensor attribute_drift(const torch::Tensor& before, const torch::Tensor& after, const std::vector<int>& attrs);
// The attributes that are not among `targets` (an edit's: edit_targets in discover.h).
std::vector<int> non_targets(const std::vector<Target>& targets, int num_attributes);

// The edit's title: its targets ("+Smiling -Eyeglasses"), or its moves with their names
// ("sefa#3 (+Male -Wearing_Lipstick) x2, boundary#Smiling x-1").
std::string describe_edit(const Models& m, const EditSpec& spec);

// Who produced an edit and from what, for the report header and the grid's subtitle.
struct OutputContext {
  std::string command = "edit";      // "edit", "batch", ...
  nlohmann::json source;             // where the latents came from, e.g. {"seed": 7, "count": 8}
  std::string label;                 // grid subtitle prefix, e.g. "seed 7" or "job smile"
  nlohmann::json header = nlohmann::json::object();  // extra report fields (job id, threads, ...)
  torch::Tensor photos;              // (N, 3, H, W): the photos the latents were inverted from; the
                                     // grid then starts with them (and "before" is the reconstruction)
};

// The grid subtitle's name of a latent source: "seed 7", "seeds 1, 2", "latents", "latents from F".
std::string source_label(const nlohmann::json& source);

// An edit's outputs, computed in memory: nothing is written.
struct EditOutputs {
  std::vector<std::pair<std::string, std::string>> images;  // file name -> PNG bytes, fixed order
  nlohmann::json report;                                    // the report (also when not written)
  bool write_report = true;
  // Every file, in order: the images, then report.json (when enabled); report["files"] lists them.
  std::vector<std::pair<std::string, std::string>> files() const;
};

// The one function from (settings, source, result, audit) to an edit's files.
EditOutputs make_edit_outputs(const Models& m, const EditSettings& s, const EditResult& r, const Audit& a,
                              const OutputContext& ctx);

// One row of a tensor as floats (report.json's z and logits).
std::vector<float> to_floats(const torch::Tensor& t);
// {attribute: value} for one row of per-attribute values (probabilities).
nlohmann::json attribute_values(const std::vector<std::string>& attributes, const torch::Tensor& row);

// A short summary of a report (what `edit --json` prints).
nlohmann::json report_summary(const nlohmann::json& report);

}  // namespace latentedit
