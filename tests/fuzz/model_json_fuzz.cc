// libFuzzer target: a bundle's model.json as load_bundle reads it (bounded JSON, then every
// field validated) must end in a ModelError or a valid manifest, never crash or hit UB.
#include <cstddef>
#include <cstdint>

#include "io/json_read.h"
#include "latentedit/bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latentedit;
  try {
    const auto j = parse_json(std::string(reinterpret_cast<const char*>(data), size), "model.json", ErrorKind::kModel);
    (void)read_manifest(j, "/nonexistent/bundle");
  } catch (const Error&) {
  }
  return 0;
}
