#include "io/json_read.h"

#include <vector>

namespace latentedit {
namespace {
using json = nlohmann::json;

// Where the parser is: one frame per open object/array, so an error can name the field.
struct Frame {
  bool array;
  size_t index = 0;
  std::string key;
};

std::string path_of(const std::vector<Frame>& st) {
  std::string p;
  for (const auto& f : st) {
    if (f.array) p += "[" + std::to_string(f.index) + "]";
    else if (!f.key.empty()) p += (p.empty() ? "" : ".") + f.key;
  }
  if (p.size() > 60) p = p.substr(0, 28) + "..." + p.substr(p.size() - 28);
  return p.empty() ? "(top level)" : p;
}

std::string line_col(const std::string& text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

// nlohmann's message without its "[json.exception.xxx.NNN] " prefix.
std::string bare(const std::exception& e) {
  std::string w = e.what();
  const auto p = w.find("] ");
  return p == std::string::npos ? w : w.substr(p + 2);
}

struct TooDeep {};

}  // namespace

json parse_json(const std::string& text, const std::string& what, ErrorKind kind) {
  std::vector<Frame> st;
  auto after_value = [&] {
    if (!st.empty() && st.back().array) ++st.back().index;
  };
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    switch (ev) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) throw TooDeep{};
        st.push_back({ev == json::parse_event_t::array_start, 0, {}});
        break;
      case json::parse_event_t::key:
        if (!st.empty()) st.back().key = parsed.is_string() ? parsed.get<std::string>() : "";
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!st.empty()) st.pop_back();
        after_value();
        break;
      case json::parse_event_t::value:
        after_value();
        break;
    }
    return true;
  };
  try {
    return json::parse(text, cb);
  } catch (const TooDeep&) {
    throw_error(kind, what + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels at " + path_of(st) +
                          " (no latentedit file needs that; check what wrote this file)");
  } catch (const json::parse_error& e) {
    throw_error(kind, what + ":" + line_col(text, e.byte) + ": invalid JSON: " + bare(e) +
                          " (fix the syntax; a JSON linter such as `jq . FILE` shows the spot)");
  } catch (const json::exception& e) {  // out_of_range.406: a number that overflows a double
    throw_error(kind, what + ": " + path_of(st) + ": " + bare(e) + " (use a number within ±1.7e308)");
  }
}

}  // namespace latentedit
