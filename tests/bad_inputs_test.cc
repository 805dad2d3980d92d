// The bad-input regression suite: hostile or mistaken inputs to every subcommand. Each case
// asserts the exit code (docs/cli.md "Exit codes"), that stderr is exactly one line saying what is
// wrong, and that nothing in the working directory changed (no output, no leftovers, nobody's
// files touched). The inputs are generated at test time (no large files in the repository).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <sys/stat.h>
#include <limits>
#include <map>
#include <sstream>

#include "io/fsutil.h"
#include "latentedit/safetensors.h"
#include "test_util.h"

using namespace latentedit;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string bundled() { return fs::canonical(std::string(LATENTEDIT_TEST_FIXTURES) + "/../../pretrained/faces64").string(); }

std::string png_bytes(int w, int h, int type = CV_8UC3) {
  cv::Mat m(h, w, type);
  cv::randu(m, 0, 255);
  std::vector<uchar> b;
  cv::imencode(".png", m, b);
  return std::string(b.begin(), b.end());
}
std::string encoded(const char* ext, int w, int h) {
  cv::Mat m(h, w, CV_8UC3, cv::Scalar(90, 120, 200));
  std::vector<uchar> b;
  cv::imencode(ext, m, b);
  return std::string(b.begin(), b.end());
}
void put_be(std::string& s, size_t at, uint32_t v, int n) {
  for (int i = 0; i < n; ++i) s[at + i] = static_cast<char>((v >> (8 * (n - 1 - i))) & 0xFF);
}
void put_le(std::string& s, size_t at, uint32_t v) {  // little-endian 32-bit
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

// Every input the cases below refer to, under `d`.
void make_inputs(const test::TempDir& d) {
  auto put = [&](const std::string& name, const std::string& bytes) {
    const fs::path p = d.path / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
  };
  // Someone's directory, a plain file where a directory is expected.
  put("photos/holiday.jpg", "not latentedit's");
  put("photos/grid.png", "also not latentedit's");
  put("afile", "x");
  // Images.
  put("ok.png", png_bytes(64, 64));
  put("text.png", "hello, I am not an image\n");
  put("empty.png", "");
  put("trunc.png", png_bytes(64, 64).substr(0, 60));
  {  // a real photo-sized JPEG cut in half (libjpeg would decode it as if whole, grey below the cut)
    cv::Mat m(256, 256, CV_8UC3);
    cv::randu(m, 0, 255);
    std::vector<uchar> b;
    cv::imencode(".jpg", m, b);
    put("half.jpg", std::string(b.begin(), b.begin() + b.size() / 2));
    std::string png = png_bytes(256, 256);
    put("half.png", png.substr(0, png.size() / 2));
  }
  {  // Not regular files: a FIFO (opening it would block), a symbolic link loop.
    fs::create_directories(d.path / "special");
    ASSERT_EQ(mkfifo((d.path / "special/fifo").c_str(), 0600), 0);
    fs::create_symlink("loop", d.path / "special/loop");
    fs::create_directories(d.path / "special/run");
    fs::create_directories(d.path / "textlog");
    std::ofstream(d.path / "textlog/training_log.jsonl") << "{\"step\":10,\"seconds\":\"abc\",\"g_grad_norm\":1}\n{\"step\":20,\"seconds\":5}\n";
    ASSERT_EQ(mkfifo((d.path / "special/run/training_log.jsonl").c_str(), 0600), 0);
  }
  {  // Memory bombs: small files that declare huge images in headers OpenCV would trust.
    // A 20000 x 20000 JPEG (400 MP) with one stray byte before its frame header.
    std::string j = encoded(".jpg", 64, 64);
    size_t sof = j.find("\xFF\xC0");
    put_be(j, sof + 5, 20000, 2);
    put_be(j, sof + 7, 20000, 2);
    j.insert(sof, 1, '\x00');
    put("bomb_stray.jpg", j);
    // A little-endian TIFF whose first IFD says 10000 x 10000 (100 MP).
    std::string t("II*\0\x08\0\0\0", 8);
    t += std::string("\x02\0", 2);
    std::string e1(12, '\0'), e2(12, '\0');
    put_le(e1, 0, 256), put_le(e1, 2, 4), put_le(e1, 4, 1), put_le(e1, 8, 10000);  // ImageWidth LONG
    e1[2] = 4, e1[3] = 0;
    put_le(e2, 0, 257), put_le(e2, 4, 1), put_le(e2, 8, 10000);  // ImageLength LONG
    e2[2] = 4, e2[3] = 0;
    t += e1 + e2 + std::string(4, '\0') + std::string(64, '\0');
    put("bomb.tiff", t);
    // A WebP (VP8X) canvas of 12000 x 12000 (144 MP).
    std::string w = "RIFF" + std::string(4, '\0') + "WEBPVP8X" + std::string("\x0a\0\0\0", 4) + std::string(4, '\0');
    w += std::string("\xdf\x2e\0\xdf\x2e\0", 6) + std::string(32, '\0');
    put("bomb.webp", w);
  }
  std::string huge_png = png_bytes(8, 8);
  put_be(huge_png, 16, 30000, 4), put_be(huge_png, 20, 30000, 4);  // IHDR width, height
  put("huge.png", huge_png);
  std::string huge_jpg = encoded(".jpg", 8, 8);
  for (size_t i = 2; i + 9 < huge_jpg.size(); ++i)
    if (static_cast<uint8_t>(huge_jpg[i]) == 0xFF && static_cast<uint8_t>(huge_jpg[i + 1]) == 0xC0) {
      put_be(huge_jpg, i + 5, 60000, 2), put_be(huge_jpg, i + 7, 60000, 2);
      break;
    }
  put("huge.jpg", huge_jpg);
  std::string huge_bmp = encoded(".bmp", 8, 8);
  put_le(huge_bmp, 18, 30000), put_le(huge_bmp, 22, 30000);
  put("huge.bmp", huge_bmp);
  put("thin.png", png_bytes(2000, 10));
  fs::create_directories(d.path / "dir.png");
  // 128-byte preamble + "DICM": the fuzzer's input that made OpenCV's DICOM decoder abort.
  std::string dicom(133, '\xff');
  dicom[0x24] = 'N', dicom[0x25] = '\x0e', dicom[0x7f] = 'N';
  dicom.replace(0x80, 5, "DICM\x0e");
  put("scan.png", dicom);
  // The same marker behind a PNG-like start ("\x89PNG\r\n" + garbage): OpenCV's PNG decoder
  // rejects it and used to pass it on to the DICOM decoder (found by the fuzzer too).
  put("png_prefix.png", std::string("\x89PNG\r\n\xa2\xd1", 8) + dicom.substr(8));
  // Model files.
  put("text.pth", "state_dict = {}\n");
  // Latents files for edit --latents.
  std::string nan_row = "[";
  for (int k = 0; k < 64; ++k) nan_row += std::string(k ? "," : "") + "\"NaN\"";
  put("nan_latents.json", "[" + nan_row + "]]");
  put("short_latents.json", "[[1, 2, 3]]");
  put("empty.pth", "");
  // Job files.
  put("deep.json", std::string(100000, '[') + std::string(100000, ']'));
  put("deep_obj.json", "{\"jobs\": [{\"id\": \"a\", \"add\": " + std::string(5000, '[') + std::string(5000, ']') + "}]}");
  put("overflow.json", R"({"jobs": [{"id": "a", "seed": 1, "add": ["Smiling"], "steps": 1e400}]})");
  put("invalid.json", "{\"jobs\": [\n  {\"id\": \"a\",}\n]}");
  put("array.json", "[]");
  put("nojobs.json", "{}");
  put("emptyjobs.json", R"({"jobs": []})");
  put("reserved.json", R"({"jobs": [{"id": "summary.json", "seed": 1, "add": ["Smiling"]}]})");
  put("reserved2.json", R"({"jobs": [{"id": "PLAN.JSON", "seed": 1, "add": ["Smiling"]}]})");
  put("dotdot.json", R"({"jobs": [{"id": "../escape", "seed": 1, "add": ["Smiling"]}]})");
  put("hidden.json", R"({"jobs": [{"id": ".journal", "seed": 1, "add": ["Smiling"]}]})");
  put("dup.json", R"({"jobs": [{"id": "a", "seed": 1, "add": ["Smiling"]}, {"id": "A", "seed": 2, "add": ["Smiling"]}]})");
  put("unknownkey.json", R"({"jobs": [{"id": "a", "seed": 1, "add": ["Smiling"], "stepz": 3}]})");
  put("badattr.json", R"({"jobs": [{"id": "a", "seed": 1, "add": ["Smilin"]}]})");
  put("nanstep.json", R"({"jobs": [{"id": "a", "seed": 1, "add": ["Smiling"], "step_size": "nan"}]})");
  put("hugecount.json", R"({"jobs": [{"id": "a", "seed": 1, "count": 1000000000, "add": ["Smiling"]}]})");
  put("nolatents.json", R"({"jobs": [{"id": "a", "latents_file": "missing.json", "add": ["Smiling"]}]})");
  put("deeplatents.json", R"({"jobs": [{"id": "a", "latents_file": "deep.json", "add": ["Smiling"]}]})");
  put("badmodel.json", R"({"model": "no/such/bundle", "jobs": [{"id": "a", "seed": 1, "add": ["Smiling"]}]})");
  put("ok_jobs.json", R"({"jobs": [{"id": "a", "seed": 1, "count": 1, "steps": 1, "add": ["Smiling"]}]})");
  // Bundles: model.json variants pointing at the bundled weights (absolute paths).
  const std::string b = bundled();
  const json good = test::read_json(b + "/model.json");
  auto bundle = [&](const std::string& name, const std::function<void(json&)>& edit) {
    json j = good;
    auto absolute = [&](json& e) { e["weights"] = b + "/" + e["weights"].get<std::string>(); };
    for (const char* role : {"generator", "classifier", "auditor"})
      if (j.contains(role)) {
        if (j[role].contains("members"))  // an ensemble: each member's file
          for (auto& e : j[role]["members"]) absolute(e);
        else
          absolute(j[role]);
      }
    j.erase("directions");
    edit(j);
    put(name + "/model.json", j.dump(1));
  };
  bundle("b_v2", [](json& j) { j["version"] = 2; });
  bundle("b_format", [](json& j) { j["format"] = "stylegan2-pkl"; });
  bundle("b_dup", [](json& j) { j["attributes"][3] = j["attributes"][4]; });
  bundle("b_emptyname", [](json& j) { j["attributes"][0] = ""; });
  bundle("b_size", [](json& j) { j["image_size"] = 128; });
  bundle("b_zdim", [](json& j) { j["z_dim"] = 0; });
  bundle("b_nogen", [](json& j) { j.erase("generator"); });
  bundle("b_range", [](json& j) { j["output_range"] = {1, -1}; });
  bundle("b_nan", [&](json& j) { j["generator"]["weights"] = (d.path / "nan_gen.safetensors").string(); });
  auto w = load_safetensors(b + "/generator.safetensors").tensors;
  for (auto& [name, t] : w)
    if (t.is_floating_point()) t.fill_(std::numeric_limits<float>::quiet_NaN());
  put("nan_gen.safetensors", serialize_safetensors(w));
  // Directions whose latent classifier has a layer of the wrong shape.
  auto dirs = load_safetensors(b + "/directions.safetensors").tensors;
  dirs.erase(std::remove_if(dirs.begin(), dirs.end(), [](const auto& p) { return p.first.rfind("latent_classifier.", 0) == 0; }),
             dirs.end());
  dirs.push_back({"latent_classifier.0.weight", torch::zeros({3, 3})});
  put("bad_latent.safetensors", serialize_safetensors(dirs));
  bundle("b_latent", [&](json& j) { j["directions"] = {{"weights", (d.path / "bad_latent.safetensors").string()}}; });
  // ... and whose latent classifier's second member has too few outputs.
  dirs = load_safetensors(b + "/directions.safetensors").tensors;
  dirs.push_back({"latent_classifier_1.0.weight", torch::zeros({7, 64})});
  dirs.push_back({"latent_classifier_1.0.bias", torch::zeros({7})});
  put("bad_member.safetensors", serialize_safetensors(dirs));
  bundle("b_member", [&](json& j) { j["directions"] = {{"weights", (d.path / "bad_member.safetensors").string()}}; });
  // ... and whose third member follows no second one (it would be ignored).
  dirs = load_safetensors(b + "/directions.safetensors").tensors;
  dirs.push_back({"latent_classifier_2.0.weight", torch::zeros({40, 64})});
  dirs.push_back({"latent_classifier_2.0.bias", torch::zeros({40})});
  put("gap_member.safetensors", serialize_safetensors(dirs));
  bundle("b_gap", [&](json& j) { j["directions"] = {{"weights", (d.path / "gap_member.safetensors").string()}}; });
  // ... and whose latent thumbnail model predicts the wrong number of values.
  dirs = load_safetensors(b + "/directions.safetensors").tensors;
  dirs.erase(std::remove_if(dirs.begin(), dirs.end(), [](const auto& p) { return p.first.rfind("latent_thumbnail.", 0) == 0; }),
             dirs.end());
  dirs.push_back({"latent_thumbnail.0.weight", torch::zeros({5, 64})});
  dirs.push_back({"latent_thumbnail.0.bias", torch::zeros({5})});
  put("bad_thumb.safetensors", serialize_safetensors(dirs));
  bundle("b_thumb", [&](json& j) { j["directions"] = {{"weights", (d.path / "bad_thumb.safetensors").string()}}; });
  // ... and whose thumbnail correlation holds a NaN.
  dirs = load_safetensors(b + "/directions.safetensors").tensors;
  for (auto& [name, t] : dirs)
    if (name == "latent_thumbnail.correlation") t = t.clone().fill_(std::numeric_limits<float>::quiet_NaN());
  put("nan_thumb.safetensors", serialize_safetensors(dirs));
  bundle("b_thumb_nan", [&](json& j) { j["directions"] = {{"weights", (d.path / "nan_thumb.safetensors").string()}}; });
  put("b_badjson/model.json", "{\"z_dim\": 64,");
  put("b_none/readme.txt", "not a bundle");
  // Batch output directories that are not what merge expects.
  put("damaged/plan.json", "{\"jobs\": 3}");
  put("damaged/" + std::string(kOutputMarker), R"({"format":"latentedit-output","command":"batch","files":[]})");
}

// Every regular file under `root` with its bytes.
// Every entry under `root` (links not followed: a symlink loop is an entry), regular files with
// their bytes.
void walk(const fs::path& root, const fs::path& dir, std::map<std::string, std::string>& m) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string rel = e.path().lexically_relative(root).string();
    const auto st = e.symlink_status();
    if (fs::is_symlink(st)) m[rel] = "<link>";
    else if (fs::is_directory(st)) m[rel] = "<dir>", walk(root, e.path(), m);
    else if (fs::is_regular_file(st)) m[rel] = read_file(e.path().string());
    else m[rel] = "<other>";
  }
}
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> m;
  walk(root, root, m);
  return m;
}

struct Case {
  const char* name;
  const char* args;  // {d}: the working directory, {fx}: tests/fixtures
  int exit;
  const char* env = "";  // "NAME=value ...": set for this case (a cluster engine's variables)
};

const Case kCases[] = {
    // edit: options
    {"EditNothingToEdit", "edit --out {d}/o", 2},
    {"EditLatentsNaN", "edit --latents {d}/nan_latents.json --add Smiling --out {d}/o", 3},
    {"EditLatentsWrongLength", "edit --latents {d}/short_latents.json --add Smiling --out {d}/o", 3},
    {"EditLatentsNotJson", "edit --latents {d}/text.pth --add Smiling --out {d}/o", 3},
    {"EditLatentsAndSeed", "edit --latents {d}/nan_latents.json --seed 3 --add Smiling --out {d}/o", 2},
    {"EditImageNotAnImage", "edit --image {d}/text.pth --add Smiling --out {d}/o", 3},
    {"InvertNotAnImage", "invert {d}/text.pth --out {d}/o", 3},
    {"InvertNoImages", "invert --out {d}/o", 2},
    {"InvertCandidatesBelowRestarts", "invert {d}/ok.png --candidates 1 --restarts 2 --out {d}/o", 2},
    {"InvertInitUnknown", "invert {d}/ok.png --init encoder --out {d}/o", 2},
    {"ServeRemoteWithoutFlag", "serve --host 0.0.0.0", 2},
    {"ServeBadPort", "serve --port 70000", 2},
    {"ServeTimeoutBeyondADay", "serve --port 0 --timeout 1e10", 2},
    {"ServeHeadTimeoutZero", "serve --port 0 --head-timeout 0", 2},
    {"ServeConnectionsZero", "serve --port 0 --connections 0", 2},
    {"EditUnknownAttribute", "edit --add Smilin --out {d}/o", 2},
    {"EditEmptyAttribute", "edit --add '' --out {d}/o", 2},
    {"EditSeparatorsOnly", "edit --add Smiling --keep , --out {d}/o", 2},
    {"EditAddAndRemoveSame", "edit --add Smiling --remove Smiling --out {d}/o", 2},
    {"EditTargetProbOutOfRange", "edit --add Smiling:1.5 --out {d}/o", 2},
    {"EditTargetProbNotANumber", "edit --add Smiling:abc --out {d}/o", 2},
    {"EditStepsZero", "edit --add Smiling --steps 0 --out {d}/o", 2},
    {"EditStepsZeroRealBundle", "edit --add Smiling --steps 0 --model {real} --out {d}/o", 2},
    {"EditUnknownAttributeRealBundle", "edit --add Smilin --model {real} --out {d}/o", 2},
    {"EditLatentsNaNRealBundle", "edit --latents {d}/nan_latents.json --add Smiling --model {real} --out {d}/o", 3},
    {"EditStepsOverflow", "edit --add Smiling --steps 1e400 --out {d}/o", 2},
    {"EditStepsText", "edit --add Smiling --steps ten --out {d}/o", 2},
    {"EditStepSizeZero", "edit --add Smiling --step-size 0 --out {d}/o", 2},
    {"EditStepSizeNaN", "edit --add Smiling --step-size nan --out {d}/o", 2},
    {"EditStepSizeInf", "edit --add Smiling --step-size inf --out {d}/o", 2},
    {"EditStepSizeHuge", "edit --add Smiling --step-size 1e308 --out {d}/o", 2},
    {"EditStepSizeNegative", "edit --add Smiling --step-size -1 --out {d}/o", 2},
    {"EditPenaltyNegative", "edit --add Smiling --penalty -1 --out {d}/o", 2},
    {"EditPenaltyNaN", "edit --add Smiling --penalty nan --out {d}/o", 2},
    {"EditPriorInf", "edit --add Smiling --prior inf --out {d}/o", 2},
    {"EditPenaltyKind", "edit --add Smiling --penalty-kind l3 --out {d}/o", 2},
    {"EditMethod", "edit --add Smiling --method magic --out {d}/o", 2},
    {"EditKeepMask", "edit --add Smiling --keep-mask some --out {d}/o", 2},
    {"EditRankZero", "edit --add Smiling --rank 0 --out {d}/o", 2},
    {"EditEotNegative", "edit --add Smiling --eot -1 --out {d}/o", 2},
    {"EditStrengthZero", "edit --add Smiling --method boundary --strength 0 --out {d}/o", 2},
    {"EditLadderDecreasing", "edit --add Smiling --ladder 0.75,0.5 --out {d}/o", 2},
    {"EditLadderText", "edit --add Smiling --ladder half --out {d}/o", 2},
    {"EditLadderOne", "edit --add Smiling --ladder 1 --out {d}/o", 2},
    {"EditLatentAcceptProbOne", "edit --add Smiling --latent-accept-prob 1 --out {d}/o", 2},
    {"EditConditionUnknown", "edit --add Smiling --method boundary --condition Nope --out {d}/o", 2},
    {"EditTargetProbNaN", "edit --add Smiling --target-prob nan --out {d}/o", 2},
    {"EditSeedNegative", "edit --add Smiling --seed -1 --out {d}/o", 2},
    {"EditSeedOverflow", "edit --add Smiling --seed 18446744073709551616 --out {d}/o", 2},
    {"EditSeedText", "edit --add Smiling --seed abc --out {d}/o", 2},
    {"EditCountZero", "edit --add Smiling --count 0 --out {d}/o", 2},
    {"EditCountHuge", "edit --add Smiling --count 100000 --out {d}/o", 2},
    {"EditGridTooLarge", "edit --add Smiling --count 1024 --scale 8 --out {d}/o", 2},
    {"EditScale", "edit --add Smiling --scale 9 --out {d}/o", 2},
    {"EditShowStepsBeyond", "edit --add Smiling --steps 5 --show-steps 9 --out {d}/o", 2},
    {"EditThreadsNegative", "edit --add Smiling --threads -1 --out {d}/o", 2},
    {"EditNoOut", "edit --add Smiling", 2},
    {"EditUnknownFlag", "edit --add Smiling --frobnicate --out {d}/o", 2},
    {"EditExtraArgument", "edit --add Smiling stray --out {d}/o", 2},
    {"EditModelAndFiles", "edit --add Smiling --model {d}/b_v2 --generator {fx}/course_gen_zip.pth --out {d}/o", 2},
    {"EditGeneratorWithoutClassifier", "edit --add Smiling --generator {fx}/course_gen_zip.pth --out {d}/o", 2},
    {"EditClassifierWithoutGenerator", "edit --add Smiling --classifier {fx}/course_cls_zip.pth --out {d}/o", 2},
    // edit: outputs
    {"EditIntoSomeonesDirectory", "edit --add Smiling --count 1 --steps 1 --out {d}/photos", 5},
    {"EditIntoAFile", "edit --add Smiling --count 1 --steps 1 --out {d}/afile", 5},
    {"EditIntoRoot", "edit --add Smiling --count 1 --steps 1 --out / --force", 5},
    {"EditIntoAFileRealBundle", "edit --add Smiling --count 1 --steps 1 --model {real} --out {d}/afile", 5},
    // edit: models
    {"EditModelMissing", "edit --add Smiling --model {d}/nowhere --out {d}/o", 4},
    {"EditModelNotABundle", "edit --add Smiling --model {d}/b_none --out {d}/o", 4},
    {"EditModelBadJson", "edit --add Smiling --model {d}/b_badjson --out {d}/o", 4},
    {"EditModelVersion2", "edit --add Smiling --model {d}/b_v2 --out {d}/o", 4},
    {"EditModelFormat", "edit --add Smiling --model {d}/b_format --out {d}/o", 4},
    {"EditModelDuplicateAttribute", "edit --add Smiling --model {d}/b_dup --out {d}/o", 4},
    {"EditModelEmptyAttribute", "edit --add Smiling --model {d}/b_emptyname --out {d}/o", 4},
    {"EditModelImageSize", "edit --add Smiling --model {d}/b_size --out {d}/o", 4},
    {"EditModelZDim", "edit --add Smiling --model {d}/b_zdim --out {d}/o", 4},
    {"EditModelNoGenerator", "edit --add Smiling --model {d}/b_nogen --out {d}/o", 4},
    {"EditModelRange", "edit --add Smiling --model {d}/b_range --out {d}/o", 4},
    {"EditModelNaNWeights", "edit --add Smiling --model {d}/b_nan --out {d}/o", 4},
    {"EditModelLatentClassifierShape", "edit --add Smiling --method latent --model {d}/b_latent --out {d}/o", 4},
    {"EditModelLatentMemberShape", "edit --add Smiling --method latent --model {d}/b_member --out {d}/o", 4},
    {"EditModelLatentMemberAfterAGap", "edit --add Smiling --model {d}/b_gap --out {d}/o", 4},
    {"EditModelLatentThumbnailShape", "edit --add Smiling --model {d}/b_thumb --out {d}/o", 4},
    {"EditModelLatentThumbnailNaN", "edit --add Smiling --model {d}/b_thumb_nan --out {d}/o", 4},
    {"EditGeneratorIsText", "edit --add Smiling --generator {d}/text.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"EditGeneratorIsEmpty", "edit --add Smiling --generator {d}/empty.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"EditGeneratorZipBomb", "edit --add Smiling --generator {fx}/zip_bomb.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"EditGeneratorPickleGlobal", "edit --add Smiling --generator {fx}/evil_global.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"EditGeneratorPickleGlobalZip", "edit --add Smiling --generator {fx}/evil_global_zip.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"EditGeneratorTruncated", "edit --add Smiling --generator {fx}/truncated.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"EditGeneratorNoDataPkl", "edit --add Smiling --generator {fx}/no_data_pkl.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"EditGeneratorIsAClassifier", "edit --add Smiling --generator {fx}/course_cls_zip.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"EditTorchScriptClassifierAsGenerator", "edit --add Smiling --generator {fx}/cls_script.pt --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"EditTorchScriptGeneratorAsClassifier", "edit --add Smiling --generator {fx}/gen_script.pt --classifier {fx}/gen_script.pt --out {d}/o", 4},
    {"EditGeneratorMissing", "edit --add Smiling --generator {d}/none.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    // sample
    {"SampleCountZero", "sample --count 0 --out {d}/o", 2},
    {"SampleSeedNegative", "sample --seed -1 --out {d}/o", 2},
    {"SampleNoOut", "sample --count 1", 2},
    {"SampleClassifierOnly", "sample --classifier {fx}/course_cls_zip.pth --out {d}/o", 2},
    {"SampleIntoSomeonesDirectory", "sample --count 1 --out {d}/photos", 5},
    {"SampleIntoAFile", "sample --count 1 --out {d}/afile", 5},
    {"SampleNaNWeights", "sample --count 1 --model {d}/b_nan --out {d}/o", 4},
    // score
    {"ScoreNoImages", "score", 2},
    {"ScoreMissingFile", "score {d}/nope.png", 3},
    {"ScoreTextFile", "score {d}/text.png", 3},
    {"ScoreTextFileRealBundle", "score --model {real} {d}/text.png", 3},
    {"ScoreEmptyFile", "score {d}/empty.png", 3},
    {"ScoreTruncatedPng", "score {d}/trunc.png", 3},
    {"ScoreHalfJpeg", "score {d}/half.jpg", 3},
    // Not regular files: read without end (/dev/zero), blocking (a FIFO), or a symlink loop.
    {"EditLatentsDevZero", "edit --latents /dev/zero --add Smiling --out {d}/o", 3},
    {"EditLatentsFifo", "edit --latents {d}/special/fifo --add Smiling --out {d}/o", 3},
    {"EditLatentsSymlinkLoop", "edit --latents {d}/special/loop --add Smiling --out {d}/o", 3},
    {"ScoreFifo", "score {d}/special/fifo", 3},
    {"ScoreSymlinkLoop", "score {d}/special/loop", 3},
    {"ScoreDevZero", "score /dev/zero", 3},
    {"BatchJobFileFifo", "batch {d}/special/fifo --out {d}/o", 3},
    {"BatchJobFileSymlinkLoop", "batch {d}/special/loop --out {d}/o", 3},
    {"InvertSymlinkLoop", "invert {d}/special/loop --out {d}/o", 3},
    {"TrainReportLogIsAFifo", "train report {d}/special/run --out {d}/o.png", 3},
    {"TrainReportTextWhereANumberBelongs", "train report {d}/textlog --out {d}/o.png", 3},
    {"ScoreJpegBombStrayByte", "score {d}/bomb_stray.jpg", 3},
    {"ScoreTiffBomb", "score {d}/bomb.tiff", 3},
    {"EditEmptyOutPath", "edit --seed 1 --add Smiling --out ''", 2},
    {"DiscoverSheetInAMissingDirectory", "directions --discover sefa --count 2 --sheet {d}/nope/s.png --model {d}/tiny", 5},
    {"DiscoverTooManyDirections", "directions --discover sefa --count 65 --model {d}/tiny", 2},
    {"DiscoverGanspaceTooFewSamples", "directions --discover ganspace --discover-samples 100 --model {d}/tiny", 2},
    {"DiscoverListWithoutDiscoveries", "directions --list --model {d}/tiny", 2},
    // Moves along discovered directions (the bundled model has sefa#1..20 and ganspace#1..20).
    {"EditDirectionUnknown", "edit --seed 1 --direction sefa#99 --model {real} --out {d}/o", 2},
    {"EditDirectionAmbiguous", "edit --seed 1 --direction '#3' --model {real} --out {d}/o", 2},
    {"EditDirectionNotAStrength", "edit --seed 1 --direction sefa#1:abc --model {real} --out {d}/o", 2},
    {"EditDirectionTooStrong", "edit --seed 1 --direction sefa#1:1000 --model {real} --out {d}/o", 2},
    {"EditDirectionWithAdd", "edit --seed 1 --direction sefa#1 --add Smiling --model {real} --out {d}/o", 2},
    {"EditDirectionWithMethod", "edit --seed 1 --direction sefa#1 --method latent --model {real} --out {d}/o", 2},
    {"EditDirectionWithKeep", "edit --seed 1 --direction sefa#1 --keep Male --model {real} --out {d}/o", 2},
    {"EditDirectionBoundaryTypo", "edit --seed 1 --direction boundary#Smilling --model {real} --out {d}/o", 2},
    {"EditDirectionWithoutDiscoveries", "edit --seed 1 --direction sefa#1 --out {d}/o", 2},
    {"EvaluateSheetWithoutGeneratorOnly", "evaluate --sheet {d}/s.png --model {real}", 2},
    {"EvaluateBaselineMissing", "evaluate --generator-only --baseline {d}/nope --model {real}", 2},
    {"ScoreWebpBomb", "score {d}/bomb.webp", 3},
    {"InvertTiffBomb", "invert {d}/bomb.tiff --out {d}/o", 3},
    {"EditImageWebpBomb", "edit --image {d}/bomb.webp --add Smiling --out {d}/o", 3},
    {"ScoreHalfPng", "score {d}/half.png", 3},
    {"EditImageHalfJpeg", "edit --image {d}/half.jpg --add Smiling --out {d}/o", 3},
    {"InvertHalfJpeg", "invert {d}/half.jpg --out {d}/o", 3},
    {"ScoreHugePngHeader", "score {d}/huge.png", 3},
    {"ScoreHugeJpegHeader", "score {d}/huge.jpg", 3},
    {"ScoreHugeBmpHeader", "score {d}/huge.bmp", 3},
    {"ScoreExtremeAspect", "score {d}/thin.png", 3},
    {"ScoreDirectory", "score {d}/dir.png", 3},
    {"ScoreDicomThatAbortedOpenCV", "score {d}/scan.png", 3},
    {"ScorePngPrefixThatAbortedOpenCV", "score {d}/png_prefix.png", 3},
    {"ScoreOneBadAmongGood", "score {d}/ok.png {d}/text.png", 3},
    {"ScoreGeneratorOnly", "score --generator {fx}/course_gen_zip.pth {d}/ok.png", 2},
    {"ScoreClassifierIsText", "score --classifier {d}/text.pth {d}/ok.png", 4},
    // attributes
    {"AttributesModelMissing", "attributes --model {d}/nowhere", 4},
    {"AttributesDuplicate", "attributes --model {d}/b_dup", 4},
    // dataset
    {"DatasetCountZero", "dataset --count 0 --out {d}/o", 2},
    {"DatasetSeedNegative", "dataset --seed -5 --count 2 --out {d}/o", 2},
    {"DatasetCountText", "dataset --count many --out {d}/o", 2},
    {"DatasetIntoAFile", "dataset --count 2 --out {d}/afile", 5},
    {"DatasetIntoSomeonesDirectory", "dataset --count 2 --out {d}/photos", 5},
    // train
    {"TrainLrNaN", "train classifier --lr nan --out {d}/o", 2},
    {"TrainLrZero", "train classifier --lr 0 --out {d}/o", 2},
    {"TrainGanLrInf", "train gan --lr-g inf --out {d}/o", 2},
    {"TrainGanEmaOne", "train gan --ema 1 --out {d}/o", 2},
    {"TrainGanZDimZero", "train gan --z-dim 0 --out {d}/o", 2},
    {"TrainLimitNegative", "train classifier --data {d}/photos --limit -5 --out {d}/o", 2},
    {"TrainStepsZero", "train classifier --steps 0 --out {d}/o", 2},
    {"TrainBatchZero", "train classifier --batch 0 --out {d}/o", 2},
    {"TrainRole", "train classifier --role judge --out {d}/o", 2},
    {"TrainAdversarialTooLarge", "train classifier --adversarial 2 --out {d}/o", 2},
    {"TrainNoSubcommand", "train --out {d}/o", 2},
    {"TrainDataMissing", "train classifier --data {d}/nonexistent --out {d}/o", 3},
    {"TrainDataNotCelebA", "train classifier --data {d}/photos --out {d}/o", 3},
    {"TrainIntoSomeonesDirectory", "train classifier --data {d}/nonexistent --out {d}/photos", 5},
    {"TrainGanUnknownLoss", "train gan --loss wasserstein --out {d}/o", 2},
    {"TrainGanDStepsZero", "train gan --d-steps 0 --out {d}/o", 2},
    {"TrainGanOneBeta", "train gan --betas 0.5 --out {d}/o", 2},
    {"TrainGanBetaNaN", "train gan --betas nan,0.9 --out {d}/o", 2},
    {"TrainGanBetaOne", "train gan --betas 0.5,1 --out {d}/o", 2},
    {"TrainGanDiscriminator", "train gan --discriminator resnet --out {d}/o", 2},
    {"TrainGanSpectralNormMaybe", "train gan --spectral-norm maybe --out {d}/o", 2},
    {"TrainGanDiagnoseSamplesTiny", "train gan --diagnose-samples 2 --out {d}/o", 2},
    {"TrainGanJudgeMissing", "train gan --procedural 16 --judge {d}/none.safetensors --out {d}/o", 4},
    {"TrainGanJudgeIsAnImage", "train gan --procedural 16 --judge {d}/photos/holiday.jpg --out {d}/o", 4},
    {"TrainReportNoLog", "train report {d}/photos", 3},
    {"TrainReportNothing", "train report", 2},
    {"TrainReportNamesMismatch", "train report {d}/photos {d}/photos --names a --out {d}/r.png", 2},
    {"TrainInitMissing", "train classifier --procedural 16 --init {d}/none.safetensors --out {d}/o", 4},
    // evaluate
    {"EvaluateStepSizeNaN", "evaluate --step-size nan", 2},
    {"EvaluateSeedsZero", "evaluate --seeds 0", 2},
    {"EvaluateMethod", "evaluate --methods magic --seeds 1", 2},
    {"EvaluateStrengthsNaN", "evaluate --strengths nan --seeds 1", 2},
    {"EvaluateUnknownAttribute", "evaluate --attributes Smilin --seeds 1", 2},
    {"EvaluateOutExists", "evaluate --seeds 1 --out {d}/afile", 5},
    {"EvaluatePlotIsDirectory", "evaluate --seeds 1 --plot {d}/photos", 5},
    // convert
    {"ConvertNoFiles", "convert --out {d}/o", 2},
    {"ConvertGeneratorMissing", "convert --generator {d}/none.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"ConvertPickleGlobal", "convert --generator {fx}/evil_global.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"ConvertZipBomb", "convert --generator {fx}/zip_bomb.pth --classifier {fx}/course_cls_zip.pth --out {d}/o", 4},
    {"ConvertIntoSomeonesDirectory", "convert --generator {fx}/course_gen_zip.pth --classifier {fx}/course_cls_zip.pth --out {d}/photos", 5},
    {"ConvertAuditorIsText", "convert --generator {fx}/course_gen_zip.pth --classifier {fx}/course_cls_zip.pth --auditor {d}/text.pth --out {d}/o", 4},
    // directions
    {"DirectionsModelMissing", "directions --model {d}/nowhere", 4},
    {"DirectionsFiles", "directions --generator {fx}/course_gen_zip.pth --classifier {fx}/course_cls_zip.pth", 2},
    {"DirectionsConfidence", "directions --model {d}/b_v2 --confidence 2", 2},
    // batch
    {"BatchJobFileMissing", "batch {d}/none.json --out {d}/o", 3},
    {"BatchDeepArray", "batch {d}/deep.json --dry-run", 3},
    {"BatchDeepInsideAJob", "batch {d}/deep_obj.json --dry-run", 3},
    {"BatchNumberOverflow", "batch {d}/overflow.json --dry-run", 3},
    {"BatchInvalidJson", "batch {d}/invalid.json --dry-run", 3},
    {"BatchNotAnObject", "batch {d}/array.json --dry-run", 3},
    {"BatchNoJobs", "batch {d}/nojobs.json --dry-run", 3},
    {"BatchEmptyJobs", "batch {d}/emptyjobs.json --dry-run", 3},
    {"BatchReservedId", "batch {d}/reserved.json --out {d}/o", 3},
    {"BatchReservedIdCase", "batch {d}/reserved2.json --out {d}/o", 3},
    {"BatchIdEscapes", "batch {d}/dotdot.json --out {d}/o", 3},
    {"BatchIdHidden", "batch {d}/hidden.json --out {d}/o", 3},
    {"BatchDuplicateId", "batch {d}/dup.json --out {d}/o", 3},
    {"BatchUnknownKey", "batch {d}/unknownkey.json --out {d}/o", 3},
    {"BatchUnknownAttribute", "batch {d}/badattr.json --out {d}/o", 3},
    {"BatchUnknownAttributeRealBundle", "batch {d}/badattr.json --model {real} --out {d}/o", 3},
    {"BatchStepSizeString", "batch {d}/nanstep.json --out {d}/o", 3},
    {"BatchHugeCount", "batch {d}/hugecount.json --out {d}/o", 3},
    {"BatchLatentsFileMissing", "batch {d}/nolatents.json --out {d}/o", 3},
    {"BatchLatentsFileDeep", "batch {d}/deeplatents.json --out {d}/o", 3},
    {"BatchModelMissing", "batch {d}/badmodel.json --out {d}/o", 4},
    {"BatchShardOutOfRange", "batch {d}/ok_jobs.json --shard 3/2 --out {d}/o", 2},
    {"BatchShardText", "batch {d}/ok_jobs.json --shard half --out {d}/o", 2},
    // --shard auto: the cluster engine's environment, each inconsistency refused
    {"BatchShardAutoNoEngine", "batch {d}/ok_jobs.json --shard auto --out {d}/o", 2},
    {"BatchShardAutoKubernetesNoCount", "batch {d}/ok_jobs.json --shard auto --out {d}/o", 2, "JOB_COMPLETION_INDEX=0"},
    {"BatchShardAutoKubernetesIndexPastCount", "batch {d}/ok_jobs.json --shard auto --shards 4 --out {d}/o", 2, "JOB_COMPLETION_INDEX=4"},
    {"BatchShardAutoAwsIndexPastSize", "batch {d}/ok_jobs.json --shard auto --out {d}/o", 2,
     "AWS_BATCH_JOB_ARRAY_INDEX=5 AWS_BATCH_JOB_ARRAY_SIZE=5"},
    {"BatchShardAutoAwsNoSize", "batch {d}/ok_jobs.json --shard auto --out {d}/o", 2, "AWS_BATCH_JOB_ARRAY_INDEX=1"},
    {"BatchShardAutoSlurmOutsideRange", "batch {d}/ok_jobs.json --shard auto --out {d}/o", 2,
     "SLURM_ARRAY_TASK_ID=7 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=3"},
    {"BatchShardAutoSlurmNotARange", "batch {d}/ok_jobs.json --shard auto --out {d}/o", 2,
     "SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=9 SLURM_ARRAY_TASK_COUNT=3"},
    {"BatchShardAutoSlurmNoMinMax", "batch {d}/ok_jobs.json --shard auto --out {d}/o", 2, "SLURM_ARRAY_TASK_ID=2"},
    {"BatchShardAutoSlurmNotANumber", "batch {d}/ok_jobs.json --shard auto --out {d}/o", 2,
     "SLURM_ARRAY_TASK_ID=two SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=3"},
    {"BatchShardAutoSlurmCountDisagrees", "batch {d}/ok_jobs.json --shard auto --shards 8 --out {d}/o", 2,
     "SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=3"},
    {"BatchShardAutoEnginesDisagree", "batch {d}/ok_jobs.json --shard auto --out {d}/o", 2,
     "SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=3 AWS_BATCH_JOB_ARRAY_INDEX=2 AWS_BATCH_JOB_ARRAY_SIZE=4"},
    {"BatchShardAndShardsDisagree", "batch {d}/ok_jobs.json --shard 1/4 --shards 8 --out {d}/o", 2},
    {"BatchNoOut", "batch {d}/ok_jobs.json", 2},
    {"BatchIntoSomeonesDirectory", "batch {d}/ok_jobs.json --out {d}/photos", 5},
    {"BatchIntoAFile", "batch {d}/ok_jobs.json --out {d}/afile", 5},
    {"BatchMergeNotABatch", "batch merge {d}/photos", 3},
    {"BatchMergeDamagedPlan", "batch merge {d}/damaged", 3},
    // the command line itself
    {"NoSubcommand", "", 2},
    {"UnknownSubcommand", "frobnicate", 2},
};

// The inputs are made once per process and shared by the cases (each checks that it changed
// nothing). Commands given no model use a tiny random bundle ($LATENTEDIT_MODEL): these cases
// are about the command line and the inputs, not the bundled model, which the cases that name
// {real} use (one or more per class of input).
class BadInput : public ::testing::TestWithParam<Case> {
 public:
  static void SetUpTestSuite() {
    dir = new test::TempDir();
    make_inputs(*dir);
    test::make_random_bundle(*dir / "tiny", 4, 4, 3, true);
    setenv("LATENTEDIT_MODEL", (*dir / "tiny").c_str(), 1);
  }
  static void TearDownTestSuite() {
    unsetenv("LATENTEDIT_MODEL");
    delete dir;
  }
  static test::TempDir* dir;
};
test::TempDir* BadInput::dir = nullptr;

TEST_P(BadInput, OneLineErrorRightExitCodeNothingWritten) {
  const Case& c = GetParam();
  const test::TempDir& d = *dir;
  const auto before = snapshot(d.path);
  std::string args = c.args;
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"{d}", d.str()}, {"{fx}", LATENTEDIT_TEST_FIXTURES}, {"{real}", bundled()}})
    for (size_t p; (p = args.find(key)) != std::string::npos;) args.replace(p, key.size(), value);
  // The engines' variables: none but the case's (the suite may itself run in a Slurm job).
  const std::vector<std::string> engine_vars = {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP",
                                                "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX",
                                                "AWS_BATCH_JOB_ARRAY_SIZE"};
  std::map<std::string, std::string> saved;
  for (const auto& v : engine_vars)
    if (const char* x = std::getenv(v.c_str())) saved[v] = x;
  for (const auto& v : engine_vars) unsetenv(v.c_str());
  std::istringstream env_words(c.env);
  for (std::string kv; env_words >> kv;) setenv(kv.substr(0, kv.find('=')).c_str(), kv.substr(kv.find('=') + 1).c_str(), 1);
  std::string out, err;
  const int rc = test::run_cli(args + " -q", &out, &err);
  for (const auto& v : engine_vars) unsetenv(v.c_str());
  for (const auto& [k, v] : saved) setenv(k.c_str(), v.c_str(), 1);
  EXPECT_EQ(rc, c.exit) << args << "\n" << err;
  // Exactly one line, ours, that says something.
  ASSERT_FALSE(err.empty()) << args;
  EXPECT_EQ(err.back(), '\n') << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << args << "\n" << err;
  EXPECT_EQ(err.rfind("latentedit: ", 0), 0u) << err;
  EXPECT_LT(err.size(), 400u) << err;
  EXPECT_TRUE(out.empty()) << "a failed command printed results: " << out;
  EXPECT_EQ(snapshot(d.path), before) << args << ": files changed";
  EXPECT_FALSE(fs::exists(d / "o")) << args;
}

INSTANTIATE_TEST_SUITE_P(Cli, BadInput, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

// Not bad inputs: unusual but valid images are converted, as `score` promises.
TEST(ImageInputs, GrayscaleRgba16BitAndTinyImagesAreConverted) {
  test::TempDir d;
  auto put = [&](const std::string& name, const cv::Mat& m) { ASSERT_TRUE(cv::imwrite(d / name, m)); };
  cv::Mat g(80, 60, CV_8UC1), rgba(64, 64, CV_8UC4), deep(70, 70, CV_16UC3), tiny(2, 2, CV_8UC3);
  for (cv::Mat* m : {&g, &rgba, &deep, &tiny}) cv::randu(*m, 0, m->depth() == CV_16U ? 65535 : 255);
  put("g.png", g), put("rgba.png", rgba), put("deep.png", deep), put("tiny.png", tiny);
  std::string out, err;
  ASSERT_EQ(test::run_cli("score --json " + d / "g.png" + " " + d / "rgba.png" + " " + d / "deep.png" + " " + d / "tiny.png", &out, &err), 0)
      << err;
  const json j = json::parse(out);
  ASSERT_EQ(j["images"].size(), 4u);
  for (const auto& im : j["images"])
    for (const auto& [k, p] : im["probs"].items()) EXPECT_TRUE(p.get<double>() >= 0 && p.get<double>() <= 1) << k;
}

}  // namespace
