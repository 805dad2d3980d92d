#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "io/fsutil.h"
#include "latentedit/dataset.h"
#include "latentedit/errors.h"
#include "test_util.h"

using namespace latentedit;
namespace fs = std::filesystem;

TEST(Dataset, WriterReaderRoundTrip) {
  test::TempDir d;
  write_celeba_layout(d / "faces", 7, 12);
  ASSERT_TRUE(fs::exists(d / "faces/img_align_celeba/000001.png"));
  ASSERT_TRUE(fs::exists(d / "faces/img_align_celeba/000012.png"));
  std::ifstream f(d / "faces/list_attr_celeba.txt");
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line, "12");
  const Dataset back = load_celeba(d / "faces", 64);
  const Dataset mem = render_dataset(7, 0, 12);
  EXPECT_TRUE(torch::equal(back.images, mem.images));  // PNG is lossless
  EXPECT_TRUE(torch::equal(back.labels, mem.labels));
  EXPECT_EQ(back.attributes, mem.attributes);
  EXPECT_EQ(back.files[0], "000001.png");
  // A previous dataset is replaced as a whole (faces 4..12 of the old one are gone); a directory
  // of someone else's files is refused; neither leaves a partial directory behind.
  write_celeba_layout(d / "faces", 7, 3);
  EXPECT_EQ(load_celeba(d / "faces", 64).files.size(), 3u);
  EXPECT_FALSE(fs::exists(d / "faces/img_align_celeba/000004.png"));
  make_dirs(d / "mine");
  write_file_atomic(d / "mine/photo.jpg", "x");
  EXPECT_THROW(write_celeba_layout(d / "mine", 7, 3), IoError);
  EXPECT_EQ(read_file(d / "mine/photo.jpg"), "x");
  for (const auto& e : fs::directory_iterator(d.path)) EXPECT_EQ(e.path().filename().string().find("partial"), std::string::npos);
}

TEST(Dataset, CelebaJpegLayoutLoadsWithResizeAndCrop) {
  test::TempDir d;
  fs::create_directories(d / "c/img_align_celeba");
  cv::Mat img(218, 178, CV_8UC3, cv::Scalar(10, 200, 30));
  img(cv::Rect(0, 0, 178, 60)).setTo(cv::Scalar(255, 0, 0));  // cropped away partly
  ASSERT_TRUE(cv::imwrite(d / "c/img_align_celeba/000001.jpg", img));
  ASSERT_TRUE(cv::imwrite(d / "c/img_align_celeba/000002.jpg", img));
  std::ofstream f(d / "c/list_attr_celeba.txt");
  f << "2\nSmiling Male\n000001.jpg  1 -1\n000002.jpg -1  1\n";
  f.close();
  const Dataset ds = load_celeba(d / "c", 64);
  ASSERT_EQ(ds.images.sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
  EXPECT_EQ(ds.attributes, (std::vector<std::string>{"Smiling", "Male"}));
  EXPECT_EQ(ds.labels[0][0].item<float>(), 1.f);
  EXPECT_EQ(ds.labels[1][0].item<float>(), 0.f);
  // Centre pixel is green (RGB order): R low, G high.
  EXPECT_LT(ds.images[0][0][40][32].item<uint8_t>(), 60);
  EXPECT_GT(ds.images[0][1][40][32].item<uint8_t>(), 150);
}

TEST(Dataset, BadLayoutsAreInputErrors) {
  test::TempDir d;
  EXPECT_THROW(load_celeba(d.str()), InputError);
  fs::create_directories(d / "img_align_celeba");
  std::ofstream(d / "list_attr_celeba.txt") << "2\nA B\n000001.jpg 1 -1\n";
  EXPECT_THROW(load_celeba(d.str()), InputError);  // declares 2, lists 1
  std::ofstream(d / "list_attr_celeba.txt") << "1\nA B\n000001.jpg 1 7\n";
  EXPECT_THROW(load_celeba(d.str()), InputError);  // bad label
  std::ofstream(d / "list_attr_celeba.txt") << "1\nA B\n000001.jpg 1 -1\n";
  EXPECT_THROW(load_celeba(d.str()), InputError);  // image missing
}
