// latentedit — turning an EditResult into what people read: the auditor's verdict, the
// report JSON and the before/after grid.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "latentedit/editor.h"
#include "latentedit/image.h"

namespace latentedit {

// The auditor's judgement of an edit (empty when the bundle has no auditor).
struct Audit {
  bool present = false;
  torch::Tensor before, after;       // (N, C) auditor probabilities of the first/last image
  std::vector<bool> confirmed;       // per latent: every target crossed 0.5 in the asked direction
};

// Scores the first and last images of `r` with the auditor (if the bundle has one).
Audit audit_edit(const Models& m, const EditSpec& spec, const EditResult& r);

// Human-readable edit description, e.g. "+Smiling -Eyeglasses".
std::string describe_targets(const Models& m, const EditSpec& spec);

// The full report: model, settings (`settings` is merged in verbatim), per-latent z before/
// after, per-step logits and probabilities, stop step, auditor verdict.
nlohmann::json edit_report(const Models& m, const EditSpec& spec, const EditResult& r, const Audit& a,
                           const nlohmann::json& settings);

// A short summary of a report (what `edit --json` prints).
nlohmann::json report_summary(const nlohmann::json& report);

// The before/after grid: a row per latent; columns: before, each recorded step, after.
cv::Mat edit_grid(const Models& m, const EditSpec& spec, const EditResult& r, const Audit& a,
                  const std::string& subtitle, int scale);

}  // namespace latentedit
