// The field tables (io/fields.h) of invert's, the directions fit's and evaluate's options: their flags,
// JSON form and validation come from these.
#pragma once
#include "io/fields.h"
#include "latentedit/directions.h"
#include "latentedit/evaluate.h"
#include "latentedit/invert.h"

namespace latentedit {

FieldTable<InvertOptions> invert_fields();
FieldTable<DirectionsOptions> directions_fields();
// evaluate's own options (the edit settings under test are EditSettings').
FieldTable<EvalOptions> eval_fields();

}  // namespace latentedit
