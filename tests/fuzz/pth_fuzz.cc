// libFuzzer target: the safe unpickler / legacy .pth parser must reject any input with a
// ModelError and never crash, read out of bounds or run anything.
#include <cstddef>
#include <cstdint>

#include "latentedit/errors.h"
#include "io/pth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto root = latentedit::parse_legacy_pth(data, size, "fuzz");
    (void)latentedit::pth_state_dict(root, "gen", "fuzz");
  } catch (const latentedit::Error&) {
  }
  try {
    // The same bytes as a bare pickle whose storages resolve to small zero tensors.
    latentedit::unpickle(data, size, "fuzz", [](const std::string&, torch::Dtype dt, int64_t n) {
      if (n > (1 << 20)) throw latentedit::ModelError("too large");
      return torch::zeros({n}, torch::TensorOptions().dtype(dt));
    });
  } catch (const latentedit::Error&) {
  }
  return 0;
}
