// latentedit — procedural 64x64 faces in which all 40 CelebA attributes are visible.
//
// Faces are drawn at 4x resolution with anti-aliased primitives and downsampled with
// INTER_AREA. Labels are sampled with CelebA-like correlations (see sample_face_spec), then
// the picture is drawn from the labels, so each label has a visible cue:
//   hair colour / Bald / Bangs / Receding_Hairline / Straight_Hair / Wavy_Hair: the hair
//   Eyeglasses, Wearing_Hat, Wearing_Earrings, Wearing_Necklace, Wearing_Necktie: the object
//   No_Beard (= no full beard and no goatee), Goatee, Mustache, Sideburns, 5_o_Clock_Shadow
//   Wearing_Lipstick (red lips), Heavy_Makeup (eyeshadow + eyeliner), Rosy_Cheeks (blush)
//   Smiling (upturned mouth), Mouth_Slightly_Open (dark gap with teeth), Big_Lips
//   Arched_Eyebrows / Bushy_Eyebrows, Narrow_Eyes, Bags_Under_Eyes, Big_Nose, Pointy_Nose
//   Oval_Face (tall narrow face), Chubby (wide face), Double_Chin (fold under the chin),
//   High_Cheekbones (cheekbone highlight and shadow), Pale_Skin (very light, desaturated skin)
//   Male: square jaw, broader neck, thicker brows; Young: no wrinkles (not Young: forehead
//   lines, nasolabial folds, greyer skin); Blurry: Gaussian blur of the whole picture
//   Attractive (our rule, since it is subjective): clear, even skin and eye catchlights;
//   not Attractive: blotchy skin and dull eyes.
// Nuisance variation: position, scale, rotation (+-8 deg), skin tone, eye colour, clothes and
// accessory colours, background gradient, lighting direction and strength.
#pragma once
#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <vector>

namespace latentedit {

constexpr int kNumCelebaAttributes = 40;

// Attribute indices in CelebA order (see celeba_attributes()).
enum Attr : int {
  k5OClockShadow, kArchedEyebrows, kAttractive, kBagsUnderEyes, kBald, kBangs, kBigLips, kBigNose,
  kBlackHair, kBlondHair, kBlurry, kBrownHair, kBushyEyebrows, kChubby, kDoubleChin, kEyeglasses,
  kGoatee, kGrayHair, kHeavyMakeup, kHighCheekbones, kMale, kMouthSlightlyOpen, kMustache, kNarrowEyes,
  kNoBeard, kOvalFace, kPaleSkin, kPointyNose, kRecedingHairline, kRosyCheeks, kSideburns, kSmiling,
  kStraightHair, kWavyHair, kWearingEarrings, kWearingHat, kWearingLipstick, kWearingNecklace,
  kWearingNecktie, kYoung
};

// Everything that determines one picture: the 40 labels plus nuisance parameters.
struct FaceSpec {
  std::array<bool, kNumCelebaAttributes> attr{};
  float dx = 0, dy = 0;        // offset of the face centre, in output pixels at 64x64
  float scale = 1;             // face size factor
  float angle = 0;             // rotation in degrees
  float skin = 0.5f;           // skin tone, 0 = darkest .. 1 = lightest (non-pale range)
  float hair_shade = 0.5f;     // variation within the hair colour
  int other_hair = 0;          // hair colour when no colour label: 0 auburn, 1 red
  int eye_colour = 0;          // 0 brown, 1 blue, 2 green
  cv::Scalar bg_top, bg_bottom, clothes, accessory, makeup;  // BGR
  float light = 1.0f;          // global brightness
  float light_dir = 0.0f;      // -1 left .. 1 right
  float light_amount = 0.0f;   // strength of the side lighting
  uint64_t texture_seed = 0;   // skin blotches, stubble, wave phase
};

// Samples labels (with CelebA-like correlations) and nuisance for image `index` of `seed`.
// Deterministic: the same (seed, index) gives the same spec on every platform.
// Correlations: Male goes with Goatee/Mustache/Sideburns/5_o_Clock_Shadow/full beards and
// Bushy_Eyebrows, and rarely with Heavy_Makeup/Wearing_Lipstick/Earrings/Necklace/Arched
// eyebrows; Bald (mostly older men) excludes hair colours, Bangs, Straight/Wavy hair and
// Receding_Hairline; Gray_Hair, Receding_Hairline and Bags_Under_Eyes go against Young;
// No_Beard is exactly the absence of a full beard and a goatee; 5_o_Clock_Shadow only without a
// beard; Smiling raises High_Cheekbones and Mouth_Slightly_Open; Double_Chin mostly with Chubby;
// Wearing_Lipstick mostly with Heavy_Makeup; a hat hides Bangs and Receding_Hairline;
// Attractive goes with Young, Heavy_Makeup and against Chubby.
FaceSpec sample_face_spec(uint64_t seed, uint64_t index);

// Draws a face as a size x size 8-bit BGR image (rendered at 4x, then INTER_AREA).
cv::Mat render_face(const FaceSpec& spec, int size = 64);

// Labels as CelebA's +1/-1.
std::array<int8_t, kNumCelebaAttributes> face_labels(const FaceSpec& spec);

// Checks the documented correlation rules that are hard constraints; returns the violated
// rule's description, or "" when the labels are consistent.
std::string check_label_rules(const std::array<bool, kNumCelebaAttributes>& a);

}  // namespace latentedit
