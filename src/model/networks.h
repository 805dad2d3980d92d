// latentedit (internal) — building Networks from weights, and where the bundled model is.
#pragma once
#include <optional>
#include <string>

#include "latentedit/bundle.h"

namespace latentedit {

// The bundle used when none is given: $LATENTEDIT_MODEL, else pretrained/<default> beside the
// executable (./pretrained, ../pretrained, ../share/latentedit/pretrained) or in the install
// prefix. No source path is compiled in: an in-tree build/ finds ../pretrained.
std::string default_bundle_dir(const std::string& argv0);

// SHA-256 over the bytes of every file the models were loaded from (generator, editing
// classifier and its ensemble members, auditor, directions), in that order: what results are
// keyed by (batch fingerprints, the inversion cache), so that changed weights are never taken
// for the old ones and a moved bundle is still the same. A source that is not a readable regular
// file counts by its name.
std::string models_content_sha256(const Models& m);

// Wraps course-architecture weights as a frozen Network. Options are inferred from the
// shapes when not given. Throws ModelError when the weights do not fit.
Network make_generator_network(const NamedTensors& weights, const std::string& source,
                               std::optional<GeneratorOptions> opt = std::nullopt);
// Classifiers averaged: logits = the mean of the members' logits (features: concatenated).
// model.json: "classifier": {"arch": "ensemble", "members": [{...}, {...}]}. Throws ModelError
// for fewer than 2 members.
Network ensemble_network(std::vector<Network> members);
Network make_classifier_network(const NamedTensors& weights, const std::string& source,
                                std::optional<ClassifierOptions> opt = std::nullopt);

}  // namespace latentedit
