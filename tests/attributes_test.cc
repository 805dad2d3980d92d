#include <gtest/gtest.h>

#include "latentedit/attributes.h"
#include "latentedit/errors.h"

using namespace latentedit;

TEST(Attributes, FortyCelebaNamesInOrder) {
  const auto& a = celeba_attributes();
  ASSERT_EQ(a.size(), 40u);
  EXPECT_EQ(a.front(), "5_o_Clock_Shadow");
  EXPECT_EQ(a[20], "Male");
  EXPECT_EQ(a[31], "Smiling");
  EXPECT_EQ(a.back(), "Young");
}

TEST(Attributes, LookupIsForgiving) {
  const auto& a = celeba_attributes();
  EXPECT_EQ(find_attribute(a, "smiling"), 31);
  EXPECT_EQ(find_attribute(a, "WEARING_HAT"), 35);
  EXPECT_EQ(find_attribute(a, "WearingHat"), 35);
  EXPECT_EQ(find_attribute(a, "5oClockShadow"), 0);  // the course notebook's spelling
  EXPECT_EQ(find_attribute(a, "Sideburn"), 30);      // ditto
  EXPECT_EQ(find_attribute(a, "no_beard"), 24);
}

TEST(Attributes, UnknownNameSuggestsClosest) {
  try {
    find_attribute(celeba_attributes(), "Smilling");
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean Smiling"), std::string::npos) << e.what();
  }
  try {
    find_attribute(celeba_attributes(), "glasses");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("Eyeglasses"), std::string::npos) << e.what();
  }
}
