#include "latentedit/attributes.h"

#include <algorithm>
#include <cctype>
#include <numeric>

#include "latentedit/errors.h"

namespace latentedit {

const std::vector<std::string>& celeba_attributes() {
  static const std::vector<std::string> names = {
      "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive",       "Bags_Under_Eyes",
      "Bald",             "Bangs",           "Big_Lips",         "Big_Nose",
      "Black_Hair",       "Blond_Hair",      "Blurry",           "Brown_Hair",
      "Bushy_Eyebrows",   "Chubby",          "Double_Chin",      "Eyeglasses",
      "Goatee",           "Gray_Hair",       "Heavy_Makeup",     "High_Cheekbones",
      "Male",             "Mouth_Slightly_Open", "Mustache",     "Narrow_Eyes",
      "No_Beard",         "Oval_Face",       "Pale_Skin",        "Pointy_Nose",
      "Receding_Hairline", "Rosy_Cheeks",    "Sideburns",        "Smiling",
      "Straight_Hair",    "Wavy_Hair",       "Wearing_Earrings", "Wearing_Hat",
      "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young"};
  return names;
}

std::string normalize_attribute(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '_' || c == '-' || c == ' ') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  std::iota(prev.begin(), prev.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The course notebook's spellings that normalisation alone does not map.
const char* alias(const std::string& norm) {
  if (norm == "sideburn") return "sideburns";
  return nullptr;
}
}  // namespace

std::vector<std::string> closest_attributes(const std::vector<std::string>& names,
                                            const std::string& query, int n) {
  const std::string q = normalize_attribute(query);
  std::vector<std::pair<size_t, size_t>> d;  // (distance, index)
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string nn = normalize_attribute(names[i]);
    size_t dist = edit_distance(q, nn);
    if (!q.empty() && nn.find(q) != std::string::npos) dist = std::min<size_t>(dist, 1);
    d.emplace_back(dist, i);
  }
  std::stable_sort(d.begin(), d.end());
  std::vector<std::string> out;
  for (int i = 0; i < n && i < static_cast<int>(d.size()); ++i) out.push_back(names[d[i].second]);
  return out;
}

int find_attribute(const std::vector<std::string>& names, const std::string& query) {
  std::string q = normalize_attribute(query);
  if (const char* a = alias(q)) q = a;
  for (size_t i = 0; i < names.size(); ++i)
    if (normalize_attribute(names[i]) == q) return static_cast<int>(i);
  std::string msg = "unknown attribute '" + query + "'; did you mean ";
  const auto close = closest_attributes(names, query, 3);
  for (size_t i = 0; i < close.size(); ++i) msg += (i ? (i + 1 == close.size() ? " or " : ", ") : "") + close[i];
  throw UsageError(msg + "?", Remedy::kListAttributes);
}

std::pair<std::string, std::optional<double>> parse_target(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return {s, std::nullopt};
  const std::string num = s.substr(colon + 1);
  try {
    size_t pos = 0;
    const double p = std::stod(num, &pos);
    if (pos != num.size() || !(p > 0 && p < 1)) throw std::invalid_argument("range");
    return {s.substr(0, colon), p};
  } catch (const std::exception&) {
    throw UsageError("bad target '" + s + "': write NAME or NAME:PROB with 0 < PROB < 1, e.g. Smiling:0.9");
  }
}

}  // namespace latentedit
