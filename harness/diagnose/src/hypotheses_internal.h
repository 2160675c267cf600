#pragma once
// The built-in hypotheses of `replay explain` (explain.h), in kBuiltinCauses order.
#include <memory>
#include <vector>

#include "harness/explain.h"

namespace replay::explain_detail {

std::vector<std::unique_ptr<Hypothesis>> builtin_hypotheses();

/// "44.084" (up to `digits` significant digits), "3e-07"; "NaN", "inf".
std::string number(double value, int digits = 6);

}  // namespace replay::explain_detail
