#include "latentedit/safetensors.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "latentedit/errors.h"
#include "io/fsutil.h"
#include "io/json_read.h"

namespace latentedit {
namespace {

struct DtypeInfo {
  const char* name;
  torch::Dtype dtype;
  size_t size;
};
const DtypeInfo kDtypes[] = {
    {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2}, {"BF16", torch::kBFloat16, 2},
    {"F64", torch::kFloat64, 8}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* by_name(const std::string& n) {
  for (const auto& d : kDtypes)
    if (n == d.name) return &d;
  return nullptr;
}
const DtypeInfo* by_dtype(torch::Dtype t) {
  for (const auto& d : kDtypes)
    if (t == d.dtype) return &d;
  return nullptr;
}

[[noreturn]] void bad(const std::string& what, const std::string& why) {
  throw ModelError(what + ": not a valid safetensors file: " + why +
                   " (re-export it with safetensors.torch.save_file)");
}

}  // namespace

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& what) {
  if (size < 8) bad(what, "shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > size - 8) bad(what, "header length " + std::to_string(n) + " exceeds the file size");
  if (n > 100u * 1024 * 1024) bad(what, "header larger than 100 MB");
  nlohmann::json header;
  try {
    header = parse_json(std::string(reinterpret_cast<const char*>(data) + 8, n), "header", ErrorKind::kModel);
  } catch (const Error& e) {
    bad(what, e.what());
  }
  if (!header.is_object()) bad(what, "header is not a JSON object");
  const uint8_t* buf = data + 8 + n;
  const uint64_t buf_size = size - 8 - n;

  SafetensorsFile out;
  std::vector<std::pair<uint64_t, std::string>> order;  // by offset, for a stable order
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) bad(what, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m)
        if (m->is_string()) out.metadata[m.key()] = m->get<std::string>();
      continue;
    }
    const auto& e = it.value();
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") ||
        !e.contains("data_offsets"))
      bad(what, "entry '" + it.key() + "' lacks dtype, shape or data_offsets");
    if (!e["dtype"].is_string()) bad(what, "entry '" + it.key() + "' has a non-string dtype");
    const DtypeInfo* dt = by_name(e["dtype"].get<std::string>());
    if (!dt) bad(what, "entry '" + it.key() + "' has unsupported dtype " + e["dtype"].dump());
    const auto& shape = e["shape"];
    const auto& offs = e["data_offsets"];
    if (!shape.is_array() || shape.size() > 16) bad(what, "entry '" + it.key() + "' has a bad shape");
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() ||
        !offs[1].is_number_unsigned())
      bad(what, "entry '" + it.key() + "' has bad data_offsets");
    std::vector<int64_t> dims;
    uint64_t numel = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) bad(what, "entry '" + it.key() + "' has a negative or non-integer dimension");
      const uint64_t v = d.get<uint64_t>();
      if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / v)
        bad(what, "entry '" + it.key() + "' is impossibly large");
      numel *= v;
      dims.push_back(static_cast<int64_t>(v));
    }
    const uint64_t b = offs[0].get<uint64_t>(), en = offs[1].get<uint64_t>();
    if (b > en || en > buf_size)
      bad(what, "entry '" + it.key() + "' data_offsets [" + std::to_string(b) + ", " +
                    std::to_string(en) + "] fall outside the " + std::to_string(buf_size) +
                    "-byte data buffer (truncated file?)");
    if (en - b != numel * dt->size)
      bad(what, "entry '" + it.key() + "' has " + std::to_string(en - b) + " bytes but its shape needs " +
                    std::to_string(numel * dt->size));
    torch::Tensor t = torch::empty(dims, torch::TensorOptions().dtype(dt->dtype));
    if (numel) std::memcpy(t.data_ptr(), buf + b, en - b);
    order.emplace_back(b, it.key());
    out.tensors.emplace_back(it.key(), t);
  }
  // Keep the file's data order (safetensors files carry no other order).
  std::vector<size_t> idx(out.tensors.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t c) { return order[a] < order[c]; });
  NamedTensors sorted;
  for (size_t i : idx) sorted.push_back(out.tensors[i]);
  out.tensors = std::move(sorted);
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  const std::string bytes = read_file(path, /*model=*/true);
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

std::string serialize_safetensors(const NamedTensors& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  std::vector<size_t> idx(tensors.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return tensors[a].first < tensors[b].first; });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string body;
  for (size_t i : idx) {
    const auto& [name, t0] = tensors[i];
    torch::Tensor t = t0.detach().to(torch::kCPU).contiguous();
    const DtypeInfo* dt = by_dtype(t.scalar_type());
    if (!dt) throw UsageError("cannot save tensor '" + name + "': unsupported dtype " +
                              std::string(c10::toString(t.scalar_type())));
    const size_t nbytes = static_cast<size_t>(t.numel()) * dt->size;
    const size_t begin = body.size();
    body.append(static_cast<const char*>(t.data_ptr()), nbytes);
    header[name] = {{"dtype", dt->name}, {"shape", t.sizes().vec()}, {"data_offsets", {begin, begin + nbytes}}};
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + h + body;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

}  // namespace latentedit
