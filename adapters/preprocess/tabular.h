#pragma once
/// The tabular preprocessor: records (or arrays) under a JSON pointer -> one [rows, width]
/// feature tensor, with the semantics of the fitted sklearn transformers it mirrors.
/// Made by make_preprocessor (pipeline.h) for a spec with "columns" or {"type": "tabular"};
/// the spec format is documented there.
///
/// Per column, in spec order (the output is their concatenation):
///   impute      a missing or null value is replaced by the value (SimpleImputer: a constant,
///               or the fitted statistic given as {"strategy": ..., "value": v}) before the
///               transform; without "impute" it is preprocess.missing_field.
///   passthrough the number as is; true/false as 1/0.
///   standard    (x - mean) / scale; a scale of 0 counts as 1 (StandardScaler).
///   minmax      x * s + (lo - min * s) with s = (hi - lo) / (max - min), sklearn's order of
///               operations; max == min counts as a range of 1; "clip": true clamps to [lo, hi].
///   onehot      one slot per category. handle_unknown: "error" (the default, as in sklearn)
///               -> preprocess.unknown_category; "ignore" -> all zeros; "infrequent" (also
///               "infrequent_if_exist") -> the slot of the LAST listed category, which stands
///               for sklearn's infrequent bucket. The width stays len(categories) in every
///               mode, so a side switched from "ignore" to "infrequent" differs in values
///               (a divergence to report), never in shape.
///   ordinal     the category's index; an unknown value gives "unknown_value" (a number, or
///               null for NaN) or, without it, preprocess.unknown_category.
///
/// Values are computed in double and cast once to the output dtype (default float32).
/// The spec is validated when the preprocessor is made: errors are Error kInput
/// "config.preprocess" naming the pointer inside the spec ("/columns/2/transform/type: ...").
/// Errors in a payload name the pointer of the value ("/instances/2/country: ...").

#include <memory>
#include <nlohmann/json.hpp>

#include "harness/pipeline.h"

namespace replay {

/// Throws Error kInput "config.preprocess" for an invalid spec. The result is immutable and
/// safe to run from several threads.
std::unique_ptr<Preprocessor> make_tabular_preprocessor(const nlohmann::json& spec);

}  // namespace replay
