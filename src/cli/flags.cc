#include "flags.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace latentedit::cli {
using json = nlohmann::json;

std::string flag_of(const std::string& field) {
  std::string f = field.substr(0, field.find_first_of(".["));
  for (auto& c : f)
    if (c == '_') c = '-';
  return "--" + f;
}

std::string flag_help(const std::string& help) {
  std::string out;
  size_t i = 0;
  while (i < help.size()) {
    const size_t open = help.find('`', i);
    const size_t close = open == std::string::npos ? open : help.find('`', open + 1);
    if (close == std::string::npos) return out + help.substr(i);
    out += help.substr(i, open - i);
    const std::string word = help.substr(open + 1, close - open - 1);
    // `field` -> --field; a quoted command (`latentedit directions`) keeps its quotes
    out += word.find(' ') == std::string::npos ? flag_of(word) : "`" + word + "`";
    i = close + 1;
  }
  return out;
}

SettingsErrors flag_errors(const std::string& whole) {
  SettingsErrors e;
  e.path_of = [whole](const std::string& f) { return f.empty() ? whole : flag_of(f); };
  return e;
}

namespace {
bool is_list(FieldKind k) { return k == FieldKind::kIntList || k == FieldKind::kRealList || k == FieldKind::kNames; }

// One number as the field's kind: an integer for int kinds (any size: the range check is the
// library's), else a finite real.
json parse_number(const std::string& s, bool integer, const std::string& flag, const std::string& example) {
  const char* what = integer ? "a whole number" : "a number";
  char* end = nullptr;
  errno = 0;
  if (integer) {
    const bool neg = !s.empty() && s[0] == '-';
    if (s.empty() || s.find_first_not_of("0123456789", neg ? 1 : 0) != std::string::npos || s.size() == (neg ? 1u : 0u))
      throw UsageError(flag + ": '" + s + "' is not " + what + (example.empty() ? "" : "; write e.g. " + example));
    if (!neg) {
      const unsigned long long u = std::strtoull(s.c_str(), &end, 10);
      if (errno == ERANGE) throw UsageError(flag + ": " + s + " is too large");
      return u <= static_cast<unsigned long long>(INT64_MAX) ? json(static_cast<int64_t>(u)) : json(u);
    }
    const long long i = std::strtoll(s.c_str(), &end, 10);
    if (errno == ERANGE) throw UsageError(flag + ": " + s + " is too small");
    return i;
  }
  const double d = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0') throw UsageError(flag + ": '" + s + "' is not " + what + (example.empty() ? "" : "; write e.g. " + example));
  if (!std::isfinite(d)) throw UsageError(flag + ": " + s + " is not a finite number");
  return d;
}
}  // namespace

void FieldFlags::add(CLI::App* app, const std::vector<FieldInfo>& fields, const json& defaults, const std::set<std::string>& skip) {
  for (const auto& f : fields) {
    if (!f.flag || skip.count(f.name)) continue;
    const std::string flag = flag_of(f.name);
    std::string help = flag_help(f.help);
    const std::string range = f.range_text();
    if (!range.empty() && f.kind != FieldKind::kChoice) help += "; range " + range;
    CLI::Option* opt = nullptr;
    if (f.kind == FieldKind::kBool) {
      opt = app->add_flag(flag, bools_[f.name], help);
    } else if (is_list(f.kind)) {
      if (f.kind != FieldKind::kNames) help += "; comma-separated, or none";
      opt = app->add_option(flag, lists_[f.name], help)->delimiter(',')->type_name(f.placeholder());
    } else {
      opt = app->add_option(flag, text_[f.name], help)->type_name(f.placeholder());
    }
    if (f.kind != FieldKind::kBool && defaults.contains(f.name) && !defaults[f.name].is_null()) {
      const json& d = defaults[f.name];
      std::string shown;
      if (d.is_string()) shown = d.get<std::string>();
      else if (d.is_array()) {
        for (const auto& x : d) shown += (shown.empty() ? "" : ",") + (x.is_number_float() ? format_number(x.get<double>()) : x.dump());
        if (shown.empty()) shown = "none";
      } else if (d.is_number_float()) shown = format_number(d.get<double>());
      else shown = d.dump();
      opt->default_str(shown);
    }
    entries_.push_back({f, opt});
  }
}

bool FieldFlags::given(const std::string& field) const {
  for (const auto& e : entries_)
    if (e.info.name == field) return e.option->count() > 0;
  return false;
}

json FieldFlags::to_json() const {
  json j = json::object();
  for (const auto& e : entries_) {
    if (e.option->count() == 0) continue;
    const FieldInfo& f = e.info;
    const std::string flag = flag_of(f.name);
    switch (f.kind) {
      case FieldKind::kBool: j[f.name] = bools_.at(f.name); break;
      case FieldKind::kInt:
      case FieldKind::kReal: j[f.name] = parse_number(text_.at(f.name), f.kind == FieldKind::kInt, flag, ""); break;
      case FieldKind::kChoice:
      case FieldKind::kText: j[f.name] = text_.at(f.name); break;
      case FieldKind::kNames: j[f.name] = lists_.at(f.name); break;
      case FieldKind::kIntList:
      case FieldKind::kRealList: {
        json a = json::array();
        const auto& items = lists_.at(f.name);
        if (!(items.size() == 1 && (items[0] == "none" || items[0].empty())))
          for (const auto& s : items) {
            std::string ex = f.example;  // "[4, 2]" -> "4,2"
            ex.erase(std::remove_if(ex.begin(), ex.end(), [](char c) { return c == '[' || c == ']' || c == ' '; }), ex.end());
            a.push_back(parse_number(s, f.kind == FieldKind::kIntList, flag, ex));
          }
        j[f.name] = a;
        break;
      }
    }
  }
  return j;
}

}  // namespace latentedit::cli
