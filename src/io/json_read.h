// latentedit (internal) — the one way latentedit parses JSON it did not just produce in
// memory: job files, model.json, latents files, journals, safetensors headers.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "latentedit/errors.h"

namespace latentedit {

// Nesting deeper than this is refused while parsing (serialising a deeper document would
// recurse that deep); no file latentedit reads needs more than a handful of levels.
inline constexpr int kMaxJsonDepth = 64;

// Parses `text`; `what` names it in messages (a path). Throws Error(kind) with one line:
// "what:LINE:COL: invalid JSON: ..." for syntax errors, "what: PATH: number ... is out of
// range" for numbers that overflow a double (PATH as in jobs[2].steps), and "what:LINE:COL:
// nesting deeper than 64 levels" for deep documents.
nlohmann::json parse_json(const std::string& text, const std::string& what, ErrorKind kind);

// Serialises JSON that may hold bytes from outside (a path from the command line, a request's
// bytes quoted in an error): invalid UTF-8 becomes U+FFFD instead of an exception.
inline std::string dump_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace latentedit
