// latentedit (internal) — messages several front ends share.
#pragma once

namespace latentedit {

// What a diverged edit (edit_diverged) is told: the front end appends its word for the step size.
inline constexpr const char* kDivergedHint = "the edit diverged (NaN or infinite latents/scores); lower the step size";

}  // namespace latentedit
