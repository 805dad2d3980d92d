#include "latentedit/image.h"
#include "io/runtime.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>
#include <filesystem>
#include <optional>

#include "io/fsutil.h"

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

namespace {
// Width and height as the file declares them, read before decoding: PNG's IHDR, a JPEG SOFn
// marker (bytes between markers skipped, as libjpeg skips them), TIFF's first IFD, WebP's VP8 /
// VP8L / VP8X header, BMP's info header, PNM's text header. std::nullopt when the header cannot
// be read (decode_image then refuses the file rather than let a decoder allocate blindly).
std::optional<std::pair<uint64_t, uint64_t>> declared_dims(const std::string& b) {
  auto u8 = [&](size_t o) { return uint64_t(uint8_t(b[o])); };
  auto be16 = [&](size_t o) { return (u8(o) << 8) | u8(o + 1); };
  auto be32 = [&](size_t o) { return (be16(o) << 16) | be16(o + 2); };
  auto le16 = [&](size_t o) { return u8(o) | (u8(o + 1) << 8); };
  auto le24 = [&](size_t o) { return le16(o) | (u8(o + 2) << 16); };
  auto le32 = [&](size_t o) { return le16(o) | (le16(o + 2) << 16); };
  if (b.size() >= 24 && b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0 && b.compare(12, 4, "IHDR") == 0) return std::pair(be32(16), be32(20));
  if (b.size() >= 4 && u8(0) == 0xFF && u8(1) == 0xD8) {
    for (size_t i = 2; i + 9 < b.size();) {
      if (u8(i) != 0xFF) { ++i; continue; }  // extraneous bytes before a marker
      const uint8_t mk = uint8_t(b[i + 1]);
      if (mk == 0xFF || mk == 0x00) { ++i; continue; }
      if (mk == 0xD8 || mk == 0x01 || (mk >= 0xD0 && mk <= 0xD7)) { i += 2; continue; }
      if (mk >= 0xC0 && mk <= 0xCF && mk != 0xC4 && mk != 0xC8 && mk != 0xCC) return std::pair(be16(i + 7), be16(i + 5));
      if (mk == 0xDA || mk == 0xD9) return std::nullopt;  // a scan before any frame header
      i += 2 + be16(i + 2);
    }
    return std::nullopt;
  }
  const bool tiff_le = b.size() >= 8 && b.compare(0, 4, "II*\0", 4) == 0, tiff_be = b.size() >= 8 && b.compare(0, 4, "MM\0*", 4) == 0;
  if (tiff_le || tiff_be) {
    auto r16 = [&](size_t o) { return tiff_le ? le16(o) : be16(o); };
    auto r32 = [&](size_t o) { return tiff_le ? le32(o) : be32(o); };
    const uint64_t ifd = r32(4);
    if (ifd + 2 > b.size()) return std::nullopt;
    const uint64_t n = r16(ifd);
    uint64_t w = 0, h = 0;
    for (uint64_t k = 0; k < n && ifd + 2 + 12 * (k + 1) <= b.size(); ++k) {
      const size_t e = ifd + 2 + 12 * k;
      const uint64_t tag = r16(e), type = r16(e + 2);
      const uint64_t v = type == 3 ? r16(e + 8) : r32(e + 8);  // SHORT or LONG
      if (tag == 256) w = v;
      if (tag == 257) h = v;
    }
    if (w == 0 || h == 0) return std::nullopt;
    return std::pair(w, h);
  }
  if (b.size() >= 30 && b.compare(0, 4, "RIFF") == 0 && b.compare(8, 4, "WEBP") == 0) {
    if (b.compare(12, 4, "VP8X") == 0) return std::pair(le24(24) + 1, le24(27) + 1);
    if (b.compare(12, 4, "VP8L") == 0 && u8(20) == 0x2F) {
      const uint64_t bits = le32(21);
      return std::pair((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
    }
    if (b.compare(12, 4, "VP8 ") == 0) return std::pair(le16(26) & 0x3FFF, le16(28) & 0x3FFF);
    return std::nullopt;
  }
  if (b.size() >= 26 && b.compare(0, 2, "BM") == 0) {
    const int32_t w = static_cast<int32_t>(le32(18)), h = static_cast<int32_t>(le32(22));
    return std::pair(uint64_t(std::abs(int64_t(w))), uint64_t(std::abs(int64_t(h))));
  }
  if (b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6') {
    uint64_t v[2] = {0, 0};
    size_t i = 2;
    for (int k = 0; k < 2; ++k) {
      while (i < b.size() && (std::isspace(static_cast<unsigned char>(b[i])) || b[i] == '#')) {
        if (b[i] == '#') while (i < b.size() && b[i] != '\n') ++i;
        else ++i;
      }
      if (i >= b.size() || !std::isdigit(static_cast<unsigned char>(b[i]))) return std::nullopt;
      for (int digits = 0; i < b.size() && std::isdigit(static_cast<unsigned char>(b[i])) && digits < 12; ++i, ++digits) v[k] = v[k] * 10 + (b[i] - '0');
    }
    return std::pair(v[0], v[1]);
  }
  return std::nullopt;
}
// libjpeg, libpng and libtiff print their own diagnostics on stderr while OpenCV decodes; where
// the program allows it (quiet_image_decoders, single-threaded CLI commands), stderr is pointed
// at /dev/null for the duration of one decode (the caller gets the failure as an InputError).
// Never in the server: fd 2 is the process's, and overlapping requests would leave it redirected.
std::atomic<bool> g_quiet_decoders{false};
class QuietStderr {
 public:
  QuietStderr() : saved_(::dup(2)) {
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) ::dup2(null, 2), ::close(null);
  }
  ~QuietStderr() {
    if (saved_ >= 0) ::dup2(saved_, 2), ::close(saved_);
  }

 private:
  int saved_;
};
}  // namespace

namespace {
constexpr uint64_t kMaxPixels = 50'000'000, kMaxBytes = 256ull << 20;
}

cv::Mat read_image(const std::string& path) {
  std::error_code ec;
  const auto bytes_on_disk = std::filesystem::file_size(path, ec);
  if (ec) throw InputError("cannot read image " + path + ": " + (std::filesystem::exists(path) ? "not a readable file" : "no such file"));
  if (bytes_on_disk > kMaxBytes)
    throw InputError("image " + path + " is " + std::to_string(bytes_on_disk >> 20) + " MB; latentedit reads images up to 256 MB (downscale it first)");
  return decode_image(read_file(path), path);
}

namespace {
// The formats latentedit decodes, by the full signatures OpenCV's own decoders check. Debian's
// OpenCV also hands other bytes to DICOM (GDCM), JPEG 2000, OpenEXR, ... decoders, and the
// fuzzer found 133-byte files that make GDCM abort the process: one plain DICOM file, and one
// starting like PNG ("\x89PNG" with a wrong rest of the signature) that OpenCV's PNG decoder
// rejected and passed on to GDCM. So only complete signatures of these formats reach OpenCV,
// and nothing with DICOM's "DICM" marker at offset 128.
bool known_format(const std::string& b) {
  auto at = [&](size_t o, const char* m, size_t n) { return b.size() >= o + n && b.compare(o, n, m, n) == 0; };
  if (at(128, "DICM", 4)) return false;
  const bool pnm = b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && std::isspace(static_cast<unsigned char>(b[2]));
  return at(0, "\x89PNG\r\n\x1a\n", 8) || at(0, "\xFF\xD8\xFF", 3) || at(0, "BM", 2) || at(0, "II*\0", 4) ||
         at(0, "MM\0*", 4) || (at(0, "RIFF", 4) && at(8, "WEBPVP", 6)) || pnm;
}
}  // namespace

void quiet_image_decoders(bool on) { g_quiet_decoders.store(on); }

namespace {
// A JPEG whose scan has no end-of-image marker after it, or a PNG without its IEND chunk: the file
// was cut off (a partial download or copy). libjpeg decodes such a file as if whole, grey below
// the cut, so it is refused rather than scored or edited as a face.
bool truncated(const std::string& b) {
  if (b.size() >= 3 && uint8_t(b[0]) == 0xFF && uint8_t(b[1]) == 0xD8) {
    // Markers before the first scan (APPn with an EXIF thumbnail's own SOI/EOI, tables) are
    // skipped by their lengths; after the scan's start, entropy-coded data never holds FF D9.
    for (size_t i = 2; i + 3 < b.size();) {
      if (uint8_t(b[i]) != 0xFF) return false;  // not a marker where one belongs: let the decoder judge
      const uint8_t mk = uint8_t(b[i + 1]);
      if (mk == 0xFF) { ++i; continue; }
      if (mk == 0xD8 || mk == 0x01 || (mk >= 0xD0 && mk <= 0xD7)) { i += 2; continue; }
      if (mk == 0xD9) return false;
      if (mk == 0xDA) return b.find("\xFF\xD9", i + 2) == std::string::npos;
      i += 2 + ((size_t(uint8_t(b[i + 2])) << 8) | uint8_t(b[i + 3]));
    }
    return true;  // the segments run past the end of the file
  }
  if (b.size() >= 8 && b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0) return b.find("IEND") == std::string::npos;
  return false;
}
}  // namespace

cv::Mat decode_image(const std::string& bytes, const std::string& path) {
  if (!known_format(bytes))
    throw InputError("cannot read image " + path + ": not a PNG, JPEG, BMP, TIFF, WebP or PNM file" +
                     (bytes.empty() ? " (it is empty)" : ""));
  auto too_big = [&](uint64_t w, uint64_t h) {
    return InputError("image " + path + " is " + std::to_string(w) + "x" + std::to_string(h) +
                      " pixels; latentedit reads images up to 50 megapixels (downscale it first, e.g. to 1024 px)");
  };
  const auto d = declared_dims(bytes);
  if (!d) throw InputError("cannot read image " + path + ": its header does not say its size (damaged?)");
  if (d->first > kMaxPixels || d->second > kMaxPixels || d->first * d->second > kMaxPixels) throw too_big(d->first, d->second);
  if (truncated(bytes))
    throw InputError("image " + path + " is cut off (its " + (bytes[0] == '\xFF' ? "JPEG end marker" : "PNG IEND chunk") +
                     " is missing: a partial download or copy); use the whole file");
  // Other formats: OpenCV's own cap, set once to the same limit (a user's setting wins).
  static const bool capped = (::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "50000000", 0), true);
  (void)capped;
  cv::Mat img;
  try {
    std::optional<QuietStderr> quiet;
    if (g_quiet_decoders.load()) quiet.emplace();
    img = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data())), cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw InputError("cannot decode image " + path + " (damaged, or larger than 50 megapixels): " + e.err);
  }
  if (img.empty()) throw InputError("cannot read image " + path + ": not a PNG/JPEG/BMP/TIFF/WebP image, or damaged");
  if (std::max(img.cols, img.rows) > 16 * std::min(img.cols, img.rows))
    throw InputError("image " + path + " is " + std::to_string(img.cols) + "x" + std::to_string(img.rows) +
                     " pixels; a face photo's sides differ at most 16 times (crop it first)");
  return img;
}

torch::Tensor load_image_for_model(const std::string& path, int size, double lo, double hi) {
  return bgr_to_tensor(resize_center_crop(read_image(path), size), lo, hi);
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
  // Title and subtitle: smaller type when they are wider than the sheet, then cut with "...".
  auto headline = [&](std::string text, int y, double size, const cv::Scalar& colour) {
    const int room = g.cols - 2 * pad;
    int base = 0;
    while (size > 0.36 && cv::getTextSize(text, font, size, 1, &base).width > room) size -= 0.02;
    if (cv::getTextSize(text, font, size, 1, &base).width > room) {
      while (!text.empty() && cv::getTextSize(text + "...", font, size, 1, &base).width > room) text.pop_back();
      text += "...";
    }
    cv::putText(g, text, {pad, y}, font, size, colour, 1, cv::LINE_AA);
  };
  headline(spec.title, 22, 0.6, ink);
  headline(spec.subtitle, 42, 0.42, grey);
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
