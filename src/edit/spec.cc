#include "latentedit/spec.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "latentedit/attributes.h"
#include "latentedit/errors.h"

namespace latentedit {
using json = nlohmann::json;

namespace {
const std::vector<std::string> kFields = {"add",   "remove",      "keep",       "steps",      "step_size",
                                          "penalty", "penalty_kind", "prior",    "target_prob", "batch_mean",
                                          "show_steps", "scale",     "outputs", "method", "keep_mask",
                                          "rank",       "fallback_ranks", "accept_prob", "eot", "strength", "condition", "hold_image",
                                          "ladder", "latent_accept_prob"};
const std::vector<std::string> kOutputFields = {"grid", "pairs", "strip", "report"};

std::string quote(const std::string& s) { return json(s).dump(); }

// The ladder's rule, one place for validate() and from_json: the index of the first fraction of
// the strength that is not in (0, 1) above the one before it (NaN fails too), or -1.
int bad_rung(const std::vector<double>& ladder) {
  for (size_t i = 0; i < ladder.size(); ++i)
    if (!(ladder[i] > (i ? ladder[i - 1] : 0.0)) || !(ladder[i] < 1.0)) return static_cast<int>(i);
  return -1;
}

// Field readers: each reports its own problem and returns nullopt.
struct Reader {
  const json& j;
  SettingsErrors& e;
  bool has(const std::string& k) const { return j.contains(k) && !j[k].is_null(); }

  std::optional<int64_t> integer(const std::string& k, int64_t lo, int64_t hi, const json* v = nullptr,
                                 const std::string& field = "") {
    const json& x = v ? *v : j[k];
    const std::string f = field.empty() ? k : field;
    if (!x.is_number_integer()) {
      e.fail(f, "expected an integer, got " + std::string(x.type_name()) + " " + x.dump());
      return std::nullopt;
    }
    const int64_t i = x.is_number_unsigned() && x.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : x.get<int64_t>();
    if (i < lo || i > hi) {
      e.fail(f, std::to_string(i) + " is out of range; use " + std::to_string(lo) + ".." + std::to_string(hi));
      return std::nullopt;
    }
    return i;
  }
  std::optional<double> number(const std::string& k, double lo, double hi, bool lo_open, bool hi_open = false) {
    const json& x = j[k];
    if (!x.is_number()) {
      e.fail(k, "expected a number, got " + std::string(x.type_name()) + " " + x.dump());
      return std::nullopt;
    }
    const double d = x.get<double>();
    if (!std::isfinite(d) || (lo_open ? d <= lo : d < lo) || (hi_open ? d >= hi : d > hi)) {
      e.fail(k, format_number(d) + " is out of range; use a value in " + (lo_open ? "(" : "[") + format_number(lo) + ", " + format_number(hi) +
                    (hi_open ? ")" : "]"));
      return std::nullopt;
    }
    return d;
  }
  std::optional<bool> boolean(const json& x, const std::string& f) {
    if (!x.is_boolean()) {
      e.fail(f, "expected true or false, got " + x.dump());
      return std::nullopt;
    }
    return x.get<bool>();
  }
  // A name or a list of names; the field path of item i is "k[i]" for lists.
  std::vector<std::pair<std::string, std::string>> names(const std::string& k) {
    const json& x = j[k];
    std::vector<std::pair<std::string, std::string>> out;
    if (x.is_string()) return {{x.get<std::string>(), k}};
    if (!x.is_array()) {
      e.fail(k, "expected a list of attribute names, e.g. [\"Smiling\"], got " + x.dump());
      return out;
    }
    for (size_t i = 0; i < x.size(); ++i) {
      const std::string f = k + "[" + std::to_string(i) + "]";
      if (!x[i].is_string()) e.fail(f, "expected an attribute name (a string), got " + x[i].dump().substr(0, 40));
      else out.emplace_back(x[i].get<std::string>(), f);
    }
    return out;
  }
  std::optional<int> attribute(const std::vector<std::string>& attrs, const std::string& name, const std::string& f) {
    if (name.empty()) {
      e.fail(f, "empty attribute name; give names such as Smiling (list them with `latentedit attributes`)");
      return std::nullopt;
    }
    try {
      return find_attribute(attrs, name);
    } catch (const Error&) {
      const auto close = closest_attributes(attrs, name, 1);
      e.fail(f, "unknown attribute " + quote(name) + (close.empty() ? "" : " (did you mean " + quote(close[0]) + "?)"));
      return std::nullopt;
    }
  }
};
}  // namespace

const std::vector<std::string>& EditSettings::fields() { return kFields; }

std::string format_number(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", x);
  return b;
}

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

std::string describe_targets(const std::vector<std::string>& attributes, const EditSpec& spec) {
  std::string s;
  for (const auto& t : spec.targets)
    s += (s.empty() ? "" : " ") + std::string(t.direction == Direction::kAdd ? "+" : "-") + attributes[t.attribute];
  return s;
}

void validate(const EditSpec& spec, int C, const SettingsLimits& L) {
  if (spec.targets.empty()) throw UsageError("nothing to edit: give at least one attribute to add or remove");
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
  if (spec.steps < 1 || spec.steps > L.max_steps)
    throw UsageError("steps must be in 1.." + std::to_string(L.max_steps) + " (got " + std::to_string(spec.steps) + ")");
  if (!(spec.step_size > 0.0) || !(spec.step_size <= L.max_step_size))
    throw UsageError("step_size must be > 0 and <= " + format_number(L.max_step_size) + " (got " + format_number(spec.step_size) + ")");
  if (!(spec.penalty >= 0.0) || !(spec.penalty <= L.max_weight)) throw UsageError("penalty must be in [0, " + format_number(L.max_weight) + "] (got " + format_number(spec.penalty) + ")");
  if (!(spec.prior >= 0.0) || !(spec.prior <= L.max_weight)) throw UsageError("prior must be in [0, " + format_number(L.max_weight) + "] (got " + format_number(spec.prior) + ")");
  if (spec.target_prob && !(*spec.target_prob > 0.0 && *spec.target_prob < 1.0))
    throw UsageError("target_prob must be strictly between 0 and 1 (got " + format_number(*spec.target_prob) + ")");
  for (int s : spec.record_steps)
    if (s < 0 || s > spec.steps)
      throw UsageError("show_steps: step " + std::to_string(s) + " is outside 0.." + std::to_string(spec.steps));
  if (spec.rank < 1 || spec.rank > 64) throw UsageError("rank must be in 1..64 (got " + std::to_string(spec.rank) + ")");
  if (spec.fallback_ranks.size() > 8) throw UsageError("fallback_ranks: at most 8 ranks (got " + std::to_string(spec.fallback_ranks.size()) + ")");
  for (int fr : spec.fallback_ranks)
    if (fr < 1 || fr > 64) throw UsageError("fallback_ranks: each rank must be in 1..64 (got " + std::to_string(fr) + ")");
  if (!(spec.accept_prob > 0.5 && spec.accept_prob < 1.0))
    throw UsageError("accept_prob must be in (0.5, 1) (got " + format_number(spec.accept_prob) + ")");
  if (!(spec.latent_accept_prob > 0.5 && spec.latent_accept_prob < 1.0))
    throw UsageError("latent_accept_prob must be in (0.5, 1) (got " + format_number(spec.latent_accept_prob) + ")");
  if (spec.eot < 0 || spec.eot > 64) throw UsageError("eot must be in 0..64 (got " + std::to_string(spec.eot) + ")");
  if (!(spec.hold_image >= 0.0) || !(spec.hold_image <= L.max_weight))
    throw UsageError("hold_image must be in [0, " + format_number(L.max_weight) + "] (got " + format_number(spec.hold_image) + ")");
  if (spec.ladder.size() > 8) throw UsageError("ladder: at most 8 fractions (got " + std::to_string(spec.ladder.size()) + ")");
  if (const int i = bad_rung(spec.ladder); i >= 0)
    throw UsageError("ladder: fractions of the strength must increase and lie in (0, 1), e.g. [0.5, 0.75] (got " +
                     format_number(spec.ladder[i]) + " at position " + std::to_string(i) + ")");
  if (spec.strength && (!(*spec.strength > 0.0) || !(*spec.strength <= 100.0)))
    throw UsageError("strength must be in (0, 100] (got " + format_number(*spec.strength) + ")");
  for (int c : spec.condition) {
    if (c < 0 || c >= C) throw UsageError("condition: attribute index " + std::to_string(c) + " is out of range");
    if (seen.count(c)) throw UsageError("condition: attribute " + std::to_string(c) + " is a target; drop it from condition");
  }
}

EditSettings EditSettings::from_json(const json& j, const std::vector<std::string>& attrs, SettingsErrors& e,
                                     const SettingsLimits& L) {
  EditSettings out;
  EditSpec& sp = out.spec;
  if (!j.is_object()) {
    e.fail("settings", "expected an object of edit settings, e.g. {\"add\": [\"Smiling\"]}");
    return out;
  }
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find(kFields.begin(), kFields.end(), it.key()) == kFields.end()) {
      const auto c = closest_attributes(kFields, it.key(), 1);
      e.fail(it.key(), "unknown setting" + (c.empty() ? "" : " (did you mean " + quote(c[0]) + "?)"));
    }
  Reader r{j, e};
  if (r.has("steps")) if (auto v = r.integer("steps", 1, L.max_steps)) sp.steps = static_cast<int>(*v);
  if (r.has("step_size")) if (auto v = r.number("step_size", 0.0, L.max_step_size, true)) sp.step_size = *v;
  if (r.has("penalty")) if (auto v = r.number("penalty", 0.0, L.max_weight, false)) sp.penalty = *v;
  if (r.has("prior")) if (auto v = r.number("prior", 0.0, L.max_weight, false)) sp.prior = *v;
  if (r.has("batch_mean")) if (auto v = r.boolean(j["batch_mean"], "batch_mean")) sp.batch_mean = *v;
  if (r.has("target_prob")) sp.target_prob = r.number("target_prob", 0.0, 1.0, true, true);
  auto enum_field = [&](const char* k, const auto& names, auto& dst) {
    if (!r.has(k)) return;
    const json& v = j[k];
    try {
      if (!v.is_string()) throw UsageError("");
      dst = parse_name(names, k, v.get<std::string>());
    } catch (const UsageError&) {
      e.fail(k, "expected " + alternatives(names) + ", got " + v.dump());
    }
  };
  enum_field("penalty_kind", kPenaltyKinds, sp.penalty_kind);
  enum_field("method", kMethods, sp.method);
  enum_field("keep_mask", kKeepMasks, sp.keep_mask);
  if (r.has("rank")) if (auto v = r.integer("rank", 1, 64)) sp.rank = static_cast<int>(*v);
  if (r.has("fallback_ranks")) {
    const json& x = j["fallback_ranks"];
    if (!x.is_array() || x.size() > 8) {
      e.fail("fallback_ranks", "expected a list of at most 8 ranks in 1..64, e.g. [4] or [] for one pass, got " + x.dump().substr(0, 40));
    } else {
      sp.fallback_ranks.clear();
      for (size_t i = 0; i < x.size(); ++i)
        if (auto v = r.integer("fallback_ranks", 1, 64, &x[i], "fallback_ranks[" + std::to_string(i) + "]"))
          sp.fallback_ranks.push_back(static_cast<int>(*v));
    }
  }
  if (r.has("accept_prob")) if (auto v = r.number("accept_prob", 0.5, 1.0, true, true)) sp.accept_prob = *v;
  if (r.has("latent_accept_prob"))
    if (auto v = r.number("latent_accept_prob", 0.5, 1.0, true, true)) sp.latent_accept_prob = *v;
  if (r.has("eot")) if (auto v = r.integer("eot", 0, 64)) sp.eot = static_cast<int>(*v);
  if (r.has("strength")) sp.strength = r.number("strength", 0.0, 100.0, true, true);
  if (r.has("hold_image")) if (auto v = r.number("hold_image", 0.0, L.max_weight, false)) sp.hold_image = *v;
  if (r.has("ladder")) {
    const json& x = j["ladder"];
    bool ok = x.is_array() && x.size() <= 8;
    std::vector<double> v;
    for (size_t i = 0; ok && i < x.size(); ++i)
      if ((ok = x[i].is_number())) v.push_back(x[i].get<double>());
    if (!ok || bad_rung(v) >= 0)
      e.fail("ladder", "expected at most 8 increasing fractions of the strength in (0, 1), e.g. [0.5, 0.75] or [] for one "
                       "latent pass, got " + x.dump().substr(0, 40));
    else sp.ladder = v;
  }
  if (r.has("scale")) if (auto v = r.integer("scale", 1, L.max_scale)) out.outputs.scale = static_cast<int>(*v);
  if (r.has("outputs")) {
    const json& o = j["outputs"];
    if (!o.is_object()) e.fail("outputs", "expected an object such as {\"grid\": true, \"pairs\": false, \"strip\": true}");
    else
      for (auto it = o.begin(); it != o.end(); ++it) {
        const std::string f = "outputs." + it.key();
        if (std::find(kOutputFields.begin(), kOutputFields.end(), it.key()) == kOutputFields.end()) {
          const auto c = closest_attributes(kOutputFields, it.key(), 1);
          e.fail(f, "unknown output" + (c.empty() ? "" : " (did you mean " + quote(c[0]) + "?)") +
                        "; outputs are grid, pairs, strip, report");
          continue;
        }
        auto b = r.boolean(*it, f);
        if (!b) continue;
        if (it.key() == "grid") out.outputs.grid = *b;
        else if (it.key() == "pairs") out.outputs.pairs = *b;
        else if (it.key() == "strip") out.outputs.strips = *b;
        else out.outputs.report = *b;
      }
  }
  // targets and keep
  std::set<int> used;
  for (const char* key : {"add", "remove"}) {
    if (!r.has(key)) continue;
    for (const auto& [name, f] : r.names(key)) {
      std::pair<std::string, std::optional<double>> t;
      try {
        t = parse_target(name);
      } catch (const Error& err) {
        e.fail(f, err.what());
        continue;
      }
      auto a = r.attribute(attrs, t.first, f);
      if (!a) continue;
      if (!used.insert(*a).second) {
        e.fail(f, attrs[*a] + " is named twice; add or remove each attribute once");
        continue;
      }
      sp.targets.push_back({*a, std::string(key) == "add" ? Direction::kAdd : Direction::kRemove, t.second});
    }
  }
  if (!r.has("add") && !r.has("remove"))
    e.fail("", "nothing to edit; give \"add\" and/or \"remove\", e.g. \"add\": [\"Smiling\"]");
  if (r.has("condition"))
    for (const auto& [name, f] : r.names("condition"))
      if (auto a = r.attribute(attrs, name, f)) {
        if (used.count(*a)) e.fail(f, attrs[*a] + " is a target; a boundary move cannot be made orthogonal to itself");
        else if (std::find(sp.condition.begin(), sp.condition.end(), *a) == sp.condition.end()) sp.condition.push_back(*a);
      }
  if (r.has("keep"))
    for (const auto& [name, f] : r.names("keep"))
      if (auto a = r.attribute(attrs, name, f)) {
        if (used.count(*a)) e.fail(f, attrs[*a] + " is both edited and kept; drop it from keep");
        else if (std::find(sp.keep.begin(), sp.keep.end(), *a) == sp.keep.end()) sp.keep.push_back(*a);
      }
  // recorded steps: the given ones, else the middle step; every step for strips
  if (r.has("show_steps")) {
    const json& v = j["show_steps"];
    if (!v.is_array()) e.fail("show_steps", "expected a list of step numbers, e.g. [5]");
    else
      for (size_t i = 0; i < v.size(); ++i)
        if (auto x = r.integer("", 0, sp.steps, &v[i], "show_steps[" + std::to_string(i) + "]"))
          sp.record_steps.push_back(static_cast<int>(*x));
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
  if (!e.empty()) throw UsageError(e.errors.front());
  return s;
}

json EditSettings::to_json(const std::vector<std::string>& attrs) const {
  json add = json::array(), remove = json::array(), keep = json::array();
  for (const auto& t : spec.targets) {
    std::string n = attrs.at(t.attribute);
    if (t.stop_prob) n += ":" + format_number(*t.stop_prob);
    (t.direction == Direction::kAdd ? add : remove).push_back(n);
  }
  for (int k : spec.keep) keep.push_back(attrs.at(k));
  json condition = json::array();
  for (int c : spec.condition) condition.push_back(attrs.at(c));
  return {{"add", add}, {"remove", remove}, {"keep", keep}, {"steps", spec.steps}, {"step_size", spec.step_size},
          {"penalty", spec.penalty}, {"penalty_kind", to_string(spec.penalty_kind)}, {"prior", spec.prior},
          {"target_prob", spec.target_prob ? json(*spec.target_prob) : json(nullptr)}, {"batch_mean", spec.batch_mean},
          {"show_steps", spec.record_steps}, {"scale", outputs.scale}, {"method", to_string(spec.method)},
          {"keep_mask", to_string(spec.keep_mask)}, {"rank", spec.rank}, {"fallback_ranks", spec.fallback_ranks},
          {"accept_prob", spec.accept_prob}, {"eot", spec.eot}, {"strength", spec.strength ? json(*spec.strength) : json(nullptr)}, {"condition", condition},
          {"hold_image", spec.hold_image}, {"ladder", spec.ladder},
          {"latent_accept_prob", spec.latent_accept_prob},
          {"outputs", {{"grid", outputs.grid}, {"pairs", outputs.pairs}, {"strip", outputs.strips}, {"report", outputs.report}}}};
}

}  // namespace latentedit
