// libFuzzer target: a batch job file as `batch` reads it — bounded JSON parsing, then every
// job validated into a plan — must end in an InputError (or a valid plan), never crash, hang
// or recurse without bound.
#include <cstddef>
#include <cstdint>

#include "io/json_read.h"
#include "latentedit/attributes.h"
#include "latentedit/batch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latentedit;
  static const Models m = [] {
    Models x;
    x.attributes = celeba_attributes();
    x.z_dim = 8;  // small latents: the fuzzer explores validation, not sampling speed
    x.name = "fuzz";
    return x;
  }();
  try {
    const auto file = parse_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json", ErrorKind::kInput);
    BatchLimits limits;
    limits.max_latents = 256;
    const BatchPlan plan = plan_batch(file, "/nonexistent/fuzz.json", m, 64, limits);
    (void)describe_plan(plan).dump();
  } catch (const Error&) {
  }
  return 0;
}
