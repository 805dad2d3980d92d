#include <gtest/gtest.h>
#include <torch/torch.h>

#include "latentedit/errors.h"
#include "io/fsutil.h"
#include "latentedit/safetensors.h"
#include "test_util.h"

using namespace latentedit;

namespace {
std::string with_header(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}
SafetensorsFile parse(const std::string& b) {
  return parse_safetensors(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "test");
}
}  // namespace

TEST(Safetensors, RoundTripKeepsNamesDtypesValuesAndMetadata) {
  test::TempDir d;
  NamedTensors t = {{"b.weight", torch::randn({3, 4})}, {"a.count", torch::tensor({7, 8, 9}, torch::kInt64)},
                    {"c.half", torch::randn({5}).to(torch::kFloat16)}, {"empty", torch::zeros({0, 3})}};
  save_safetensors(d / "x.safetensors", t, {{"format", "pt"}});
  const auto r = load_safetensors(d / "x.safetensors");
  ASSERT_EQ(r.tensors.size(), 4u);
  EXPECT_EQ(r.metadata.at("format"), "pt");
  for (const auto& [name, want] : t) {
    auto it = std::find_if(r.tensors.begin(), r.tensors.end(), [&](const auto& p) { return p.first == name; });
    ASSERT_NE(it, r.tensors.end()) << name;
    EXPECT_EQ(it->second.scalar_type(), want.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(it->second, want)) << name;
  }
}

TEST(Safetensors, ReadsHandWrittenF16Bf16I64) {
  // 1.0 in F16 = 0x3c00, in BF16 = 0x3f80; I64 = -2.
  std::string data;
  data += std::string("\x00\x3c", 2);
  data += std::string("\x80\x3f", 2);
  int64_t v = -2;
  data.append(reinterpret_cast<const char*>(&v), 8);
  const std::string h =
      R"({"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[2,4]},)"
      R"("i":{"dtype":"I64","shape":[],"data_offsets":[4,12]}})";
  const auto r = parse(with_header(h, data));
  ASSERT_EQ(r.tensors.size(), 3u);
  EXPECT_EQ(r.tensors[0].second.to(torch::kFloat32).item<float>(), 1.0f);
  EXPECT_EQ(r.tensors[1].second.to(torch::kFloat32).item<float>(), 1.0f);
  EXPECT_EQ(r.tensors[2].second.item<int64_t>(), -2);
}

TEST(Safetensors, BoundsViolationsAreRejected) {
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_NO_THROW(parse(with_header(ok, std::string(8, '\0'))));
  // Data shorter than the offsets claim (truncated file).
  EXPECT_THROW(parse(with_header(ok, std::string(4, '\0'))), ModelError);
  // Header length larger than the file.
  std::string b = with_header(ok, std::string(8, '\0'));
  b[0] = static_cast<char>(0xff);
  b[1] = static_cast<char>(0xff);
  EXPECT_THROW(parse(b), ModelError);
  // Offsets that do not match the shape, reversed offsets, unknown dtype, negative dims, junk.
  EXPECT_THROW(parse(with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'))), ModelError);
  EXPECT_THROW(parse(with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", std::string(8, '\0'))), ModelError);
  EXPECT_THROW(parse(with_header(R"({"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0'))), ModelError);
  EXPECT_THROW(parse(with_header(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, '\0'))), ModelError);
  EXPECT_THROW(parse(with_header(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", std::string(8, '\0'))), ModelError);
  EXPECT_THROW(parse(with_header("not json", "")), ModelError);
  EXPECT_THROW(parse("abc"), ModelError);
}

TEST(Safetensors, ErrorNamesTheFile) {
  test::TempDir d;
  write_file_atomic(d / "bad.safetensors", "garbage!garbage!");
  try {
    load_safetensors(d / "bad.safetensors");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos);
  }
}
