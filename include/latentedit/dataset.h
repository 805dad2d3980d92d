// latentedit — datasets in CelebA's on-disk layout, and procedural ones in memory.
//
// Layout (as CelebA): DIR/img_align_celeba/000001.png (or .jpg) ... and
// DIR/list_attr_celeba.txt: line 1 the image count, line 2 the 40 attribute names, then
// one line per image: file name and 40 labels of +1/-1.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace latentedit {

struct Dataset {
  torch::Tensor images;                 // (N, 3, S, S) uint8, RGB
  torch::Tensor labels;                 // (N, C) float32, 1 = present, 0 = absent
  std::vector<std::string> attributes;  // C names
  std::vector<std::string> files;       // source file names (empty for procedural data)
};

using CountCallback = std::function<void(int64_t done, int64_t total)>;

// Renders procedural faces [start, start + count) of `seed` (src/data/faces.h) at size x size.
Dataset render_dataset(uint64_t seed, int64_t start, int64_t count, int size = 64,
                       const CountCallback& progress = nullptr);

// Writes `count` procedural faces of `seed` in CelebA's layout (PNG images). Files are
// written to a temporary directory beside `dir` and moved into place at the end. `dir` must be
// new or empty, or a previous dataset (replaced); `force` writes into any directory (README
// "Outputs"). Throws IoError otherwise.
void write_celeba_layout(const std::string& dir, uint64_t seed, int64_t count,
                         const CountCallback& progress = nullptr, bool force = false);

// Reads a CelebA-layout folder (real CelebA JPEGs or ours): each image resized on its
// shorter side to `size` with INTER_AREA and center-cropped. `limit` > 0 reads the first
// `limit` images. Throws InputError naming the bad file or line.
Dataset load_celeba(const std::string& dir, int size = 64, int64_t limit = 0,
                    const CountCallback& progress = nullptr);

// uint8 RGB images -> float in [lo, hi].
torch::Tensor to_model_range(const torch::Tensor& images_u8, double lo = -1.0, double hi = 1.0);

}  // namespace latentedit
