// libFuzzer target: the safetensors parser must reject malformed input with a ModelError.
#include <cstddef>
#include <cstdint>

#include "latentedit/errors.h"
#include "latentedit/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    latentedit::parse_safetensors(data, size, "fuzz");
  } catch (const latentedit::Error&) {
  }
  return 0;
}
