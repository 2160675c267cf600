#pragma once
/// Production's implied preprocessing, fitted from a payload's raw values and production's
/// features (`replay explain`'s preprocess.parameters): for a `standard` or `minmax` column the
/// affine map raw -> feature is fitted by least squares (Eigen), then read back as the
/// transform's own parameters.
///
///   AffineFit fit = fit_affine({37, 52, 24}, production_ages);
///   ScalerFit standard = fit_standard({37, 52, 24}, production_ages);  // mean 44.084, scale 11.625
///
/// Pure functions, thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace replay {

/// y ~ slope * x + intercept over the finite pairs.
struct AffineFit {
  double slope = 0, intercept = 0;
  double max_residual = 0;  ///< greatest |y - (slope * x + intercept)| over the pairs used
  int64_t rows = 0;         ///< finite pairs used
  bool determined = false;  ///< at least two distinct x: both parameters fitted
};

/// Least squares through Eigen's column-pivoting QR. With fewer than two distinct x values only
/// the intercept is determined (slope 0, determined false).
AffineFit fit_affine(const std::vector<double>& x, const std::vector<double>& y);

/// A scaler's two parameters as the transform states them, fitted.
struct ScalerFit {
  std::string transform;  ///< "standard" or "minmax"
  /// standard: mean and scale; minmax: min and max (of the raw values' range).
  double first = 0, second = 0;
  double max_residual = 0;  ///< of the features the fitted parameters give, against production's
  int64_t rows = 0;
  bool determined = false;
  /// Significant digits the parameters were rounded to: the fewest (3..9) whose features match
  /// production's bit for bit at `feature_float32` precision; 17 when none did.
  int digits = 17;
  std::string note;  ///< how it was fitted when not fully determined
};

/// standard: feature = (x - mean) / scale. With one distinct x, `configured_scale` is kept and
/// the mean fitted from it. `feature_float32`: production's features are float32 (the rounding
/// that decides "bit for bit").
ScalerFit fit_standard(const std::vector<double>& x, const std::vector<double>& y,
                       double configured_scale, bool feature_float32 = true);

/// minmax to [lo, hi]: feature = x * s + (lo - min * s), s = (hi - lo) / (max - min). With one
/// distinct x, the configured range (max - min) is kept and min fitted from it.
ScalerFit fit_minmax(const std::vector<double>& x, const std::vector<double>& y, double lo,
                     double hi, double configured_range, bool feature_float32 = true);

/// The feature a standard or minmax transform gives x, computed as the tabular step does
/// (double, then cast once when `float32`).
double standard_feature(double x, double mean, double scale, bool float32);
double minmax_feature(double x, double min, double max, double lo, double hi, bool float32);

}  // namespace replay
