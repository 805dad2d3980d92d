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

// Which image files an edit writes besides its report, and how.
struct EditImages {
  bool grid = true;     // grid.png
  bool pairs = true;    // latent_NNN_before.png / latent_NNN_after.png
  bool strips = false;  // strip_NNN.png: every recorded step of one latent, in a row
  int scale = 2;        // upscaling in grid and strips
  std::string subtitle; // grid header line 2
};

// The edit's images encoded as PNG bytes, each with its file name, in a fixed order. Nothing is
// written: callers write them (atomically) once everything has been computed.
std::vector<std::pair<std::string, std::string>> encode_edit_images(const Models& m, const EditSpec& spec,
                                                                    const EditResult& r, const Audit& a,
                                                                    const EditImages& what);

}  // namespace latentedit
