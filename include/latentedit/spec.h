// latentedit — what an edit is: the one specification type, its defaults, its JSON form and
// its validation. The CLI maps flags onto these fields, batch job files and the server's requests
// use the JSON form, and reports record it, so every front end shares the same defaults and
// the same error messages (which name fields, e.g. "step_size must be > 0").
//
//   EditSettings s = EditSettings::from_json({{"add", {"Smiling"}}, {"steps", 20}}, m.attributes);
//   nlohmann::json j = s.to_json(m.attributes);      // canonical form, round-trips
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "latentedit/errors.h"

namespace latentedit {

enum class Direction { kAdd, kRemove };

struct Target {
  int attribute = 0;                 // index into the model's attribute list
  Direction direction = Direction::kAdd;
  // Stop this latent when the probability reaches `stop_prob` (add) or falls to
  // 1 - stop_prob (remove). Unset: EditSpec::target_prob applies.
  std::optional<double> stop_prob;
};

// How the change of the kept attributes' logits is penalised (per latent).
enum class PenaltyKind {
  kL2,       // ||delta||_2, the course's choice
  kL1,       // mean |delta|
  kSquared,  // mean delta^2
};

// How z moves (see editor.h for each update rule).
enum class Method {
  kAuto,       // the default: latent when the bundle has a latent classifier, else projected (resolve_method)
  kGradient,   // the course's: ascend the target logits minus the kept-logit penalty
  kProjected,  // the same gradient with its components along the kept logits' top Jacobian directions removed
  kBoundary,   // InterFaceGAN: move along the target's linear boundary normal in z (needs the bundle's directions)
  kLatent,     // optimise z against the bundle's latent classifier: reach the target logit `strength` while
               // holding the kept attributes' latent logits (needs the bundle's directions with a latent classifier)
};

// The methods that compute one move and show it in `steps` points (no gradient steps on the image
// classifier): their strength is what sets how far they go.
inline bool one_shot(Method m) { return m == Method::kBoundary || m == Method::kLatent; }

// The method `m` means for a bundle: auto is latent when the bundle's directions include a latent
// classifier, else projected; any other method is itself.
Method resolve_method(Method m, bool has_latent_classifier);

// How the kept attributes are weighted in the penalty / projection.
enum class KeepMask {
  kCorrelation,  // weight 1 - max_t |corr(t, k)|: attributes tied to a target may move with it (default
                 // when the bundle has a correlation matrix and no explicit keep list is given)
  kUniform,      // every kept attribute weighs 1 (the course)
};

// A move along a discovered direction (latentedit directions --discover): the direction by name
// ("sefa#3", "ganspace#12", "#3" when one method is stored, a full stored name such as
// "#3 +Male", or "boundary#Smiling" for an attribute's boundary normal) and its strength in z
// units (signed; unset: EditSpec::strength, else kDirectionStrength). Moves add.
struct DirectionMove {
  std::string direction;
  std::optional<double> strength;
  bool operator==(const DirectionMove& o) const { return direction == o.direction && strength == o.strength; }
};

// "NAME" or "NAME:S" (S a finite number). Throws UsageError.
DirectionMove parse_direction_move(const std::string& text);
// The canonical text of a move: "sefa#3" or "sefa#3:2".
std::string to_string(const DirectionMove& m);

// The one-shot methods' default strengths: boundary's distance past the boundary, and the latent
// method's target logit (chosen from the measured curve, docs/edit-quality.md).
inline constexpr double kBoundaryStrength = 3.0, kLatentStrength = 12.0;
// A discovered direction's default move (z units): the discovery's own measuring strength.
inline constexpr double kDirectionStrength = 3.0;
// The largest move along directions (z units; |strength| of one move).
inline constexpr double kMaxDirectionStrength = 100.0;

// One pass of an edit (EditSpec::passes): the method, projected's rank, latent's strength, and
// the acceptance threshold that ends a latent's cascade there.
struct Pass {
  Method method;
  int rank;
  double strength;
  double accept;  // the target probability (editing classifier) at which a latent keeps this pass
};

// Everything that determines an edit's numbers. The defaults are chosen from the measured
// success-drift curve (docs/edit-quality.md): method auto — the latent method (strength 12, tried
// first at 6 and 9: the ladder) where the bundle has a latent classifier, and for the latents it
// does not flip convincingly (and on bundles without one) the course's objective and penalty with
// the projected method (rank 8, falling back to ranks 4 and 2), 2 EOT views and 20 steps of 0.125.
// The course's own settings are 10 steps, method gradient, eot 0, step_size 0.1, keep_mask uniform
// (and batch_mean for its scaling).
struct EditSpec {
  std::vector<Target> targets;
  // Instead of targets: moves along discovered directions (their sum, shown in `steps` points;
  // nothing is optimised, so method, penalty, keep and the rest do not apply).
  std::vector<DirectionMove> moves;
  std::vector<int> keep;             // empty: all attributes that are not targets
  PenaltyKind penalty_kind = PenaltyKind::kL2;
  double penalty = 0.1;
  int steps = 20;
  double step_size = 0.125;
  double prior = 0.0;                // weight of (||z|| - sqrt(z_dim))^2
  std::optional<double> target_prob; // stop probability of targets that do not set their own
  bool batch_mean = false;           // course scaling of the gradient (see editor.h)
  std::vector<int> record_steps;     // steps whose images are kept (0 and `steps` always are)
  Method method = Method::kAuto;
  KeepMask keep_mask = KeepMask::kCorrelation;
  int rank = 8;                      // projected: Jacobian directions of the kept logits removed per step
  // projected: steps between new sketches of those directions: a sketch costs `rank` extra images
  // per latent; the steps between reuse the last one (the kept directions move slowly). 1: every
  // step. Measured (MODEL_CARD, "Default speed"): 4 left the default's success, drift and fooled
  // rate unchanged on the 32-latent protocol.
  int sketch_every = 4;
  // projected: a latent whose edit leaves a target short of `accept_prob` (by the editing
  // classifier, direction-aware) is edited again from its start with the next of these ranks
  // (fewer directions removed: more room to move, more collateral change); it keeps the first
  // edit that reaches accept_prob, else the one that came closest. Empty: one pass at `rank`.
  std::vector<int> fallback_ranks = {4, 2};
  double accept_prob = 0.999;
  // latent: the same threshold for the latent passes (the ladder's and the one at the strength).
  // Its own knob because those edits follow no image classifier's gradient; measured (MODEL_CARD):
  // 0.99 cuts drift but lets in weak edits the auditor does not confirm, so it stays at 0.999.
  double latent_accept_prob = 0.999;
  int eot = 2;                       // gradient/projected: gradient averaged over 1 + eot views (eot random
                                     // flips/shifts of the image; 0 = off)
  std::optional<double> strength;    // boundary: signed distance in z past the target's boundary to reach;
                                     // latent: the latent classifier's target logit to reach; unset: the
                                     // method's default (strength_value)
  std::vector<int> condition;        // boundary: attributes whose normals the move is made orthogonal to
  // latent: fractions of the strength tried first, increasing (a ladder): a latent keeps the first
  // latent pass the editing classifier puts past latent_accept_prob, so one that flips easily moves less.
  // Empty: one latent pass at the strength.
  std::vector<double> ladder = {0.5, 0.75};
  double hold_image = 100.0;         // latent: weight holding the latent thumbnail model's colours (backgrounds,
                                     // clothes) when the bundle has one; 0 = off
  // Latents are edited in chunks of at most this many (0 = all at once). Each latent's update
  // does not depend on the others, so this only bounds memory (results agree to float
  // rounding); per image-step, one batch of 64 was as fast as or faster than chunks of 16
  // or 32 on the 2-core test machine (bench/edit_bench.cc, section 1). Not part of the JSON form.
  int64_t micro_batch = 64;

  // The strength in effect for `method` (a resolved method): strength, else the method's default.
  double strength_value(Method m) const {
    return strength ? *strength : m == Method::kBoundary ? kBoundaryStrength : kLatentStrength;
  }
  // A move's strength: its own, else strength, else kDirectionStrength.
  double move_strength(const DirectionMove& mv) const {
    return mv.strength ? *mv.strength : strength ? *strength : kDirectionStrength;
  }
  // The passes a latent goes through, each from its start, until the editing classifier puts its
  // targets past the pass's threshold (latent_accept_prob for latent passes, else accept_prob; it
  // keeps the first that gets there, else the one that came closest),
  // for a resolved method: projected at rank, then each of fallback_ranks; latent at strength x each
  // ladder fraction, at strength, then (unless fallback_ranks is empty) projected at rank and each of
  // fallback_ranks; other methods: one pass.
  std::vector<Pass> passes() const;
  // The stop probability in effect for target `t` (its own, else target_prob).
  std::optional<double> stop_prob(const Target& t) const { return t.stop_prob ? t.stop_prob : target_prob; }
};

// Which files an edit writes besides its report, and how they look.
struct OutputOptions {
  bool grid = true;     // grid.png
  bool pairs = true;    // latent_NNN_before.png / latent_NNN_after.png
  bool strips = false;  // strip_NNN.png: every step of one latent, in a row
  bool report = true;   // report.json
  int scale = 2;        // upscaling in grid and strips (1..8)
};

// Limits on settings (the batch runner and the server may tighten them).
struct SettingsLimits {
  int max_steps = 100000;
  double max_step_size = 10.0;
  double max_weight = 1e3;           // penalty, prior
  int max_scale = 8;
};

// An edit spec plus its output options: the unit every front end builds, validates and records.
struct EditSettings {
  EditSpec spec;
  OutputOptions outputs;

  // The JSON field names, in the order of the README.
  static const std::vector<std::string>& fields();
  // Parses the JSON form (unknown fields are errors; absent fields take the defaults above;
  // "show_steps" absent: the middle step, see default_record_steps). Every problem is added to
  // `errors`; the result is meaningful only when no error was added.
  static EditSettings from_json(const nlohmann::json& j, const std::vector<std::string>& attributes,
                                SettingsErrors& errors, const SettingsLimits& limits = {});
  // As above, but throws UsageError with the first problem.
  static EditSettings from_json(const nlohmann::json& j, const std::vector<std::string>& attributes,
                                const SettingsLimits& limits = {});
  // The canonical JSON form: canonical attribute names, every field present; from_json of it
  // gives back equal settings.
  nlohmann::json to_json(const std::vector<std::string>& attributes) const;
};

// The steps a grid shows between before and after when none are asked for: the middle one
// (for 4 or more steps).
std::vector<int> default_record_steps(int steps);

// Checks a spec against a model with C attributes; throws UsageError naming the field.
void validate(const EditSpec& spec, int num_attributes, const SettingsLimits& limits = {});

// The course's (C1W4) edit with a per-latent gradient: method gradient, no EOT, every kept
// attribute weighted 1, 10 steps of 0.1, L2 penalty 0.1. (EditSpec's own defaults differ: they
// were chosen from the measured success-drift curve.)
EditSpec course_spec();

// "l2" / "l1" / "squared" and back. parse throws UsageError.
std::string to_string(PenaltyKind k);
PenaltyKind parse_penalty_kind(const std::string& s);
std::string to_string(Method m);        // "gradient" / "projected" / "boundary"
Method parse_method(const std::string& s);
std::string to_string(KeepMask k);      // "correlation" / "uniform"
KeepMask parse_keep_mask(const std::string& s);
const char* to_string(Direction d);  // "add" / "remove"

// Numbers as the CLI writes them, joined by sep: [0.5, 0.75] -> "0.5,0.75"; [] -> "none".
std::string join_numbers(const std::vector<double>& xs, const char* sep = ",");
// Fallback ranks as the CLI writes them: [4, 2] -> "4,2"; [] -> "none".
std::string join_ranks(const std::vector<int>& ranks, const char* sep = ",");

// Human-readable edit description, e.g. "+Smiling -Eyeglasses", or the moves "sefa#3:2 sefa#7:-1".
std::string describe_targets(const std::vector<std::string>& attributes, const EditSpec& spec);

}  // namespace latentedit
