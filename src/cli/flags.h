// latentedit CLI — flags from the library's field tables (io/fields.h): field `step_size` is the
// flag --step-size, with the field's help, range and default; the given flags become the fields'
// JSON form, which the library reads and validates, its messages naming the flag.
#pragma once
#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "io/fields.h"

namespace latentedit::cli {

// "step_size" -> "--step-size".
std::string flag_of(const std::string& field);
// A field's help for the command line: `field` -> --field.
std::string flag_help(const std::string& help);
// Settings errors whose paths are flags ("--step-size: ..."; a whole-spec error names `whole`).
SettingsErrors flag_errors(const std::string& whole = "");

// The flags of some fields on one subcommand.
class FieldFlags {
 public:
  // Adds a flag for every field with info.flag, except those in `skip`; `defaults` (the fields'
  // JSON form of a default struct) gives the defaults shown in --help.
  void add(CLI::App* app, const std::vector<FieldInfo>& fields, const nlohmann::json& defaults, const std::set<std::string>& skip = {});
  // The given flags as the fields' JSON form (absent fields keep their defaults). Throws
  // UsageError naming the flag when a value is not a number/list of the field's kind.
  nlohmann::json to_json() const;
  bool given(const std::string& field) const;

 private:
  struct Entry {
    FieldInfo info;
    CLI::Option* option = nullptr;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> text_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::map<std::string, bool> bools_;
};

// The struct `s` with every given flag of `t` read into it (FieldFlags::add must have added the
// table's fields); throws UsageError naming the first bad flag.
template <class S>
S from_flags(const FieldTable<S>& t, const FieldFlags& flags, S s = {}) {
  SettingsErrors e = flag_errors();
  read_fields(t, flags.to_json(), s, e);
  e.throw_first();
  return s;
}

// Adds the flags of every field of `t`, defaults from a default S.
template <class S>
void add_flags(CLI::App* app, FieldFlags& flags, const FieldTable<S>& t, const S& defaults = {}, const std::set<std::string>& skip = {}) {
  flags.add(app, field_infos(t), write_fields(t, defaults), skip);
}

}  // namespace latentedit::cli
