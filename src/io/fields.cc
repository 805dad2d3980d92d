#include "io/fields.h"

#include <cctype>
#include <cmath>

#include "latentedit/attributes.h"

namespace latentedit {
using json = nlohmann::json;

namespace {
std::string quote(const std::string& s) { return json(s).dump(); }

bool is_int_kind(FieldKind k) { return k == FieldKind::kInt || k == FieldKind::kIntList; }

// "\"a\", \"b\" or \"c\""
std::string alternatives(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + quote(names[i]);
  return s;
}

std::string short_dump(const json& v) {
  std::string d = v.dump();
  return d.size() > 40 ? d.substr(0, 37) + "..." : d;
}

// One scalar of a numeric field: "" or what is wrong.
std::string check_number(const FieldInfo& f, const json& v) {
  const bool integer = is_int_kind(f.kind);
  if (integer ? !v.is_number_integer() : !v.is_number())
    return std::string("expected ") + (integer ? "an integer" : "a number") + ", got " + v.type_name() + " " + short_dump(v);
  if (integer) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {  // beyond int64: seeds
      const double u = static_cast<double>(v.get<uint64_t>());
      return u < f.lo || u > f.hi ? v.dump() + " is out of range; use " + f.range_text() : "";
    }
    const int64_t i = v.get<int64_t>();
    if (static_cast<double>(i) < f.lo || static_cast<double>(i) > f.hi) return std::to_string(i) + " is out of range; use " + f.range_text();
    return "";
  }
  const double d = v.get<double>();
  if (!std::isfinite(d) || (f.lo_open ? d <= f.lo : d < f.lo) || (f.hi_open ? d >= f.hi : d > f.hi))
    return format_number(d) + " is out of range; use a value in " + f.range_text();
  return "";
}
}  // namespace

std::string FieldInfo::placeholder() const {
  switch (kind) {
    case FieldKind::kInt: return "INT";
    case FieldKind::kReal: return "NUMBER";
    case FieldKind::kBool: return "";
    case FieldKind::kChoice: {
      std::string s;
      for (const auto& c : choices) s += (s.empty() ? "" : "|") + c;
      return s;
    }
    case FieldKind::kText: return "TEXT";
    case FieldKind::kIntList: return "INT,...";
    case FieldKind::kRealList: return "NUMBER,...";
    case FieldKind::kNames: return "NAME,...";
  }
  return "";
}

std::string FieldInfo::range_text() const {
  if (kind == FieldKind::kChoice) return alternatives(choices);
  const bool lo_inf = std::isinf(lo), hi_inf = std::isinf(hi);
  if (lo_inf && hi_inf) return "";
  if (is_int_kind(kind)) {
    auto n = [](double x) { return x >= 1.8e19 ? std::string("18446744073709551615") : std::to_string(static_cast<long long>(x)); };
    if (hi_inf) return ">= " + n(lo);
    return n(lo) + ".." + n(hi);
  }
  if (hi_inf) return std::string(lo_open ? "> " : ">= ") + format_number(lo);
  return std::string(lo_open ? "(" : "[") + format_number(lo) + ", " + format_number(hi) + (hi_open ? ")" : "]");
}

std::string check_value(const FieldInfo& f, const json& v, std::string* item_path) {
  if (v.is_null()) return f.nullable ? "" : "expected a value, got null";
  std::string err;
  switch (f.kind) {
    case FieldKind::kInt:
    case FieldKind::kReal: err = check_number(f, v); break;
    case FieldKind::kBool:
      if (!v.is_boolean()) err = "expected true or false, got " + short_dump(v);
      break;
    case FieldKind::kChoice:
      if (!v.is_string() || std::find(f.choices.begin(), f.choices.end(), v.get<std::string>()) == f.choices.end())
        err = "expected " + alternatives(f.choices) + ", got " + short_dump(v);
      break;
    case FieldKind::kText:
      if (!v.is_string()) err = std::string("expected a string, got ") + v.type_name() + " " + short_dump(v);
      break;
    case FieldKind::kIntList:
    case FieldKind::kRealList: {
      const std::string what = std::string("a list of ") + (f.max_items ? "at most " + std::to_string(f.max_items) + " " : "") +
                               (is_int_kind(f.kind) ? "integers" : "numbers") +
                               (f.range_text().empty() ? "" : " in " + f.range_text()) +
                               (f.example.empty() ? "" : ", e.g. " + f.example);
      if (!v.is_array() || (f.max_items && v.size() > f.max_items)) {
        err = "expected " + what + ", got " + short_dump(v);
        break;
      }
      for (size_t i = 0; i < v.size() && err.empty(); ++i)
        if (std::string e = check_number(f, v[i]); !e.empty()) {
          if (item_path) *item_path = "[" + std::to_string(i) + "]";
          return e;
        }
      break;
    }
    case FieldKind::kNames:
      if (!v.is_string() && !v.is_array()) err = "expected a list of names, e.g. [\"Smiling\"], got " + short_dump(v);
      break;
  }
  if (err.empty() && f.rule) err = f.rule(v);
  return err;
}

std::string ascii_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string did_you_mean(const std::vector<std::string>& known, const std::string& key) {
  const auto c = closest_attributes(known, key, 1);
  return c.empty() ? "" : " (did you mean " + quote(c[0]) + "?)";
}

bool check_known_keys(const json& j, const std::vector<std::string>& known, SettingsErrors& e, const std::string& what) {
  bool ok = true;
  if (!j.is_object()) return true;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      e.fail(it.key(), what + did_you_mean(known, it.key()));
      ok = false;
    }
  return ok;
}

json schema_of(const std::vector<FieldInfo>& fields, const json& defaults) {
  json props = json::object();
  for (const auto& f : fields) {
    json p;
    auto number = [&](json& s) {
      s["type"] = is_int_kind(f.kind) ? "integer" : "number";
      if (!std::isinf(f.lo)) s[f.lo_open ? "exclusiveMinimum" : "minimum"] = is_int_kind(f.kind) ? json(static_cast<int64_t>(f.lo)) : json(f.lo);
      if (!std::isinf(f.hi)) s[f.hi_open ? "exclusiveMaximum" : "maximum"] = is_int_kind(f.kind) ? json(static_cast<int64_t>(f.hi)) : json(f.hi);
    };
    switch (f.kind) {
      case FieldKind::kInt:
      case FieldKind::kReal: number(p); break;
      case FieldKind::kBool: p["type"] = "boolean"; break;
      case FieldKind::kChoice: p["enum"] = f.choices; break;
      case FieldKind::kText: p["type"] = "string"; break;
      case FieldKind::kIntList:
      case FieldKind::kRealList: {
        p["type"] = "array";
        json item;
        number(item);
        p["items"] = item;
        if (f.max_items) p["maxItems"] = f.max_items;
        break;
      }
      case FieldKind::kNames:
        p["anyOf"] = json::array({{{"type", "string"}}, {{"type", "array"}, {"items", {{"type", "string"}}}}});
        break;
    }
    if (f.nullable) {
      if (p.contains("type")) p["type"] = json::array({p["type"], "null"});
      else if (p.contains("enum")) p["enum"].push_back(nullptr);
    }
    std::string help = f.help;  // `field` -> field
    help.erase(std::remove(help.begin(), help.end(), '`'), help.end());
    p["description"] = help;
    if (defaults.contains(f.name)) p["default"] = defaults[f.name];
    props[f.name] = p;
  }
  return {{"type", "object"}, {"properties", props}};
}

}  // namespace latentedit
