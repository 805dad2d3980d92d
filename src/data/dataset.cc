#include "latentedit/dataset.h"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <atomic>
#include <mutex>

#include "latentedit/attributes.h"
#include "latentedit/errors.h"
#include "data/faces.h"
#include "io/fsutil.h"
#include "latentedit/image.h"

namespace latentedit {
namespace fs = std::filesystem;

namespace {
void put_image(torch::Tensor& images, int64_t i, const cv::Mat& bgr) {
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  torch::Tensor t = torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8).permute({2, 0, 1});
  images[i].copy_(t);
}
std::string image_name(int64_t i, const char* ext) {
  char b[32];
  std::snprintf(b, sizeof b, "%06lld.%s", static_cast<long long>(i + 1), ext);
  return b;
}
}  // namespace

Dataset render_dataset(uint64_t seed, int64_t start, int64_t count, int size, const CountCallback& progress) {
  Dataset d;
  d.attributes = celeba_attributes();
  d.images = torch::empty({count, 3, size, size}, torch::kUInt8);
  d.labels = torch::empty({count, kNumCelebaAttributes}, torch::kFloat32);
  const int64_t chunk = 256;
  for (int64_t c0 = 0; c0 < count; c0 += chunk) {
    const int64_t c1 = std::min(count, c0 + chunk);
    at::parallel_for(c0, c1, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const FaceSpec f = sample_face_spec(seed, static_cast<uint64_t>(start + i));
        put_image(d.images, i, render_face(f, size));
        auto acc = d.labels[i];
        for (int a = 0; a < kNumCelebaAttributes; ++a) acc[a] = f.attr[a] ? 1.f : 0.f;
      }
    });
    if (progress) progress(c1, count);
  }
  return d;
}

torch::Tensor to_model_range(const torch::Tensor& images_u8, double lo, double hi) {
  return images_u8.to(torch::kFloat32) * ((hi - lo) / 255.0) + lo;
}

void write_celeba_layout(const std::string& dir, uint64_t seed, int64_t count, const CountCallback& progress, bool force) {
  if (count <= 0) throw UsageError("count must be positive");
  StagedDir staged(dir, "dataset", force);  // published once complete
  const fs::path img_dir = fs::path(staged.staging_path("img_align_celeba/.keep")).parent_path();
  std::ostringstream attr;
  attr << count << "\n";
  const auto& names = celeba_attributes();
  for (size_t i = 0; i < names.size(); ++i) attr << names[i] << (i + 1 < names.size() ? " " : "\n");
  const int64_t chunk = 512;
  for (int64_t c0 = 0; c0 < count; c0 += chunk) {
    const int64_t n = std::min(chunk, count - c0);
    const Dataset d = render_dataset(seed, c0, n, 64);
    at::parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        torch::Tensor hwc = d.images[i].permute({1, 2, 0}).contiguous();
        cv::Mat rgb(64, 64, CV_8UC3, hwc.data_ptr<uint8_t>()), bgr;
        cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
        if (!cv::imwrite((img_dir / image_name(c0 + i, "png")).string(), bgr))
          throw IoError("cannot write images under " + img_dir.string());
      }
    });
    for (int64_t i = 0; i < n; ++i) {
      attr << image_name(c0 + i, "png");
      for (int a = 0; a < kNumCelebaAttributes; ++a) attr << (d.labels[i][a].item<float>() > 0.5f ? "  1" : " -1");
      attr << "\n";
    }
    if (progress) progress(c0 + n, count);
  }
  staged.add("list_attr_celeba.txt", attr.str());
  staged.commit();
}

Dataset load_celeba(const std::string& dir, int size, int64_t limit, const CountCallback& progress) {
  const fs::path root(dir);
  const fs::path list = root / "list_attr_celeba.txt";
  if (!fs::exists(list))
    throw InputError(dir + " has no list_attr_celeba.txt (expected CelebA's layout: list_attr_celeba.txt + img_align_celeba/)");
  std::istringstream in(read_file(list.string()));
  std::string line;
  int64_t declared = 0;
  if (!std::getline(in, line) || !(std::istringstream(line) >> declared) || declared <= 0)
    throw InputError(list.string() + ": line 1 must be the image count");
  if (!std::getline(in, line)) throw InputError(list.string() + ": line 2 must list the attribute names");
  Dataset d;
  {
    std::istringstream names(line);
    std::string n;
    while (names >> n) d.attributes.push_back(n);
  }
  if (d.attributes.empty()) throw InputError(list.string() + ": line 2 lists no attribute names");
  const int64_t C = static_cast<int64_t>(d.attributes.size());
  const int64_t n = limit > 0 ? std::min(limit, declared) : declared;
  std::vector<float> labels;
  int64_t lineno = 2;
  while (static_cast<int64_t>(d.files.size()) < n && std::getline(in, line)) {
    ++lineno;
    std::istringstream ls(line);
    std::string file;
    if (!(ls >> file)) continue;
    for (int64_t c = 0; c < C; ++c) {
      int v = 0;
      if (!(ls >> v) || (v != 1 && v != -1 && v != 0))
        throw InputError(list.string() + ":" + std::to_string(lineno) + ": expected " + std::to_string(C) + " labels of 1/-1 after " + file);
      labels.push_back(v == 1 ? 1.f : 0.f);
    }
    d.files.push_back(file);
  }
  if (static_cast<int64_t>(d.files.size()) < n)
    throw InputError(list.string() + ": declares " + std::to_string(declared) + " images but lists " + std::to_string(d.files.size()));
  d.labels = torch::from_blob(labels.data(), {n, C}, torch::kFloat32).clone();
  d.images = torch::empty({n, 3, size, size}, torch::kUInt8);
  const fs::path img_dir = root / "img_align_celeba";
  std::atomic<int64_t> done{0};
  std::string error;
  std::mutex mu;
  at::parallel_for(0, n, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const std::string path = (img_dir / d.files[i]).string();
      cv::Mat img = cv::imread(path, cv::IMREAD_COLOR);
      if (img.empty()) {
        std::lock_guard<std::mutex> l(mu);
        if (error.empty()) error = path;
        continue;
      }
      put_image(d.images, i, resize_center_crop(img, size));
      ++done;
    }
  });
  if (!error.empty()) throw InputError("cannot read image " + error + " (listed in list_attr_celeba.txt)");
  if (progress) progress(n, n);
  return d;
}

}  // namespace latentedit
