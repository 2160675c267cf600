// Least-squares fits of production's scalers (column_fit.h). Eigen does the solve: a
// column-pivoting QR of the [x, 1] design matrix is rank-revealing, so a column whose raw values
// are all equal is detected rather than divided by zero.
#include "harness/column_fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace replay {
namespace {

double round_significant(double value, int digits) {
  if (value == 0 || !std::isfinite(value)) return value;
  char text[64];
  std::snprintf(text, sizeof(text), "%.*g", digits, value);
  return std::strtod(text, nullptr);
}

struct Pairs {
  std::vector<double> x, y;
};

Pairs finite_pairs(const std::vector<double>& x, const std::vector<double>& y) {
  Pairs pairs;
  const size_t n = std::min(x.size(), y.size());
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      pairs.x.push_back(x[i]);
      pairs.y.push_back(y[i]);
    }
  }
  return pairs;
}

// The fewest significant digits (3..9) at which `feature` of the rounded parameters equals
// production's every feature bit for bit; the parameters are rounded in place. 17 when none.
template <typename Feature>
int shortest_exact(const Pairs& pairs, double* first, double* second, const Feature& feature) {
  for (int digits = 3; digits <= 9; ++digits) {
    const double a = round_significant(*first, digits), b = round_significant(*second, digits);
    bool exact = true;
    for (size_t i = 0; i < pairs.x.size() && exact; ++i) {
      exact = feature(pairs.x[i], a, b) == pairs.y[i];
    }
    if (exact) {
      *first = a;
      *second = b;
      return digits;
    }
  }
  return 17;
}

template <typename Feature>
double max_residual(const Pairs& pairs, double first, double second, const Feature& feature) {
  double worst = 0;
  for (size_t i = 0; i < pairs.x.size(); ++i) {
    worst = std::max(worst, std::fabs(feature(pairs.x[i], first, second) - pairs.y[i]));
  }
  return worst;
}

}  // namespace

AffineFit fit_affine(const std::vector<double>& x, const std::vector<double>& y) {
  const Pairs pairs = finite_pairs(x, y);
  AffineFit fit;
  fit.rows = static_cast<int64_t>(pairs.x.size());
  if (pairs.x.empty()) return fit;
  const Eigen::Index n = static_cast<Eigen::Index>(pairs.x.size());
  const Eigen::Map<const Eigen::VectorXd> xs(pairs.x.data(), n);
  const Eigen::Map<const Eigen::VectorXd> ys(pairs.y.data(), n);
  Eigen::MatrixXd design(n, 2);
  design.col(0) = xs;
  design.col(1).setOnes();
  const Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(design);
  if (qr.rank() == 2) {
    const Eigen::Vector2d solution = qr.solve(ys);
    fit.slope = solution(0);
    fit.intercept = solution(1);
    fit.determined = true;
  } else {
    fit.intercept = ys.mean();
  }
  fit.max_residual =
      ((design.col(0) * fit.slope).array() + fit.intercept - ys.array()).abs().maxCoeff();
  return fit;
}

double standard_feature(double x, double mean, double scale, bool float32) {
  const double value = (x - mean) / (scale == 0 ? 1 : scale);
  return float32 ? static_cast<double>(static_cast<float>(value)) : value;
}

double minmax_feature(double x, double min, double max, double lo, double hi, bool float32) {
  const double range = max - min == 0 ? 1 : max - min;
  const double scale = (hi - lo) / range;
  const double value = x * scale + (lo - min * scale);
  return float32 ? static_cast<double>(static_cast<float>(value)) : value;
}

ScalerFit fit_standard(const std::vector<double>& x, const std::vector<double>& y,
                       double configured_scale, bool feature_float32) {
  const Pairs pairs = finite_pairs(x, y);
  const AffineFit affine = fit_affine(pairs.x, pairs.y);
  ScalerFit fit;
  fit.transform = "standard";
  fit.rows = affine.rows;
  if (affine.rows == 0) {
    fit.note = "no row with both values finite";
    return fit;
  }
  // y = x / scale - mean / scale.
  if (affine.determined && affine.slope != 0) {
    fit.second = 1 / affine.slope;
    fit.first = -affine.intercept / affine.slope;
    fit.determined = true;
  } else {
    fit.second = configured_scale == 0 ? 1 : configured_scale;
    double sum = 0;
    for (size_t i = 0; i < pairs.x.size(); ++i) sum += pairs.x[i] - pairs.y[i] * fit.second;
    fit.first = sum / static_cast<double>(pairs.x.size());
    fit.note = "one distinct raw value: the configured scale kept, the mean fitted";
  }
  auto feature = [&](double value, double mean, double scale) {
    return standard_feature(value, mean, scale, feature_float32);
  };
  fit.digits = shortest_exact(pairs, &fit.first, &fit.second, feature);
  fit.max_residual = max_residual(pairs, fit.first, fit.second, feature);
  return fit;
}

ScalerFit fit_minmax(const std::vector<double>& x, const std::vector<double>& y, double lo,
                     double hi, double configured_range, bool feature_float32) {
  const Pairs pairs = finite_pairs(x, y);
  const AffineFit affine = fit_affine(pairs.x, pairs.y);
  ScalerFit fit;
  fit.transform = "minmax";
  fit.rows = affine.rows;
  if (affine.rows == 0) {
    fit.note = "no row with both values finite";
    return fit;
  }
  // y = x * s + (lo - min * s): s = slope, min = (lo - intercept) / s, max = min + (hi - lo) / s.
  if (affine.determined && affine.slope != 0) {
    fit.first = (lo - affine.intercept) / affine.slope;
    fit.second = fit.first + (hi - lo) / affine.slope;
    fit.determined = true;
  } else {
    const double range = configured_range == 0 ? 1 : configured_range;
    const double s = (hi - lo) / range;
    double sum = 0;
    for (size_t i = 0; i < pairs.x.size(); ++i) sum += (lo + pairs.x[i] * s - pairs.y[i]) / s;
    fit.first = sum / static_cast<double>(pairs.x.size());
    fit.second = fit.first + range;
    fit.note = "one distinct raw value: the configured range kept, min fitted";
  }
  auto feature = [&](double value, double min, double max) {
    return minmax_feature(value, min, max, lo, hi, feature_float32);
  };
  fit.digits = shortest_exact(pairs, &fit.first, &fit.second, feature);
  fit.max_residual = max_residual(pairs, fit.first, fit.second, feature);
  return fit;
}

}  // namespace replay
