// latentedit — image conversion, model-input preprocessing, PNG output and before/after grids.
#pragma once
#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace latentedit {

// (3, H, W) float tensor in [lo, hi] -> 8-bit BGR image (values clamped).
cv::Mat tensor_to_bgr(const torch::Tensor& chw, double lo = -1.0, double hi = 1.0);

// 8-bit BGR image -> (3, H, W) float tensor in [lo, hi] (RGB channel order).
torch::Tensor bgr_to_tensor(const cv::Mat& bgr, double lo = -1.0, double hi = 1.0);

// The course's preprocessing: resize the shorter side to `size` with INTER_AREA, center
// crop size x size. Returns an 8-bit BGR image.
cv::Mat resize_center_crop(const cv::Mat& bgr, int size);

// Reads an image file (PNG, JPEG, BMP, TIFF, WebP or PNM, recognised by their first bytes; grayscale, RGBA and 16-bit are
// converted to 8-bit BGR). Refused with InputError, before decoding where the header tells:
// unreadable or damaged files, more than 50 megapixels or 256 MB, sides differing more than 16x.
cv::Mat read_image(const std::string& path);
// read_image's checks and decoding for bytes already in memory; `path` names them in messages.
cv::Mat decode_image(const std::string& bytes, const std::string& path);

// read_image, then the course's preprocessing for a model: resize_center_crop then map to
// [lo, hi]. Throws InputError.
torch::Tensor load_image_for_model(const std::string& path, int size, double lo, double hi);

// Encodes `img` as PNG bytes (nothing is written). Throws IoError.
std::string encode_png(const cv::Mat& img);

// A grid of faces: one row per latent, one column per stage.
struct GridSpec {
  std::string title;                       // header line 1 (the edit)
  std::string subtitle;                    // header line 2 (settings)
  std::vector<std::string> column_labels;  // e.g. "before", "step 5", "after"
  std::vector<std::string> row_labels;     // per row, e.g. "Smiling 0.12 -> 0.97"
  std::vector<bool> row_flags;             // per row: draw a warning mark (e.g. auditor disagrees)
  int scale = 2;                           // integer upscaling of each 64x64 face (nearest)
};

// cells[row][col] are (3, H, W) tensors in [lo, hi]. Returns the BGR grid image.
cv::Mat make_grid(const std::vector<std::vector<torch::Tensor>>& cells, const GridSpec& spec,
                  double lo = -1.0, double hi = 1.0);

}  // namespace latentedit
