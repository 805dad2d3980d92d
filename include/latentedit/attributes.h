// latentedit — the 40 CelebA attribute names and forgiving look-up.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace latentedit {

// CelebA's 40 official attribute names, in the order of list_attr_celeba.txt.
const std::vector<std::string>& celeba_attributes();

// Lower-cases and drops '_', '-' and spaces: "Wearing_Hat" -> "wearinghat".
std::string normalize_attribute(const std::string& name);

// Index of `query` in `names`: case-insensitive, ignores '_', accepts the course
// notebook's spellings ("5oClockShadow", "Sideburn"). Throws UsageError naming the
// closest matches when nothing fits.
int find_attribute(const std::vector<std::string>& names, const std::string& query);

// Up to `n` names from `names` closest to `query` (edit distance on normalized names).
std::vector<std::string> closest_attributes(const std::vector<std::string>& names,
                                            const std::string& query, int n = 3);

// Parses an edit target "Name" or "Name:0.9" into (name, optional stop probability in (0, 1)).
// Throws UsageError.
std::pair<std::string, std::optional<double>> parse_target(const std::string& s);

}  // namespace latentedit
