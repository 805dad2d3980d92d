#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "latentedit/attributes.h"
#include "data/faces.h"

using namespace latentedit;

namespace {
// Pixels (of 64x64) where some channel changed by more than 12 grey levels.
int changed_pixels(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d, m;
  cv::absdiff(a, b, d);
  std::vector<cv::Mat> ch;
  cv::split(d, ch);
  m = cv::max(cv::max(ch[0], ch[1]), ch[2]);
  return cv::countNonZero(m > 12);
}
double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar m = cv::mean(d);
  return (m[0] + m[1] + m[2]) / 3.0;
}
}  // namespace

TEST(Faces, DeterministicPerSeedAndIndex) {
  const FaceSpec a = sample_face_spec(5, 17), b = sample_face_spec(5, 17), c = sample_face_spec(5, 18);
  EXPECT_EQ(a.attr, b.attr);
  EXPECT_EQ(mean_abs_diff(render_face(a), render_face(b)), 0.0);
  EXPECT_GT(mean_abs_diff(render_face(a), render_face(c)), 1.0);
  const cv::Mat img = render_face(a);
  EXPECT_EQ(img.rows, 64);
  EXPECT_EQ(img.type(), CV_8UC3);
}

TEST(Faces, EveryAttributeChangesThePicture) {
  // A plain base face: young woman, brown straight hair, no accessories.
  FaceSpec base = sample_face_spec(1, 0);
  base.attr.fill(false);
  base.attr[kYoung] = base.attr[kBrownHair] = base.attr[kStraightHair] = base.attr[kNoBeard] = true;
  base.attr[kAttractive] = true;
  base.angle = 0;
  const cv::Mat ref = render_face(base);
  const auto& names = celeba_attributes();
  for (int a = 0; a < kNumCelebaAttributes; ++a) {
    FaceSpec t = base;
    t.attr[a] = !t.attr[a];
    // Facial hair needs Male to be plausible, but is drawn from its own label.
    const int n = changed_pixels(ref, render_face(t));
    EXPECT_GE(n, 6) << names[a] << " toggled changes only " << n << " pixels visibly";
  }
}

TEST(Faces, LabelsFollowTheDocumentedRules) {
  std::array<int, kNumCelebaAttributes> count{};
  const int n = 4000;
  int male_beard = 0, female_beard = 0, males = 0, young_gray = 0, old_gray = 0, young = 0;
  for (int i = 0; i < n; ++i) {
    const FaceSpec f = sample_face_spec(3, i);
    ASSERT_EQ(check_label_rules(f.attr), "") << "face " << i;
    for (int a = 0; a < kNumCelebaAttributes; ++a) count[a] += f.attr[a];
    males += f.attr[kMale];
    young += f.attr[kYoung];
    (f.attr[kMale] ? male_beard : female_beard) += !f.attr[kNoBeard];
    (f.attr[kYoung] ? young_gray : old_gray) += f.attr[kGrayHair];
  }
  EXPECT_EQ(female_beard, 0);
  EXPECT_GT(male_beard, males / 5);
  EXPECT_LT(static_cast<double>(young_gray) / young, 0.05);
  EXPECT_GT(static_cast<double>(old_gray) / (n - young), 0.3);
  for (int a = 0; a < kNumCelebaAttributes; ++a) {
    EXPECT_GT(count[a], n / 50) << celeba_attributes()[a] << " is too rare to learn";
    EXPECT_LT(count[a], n - n / 50) << celeba_attributes()[a] << " is too common to learn";
  }
}
