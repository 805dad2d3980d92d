// The edit settings' field table (io/fields.h): one entry per setting of EditSettings, in the
// order README lists them; the CLI's flags, the JSON form, validation and the schema come from it.
#pragma once
#include "io/fields.h"
#include "latentedit/spec.h"

namespace latentedit {

// The fields with ranges under `limits` (the batch runner and the server may tighten them).
FieldTable<EditSettings> edit_settings_fields(const SettingsLimits& limits = {});

}  // namespace latentedit
