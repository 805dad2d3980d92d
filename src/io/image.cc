#include "latentedit/image.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "latentedit/errors.h"

namespace latentedit {

cv::Mat tensor_to_bgr(const torch::Tensor& chw, double lo, double hi) {
  torch::Tensor t = chw.detach().to(torch::kCPU, torch::kFloat32);
  t = ((t - lo) * (255.0 / (hi - lo))).round().clamp(0, 255).to(torch::kUInt8);
  t = t.flip({0}).permute({1, 2, 0}).contiguous();  // RGB -> BGR, HWC
  cv::Mat m(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC3, t.data_ptr<uint8_t>());
  return m.clone();
}

torch::Tensor bgr_to_tensor(const cv::Mat& bgr, double lo, double hi) {
  cv::Mat c = bgr.isContinuous() ? bgr : bgr.clone();
  torch::Tensor t = torch::from_blob(c.data, {c.rows, c.cols, 3}, torch::kUInt8).clone();
  t = t.permute({2, 0, 1}).flip({0}).to(torch::kFloat32);  // BGR HWC -> RGB CHW
  return (t / 255.0 * (hi - lo) + lo).contiguous();
}

cv::Mat resize_center_crop(const cv::Mat& bgr, int size) {
  const int w = bgr.cols, h = bgr.rows;
  // As torchvision.transforms.Resize(size): the shorter side becomes `size`, the longer
  // side int(size * long / short); then CenterCrop(size) with round((long - size) / 2).
  int nw, nh;
  if (w <= h) {
    nw = size;
    nh = static_cast<int>(static_cast<double>(size) * h / w);
  } else {
    nh = size;
    nw = static_cast<int>(static_cast<double>(size) * w / h);
  }
  cv::Mat r;
  if (nw == w && nh == h) r = bgr;
  else cv::resize(bgr, r, cv::Size(nw, nh), 0, 0, cv::INTER_AREA);
  const int top = static_cast<int>(std::round((nh - size) / 2.0));
  const int left = static_cast<int>(std::round((nw - size) / 2.0));
  return r(cv::Rect(left, top, size, size)).clone();
}

torch::Tensor load_image_for_model(const std::string& path, int size, double lo, double hi) {
  cv::Mat img = cv::imread(path, cv::IMREAD_COLOR);
  if (img.empty()) throw InputError("cannot read image " + path + " (missing, or not a PNG/JPEG/BMP/... file)");
  return bgr_to_tensor(resize_center_crop(img, size), lo, hi);
}

std::string encode_png(const cv::Mat& img) {
  std::vector<uchar> buf;
  if (!cv::imencode(".png", img, buf)) throw IoError("cannot encode a PNG image");
  return std::string(buf.begin(), buf.end());
}

cv::Mat make_grid(const std::vector<std::vector<torch::Tensor>>& cells, const GridSpec& spec, double lo, double hi) {
  const int rows = static_cast<int>(cells.size());
  const int cols = rows ? static_cast<int>(cells[0].size()) : 0;
  const int face = 64 * std::max(1, spec.scale);
  const int pad = 6, label_w = 190, head_h = 52, col_h = 20;
  const int width = label_w + cols * (face + pad) + pad;
  const int height = head_h + col_h + rows * (face + pad) + pad;
  cv::Mat g(height, std::max(width, 420), CV_8UC3, cv::Scalar(255, 255, 255));
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  const cv::Scalar ink(20, 20, 20), grey(110, 110, 110), warn(0, 0, 200);
  cv::putText(g, spec.title, {pad, 22}, font, 0.6, ink, 1, cv::LINE_AA);
  cv::putText(g, spec.subtitle, {pad, 42}, font, 0.42, grey, 1, cv::LINE_AA);
  for (int c = 0; c < cols && c < static_cast<int>(spec.column_labels.size()); ++c)
    cv::putText(g, spec.column_labels[c], {label_w + c * (face + pad) + pad, head_h + 14}, font, 0.45, ink, 1, cv::LINE_AA);
  for (int r = 0; r < rows; ++r) {
    const int y = head_h + col_h + r * (face + pad) + pad;
    if (r < static_cast<int>(spec.row_labels.size())) {
      // One line per ';'-separated part of the label.
      std::string lab = spec.row_labels[r];
      int line = 0;
      size_t pos = 0;
      while (pos <= lab.size()) {
        size_t e = lab.find(';', pos);
        if (e == std::string::npos) e = lab.size();
        const bool flagged = r < static_cast<int>(spec.row_flags.size()) && spec.row_flags[r] && line > 0 &&
                             lab.substr(pos, e - pos).find('!') != std::string::npos;
        cv::putText(g, lab.substr(pos, e - pos), {pad, y + 16 + 16 * line}, font, 0.4, flagged ? warn : ink, 1, cv::LINE_AA);
        ++line;
        pos = e + 1;
      }
    }
    for (int c = 0; c < cols; ++c) {
      cv::Mat f = tensor_to_bgr(cells[r][c], lo, hi), big;
      cv::resize(f, big, cv::Size(face, face), 0, 0, cv::INTER_NEAREST);
      big.copyTo(g(cv::Rect(label_w + c * (face + pad) + pad, y, face, face)));
    }
  }
  return g;
}

}  // namespace latentedit
