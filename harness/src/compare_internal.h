#pragma once
// Private to the comparison (compare*.cpp) and its tests: the pieces shared between the block
// kernels, the vectorised fast path and the rendering.

#include <cstdint>
#include <string>

#include "harness/tensor.h"
#include "harness/tolerance.h"

namespace replay {

/// `value` rounded to `dtype` (float16, bfloat16, float32); other dtypes unchanged.
double round_to_dtype(double value, DType dtype);

/// The rule for one pair, scalar (the slow reference path; the block kernels agree with it).
bool element_passes(double a, double r, Rule rule, double atol, double rtol, bool equal_nan,
                    int64_t max_ulp, DType compared, bool reference_is_actual);

/// Number of pairs i < n that pass allclose in float32 arithmetic, as numpy.isclose computes it
/// on float32 arrays: finite pairs with |a - r| <= atol + rtol * |ref|, equal infinities, and
/// NaN pairs when equal_nan. `ref` is `a` or `r`. Vectorised (AVX2 when the CPU has it).
int64_t count_close_float32(const float* a, const float* r, const float* ref, int64_t n,
                            float atol, float rtol, bool equal_nan);

/// "0.5077", "1.3e-06", "NaN", "inf", "-inf": up to 6 significant digits.
std::string format_number(double value);

}  // namespace replay
