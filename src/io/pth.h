// latentedit (internal) — a safe reader for PyTorch checkpoints (.pth / .pt written by torch.save).
//
// Both formats: the legacy one (pickle protocol 2, storages appended after the pickles) and
// the zip one (archive/data.pkl + archive/data/<key>). The unpickler is a small stack machine
// that never executes anything: globals outside an allow-list (collections.OrderedDict,
// torch._utils._rebuild_tensor(_v2), torch.*Storage, torch.device/dtype helpers ...) are
// refused with an error naming them. Storages tagged cuda:N load onto the CPU.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "latentedit/safetensors.h"

namespace latentedit {

// A value from the pickle: None, bool, int, float, string/bytes, tensor, list/tuple, dict.
struct PyValue;
using PyPtr = std::shared_ptr<PyValue>;
struct PyValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kTensor, kList, kTuple, kDict, kGlobal, kStorage };
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;                              // string, bytes, or "module.name" for kGlobal
  torch::Tensor tensor;                       // kTensor, kStorage (flat, 1-D)
  std::vector<PyPtr> items;                   // list / tuple
  std::vector<std::pair<PyPtr, PyPtr>> dict;  // dict in insertion order
  int depth = 0;                              // nesting depth (bounded, so destruction cannot overflow)
};

// Reads any torch.save file into a PyValue tree. Throws ModelError on a truncated or corrupt
// file, an unsupported opcode, or a refused global (the message names it).
PyPtr load_pth(const std::string& path);

// Parses a legacy-format checkpoint held in memory (used by load_pth and the fuzzer).
PyPtr parse_legacy_pth(const uint8_t* data, size_t size, const std::string& what);

// Runs the safe unpickler over one pickle; `storage` resolves persistent ids
// ('storage', type, key, location, numel) to flat storages. Exposed for the fuzzer.
PyPtr unpickle(const uint8_t* data, size_t size, const std::string& what,
               const std::function<torch::Tensor(const std::string& key, torch::Dtype, int64_t numel)>& storage,
               size_t* consumed = nullptr);

// Extracts a state_dict: the value under `key` (e.g. "gen") if the top level is a dict that
// has it, else the top-level dict itself when all its values are tensors. Nested entries such
// as optimizer state are ignored. Throws ModelError when no state_dict is found.
NamedTensors pth_state_dict(const PyPtr& root, const std::string& key, const std::string& what);

}  // namespace latentedit
