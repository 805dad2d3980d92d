// latentedit — safetensors reader/writer (https://github.com/huggingface/safetensors format).
//
// File = u64 little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data buffer. Every length and offset is bounds-checked before use.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace latentedit {

// Named tensors in a stable order (the order they were inserted / stored).
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct SafetensorsFile {
  NamedTensors tensors;                             // CPU tensors, dtype as stored
  std::map<std::string, std::string> metadata;      // "__metadata__" (string values)
};

// Parses a safetensors image in memory. Reads F32, F16, BF16, F64, I64, I32, I16, I8, U8,
// BOOL. Throws ModelError on any malformed header, dtype, shape or offset.
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& what);

// Reads a .safetensors file (see parse_safetensors). Throws ModelError.
SafetensorsFile load_safetensors(const std::string& path);

// Serialises tensors (made contiguous, CPU) to safetensors bytes, tensors sorted by name
// in the data buffer as safetensors.torch does.
std::string serialize_safetensors(const NamedTensors& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

// Writes a .safetensors file atomically (temp file + rename). Throws IoError.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace latentedit
