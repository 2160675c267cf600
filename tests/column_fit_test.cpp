// column_fit (harness/column_fit.h): the least-squares fits of production's scalers. An exact
// affine map is recovered; a constant raw column is detected (not divided by zero) and keeps the
// configured scale; standard and minmax parameters come back at the fewest digits that give
// production's float32 features bit for bit; non-finite pairs are left out.
#include "harness/column_fit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace replay {
namespace {

std::vector<double> standard_features(const std::vector<double>& x, double mean, double scale) {
  std::vector<double> y;
  for (double value : x) y.push_back(standard_feature(value, mean, scale, /*float32=*/true));
  return y;
}

TEST(ColumnFit, AffineRecoversAnExactLine) {
  const AffineFit fit = fit_affine({1, 2, 3, 4}, {5, 7, 9, 11});
  ASSERT_TRUE(fit.determined);
  EXPECT_NEAR(fit.slope, 2, 1e-12);
  EXPECT_NEAR(fit.intercept, 3, 1e-12);
  EXPECT_LT(fit.max_residual, 1e-12);
  EXPECT_EQ(fit.rows, 4);
}

TEST(ColumnFit, AffineIsLeastSquaresWithNoise) {
  // Near y = 2x + 1: the least-squares line is 1.96x + 1.06 (worked by hand), residual 0.12.
  const AffineFit fit = fit_affine({0, 1, 2, 3}, {1.1, 2.9, 5.1, 6.9});
  ASSERT_TRUE(fit.determined);
  EXPECT_NEAR(fit.slope, 1.96, 1e-12);
  EXPECT_NEAR(fit.intercept, 1.06, 1e-12);
  EXPECT_NEAR(fit.max_residual, 0.12, 1e-12);
}

TEST(ColumnFit, AConstantColumnIsNotDetermined) {
  const AffineFit fit = fit_affine({5, 5, 5}, {1, 1, 1});
  EXPECT_FALSE(fit.determined);
  EXPECT_EQ(fit.slope, 0);
  EXPECT_DOUBLE_EQ(fit.intercept, 1);
  const ScalerFit standard = fit_standard({50, 50}, standard_features({50, 50}, 44, 10), 10);
  EXPECT_FALSE(standard.determined);
  EXPECT_DOUBLE_EQ(standard.second, 10);  // the configured scale kept
  EXPECT_NEAR(standard.first, 44, 1e-5);
  EXPECT_NE(standard.note.find("configured scale kept"), std::string::npos);
}

TEST(ColumnFit, NonFinitePairsAreLeftOut) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const AffineFit fit = fit_affine({1, nan, 2, 3}, {3, 100, 5, nan});
  EXPECT_EQ(fit.rows, 2);
  EXPECT_NEAR(fit.slope, 2, 1e-12);
  const AffineFit none = fit_affine({nan}, {1});
  EXPECT_EQ(none.rows, 0);
  EXPECT_FALSE(none.determined);
}

TEST(ColumnFit, StandardComesBackAtTheFixturesValuesBitForBit) {
  // The fixture's stale scaler for 'age': mean 41.2 * 1.07, scale 12.5 * 0.93, float32 features.
  const std::vector<double> ages = {37, 52, 24, 44};
  const ScalerFit fit = fit_standard(ages, standard_features(ages, 44.084, 11.625), 12.5);
  ASSERT_TRUE(fit.determined);
  EXPECT_EQ(fit.first, 44.084);
  EXPECT_EQ(fit.second, 11.625);
  EXPECT_LE(fit.digits, 6);
  EXPECT_EQ(fit.max_residual, 0);
}

TEST(ColumnFit, StandardOfLargeValues) {
  const std::vector<double> amounts = {1234567.891, 845123.37, 1502333.12, 1504735.048};
  const ScalerFit fit = fit_standard(amounts, standard_features(amounts, 1070000, 465000), 500000);
  EXPECT_EQ(fit.first, 1070000);
  EXPECT_EQ(fit.second, 465000);
  EXPECT_EQ(fit.max_residual, 0);
}

TEST(ColumnFit, MinmaxComesBackAsMinAndMax) {
  const std::vector<double> incomes = {58250.5, 121000, 31875.25, 96250.69};
  std::vector<double> y;
  for (double x : incomes) y.push_back(minmax_feature(x, 1000, 150000, 0, 1, true));
  const ScalerFit fit = fit_minmax(incomes, y, 0, 1, 200000);
  ASSERT_TRUE(fit.determined);
  EXPECT_EQ(fit.first, 1000);
  EXPECT_EQ(fit.second, 150000);
  EXPECT_EQ(fit.max_residual, 0);
}

TEST(ColumnFit, AFitThatIsNotExactSaysSo) {
  // Features that no standard scaler gives: the residual is reported, all digits kept.
  const ScalerFit fit = fit_standard({1, 2, 3}, {0, 1, 0}, 1, true);
  EXPECT_EQ(fit.digits, 17);
  EXPECT_GT(fit.max_residual, 0.3);
}

}  // namespace
}  // namespace replay
