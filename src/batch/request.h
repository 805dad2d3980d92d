// latentedit (internal) — the server's requests, read by the job-file code.
#pragma once
#include "latentedit/batch.h"

namespace latentedit {

// One edit request: EditSettings' fields plus its latents ("seed" with "count", "seeds", or
// inline "latents": [[...]]), validated exactly as a job of a job file, the field names being
// the paths ("step_size: must be > 0 ..."). No file is ever read: latents_file is refused.
// Throws BatchInvalid (every problem) with id/index unset.
BatchJob read_edit_request(const nlohmann::json& request, const Models& m, const BatchLimits& limits = {});
// Only the latents of a request ({"seed": 7, "count": 4}, {"seeds": [...]}, {"latents": [[...]]});
// fills z and source. Throws BatchInvalid.
BatchJob read_request_latents(const nlohmann::json& request, const Models& m, const BatchLimits& limits = {});

// A request's errors in one line, for front ends that answer with one message (the server's
// "error", the Python module's ValueError): the first, and how many more there are.
std::string first_error(const BatchInvalid& e);

}  // namespace latentedit
