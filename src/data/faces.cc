#include "data/faces.h"

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <string>

namespace latentedit {
namespace {

// splitmix64: a tiny, portable, deterministic generator (std distributions are not portable).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  bool chance(double p) { return uniform() < p; }
  int below(int n) { return static_cast<int>(uniform() * n); }
};

cv::Scalar mix(const cv::Scalar& a, const cv::Scalar& b, double t) {
  return a * (1.0 - t) + b * t;
}
cv::Scalar shade(const cv::Scalar& c, double f) {
  return cv::Scalar(std::min(255.0, c[0] * f), std::min(255.0, c[1] * f), std::min(255.0, c[2] * f));
}

// Draws in face coordinates: origin at the face centre, 1 unit = 1 px of a 256 canvas at
// scale 1; y grows downwards. Handles the face's offset, scale and rotation.
class Painter {
 public:
  Painter(cv::Mat& img, double cx, double cy, double scale, double angle_deg)
      : img_(img), cx_(cx), cy_(cy), s_(scale), a_(angle_deg), c_(std::cos(angle_deg * CV_PI / 180)),
        sn_(std::sin(angle_deg * CV_PI / 180)) {}
  cv::Point map(double x, double y) const {
    const double X = cx_ + s_ * (c_ * x - sn_ * y), Y = cy_ + s_ * (sn_ * x + c_ * y);
    return {static_cast<int>(std::lround(X * kOne)), static_cast<int>(std::lround(Y * kOne))};
  }
  int th(double t) const { return t < 0 ? -1 : std::max(1, static_cast<int>(std::lround(t * s_))); }
  void ellipse(double x, double y, double ax, double ay, double rot, double a0, double a1, const cv::Scalar& col,
               double thick = -1) {
    cv::ellipse(img_, map(x, y), cv::Size(static_cast<int>(ax * s_ * kOne), static_cast<int>(ay * s_ * kOne)), a_ + rot, a0,
                a1, col, th(thick), cv::LINE_AA, kShift);
  }
  void fill_ellipse(double x, double y, double ax, double ay, const cv::Scalar& col, double rot = 0) {
    ellipse(x, y, ax, ay, rot, 0, 360, col, -1);
  }
  void poly(const std::vector<cv::Point2d>& pts, const cv::Scalar& col, double thick = -1, bool closed = true) {
    std::vector<cv::Point> p;
    for (const auto& q : pts) p.push_back(map(q.x, q.y));
    if (thick < 0) cv::fillPoly(img_, std::vector<std::vector<cv::Point>>{p}, col, cv::LINE_AA, kShift);
    else cv::polylines(img_, std::vector<std::vector<cv::Point>>{p}, closed, col, th(thick), cv::LINE_AA, kShift);
  }
  void line(double x0, double y0, double x1, double y1, const cv::Scalar& col, double thick) {
    cv::line(img_, map(x0, y0), map(x1, y1), col, th(thick), cv::LINE_AA, kShift);
  }
  void circle(double x, double y, double r, const cv::Scalar& col, double thick = -1) {
    cv::circle(img_, map(x, y), static_cast<int>(r * s_ * kOne), col, th(thick), cv::LINE_AA, kShift);
  }
  cv::Mat& img() { return img_; }

 private:
  static constexpr int kShift = 4, kOne = 1 << kShift;
  cv::Mat& img_;
  double cx_, cy_, s_, a_, c_, sn_;
};

// Runs `draw` on a copy and blends it in with opacity `alpha` (for blush, shadows, makeup).
template <typename F>
void translucent(Painter& p, double alpha, F draw) {
  cv::Mat saved = p.img().clone();
  draw(p);
  cv::addWeighted(p.img(), alpha, saved, 1.0 - alpha, 0.0, p.img());
}

cv::Scalar hair_colour(const FaceSpec& f) {
  const auto& a = f.attr;
  cv::Scalar c;
  if (a[kGrayHair]) c = {185, 185, 190};
  else if (a[kBlondHair]) c = {95, 195, 232};
  else if (a[kBlackHair]) c = {28, 24, 22};
  else if (a[kBrownHair]) c = {30, 62, 110};
  else c = f.other_hair == 0 ? cv::Scalar(35, 60, 150) : cv::Scalar(30, 90, 205);
  return shade(c, 0.85 + 0.3 * f.hair_shade);
}

}  // namespace

FaceSpec sample_face_spec(uint64_t seed, uint64_t index) {
  Rng r(seed * 0x2545F4914F6CDD1DULL + index * 0x9E3779B97F4A7C15ULL + 0x1234567ULL);
  r.next();
  FaceSpec f;
  auto& a = f.attr;
  const bool male = r.chance(0.42), young = r.chance(0.75);
  a[kMale] = male;
  a[kYoung] = young;
  // Facial hair (men only). No_Beard is the absence of a full beard and of a goatee.
  const bool beard = male && r.chance(young ? 0.18 : 0.3);
  a[kGoatee] = male && !beard && r.chance(0.25);
  a[kNoBeard] = !(beard || a[kGoatee]);
  a[kMustache] = male && r.chance(beard ? 0.7 : 0.2);
  a[kSideburns] = male && r.chance(beard ? 0.6 : 0.2);
  a[k5OClockShadow] = male && a[kNoBeard] && r.chance(0.3);
  // Head and hair.
  a[kWearingHat] = r.chance(0.07);
  a[kBald] = male && !a[kWearingHat] && r.chance(young ? 0.04 : 0.3);
  if (!a[kBald]) {
    a[kRecedingHairline] = !a[kWearingHat] && r.chance(young ? 0.04 : (male ? 0.35 : 0.15));
    const double u = r.uniform();
    if (!young && u < 0.45) a[kGrayHair] = true;
    else {
      const double v = r.uniform();
      const double blond = male ? 0.1 : 0.3;
      if (v < blond) a[kBlondHair] = true;
      else if (v < blond + 0.33) a[kBlackHair] = true;
      else if (v < blond + 0.33 + 0.27) a[kBrownHair] = true;  // else auburn / red, no colour label
    }
    a[kBangs] = !a[kWearingHat] && !a[kRecedingHairline] && r.chance(male ? 0.1 : 0.25);
    const double s = r.uniform();
    if (s < (male ? 0.35 : 0.3)) a[kStraightHair] = true;
    else if (s < (male ? 0.5 : 0.65)) a[kWavyHair] = true;
  }
  a[kEyeglasses] = r.chance(young ? 0.07 : 0.2);
  a[kHeavyMakeup] = !male && r.chance(young ? 0.55 : 0.35);
  a[kWearingLipstick] = male ? r.chance(0.01) : r.chance(a[kHeavyMakeup] ? 0.9 : 0.3);
  a[kRosyCheeks] = r.chance(male ? 0.02 : 0.12);
  a[kArchedEyebrows] = r.chance(male ? 0.08 : 0.45);
  a[kBushyEyebrows] = !a[kArchedEyebrows] && r.chance(male ? 0.35 : 0.08);
  a[kWearingEarrings] = r.chance(male ? 0.03 : 0.4);
  a[kWearingNecklace] = r.chance(male ? 0.02 : 0.22);
  a[kWearingNecktie] = male && r.chance(0.15);
  a[kSmiling] = r.chance(0.48);
  a[kMouthSlightlyOpen] = r.chance(a[kSmiling] ? 0.6 : 0.25);
  a[kHighCheekbones] = r.chance(a[kSmiling] ? 0.7 : 0.15);
  a[kChubby] = r.chance(young ? 0.05 : 0.15);
  a[kDoubleChin] = r.chance(a[kChubby] ? 0.55 : 0.03);
  a[kOvalFace] = !a[kChubby] && r.chance(0.3);
  a[kBigLips] = r.chance(0.24);
  a[kBigNose] = r.chance(male ? 0.35 : 0.15);
  a[kPointyNose] = !a[kBigNose] && r.chance(0.3);
  a[kNarrowEyes] = r.chance(0.12);
  a[kPaleSkin] = r.chance(0.05);
  a[kBlurry] = r.chance(0.05);
  a[kBagsUnderEyes] = r.chance(young ? 0.12 : 0.5);
  a[kAttractive] = r.chance(0.08 + 0.45 * young + 0.2 * a[kHeavyMakeup] - 0.15 * a[kChubby] - 0.1 * a[kBagsUnderEyes]);
  // Nuisance.
  f.dx = static_cast<float>(r.uniform(-3, 3));
  f.dy = static_cast<float>(r.uniform(-3, 3));
  f.scale = static_cast<float>(r.uniform(0.9, 1.08));
  f.angle = static_cast<float>(r.uniform(-8, 8));
  f.skin = static_cast<float>(r.uniform());
  f.hair_shade = static_cast<float>(r.uniform());
  f.other_hair = r.below(2);
  f.eye_colour = r.below(3);
  auto colour = [&](double lo, double hi) {
    return cv::Scalar(r.uniform(lo, hi), r.uniform(lo, hi), r.uniform(lo, hi));
  };
  f.bg_top = colour(60, 250);
  f.bg_bottom = colour(40, 230);
  f.clothes = colour(20, 230);
  static const cv::Scalar acc[] = {{40, 190, 230}, {200, 200, 205}, {160, 60, 30}, {40, 40, 180}, {60, 140, 40}};
  f.accessory = acc[r.below(5)];
  static const cv::Scalar mk[] = {{150, 60, 120}, {170, 110, 40}, {60, 80, 120}};
  f.makeup = mk[r.below(3)];
  f.light = static_cast<float>(r.uniform(0.85, 1.12));
  f.light_dir = static_cast<float>(r.uniform(-1, 1));
  f.light_amount = static_cast<float>(r.uniform(0, 0.25));
  f.texture_seed = r.next();
  return f;
}

std::array<int8_t, kNumCelebaAttributes> face_labels(const FaceSpec& spec) {
  std::array<int8_t, kNumCelebaAttributes> l{};
  for (int i = 0; i < kNumCelebaAttributes; ++i) l[i] = spec.attr[i] ? 1 : -1;
  return l;
}

std::string check_label_rules(const std::array<bool, kNumCelebaAttributes>& a) {
  if (a[kNoBeard] == a[kGoatee] && a[kNoBeard]) return "No_Beard with Goatee";
  if (a[kBald] && (a[kBlackHair] || a[kBlondHair] || a[kBrownHair] || a[kGrayHair]))
    return "Bald with a hair colour";
  if (a[kBald] && (a[kBangs] || a[kRecedingHairline] || a[kStraightHair] || a[kWavyHair]))
    return "Bald with a hair style";
  if (a[kStraightHair] && a[kWavyHair]) return "Straight_Hair with Wavy_Hair";
  if (a[kBlackHair] + a[kBlondHair] + a[kBrownHair] + a[kGrayHair] > 1) return "two hair colours";
  if (!a[kMale] && (a[kGoatee] || a[kMustache] || a[kSideburns] || a[k5OClockShadow] || !a[kNoBeard]))
    return "facial hair without Male";
  if (a[k5OClockShadow] && !a[kNoBeard]) return "5_o_Clock_Shadow with a beard";
  if (a[kWearingHat] && (a[kBangs] || a[kRecedingHairline])) return "hat with visible hairline";
  if (a[kArchedEyebrows] && a[kBushyEyebrows]) return "Arched_Eyebrows with Bushy_Eyebrows";
  if (a[kChubby] && a[kOvalFace]) return "Chubby with Oval_Face";
  if (a[kBigNose] && a[kPointyNose]) return "Big_Nose with Pointy_Nose";
  return "";
}

// One face being drawn: the spec, the painter, and the colours and proportions every part uses.
struct Face {
  const FaceSpec& f;
  Painter& p;
  Rng& tex;  // the skin texture's draws
  cv::Scalar skin, dark, hair, brow;
  double ax, ay;  // the face ellipse's half-width and half-height
  bool has_hair;
};

// Long hair behind the head (straight or wavy).
void draw_back_hair(const Face& F) {
  const auto& a = F.f.attr;
  Painter& p = F.p;
  const double ax = F.ax, ay = F.ay;
  (void)ax, (void)ay;
  // Hair behind the head.
  if (F.has_hair && (a[kStraightHair] || a[kWavyHair])) {
    std::vector<cv::Point2d> back;
    const double w = ax + (a[kWavyHair] ? 20 : 14), bottom = ay + 30;
    for (int i = 0; i <= 16; ++i) {
      const double t = CV_PI + CV_PI * i / 16.0;
      back.emplace_back(w * std::cos(t), -12 + (ay + 4) * std::sin(t));
    }
    for (int i = 0; i <= 12; ++i) {
      const double y = -12 + (bottom + 12) * i / 12.0;
      const double wave = a[kWavyHair] ? 7 * std::sin(i * 1.6) : 0;
      back.emplace_back(w + wave, y);
    }
    for (int i = 12; i >= 0; --i) {
      const double y = -12 + (bottom + 12) * i / 12.0;
      const double wave = a[kWavyHair] ? 7 * std::sin(i * 1.6 + 1.0) : 0;
      back.emplace_back(-w - wave, y);
    }
    p.poly(back, shade(F.hair, 0.85));
    if (a[kWavyHair])
      for (int side = -1; side <= 1; side += 2)
        for (int i = 1; i < 6; ++i)
          p.ellipse(side * (w - 6), -4 + i * 16, 7, 6, 0, side > 0 ? 90 : -90, side > 0 ? 270 : 90, shade(F.hair, 0.6), 2);
  }
}

// Shoulders, neck, clothes, necktie, necklace.
void draw_body(const Face& F) {
  const auto& a = F.f.attr;
  Painter& p = F.p;
  const double ax = F.ax, ay = F.ay;
  (void)ax, (void)ay;
  // Shoulders, neck, clothes.
  p.fill_ellipse(0, ay + 66, a[kMale] ? 105 : 92, 48, F.f.clothes);
  const double nw = a[kMale] ? 27 : 20;
  p.poly({{-nw, ay - 30}, {nw, ay - 30}, {nw + 2, ay + 24}, {-nw - 2, ay + 24}}, F.dark);
  if (a[kWearingNecktie]) {
    p.poly({{-18, ay + 18}, {0, ay + 36}, {18, ay + 18}, {14, ay + 30}, {0, ay + 44}, {-14, ay + 30}}, {245, 245, 245});
    p.poly({{-6, ay + 24}, {6, ay + 24}, {5, ay + 34}, {-5, ay + 34}}, F.f.accessory);
    p.poly({{-5, ay + 34}, {5, ay + 34}, {11, ay + 78}, {0, ay + 90}, {-11, ay + 78}}, shade(F.f.accessory, 0.9));
  }
  if (a[kWearingNecklace]) {
    p.ellipse(0, ay + 8, nw + 8, 18, 0, 15, 165, {40, 200, 235}, 3);
    for (int i = 0; i < 7; ++i) {
      const double t = (20 + i * 23.0) * CV_PI / 180;
      p.circle((nw + 8) * std::cos(t), ay + 8 + 18 * std::sin(t), 3.2, {210, 230, 250});
    }
  }
}

// Ears and earrings.
void draw_ears(const Face& F) {
  const auto& a = F.f.attr;
  Painter& p = F.p;
  const double ax = F.ax, ay = F.ay;
  (void)ax, (void)ay;
  // Ears and earrings.
  for (int side = -1; side <= 1; side += 2) {
    p.fill_ellipse(side * (ax - 1), 2, 8, 13, F.dark);
    if (a[kWearingEarrings]) {
      p.circle(side * (ax - 1), 16, 4.5, F.f.accessory, 2.5);
      p.circle(side * (ax - 1), 22, 3.5, F.f.accessory);
    }
  }
}

// The face (shape, chin, skin texture, wrinkles, cheeks).
void draw_head(const Face& F) {
  const auto& a = F.f.attr;
  Painter& p = F.p;
  const double ax = F.ax, ay = F.ay;
  (void)ax, (void)ay;
  // Face: ellipse; men get a squarer jaw; Double_Chin adds a fold.
  p.fill_ellipse(0, 0, ax, ay, F.skin);
  if (a[kMale]) p.poly({{-ax + 2, 0}, {ax - 2, 0}, {ax * 0.82, ay * 0.78}, {ax * 0.45, ay * 0.99}, {-ax * 0.45, ay * 0.99}, {-ax * 0.82, ay * 0.78}}, F.skin);
  if (a[kChubby])
    for (int side = -1; side <= 1; side += 2) p.fill_ellipse(side * (ax - 16), 22, 18, 20, shade(F.skin, 1.04));
  if (a[kDoubleChin]) {
    p.fill_ellipse(0, ay - 2, 30, 14, F.skin);
    p.ellipse(0, ay - 6, 24, 10, 0, 20, 160, F.dark, 2.5);
    p.ellipse(0, ay + 4, 30, 10, 0, 20, 160, shade(F.skin, 0.6), 2.5);
  }
  // Skin texture (Attractive: clear; otherwise blotches), wrinkles (not Young).
  if (!a[kAttractive]) {
    translucent(p, 0.55, [&](Painter& q) {
      for (int i = 0; i < 9; ++i)
        q.fill_ellipse(F.tex.uniform(-ax * 0.7, ax * 0.7), F.tex.uniform(-ay * 0.6, ay * 0.6), F.tex.uniform(3, 6), F.tex.uniform(2.5, 5),
                       shade(F.skin, 0.78));
    });
  }
  if (!a[kYoung]) {
    for (int i = 0; i < 3; ++i) p.ellipse(0, -28 - 6 * i, 22, 4, 0, 200, 340, shade(F.skin, 0.72), 1.6);
    for (int side = -1; side <= 1; side += 2) {
      p.line(side * 10, 20, side * 19, 40, shade(F.skin, 0.68), 2);
      p.line(side * 33, -8, side * 40, -12, shade(F.skin, 0.7), 1.5);
      p.line(side * 33, -4, side * 40, -2, shade(F.skin, 0.7), 1.5);
    }
  }
  // Cheeks.
  if (a[kHighCheekbones])
    for (int side = -1; side <= 1; side += 2) {
      p.ellipse(side * 30, 8, 12, 5, side * 20, 0, 360, shade(F.skin, 1.18), -1);
      p.line(side * 44, 12, side * 28, 30, shade(F.skin, 0.7), 3);
    }
  if (a[kRosyCheeks])
    translucent(p, 0.6, [&](Painter& q) {
      for (int side = -1; side <= 1; side += 2) q.fill_ellipse(side * 30, 16, 11, 8, {110, 110, 240});
    });
}

// Stubble, sideburns, beard, goatee, mustache.
void draw_facial_hair(const Face& F) {
  const auto& a = F.f.attr;
  Painter& p = F.p;
  const double ax = F.ax, ay = F.ay;
  (void)ax, (void)ay;
  // Facial hair.
  if (a[k5OClockShadow])
    translucent(p, 0.45, [&](Painter& q) {
      q.poly({{-ax + 4, 10}, {-18, 24}, {18, 24}, {ax - 4, 10}, {ax * 0.8, ay * 0.8}, {0, ay}, {-ax * 0.8, ay * 0.8}}, {95, 100, 95});
    });
  const bool full_beard = !a[kNoBeard] && !a[kGoatee];
  if (a[kSideburns] || full_beard)
    for (int side = -1; side <= 1; side += 2)
      p.poly({{side * (ax - 3), -16}, {side * (ax - 13), -16}, {side * (ax - 15), 24}, {side * (ax - 2), 20}}, F.hair);
  if (full_beard)
    p.poly({{-ax + 2, 10}, {-ax + 14, 14}, {-20, 40}, {-16, 27}, {16, 27}, {20, 40}, {ax - 14, 14}, {ax - 2, 10},
            {ax * 0.85, ay * 0.8}, {ax * 0.45, ay + 8}, {-ax * 0.45, ay + 8}, {-ax * 0.85, ay * 0.8}},
           F.hair);
  if (a[kGoatee]) p.poly({{-13, 44}, {13, 44}, {11, ay + 6}, {0, ay + 10}, {-11, ay + 6}}, F.hair);
  if (a[kMustache]) p.poly({{-17, 31}, {-10, 25}, {10, 25}, {17, 31}, {10, 29}, {-10, 29}}, shade(F.hair, 0.9));
}

// The mouth: open or closed, smiling or not, lipstick, big lips.
void draw_mouth(const Face& F) {
  const auto& a = F.f.attr;
  Painter& p = F.p;
  const double ax = F.ax, ay = F.ay;
  (void)ax, (void)ay;
  // Mouth.
  const cv::Scalar lip = a[kWearingLipstick] ? cv::Scalar(45, 30, 200) : mix(F.dark, cv::Scalar(120, 110, 190), 0.35);
  const double lt = a[kBigLips] ? 6 : 3;
  if (a[kMouthSlightlyOpen]) {
    if (a[kSmiling]) {
      p.ellipse(0, 30, 17, 11, 0, 0, 180, {40, 30, 60}, -1);
      p.ellipse(0, 30, 15, 4, 0, 0, 180, {240, 240, 245}, -1);
      p.ellipse(0, 30, 18, 12, 0, 0, 180, lip, lt);
      p.line(-18, 30, 18, 30, lip, lt * 0.7);
    } else {
      p.fill_ellipse(0, 36, 11, 6, {40, 30, 60});
      p.ellipse(0, 33, 9, 2, 0, 0, 360, {240, 240, 245}, -1);
      p.ellipse(0, 36, 13, 7.5, 0, 0, 360, lip, lt);
    }
  } else if (a[kSmiling]) {
    p.ellipse(0, 26, 18, 11, 0, 20, 160, lip, lt);
  } else {
    p.line(-14, 36, 14, 36, lip, lt);
  }
}

// The nose: big, pointy or plain.
void draw_nose(const Face& F) {
  const auto& a = F.f.attr;
  Painter& p = F.p;
  const double ax = F.ax, ay = F.ay;
  (void)ax, (void)ay;
  // Nose.
  if (a[kBigNose]) {
    p.fill_ellipse(0, 18, 13, 8, shade(F.skin, 0.9));
    p.fill_ellipse(-7, 20, 4.5, 3, shade(F.skin, 0.45));
    p.fill_ellipse(7, 20, 4.5, 3, shade(F.skin, 0.45));
    p.line(-4, -4, -6, 12, shade(F.skin, 0.75), 2.5);
  } else if (a[kPointyNose]) {
    p.poly({{-1, -4}, {3, -4}, {5, 20}, {0, 26}, {-4, 20}}, shade(F.skin, 0.8));
    p.line(0, 26, 6, 21, shade(F.skin, 0.5), 1.5);
  } else {
    p.fill_ellipse(-4, 18, 2.5, 1.8, shade(F.skin, 0.55));
    p.fill_ellipse(4, 18, 2.5, 1.8, shade(F.skin, 0.55));
    p.line(-2, 0, -3, 13, shade(F.skin, 0.8), 1.5);
  }
}

// Eyes (makeup, bags, iris, catchlight) and eyebrows.
void draw_eyes(const Face& F) {
  const auto& a = F.f.attr;
  Painter& p = F.p;
  const double ax = F.ax, ay = F.ay;
  (void)ax, (void)ay;
  // Eyes.
  static const cv::Scalar iris_col[] = {{30, 60, 100}, {180, 120, 50}, {80, 140, 60}};
  const double eh = a[kNarrowEyes] ? 2.2 : 5.5, ew = a[kAttractive] ? 10 : 9;
  for (int side = -1; side <= 1; side += 2) {
    const double ex = side * 20, ey = -6;
    if (a[kHeavyMakeup]) p.fill_ellipse(ex, ey - 6, 12, 6, F.f.makeup);
    if (a[kBagsUnderEyes]) {
      p.ellipse(ex, ey + 5, 9, 4, 0, 10, 170, {110, 80, 120}, 2.5);
      p.ellipse(ex, ey + 8, 8, 4, 0, 20, 160, shade(F.skin, 0.7), 1.5);
    }
    p.fill_ellipse(ex, ey, ew, eh, {245, 245, 245});
    p.fill_ellipse(ex, ey, std::min(4.2, eh + 0.5), std::min(4.2, eh), iris_col[F.f.eye_colour]);
    p.fill_ellipse(ex, ey, std::min(1.8, eh), std::min(1.8, eh), {10, 10, 10});
    if (a[kAttractive]) p.circle(ex + 1.6, ey - 1.4, 1.3, {255, 255, 255});
    p.ellipse(ex, ey, ew, eh, 0, 180, 360, {30, 30, 30}, a[kHeavyMakeup] ? 3 : 1.2);
  }
  // Eyebrows.
  for (int side = -1; side <= 1; side += 2) {
    const double bt = (a[kBushyEyebrows] ? 6.5 : 3.0) + (a[kMale] ? 1.0 : 0.0);
    if (a[kArchedEyebrows])
      p.poly({{side * 9.0, -16}, {side * 19.0, -26}, {side * 31.0, -17}}, F.brow, 2.5, false);
    else
      p.poly({{side * 9.0, -19}, {side * 20.0, -21}, {side * 31.0, -19}}, F.brow, bt, false);
  }
}

// Hair on top by style (or the bald pate), the hat, the eyeglasses.
void draw_top(const Face& F) {
  const auto& a = F.f.attr;
  Painter& p = F.p;
  const double ax = F.ax, ay = F.ay;
  (void)ax, (void)ay;
  // Hair on top, by style.
  if (F.has_hair && !a[kWearingHat]) {
    std::vector<cv::Point2d> cap;
    for (int i = 0; i <= 20; ++i) {
      const double t = CV_PI + CV_PI * i / 20.0;
      cap.emplace_back((ax + 5) * std::cos(t), -8 + ay * std::sin(t));
    }
    // Hairline from the right temple back to the left one.
    if (a[kRecedingHairline]) {
      for (double x : {ax - 2.0, ax - 8.0, 30.0, 20.0, 8.0, 0.0, -8.0, -20.0, -30.0, -ax + 8.0, -ax + 2.0}) {
        const double ax_ = std::abs(x);
        const double y = ax_ > ax - 9 ? -20 : (ax_ > 14 ? -64 + (ax_ - 14) * 0.2 : -50 - ax_);
        cap.emplace_back(x, y);
      }
    } else {
      for (double x : {ax - 2.0, ax - 8.0, 30.0, 15.0, 0.0, -15.0, -30.0, -ax + 8.0, -ax + 2.0}) {
        const double ax_ = std::abs(x);
        const double y = ax_ > ax - 9 ? -14 : -38 - (30 - std::min(30.0, ax_)) * 0.2;
        cap.emplace_back(x, y);
      }
    }
    p.poly(cap, F.hair);
    if (a[kBangs]) p.poly({{-ax + 6, -44}, {ax - 6, -44}, {ax - 8, -27}, {-ax + 8, -27}}, shade(F.hair, 0.95));
    if (a[kStraightHair])
      for (int i = -3; i <= 3; ++i) p.line(i * 10, -ay + 2, i * 13, -40, shade(F.hair, 0.8), 1.2);
  } else if (a[kBald]) {
    p.ellipse(-16, -ay + 16, 14, 6, -20, 0, 360, shade(F.skin, 1.25), -1);
  }
  // Hat.
  if (a[kWearingHat]) {
    p.ellipse(0, -36, ax + 8, ay - 18, 0, 180, 360, F.f.accessory, -1);
    p.poly({{-ax - 12, -40}, {ax + 12, -40}, {ax + 14, -30}, {-ax - 14, -30}}, shade(F.f.accessory, 0.7));
  }
  // Eyeglasses.
  if (a[kEyeglasses]) {
    const cv::Scalar frame(25, 25, 35);
    for (int side = -1; side <= 1; side += 2) {
      p.poly({{side * 7.0, -15}, {side * 33.0, -15}, {side * 33.0, 3}, {side * 7.0, 3}}, frame, 2.8);
      p.line(side * 33, -12, side * (ax - 2), -10, frame, 2.5);
    }
    p.line(-7, -9, 7, -9, frame, 2.5);
  }
}

// The lighting gradient, blur, and the downsample from the 4x canvas to `size`.
cv::Mat finish(cv::Mat img, const FaceSpec& f, int size) {
  const int S = img.rows;
  const auto& a = f.attr;
  // Lighting, blur, downsample.
  cv::Mat fimg;
  img.convertTo(fimg, CV_32FC3);
  cv::Mat gain(1, S, CV_32F);
  for (int x = 0; x < S; ++x) gain.at<float>(0, x) = f.light * (1.0f + f.light_amount * f.light_dir * (x - S / 2.0f) / (S / 2.0f));
  cv::Mat gain3;
  cv::merge(std::vector<cv::Mat>{gain, gain, gain}, gain3);
  for (int y = 0; y < S; ++y) fimg.row(y) = fimg.row(y).mul(gain3);
  fimg.convertTo(img, CV_8UC3);
  if (a[kBlurry]) cv::GaussianBlur(img, img, cv::Size(0, 0), 7.0);
  cv::Mat out;
  cv::resize(img, out, cv::Size(size, size), 0, 0, cv::INTER_AREA);
  return out;
}

cv::Mat render_face(const FaceSpec& f, int size) {
  const int S = 256;
  const double k = S / 64.0;
  const auto& a = f.attr;
  Rng tex(f.texture_seed);
  cv::Mat img(S, S, CV_8UC3);
  for (int y = 0; y < S; ++y) img.row(y).setTo(mix(f.bg_top, f.bg_bottom, y / (S - 1.0)));

  Painter p(img, S / 2.0 + f.dx * k, S / 2.0 + 6 + f.dy * k, f.scale * 1.0, f.angle);
  cv::Scalar skin = mix(cv::Scalar(55, 85, 135), cv::Scalar(150, 180, 225), f.skin);
  if (a[kPaleSkin]) skin = {228, 232, 242};
  if (!a[kYoung]) skin = mix(skin, cv::Scalar(150, 150, 160), 0.2);
  const cv::Scalar hair = hair_colour(f);
  const Face F{f, p, tex, skin, shade(skin, 0.72), hair, a[kBlondHair] || a[kGrayHair] ? shade(hair, 0.55) : shade(hair, 0.8),
               a[kChubby] ? 62.0 : a[kOvalFace] ? 45.0 : 53.0, a[kOvalFace] ? 72.0 : 64.0, !a[kBald]};
  // Back to front.
  draw_back_hair(F);
  draw_body(F);
  draw_ears(F);
  draw_head(F);
  draw_facial_hair(F);
  draw_mouth(F);
  draw_nose(F);
  draw_eyes(F);
  draw_top(F);
  return finish(img, f, size);
}

}  // namespace latentedit
