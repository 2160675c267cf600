// ddmin (harness/minimize.h): delta debugging finds the one failing item, the pair that fails
// only together, nothing smaller than min_size, the empty set when allowed, and asks about no
// subset twice.
#include "harness/minimize.h"

#include <gtest/gtest.h>

#include <set>

namespace replay {
namespace {

bool contains(const std::vector<size_t>& subset, size_t item) {
  return std::find(subset.begin(), subset.end(), item) != subset.end();
}

TEST(Ddmin, FindsTheOneFailingItem) {
  int asked = 0;
  const std::vector<size_t> result = ddmin(16, [&](const std::vector<size_t>& subset) {
    ++asked;
    return contains(subset, 11);
  });
  EXPECT_EQ(result, std::vector<size_t>{11});
  EXPECT_LE(asked, 16);  // logarithmic-ish, far fewer than the 2^16 subsets
}

TEST(Ddmin, KeepsAPairThatFailsOnlyTogether) {
  const std::vector<size_t> result = ddmin(10, [](const std::vector<size_t>& subset) {
    return contains(subset, 3) && contains(subset, 7);
  });
  EXPECT_EQ(result, (std::vector<size_t>{3, 7}));
}

TEST(Ddmin, NeverAsksTwiceAndNeverBelowTheMinimum) {
  std::set<std::vector<size_t>> seen;
  const std::vector<size_t> result = ddmin(
      8,
      [&](const std::vector<size_t>& subset) {
        EXPECT_TRUE(seen.insert(subset).second) << "asked twice";
        EXPECT_GE(subset.size(), 1u);
        return subset.size() >= 3;  // any three items fail
      },
      1);
  EXPECT_EQ(result.size(), 3u);
}

TEST(Ddmin, TheEmptySetWhenNothingIsNeeded) {
  EXPECT_TRUE(ddmin(5, [](const std::vector<size_t>&) { return true; }, 0).empty());
  // With min_size 1 one item remains.
  EXPECT_EQ(ddmin(5, [](const std::vector<size_t>&) { return true; }, 1).size(), 1u);
}

TEST(Ddmin, NothingSmallerFailsKeepsEverything) {
  const std::vector<size_t> result =
      ddmin(4, [](const std::vector<size_t>& subset) { return subset.size() == 4; });
  EXPECT_EQ(result, (std::vector<size_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace replay
