#include "latentedit/spec.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "latentedit/attributes.h"
#include "latentedit/errors.h"
#include "edit/spec_fields.h"

namespace latentedit {
using json = nlohmann::json;

namespace {
std::string quote(const std::string& s) { return json(s).dump(); }

// The ladder's rule: fractions of the strength, increasing, in (0, 1).
std::string ladder_rule(const json& x) {
  double prev = 0.0;
  for (const auto& v : x) {
    const double f = v.get<double>();
    if (!(f > prev) || !(f < 1.0)) return "fractions of the strength must increase and lie in (0, 1), e.g. [0.5, 0.75] (got " + format_number(f) + ")";
    prev = f;
  }
  return "";
}
}  // namespace


std::string join_numbers(const std::vector<double>& xs, const char* sep) {
  std::string s;
  for (double x : xs) s += (s.empty() ? "" : sep) + format_number(x);
  return s.empty() ? "none" : s;
}

std::string join_ranks(const std::vector<int>& ranks, const char* sep) {
  return join_numbers({ranks.begin(), ranks.end()}, sep);
}

std::vector<Pass> EditSpec::passes() const {
  std::vector<Pass> p;
  if (method == Method::kLatent) {
    const double s = strength_value(Method::kLatent);
    for (double f : ladder) p.push_back({Method::kLatent, rank, s * f, latent_accept_prob});
    p.push_back({Method::kLatent, rank, s, latent_accept_prob});
    if (fallback_ranks.empty()) return p;
  }
  p.push_back({method == Method::kLatent ? Method::kProjected : method, rank, strength_value(method), accept_prob});
  if (method == Method::kProjected || method == Method::kLatent)
    for (int r : fallback_ranks) p.push_back({Method::kProjected, r, 0.0, accept_prob});
  return p;
}

EditSpec course_spec() {
  EditSpec s;
  s.method = Method::kGradient;
  s.eot = 0;
  s.keep_mask = KeepMask::kUniform;
  s.steps = 10;
  s.step_size = 0.1;
  s.penalty = 0.1;
  s.penalty_kind = PenaltyKind::kL2;
  return s;
}

std::vector<int> default_record_steps(int steps) { return steps >= 4 ? std::vector<int>{steps / 2} : std::vector<int>{}; }

namespace {
// Each enum's JSON names, in the order the error message lists them.
template <typename E>
using Names = std::vector<std::pair<E, const char*>>;
const Names<PenaltyKind> kPenaltyKinds = {{PenaltyKind::kL2, "l2"}, {PenaltyKind::kL1, "l1"}, {PenaltyKind::kSquared, "squared"}};
const Names<Method> kMethods = {{Method::kAuto, "auto"}, {Method::kGradient, "gradient"}, {Method::kProjected, "projected"}, {Method::kBoundary, "boundary"}, {Method::kLatent, "latent"}};
const Names<KeepMask> kKeepMasks = {{KeepMask::kCorrelation, "correlation"}, {KeepMask::kUniform, "uniform"}};

template <typename E>
std::string name_of(const Names<E>& names, E v) {
  for (const auto& [e, n] : names)
    if (e == v) return n;
  return names.front().second;
}

// "\"a\", \"b\" or \"c\""
template <typename E>
std::string alternatives(const Names<E>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + quote(names[i].second);
  return s;
}

template <typename E>
E parse_name(const Names<E>& names, const char* field, const std::string& s) {
  for (const auto& [e, n] : names)
    if (s == n) return e;
  throw UsageError(std::string(field) + ": expected " + alternatives(names) + ", got " + quote(s));
}
}  // namespace

std::string to_string(PenaltyKind k) { return name_of(kPenaltyKinds, k); }
PenaltyKind parse_penalty_kind(const std::string& s) { return parse_name(kPenaltyKinds, "penalty_kind", s); }
std::string to_string(Method m) { return name_of(kMethods, m); }
Method parse_method(const std::string& s) { return parse_name(kMethods, "method", s); }

Method resolve_method(Method m, bool has_latent_classifier) {
  if (m != Method::kAuto) return m;
  return has_latent_classifier ? Method::kLatent : Method::kProjected;
}
std::string to_string(KeepMask k) { return name_of(kKeepMasks, k); }
KeepMask parse_keep_mask(const std::string& s) { return parse_name(kKeepMasks, "keep_mask", s); }

const char* to_string(Direction d) { return d == Direction::kAdd ? "add" : "remove"; }

DirectionMove parse_direction_move(const std::string& text) {
  DirectionMove mv{text, std::nullopt};
  const size_t colon = text.rfind(':');
  if (colon != std::string::npos) {
    const std::string num = text.substr(colon + 1);
    char* end = nullptr;
    const double v = std::strtod(num.c_str(), &end);
    if (num.empty() || end != num.c_str() + num.size() || !std::isfinite(v))
      throw UsageError("direction \"" + text + "\": the strength after ':' must be a finite number, e.g. sefa#3:2");
    mv.direction = text.substr(0, colon), mv.strength = v;
  }
  if (mv.direction.empty()) throw UsageError("an empty direction name; give e.g. sefa#3 or \"#3\" (see latentedit directions --list)");
  return mv;
}

std::string to_string(const DirectionMove& m) { return m.direction + (m.strength ? ":" + format_number(*m.strength) : ""); }

std::string describe_targets(const std::vector<std::string>& attributes, const EditSpec& spec) {
  std::string s;
  for (const auto& mv : spec.moves) s += (s.empty() ? "" : " ") + to_string(mv);
  for (const auto& t : spec.targets)
    s += (s.empty() ? "" : " ") + std::string(t.direction == Direction::kAdd ? "+" : "-") + attributes[t.attribute];
  return s;
}

FieldTable<EditSettings> edit_settings_fields(const SettingsLimits& L) {
  using S = EditSettings;
  using K = FieldKind;
  FieldInfo names_info;
  names_info.kind = K::kNames;
  auto names = [&](const char* name, const char* help) {
    FieldInfo f = names_info;
    f.name = name;
    f.help = help;
    return Field<S>{f, nullptr, nullptr};
  };
  FieldTable<S> t;
  t.push_back(names("add", "Attributes to add (gradient ascent): NAME, or NAME:PROB to stop a latent at PROB"));
  t.push_back(names("remove", "Attributes to remove (descent): NAME or NAME:PROB"));
  t.push_back(names("keep", "Attributes to hold steady (default: all others)"));
  t.push_back(names("direction",
                    "Instead of add/remove: move along discovered directions (`latentedit directions --list`): NAME or NAME:S, "
                    "e.g. sefa#3:2 or ganspace#1:-1 (boundary#ATTRIBUTE: along that attribute's boundary normal); S in z units, "
                    "default `strength`, else 3; moves add"));
  t.push_back(bound<S>({"steps", K::kInt, "Gradient steps", 1, static_cast<double>(L.max_steps)}, [](S& s) -> int& { return s.spec.steps; }));
  t.push_back(bound<S>({"step_size", K::kReal, "Step size per update", 0, L.max_step_size, true}, [](S& s) -> double& { return s.spec.step_size; }));
  t.push_back(bound<S>({"penalty", K::kReal, "Weight of the kept attributes' change", 0, L.max_weight}, [](S& s) -> double& { return s.spec.penalty; }));
  t.push_back(bound_enum<S>({"penalty_kind", K::kChoice, "How the kept attributes' change is measured: l2 (the course), l1 or squared"},
                            kPenaltyKinds, [](S& s) -> PenaltyKind& { return s.spec.penalty_kind; }));
  t.push_back(bound<S>({"prior", K::kReal, "Weight keeping ||z|| near sqrt(z_dim)", 0, L.max_weight}, [](S& s) -> double& { return s.spec.prior; }));
  t.push_back(bound<S>({"target_prob", K::kReal, "Stop a latent once every target reaches this probability (remove: 1 - p)", 0, 1, true, true},
                       [](S& s) -> std::optional<double>& { return s.spec.target_prob; }));
  t.push_back(bound<S>({"batch_mean", K::kBool, "Course-exact scaling: the gradient of the batch mean (the step shrinks with the batch)"},
                       [](S& s) -> bool& { return s.spec.batch_mean; }));
  {
    FieldInfo f{"show_steps", K::kIntList, "Intermediate steps shown in the grid (default: `steps`/2)", 0, static_cast<double>(L.max_steps)};
    f.example = "[5]";
    t.push_back({f, [](const S& s) { return json(s.spec.record_steps); }, nullptr});  // read after steps (from_json)
  }
  t.push_back(bound<S>({"scale", K::kInt, "Upscaling of each face in the grid", 1, static_cast<double>(L.max_scale)}, [](S& s) -> int& { return s.outputs.scale; }));
  {
    FieldInfo f{"outputs", K::kText, "Which files to write: {\"grid\": true, \"pairs\": true, \"strip\": false, \"report\": true}"};
    f.flag = false;
    t.push_back({f, [](const S& s) {
                   return json{{"grid", s.outputs.grid}, {"pairs", s.outputs.pairs}, {"strip", s.outputs.strips}, {"report", s.outputs.report}};
                 }, nullptr});  // an object: read by from_json
  }
  t.push_back(bound_enum<S>(
      {"method", K::kChoice,
       "auto (default): latent (at each `ladder` fraction of `strength`, then at `strength`), then projected at `rank` and each of "
       "`fallback_ranks` for the latents it leaves short of `accept_prob`, when the bundle has a latent classifier; else projected. "
       "gradient: ascend the target logits minus the penalty (the course); projected: the gradient minus its components along the kept "
       "logits' top `rank` Jacobian directions; boundary: move along the target's linear boundary normal (InterFaceGAN; needs the "
       "bundle's directions); latent: optimise z against the bundle's latent classifier to reach target logit `strength` while holding "
       "the kept attributes' latent logits and (`hold_image`) the face's colours. The course's edit: `method` gradient, `eot` 0, "
       "`steps` 10, `step_size` 0.1, `keep_mask` uniform"},
      kMethods, [](S& s) -> Method& { return s.spec.method; }));
  t.push_back(bound_enum<S>({"keep_mask", K::kChoice,
                             "correlation: kept attributes weigh 1 - |corr| with the target, so tied ones (Goatee/No_Beard, Bald/hair "
                             "colours) may move with it (when the bundle has directions and no `keep` is given); uniform: all weigh 1"},
                            kKeepMasks, [](S& s) -> KeepMask& { return s.spec.keep_mask; }));
  t.push_back(bound<S>({"rank", K::kInt, "projected: Jacobian directions of the kept logits removed per step", 1, 64}, [](S& s) -> int& { return s.spec.rank; }));
  t.push_back(bound<S>({"sketch_every", K::kInt,
                        "projected: steps between new sketches of those directions (each costs `rank` extra images per latent; "
                        "the steps between reuse the last); 1: every step",
                        1, 1000},
                       [](S& s) -> int& { return s.spec.sketch_every; }));
  {
    FieldInfo f{"fallback_ranks", K::kIntList,
                "projected: latents whose targets the editing classifier does not put past `accept_prob` are edited again from the start "
                "with these ranks in turn; latent/auto: after the `ladder` passes, by projected at `rank`, then these, each going on from "
                "the best point so far (none: no projected passes)",
                1, 64};
    f.max_items = 8;
    f.example = "[4, 2]";
    t.push_back(bound<S>(f, [](S& s) -> std::vector<int>& { return s.spec.fallback_ranks; }));
  }
  t.push_back(bound<S>({"accept_prob", K::kReal,
                        "projected: the target probability a pass must reach for a latent to keep it; with fallback passes a latent "
                        "stops moving once it gets there",
                        0.5, 1, true, true},
                       [](S& s) -> double& { return s.spec.accept_prob; }));
  t.push_back(bound<S>({"eot", K::kInt, "gradient/projected: average the target's gradient over N extra random flips/shifts of the image", 0, 64},
                       [](S& s) -> int& { return s.spec.eot; }));
  t.push_back(bound<S>({"strength", K::kReal,
                        "boundary: signed distance in z past the target's boundary that each latent reaches (default 3); latent: the latent "
                        "classifier's target logit each latent reaches (default 12); direction: the move of each direction without its "
                        "own (default 3)",
                        0, 100, true},
                       [](S& s) -> std::optional<double>& { return s.spec.strength; }));
  t.push_back(names("condition", "boundary: move orthogonally to these attributes' normals"));
  t.push_back(bound<S>({"hold_image", K::kReal,
                        "latent: weight holding the face's colours (backgrounds, clothes: the bundle's latent thumbnail model) except where "
                        "the target goes with them; 0: off",
                        0, L.max_weight},
                       [](S& s) -> double& { return s.spec.hold_image; }));
  {
    FieldInfo f{"ladder", K::kRealList,
                "latent: fractions of `strength` tried first, increasing; each latent keeps the first latent pass the editing classifier "
                "puts past `latent_accept_prob`, so one that flips easily moves less (none: one pass at `strength`)",
                0, 1, true, true};
    f.max_items = 8;
    f.example = "[0.5, 0.75]";
    f.rule = ladder_rule;
    t.push_back(bound<S>(f, [](S& s) -> std::vector<double>& { return s.spec.ladder; }));
  }
  t.push_back(bound<S>({"latent_accept_prob", K::kReal,
                        "latent/auto: the target probability a latent pass must reach (its edits follow no image classifier's gradient)",
                        0.5, 1, true, true},
                       [](S& s) -> double& { return s.spec.latent_accept_prob; }));
  return t;
}

const std::vector<std::string>& EditSettings::fields() {
  static const std::vector<std::string> names = field_names(edit_settings_fields());
  return names;
}

void validate(const EditSpec& spec, int C, const SettingsLimits& L) {
  if (spec.targets.empty() && spec.moves.empty())
    throw UsageError("nothing to edit: give at least one attribute to add or remove, or a direction to move along");
  if (!spec.targets.empty() && !spec.moves.empty())
    throw UsageError("direction: moves along directions cannot be combined with add/remove in one edit; run them as two edits");
  for (const auto& mv : spec.moves) {
    if (mv.direction.empty()) throw UsageError("direction: an empty direction name; give e.g. sefa#3 (see latentedit directions --list)");
    const double st = spec.move_strength(mv);
    if (!std::isfinite(st) || std::abs(st) > kMaxDirectionStrength)
      throw UsageError("direction: the strength of " + mv.direction + " must be a finite number within +-" + format_number(kMaxDirectionStrength) +
                       " (got " + format_number(st) + ")");
  }
  if (!spec.moves.empty() && !spec.keep.empty())
    throw UsageError("keep: a move along directions holds nothing (it optimises nothing); drop keep, or edit attributes with add/remove");
  if (!spec.moves.empty() && spec.method != Method::kAuto)
    throw UsageError("method: applies to attribute edits; a move along directions optimises nothing, so drop method (or use add/remove)");
  if (!spec.moves.empty() && !spec.condition.empty())
    throw UsageError("condition: applies to boundary edits of attributes, not to moves along directions; drop condition");
  std::set<int> seen;
  for (const auto& t : spec.targets) {
    if (t.attribute < 0 || t.attribute >= C)
      throw UsageError("targets: attribute index " + std::to_string(t.attribute) + " is out of range 0.." + std::to_string(C - 1));
    if (!seen.insert(t.attribute).second)
      throw UsageError("targets: attribute " + std::to_string(t.attribute) + " is named twice; add or remove each attribute once");
    if (t.stop_prob && !(*t.stop_prob > 0.0 && *t.stop_prob < 1.0))
      throw UsageError("targets: a stop probability must be strictly between 0 and 1 (got " + format_number(*t.stop_prob) + ")");
  }
  for (int k : spec.keep) {
    if (k < 0 || k >= C) throw UsageError("keep: attribute index " + std::to_string(k) + " is out of range");
    if (seen.count(k)) throw UsageError("keep: attribute " + std::to_string(k) + " is both edited and kept; drop it from keep");
  }
  for (int c : spec.condition) {
    if (c < 0 || c >= C) throw UsageError("condition: attribute index " + std::to_string(c) + " is out of range");
    if (seen.count(c)) throw UsageError("condition: attribute " + std::to_string(c) + " is a target; drop it from condition");
  }
  EditSettings s;
  s.spec = spec;
  validate_fields(edit_settings_fields(L), s);
  for (int st : spec.record_steps)
    if (st < 0 || st > spec.steps)
      throw UsageError("show_steps: step " + std::to_string(st) + " is outside 0.." + std::to_string(spec.steps));
}

EditSettings EditSettings::from_json(const json& j, const std::vector<std::string>& attrs, SettingsErrors& e,
                                     const SettingsLimits& L) {
  EditSettings out;
  EditSpec& sp = out.spec;
  if (!j.is_object()) {
    e.fail("settings", "expected an object of edit settings, e.g. {\"add\": [\"Smiling\"]}");
    return out;
  }
  const FieldTable<EditSettings> table = edit_settings_fields(L);
  check_known_keys(j, field_names(table), e);
  read_fields(table, j, out, e);
  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  // A name or a list of names, each with its path ("k[i]" for lists).
  auto names = [&](const char* k) {
    std::vector<std::pair<std::string, std::string>> out_names;
    const json& x = j[k];
    if (x.is_string()) return decltype(out_names){{x.get<std::string>(), k}};
    if (!x.is_array()) {
      e.fail(k, "expected a list of attribute names, e.g. [\"Smiling\"], got " + x.dump().substr(0, 40));
      return out_names;
    }
    for (size_t i = 0; i < x.size(); ++i) {
      const std::string f = std::string(k) + "[" + std::to_string(i) + "]";
      if (!x[i].is_string()) e.fail(f, "expected an attribute name (a string), got " + x[i].dump().substr(0, 40));
      else out_names.emplace_back(x[i].get<std::string>(), f);
    }
    return out_names;
  };
  auto attribute = [&](const std::string& name, const std::string& f) -> std::optional<int> {
    if (name.empty()) {
      e.fail(f, "empty attribute name; give names such as Smiling, as the bundle lists them");
      return std::nullopt;
    }
    try {
      return find_attribute(attrs, name);
    } catch (const Error&) {
      e.fail(f, "unknown attribute " + quote(name) + did_you_mean(attrs, name));
      return std::nullopt;
    }
  };
  if (has("outputs")) {
    static const std::vector<std::string> kOutputFields = {"grid", "pairs", "strip", "report"};
    const json& o = j["outputs"];
    if (!o.is_object()) e.fail("outputs", "expected an object such as {\"grid\": true, \"pairs\": false, \"strip\": true}");
    else
      for (auto it = o.begin(); it != o.end(); ++it) {
        const std::string f = "outputs." + it.key();
        if (std::find(kOutputFields.begin(), kOutputFields.end(), it.key()) == kOutputFields.end()) {
          e.fail(f, "unknown output" + did_you_mean(kOutputFields, it.key()) + "; outputs are grid, pairs, strip, report");
          continue;
        }
        if (!it->is_boolean()) {
          e.fail(f, "expected true or false, got " + it->dump());
          continue;
        }
        const bool b = it->get<bool>();
        if (it.key() == "grid") out.outputs.grid = b;
        else if (it.key() == "pairs") out.outputs.pairs = b;
        else if (it.key() == "strip") out.outputs.strips = b;
        else out.outputs.report = b;
      }
  }
  // targets and keep
  std::set<int> used;
  for (const char* key : {"add", "remove"}) {
    if (!has(key)) continue;
    for (const auto& [name, f] : names(key)) {
      std::pair<std::string, std::optional<double>> t;
      try {
        t = parse_target(name);
      } catch (const Error& err) {
        e.fail(f, err.what());
        continue;
      }
      auto a = attribute(t.first, f);
      if (!a) continue;
      if (!used.insert(*a).second) {
        e.fail(f, attrs[*a] + " is named twice; add or remove each attribute once");
        continue;
      }
      sp.targets.push_back({*a, std::string(key) == "add" ? Direction::kAdd : Direction::kRemove, t.second});
    }
  }
  if (has("direction")) {
    const json& x = j["direction"];
    if (!x.is_string() && !x.is_array()) e.fail("direction", "expected a list of directions, e.g. [\"sefa#3:2\"], got " + x.dump().substr(0, 40));
    const json items = x.is_string() ? json::array({x}) : x.is_array() ? x : json::array();
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string f = "direction" + (x.is_array() ? "[" + std::to_string(i) + "]" : std::string());
      if (!items[i].is_string()) {
        e.fail(f, "expected a direction (a string such as \"sefa#3:2\"), got " + items[i].dump().substr(0, 40));
        continue;
      }
      try {
        sp.moves.push_back(parse_direction_move(items[i].get<std::string>()));
      } catch (const Error& err) {
        e.fail(f, err.what());
      }
    }
    if (!sp.moves.empty() && !sp.targets.empty())
      e.fail("direction", "moves along directions cannot be combined with add/remove in one edit; run them as two edits");
  }
  if (!has("add") && !has("remove") && !has("direction"))
    e.fail("", "nothing to edit; give \"add\" and/or \"remove\", e.g. \"add\": [\"Smiling\"], or a \"direction\" to move along");
  if (has("condition"))
    for (const auto& [name, f] : names("condition"))
      if (auto a = attribute(name, f)) {
        if (used.count(*a)) e.fail(f, attrs[*a] + " is a target; a boundary move cannot be made orthogonal to itself");
        else if (std::find(sp.condition.begin(), sp.condition.end(), *a) == sp.condition.end()) sp.condition.push_back(*a);
      }
  if (has("keep"))
    for (const auto& [name, f] : names("keep"))
      if (auto a = attribute(name, f)) {
        if (used.count(*a)) e.fail(f, attrs[*a] + " is both edited and kept; drop it from keep");
        else if (std::find(sp.keep.begin(), sp.keep.end(), *a) == sp.keep.end()) sp.keep.push_back(*a);
      }
  // recorded steps: the given ones (within 0..steps), else the middle step; every step for strips
  if (has("show_steps")) {
    FieldInfo f = std::find_if(table.begin(), table.end(), [](const auto& x) { return x.info.name == "show_steps"; })->info;
    f.hi = sp.steps;  // with this edit's steps as its bound
    f.hi = sp.steps;
    std::string item;
    if (const std::string err = check_value(f, j["show_steps"], &item); !err.empty()) e.fail("show_steps" + item, err);
    else sp.record_steps = j["show_steps"].get<std::vector<int>>();
  } else {
    sp.record_steps = default_record_steps(sp.steps);
  }
  if (out.outputs.strips)
    for (int k = 0; k <= sp.steps; ++k) sp.record_steps.push_back(k);
  std::sort(sp.record_steps.begin(), sp.record_steps.end());
  sp.record_steps.erase(std::unique(sp.record_steps.begin(), sp.record_steps.end()), sp.record_steps.end());
  return out;
}

EditSettings EditSettings::from_json(const json& j, const std::vector<std::string>& attrs, const SettingsLimits& L) {
  SettingsErrors e;
  EditSettings s = from_json(j, attrs, e, L);
  e.throw_first();
  return s;
}

json EditSettings::to_json(const std::vector<std::string>& attrs) const {
  json j = write_fields(edit_settings_fields(), *this);
  json add = json::array(), remove = json::array(), keep = json::array(), condition = json::array();
  for (const auto& t : spec.targets) {
    std::string n = attrs.at(t.attribute);
    if (t.stop_prob) n += ":" + format_number(*t.stop_prob);
    (t.direction == Direction::kAdd ? add : remove).push_back(n);
  }
  for (int k : spec.keep) keep.push_back(attrs.at(k));
  for (int c : spec.condition) condition.push_back(attrs.at(c));
  j["add"] = add;
  j["remove"] = remove;
  j["keep"] = keep;
  j["condition"] = condition;
  json moves = json::array();
  for (const auto& mv : spec.moves) moves.push_back(to_string(mv));
  j["direction"] = moves;
  return j;
}

}  // namespace latentedit
