// libFuzzer target: image bytes as `score` reads them — header size checks, OpenCV decoding
// (PNG, JPEG, BMP, TIFF, WebP, ...), then the course's resize + centre crop — must end in an
// InputError or a 64x64 image, never crash or allocate beyond the pixel cap.
#include <cstddef>
#include <cstdint>

#include "latentedit/errors.h"
#include "latentedit/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latentedit;
  try {
    const cv::Mat img = decode_image(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    const cv::Mat out = resize_center_crop(img, 64);
    if (out.rows != 64 || out.cols != 64) __builtin_trap();
  } catch (const Error&) {
  }
  return 0;
}
