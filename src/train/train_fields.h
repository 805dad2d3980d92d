// The training options' field tables (io/fields.h): one entry per setting of ClassifierTrainOptions
// and GanTrainOptions; the `train` flags, the options' JSON form and validate() come from them.
#pragma once
#include "io/fields.h"
#include "latentedit/train.h"

namespace latentedit {

FieldTable<ClassifierTrainOptions> classifier_train_fields();
// "recipe" comes first: reading "course" sets the course's values, which the fields after it
// (given explicitly) override.
FieldTable<GanTrainOptions> gan_train_fields();

}  // namespace latentedit
