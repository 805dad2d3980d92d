// latentedit — one descriptor per setting. Every options struct (the edit's settings, invert,
// training, evaluate, the server's limits) lists its fields once, in a table of Field<S>: the
// JSON name, kind, range or choices and a one-line help. From that table come its JSON form
// (read_fields / write_fields), its validation (check_fields: the same checks as parsing, on the
// struct's values), the JSON schema in docs/ (schema_of) and the CLI's flags (src/cli/flags.h: the
// flag of field step_size is its name with dashes). Messages name the JSON field; a front end rewrites the
// path (SettingsErrors::path_of) to its own word for it.
//
// Help texts name other settings as `field` (in backquotes); each front end renders that its way
// (the CLI as its flag).
#pragma once
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "latentedit/errors.h"

namespace latentedit {

enum class FieldKind {
  kInt,       // an integer in [lo, hi]
  kReal,      // a finite number in the range
  kBool,      // true / false
  kChoice,    // one of `choices`
  kText,      // any string
  kIntList,   // a list of at most max_items integers, each in the range
  kRealList,  // a list of at most max_items numbers, each in the range
  kNames,     // a name or a list of names (attributes); checked by the struct's own reader
};

// The upper bound of a seed field (2^64 - 1, as a double): seeds take every uint64 value.
inline constexpr double kMaxSeed = 18446744073709551615.0;

struct FieldInfo {
  FieldInfo() = default;
  FieldInfo(std::string name_, FieldKind kind_, std::string help_, double lo_ = -std::numeric_limits<double>::infinity(),
            double hi_ = std::numeric_limits<double>::infinity(), bool lo_open_ = false, bool hi_open_ = false)
      : name(std::move(name_)), kind(kind_), help(std::move(help_)), lo(lo_), hi(hi_), lo_open(lo_open_), hi_open(hi_open_) {}
  std::string name;  // the JSON field (snake_case)
  FieldKind kind = FieldKind::kReal;
  std::string help;  // one line
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  size_t max_items = 0;              // lists: at most this many (0: no limit)
  std::vector<std::string> choices;  // kChoice
  bool nullable = false;             // null means unset (a std::optional field)
  bool flag = true;                  // a front end may offer it as an option (the CLI as a flag)
  std::string example;               // lists: an example, e.g. "[0.5, 0.75]"
  // An extra rule on an otherwise valid value: "" when it holds, else what is wrong.
  std::function<std::string(const nlohmann::json&)> rule;
  // A short placeholder for help (INT, NUMBER, LIST, NAME, TEXT, or the choices).
  std::string placeholder() const;
  // "1..64", "(0, 1)", "one of a, b", "" when unbounded: how the range reads in help and messages.
  std::string range_text() const;
};

// A field of struct S: its description and how to read and write it. A field without `set` is
// described here (flags, schema, help) but read by the struct's own code (e.g. attribute names).
template <class S>
struct Field {
  FieldInfo info;
  std::function<nlohmann::json(const S&)> get;
  std::function<void(S&, const nlohmann::json&)> set;  // called with a value check_value accepted
};

template <class S>
using FieldTable = std::vector<Field<S>>;

namespace detail {
template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

// A field bound to the member `acc` reaches (S& -> T&): T an integer or floating type, bool,
// std::string, a std::vector of numbers, or a std::optional of a number (null: unset).
template <class S, class Acc>
Field<S> bound(FieldInfo info, Acc acc) {
  using T = std::remove_reference_t<decltype(acc(std::declval<S&>()))>;
  Field<S> f{std::move(info), nullptr, nullptr};
  if constexpr (detail::is_optional<T>::value) f.info.nullable = true;
  f.get = [acc](const S& s) -> nlohmann::json {
    const T& x = acc(const_cast<S&>(s));
    if constexpr (detail::is_optional<T>::value) return x ? nlohmann::json(*x) : nlohmann::json(nullptr);
    else return nlohmann::json(x);
  };
  f.set = [acc](S& s, const nlohmann::json& v) {
    if constexpr (detail::is_optional<T>::value) acc(s) = v.is_null() ? T{} : T{v.get<typename T::value_type>()};
    else acc(s) = v.get<T>();
  };
  return f;
}

// A kChoice field bound to an enum member: `names` maps each value to its JSON name.
template <class S, class E, class Acc>
Field<S> bound_enum(FieldInfo info, const std::vector<std::pair<E, const char*>>& names, Acc acc) {
  info.kind = FieldKind::kChoice;
  info.choices.clear();
  for (const auto& n : names) info.choices.push_back(n.second);
  Field<S> f{std::move(info), nullptr, nullptr};
  f.get = [acc, names](const S& s) -> nlohmann::json {
    for (const auto& [e, n] : names)
      if (e == acc(const_cast<S&>(s))) return n;
    return nullptr;
  };
  f.set = [acc, names](S& s, const nlohmann::json& v) {
    for (const auto& [e, n] : names)
      if (v == n) acc(s) = e;
  };
  return f;
}

// What is wrong with `v` as a value of the field ("" when nothing): type, range, choices, list
// length, each list item, the rule. `item_path` receives the path suffix of a bad item ("[2]").
std::string check_value(const FieldInfo& f, const nlohmann::json& v, std::string* item_path = nullptr);

// `s` with ASCII letters in lower case (header names, host names, file-name comparisons).
std::string ascii_lower(std::string s);

// " (did you mean \"x\"?)" for the known name closest to `key`, or "" when none is close.
std::string did_you_mean(const std::vector<std::string>& known, const std::string& key);

// Adds an error for every key of `j` not in `known` (with a did-you-mean). Returns false if any.
bool check_known_keys(const nlohmann::json& j, const std::vector<std::string>& known, SettingsErrors& e,
                      const std::string& what = "unknown setting");

template <class S>
std::vector<std::string> field_names(const FieldTable<S>& t) {
  std::vector<std::string> n;
  for (const auto& f : t) n.push_back(f.info.name);
  return n;
}

template <class S>
std::vector<FieldInfo> field_infos(const FieldTable<S>& t) {
  std::vector<FieldInfo> n;
  for (const auto& f : t) n.push_back(f.info);
  return n;
}

// Reads every present (non-null, or null for a nullable field) field of `j` that has a setter
// into `s`; each problem is added to `e` under the field's name. Unknown keys are not checked
// here (check_known_keys).
template <class S>
void read_fields(const FieldTable<S>& t, const nlohmann::json& j, S& s, SettingsErrors& e) {
  for (const auto& f : t) {
    if (!f.set || !j.contains(f.info.name)) continue;
    const nlohmann::json& v = j[f.info.name];
    if (v.is_null() && !f.info.nullable) continue;
    std::string item;
    const std::string err = check_value(f.info, v, &item);
    if (!err.empty()) e.fail(f.info.name + item, err);
    else f.set(s, v);
  }
}

// The JSON form of every field that has a getter, in the table's order.
template <class S>
nlohmann::json write_fields(const FieldTable<S>& t, const S& s) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : t)
    if (f.get) j[f.info.name] = f.get(s);
  return j;
}

// Validates the struct's values by the table (the fields read_fields reads: the others are the
// struct's own to check); validate_fields throws the first problem as UsageError ("field: ...").
template <class S>
void check_fields(const FieldTable<S>& t, const S& s, SettingsErrors& e) {
  for (const auto& f : t) {
    if (!f.get || !f.set) continue;
    std::string item;
    const std::string err = check_value(f.info, f.get(s), &item);
    if (!err.empty()) e.fail(f.info.name + item, err);
  }
}
template <class S>
void validate_fields(const FieldTable<S>& t, const S& s) {
  SettingsErrors e;
  check_fields(t, s, e);
  e.throw_first();
}

// A JSON-schema (2020-12) object for the fields: {"type": "object", "properties": {...}}, with the
// defaults taken from `defaults` (write_fields of a default struct).
nlohmann::json schema_of(const std::vector<FieldInfo>& fields, const nlohmann::json& defaults);

}  // namespace latentedit
