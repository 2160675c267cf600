// The pipeline's built-in steps (harness/pipeline.h, adapters/preprocess/tabular.h): every
// tabular transform against hand-computed values, imputation, unknown-category policies,
// column order, array rows, errors with their pointers, the default preprocessor's payload
// forms, the postprocessors, and registration of custom steps.
#include "harness/pipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "harness/error.h"

namespace replay {
namespace {

using nlohmann::json;

// The whole what() of the Error `action` throws, or "" when it throws none.
std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInput);
    return error.what();
  }
  return "";
}

std::string preprocess_error(const json& spec, const json& payload) {
  return error_of([&] { make_preprocessor(spec)->run(payload); });
}

std::string spec_error(const json& spec) {
  return error_of([&] { make_preprocessor(spec); });
}

// Runs a tabular spec with one column over `rows` (under /instances).
Tensor tabular(const json& columns, const json& rows, const json& extra = json::object()) {
  json spec = extra;
  spec["columns"] = columns;
  const std::vector<Tensor> features = make_preprocessor(spec)->run({{"instances", rows}});
  EXPECT_EQ(features.size(), 1u);
  return features.front();
}

std::vector<double> values_of(const Tensor& tensor) { return tensor.to_doubles(); }

// For float64 results whose last bit depends on sklearn's order of operations.
void expect_near_all(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], 1e-12) << "at " << i;
}

// Expected float32 values, computed in double and cast once, as the preprocessor does.
std::vector<double> as_float32(const std::vector<double>& values) {
  std::vector<double> out;
  for (double value : values) out.push_back(static_cast<float>(value));
  return out;
}

// ---- Tabular transforms ---------------------------------------------------------------------

TEST(Tabular, StandardScalesAndTreatsZeroScaleAsOne) {
  const Tensor features = tabular(
      {{{"field", "age"}, {"transform", {{"type", "standard"}, {"mean", 41.2}, {"scale", 12.5}}}},
       {{"field", "flat"}, {"transform", {{"type", "standard"}, {"mean", 3}, {"scale", 0}}}}},
      {{{"age", 16.2}, {"flat", 5}}, {{"age", 41.2}, {"flat", 3}}});
  EXPECT_EQ(features.name(), "features");
  EXPECT_EQ(features.dtype(), DType::kFloat32);
  EXPECT_FALSE(features.dtype_inferred());
  EXPECT_EQ(features.shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(values_of(features), as_float32({(16.2 - 41.2) / 12.5, 2.0, 0.0, 0.0}));
}

TEST(Tabular, StandardComputesInDoubleAndCastsOnce) {
  const json column = {{"field", "x"},
                       {"transform", {{"type", "standard"}, {"mean", 0.3}, {"scale", 0.7}}}};
  const Tensor f32 = tabular(json::array({column}), {{{"x", 0.1}}});
  EXPECT_EQ(values_of(f32)[0], static_cast<double>(static_cast<float>((0.1 - 0.3) / 0.7)));
  const Tensor f64 = tabular(json::array({column}), {{{"x", 0.1}}},
                             {{"output", {{"name", "x"}, {"dtype", "float64"}}}});
  EXPECT_EQ(f64.name(), "x");
  EXPECT_EQ(f64.dtype(), DType::kFloat64);
  EXPECT_EQ(values_of(f64)[0], (0.1 - 0.3) / 0.7);
}

TEST(Tabular, MinMaxMapsOntoTheRange) {
  const Tensor features = tabular(
      {{{"field", "income"}, {"transform", {{"type", "minmax"}, {"min", 0}, {"max", 200000}}}},
       {{"field", "income"},
        {"transform", {{"type", "minmax"}, {"min", 0}, {"max", 200000}, {"range", {-1, 1}}}}},
       {{"field", "income"},
        {"transform", {{"type", "minmax"}, {"min", 0}, {"max", 200000}, {"clip", true}}}},
       {{"field", "income"}, {"transform", {{"type", "minmax"}, {"min", 7}, {"max", 7}}}}},
      {{{"income", 50000}}, {{"income", 300000}}}, {{"output", {{"dtype", "float64"}}}});
  expect_near_all(values_of(features),
                  {0.25, -0.5, 0.25, 50000 - 7.0, 1.5, 2.0, 1.0, 300000 - 7.0});
}

TEST(Tabular, OneHotMarksTheCategory) {
  const json transform = {{"type", "onehot"}, {"categories", {"DE", "FR", "IT"}}};
  const Tensor features = tabular({{{"field", "country"}, {"transform", transform}}},
                                  {{{"country", "FR"}}, {{"country", "IT"}}});
  EXPECT_EQ(features.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values_of(features), (std::vector<double>{0, 1, 0, 0, 0, 1}));
}

TEST(Tabular, OneHotNumericCategories) {
  const Tensor features =
      tabular({{{"field", "n"}, {"transform", {{"type", "onehot"}, {"categories", {1, 2}}}}}},
              {{{"n", 2}}, {{"n", 1.0}}});
  EXPECT_EQ(values_of(features), (std::vector<double>{0, 1, 1, 0}));
}

TEST(Tabular, OneHotUnknownPolicies) {
  const json rows = {{{"country", "DE"}}, {{"country", "FR"}}, {{"country", "XX"}}};
  const auto column = [](const char* policy) {
    return json{
        {"field", "country"},
        {"transform",
         {{"type", "onehot"}, {"categories", {"DE", "FR", "IT"}}, {"handle_unknown", policy}}}};
  };
  EXPECT_EQ(values_of(tabular(json::array({column("ignore")}), rows)),
            (std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 0}));
  // The width stays len(categories); the last category stands for the infrequent bucket.
  const Tensor infrequent = tabular(json::array({column("infrequent")}), rows);
  EXPECT_EQ(infrequent.shape(), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(values_of(infrequent), (std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(preprocess_error({{"columns", {column("error")}}}, {{"instances", rows}}),
            "[replay.preprocess.unknown_category] /instances/2/country: unknown category 'XX' "
            "(handle_unknown is error)");
  // sklearn's default is "error".
  json no_policy = column("error");
  no_policy["transform"].erase("handle_unknown");
  EXPECT_NE(preprocess_error({{"columns", {no_policy}}}, {{"instances", rows}}), "");
}

TEST(Tabular, OrdinalIndexesAndUnknownValue) {
  const json transform = {
      {"type", "ordinal"}, {"categories", {"a", "b", "c"}}, {"unknown_value", -1}};
  EXPECT_EQ(values_of(tabular({{{"field", "d"}, {"transform", transform}}},
                              {{{"d", "c"}}, {{"d", "a"}}, {{"d", "z"}}})),
            (std::vector<double>{2, 0, -1}));
  json nan_transform = transform;
  nan_transform["unknown_value"] = nullptr;
  EXPECT_TRUE(std::isnan(
      values_of(tabular({{{"field", "d"}, {"transform", nan_transform}}}, {{{"d", "z"}}}))[0]));
  json strict = transform;
  strict.erase("unknown_value");
  EXPECT_EQ(
      preprocess_error({{"columns", {{{"field", "d"}, {"transform", strict}}}}},
                       {{"instances", {{{"d", "b"}}, {{"d", 7}}}}}),
      "[replay.preprocess.unknown_category] /instances/1/d: unknown category 7 (no unknown_value)");
}

TEST(Tabular, PassthroughNumbersAndBools) {
  const Tensor features =
      tabular({{{"field", "score"}, {"transform", {{"type", "passthrough"}}}},
               {{"field", "flag"}}},  // no transform: passthrough
              {{{"score", 2.5}, {"flag", true}}, {{"score", -3}, {"flag", false}}});
  EXPECT_EQ(values_of(features), (std::vector<double>{2.5, 1, -3, 0}));
  EXPECT_EQ(
      preprocess_error({{"columns", {{{"field", "score"}}}}},
                       {{"instances", {{{"score", "high"}}}}}),
      "[replay.preprocess.value] /instances/0/score: expected a number, got the string \"high\"");
}

TEST(Tabular, ImputesMissingAndNullBeforeTheTransform) {
  const Tensor features = tabular(
      {{{"field", "age"},
        {"impute", 40},
        {"transform", {{"type", "standard"}, {"mean", 30}, {"scale", 5}}}},
       {{"field", "country"},
        {"impute", {{"strategy", "constant"}, {"value", "FR"}}},
        {"transform", {{"type", "onehot"}, {"categories", {"DE", "FR"}}}}}},
      {{{"age", 35}, {"country", "DE"}}, json::object(), {{"age", nullptr}, {"country", nullptr}}},
      {{"output", {{"dtype", "float64"}}}});
  EXPECT_EQ(values_of(features), (std::vector<double>{1, 1, 0, 2, 0, 1, 2, 0, 1}));
}

TEST(Tabular, MissingWithoutImputeNamesThePointer) {
  const json spec = {{"columns", {{{"field", "age"}}, {{"field", "a/b"}}}}};
  EXPECT_EQ(
      preprocess_error(spec, {{"instances", {{{"age", 1}, {"a/b", 2}}, {{"a/b", 2}}}}}),
      "[replay.preprocess.missing_field] /instances/1/age: missing and the column has no impute");
  EXPECT_EQ(
      preprocess_error(spec, {{"instances", {{{"age", 1}, {"a/b", nullptr}}}}}),
      "[replay.preprocess.missing_field] /instances/0/a~1b: null and the column has no impute");
}

TEST(Tabular, ConcatenatesColumnsInSpecOrder) {
  const Tensor features =
      tabular({{{"field", "c"}, {"transform", {{"type", "onehot"}, {"categories", {"x", "y"}}}}},
               {{"field", "a"}},
               {{"field", "b"}, {"transform", {{"type", "ordinal"}, {"categories", {"p", "q"}}}}},
               {{"field", "a"}, {"transform", {{"type", "standard"}, {"mean", 1}, {"scale", 2}}}}},
              {{{"a", 5}, {"b", "q"}, {"c", "y"}}, {{"c", "x"}, {"b", "p"}, {"a", -1}}});
  EXPECT_EQ(features.shape(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(values_of(features), (std::vector<double>{0, 1, 5, 1, 2, 1, 0, -1, 0, -1}));
}

TEST(Tabular, ArrayRowsAreIndexedByInteger) {
  const json spec = {
      {"rows", "/data/rows"},
      {"columns",
       {{{"field", 2}},
        {{"field", 0}, {"transform", {{"type", "standard"}, {"mean", 1}, {"scale", 2}}}}}}};
  const std::vector<Tensor> features =
      make_preprocessor(spec)->run({{"data", {{"rows", {{5, 0, 7}, {3, 0, -1}}}}}});
  ASSERT_EQ(features.size(), 1u);
  EXPECT_EQ(values_of(features[0]), (std::vector<double>{7, 2, -1, 1}));
  EXPECT_EQ(
      preprocess_error(spec, {{"data", {{"rows", {{5, 0, 7}, {3, 0}}}}}}),
      "[replay.preprocess.missing_field] /data/rows/1/2: missing and the column has no impute");
  EXPECT_EQ(preprocess_error(spec, {{"data", {{"rows", {{{"a", 1}}}}}}}),
            "[replay.preprocess.row] /data/rows/0: expected an array (field 2 is an index), got an "
            "object");
}

TEST(Tabular, ZeroRowsGiveAnEmptyBatch) {
  const Tensor features =
      tabular({{{"field", "c"}, {"transform", {{"type", "onehot"}, {"categories", {"x", "y"}}}}}},
              json::array());
  EXPECT_EQ(features.shape(), (std::vector<int64_t>{0, 2}));
}

TEST(Tabular, RowsErrors) {
  const json spec = {{"columns", {{{"field", "a"}}}}};
  EXPECT_EQ(preprocess_error(spec, {{"rows", json::array()}}),
            "[replay.preprocess.rows] /instances: not in the payload (the spec's \"rows\")");
  EXPECT_EQ(preprocess_error(spec, {{"instances", {{"a", 1}}}}),
            "[replay.preprocess.rows] /instances: expected a list of rows, got an object");
  EXPECT_EQ(
      preprocess_error(spec, {{"instances", {"x"}}}),
      "[replay.preprocess.row] /instances/0: expected an object (field 'a' is a name), got the "
      "string \"x\"");
}

TEST(Tabular, SpecErrorsNameThePointerInTheSpec) {
  EXPECT_EQ(
      spec_error(
          {{"columns", {{{"field", "a"}}, {{"field", "b"}, {"transform", {{"type", "zscore"}}}}}}}),
      "[replay.config.preprocess] /columns/1/transform/type: unknown transform \"zscore\" "
      "(expected passthrough, standard, minmax, onehot or ordinal)");
  EXPECT_EQ(
      spec_error({{"columns",
                   {{{"field", "a"}, {"transform", {{"type", "onehot"}, {"categories", "DE"}}}}}}}),
      "[replay.config.preprocess] /columns/0/transform/categories: expected a list, got the "
      "string \"DE\"");
  EXPECT_EQ(
      spec_error({{"columns",
                   {{{"field", "a"},
                     {"transform",
                      {{"type", "onehot"}, {"categories", {"x"}}, {"handle_unknown", "drop"}}}}}}}),
      "[replay.config.preprocess] /columns/0/transform/handle_unknown: expected \"error\", "
      "\"ignore\" or \"infrequent\", got \"drop\"");
  EXPECT_EQ(spec_error({{"columns",
                         {{{"field", "a"}, {"transform", {{"type", "standard"}, {"scael", 2}}}}}}}),
            "[replay.config.preprocess] /columns/0/transform/scael: unknown key");
  EXPECT_EQ(spec_error(
                {{"columns", {{{"field", "a"}, {"transform", {{"type", "minmax"}, {"min", 0}}}}}}}),
            "[replay.config.preprocess] /columns/0/transform/max: missing (a number is required)");
  EXPECT_EQ(spec_error({{"columns", {{{"field", -1}}}}}),
            "[replay.config.preprocess] /columns/0/field: expected a name or a non-negative index, "
            "got -1");
  EXPECT_EQ(
      spec_error({{"columns", {{{"field", "a"}, {"impute", {{"strategy", "mean"}}}}}}}),
      "[replay.config.preprocess] /columns/0/impute/value: missing (the constant, or the fitted "
      "statistic)");
  EXPECT_EQ(spec_error({{"rows", "instances"}, {"columns", {{{"field", "a"}}}}}),
            "[replay.config.preprocess] /rows: not a JSON pointer: \"instances\"");
  EXPECT_EQ(
      spec_error({{"output", {{"dtype", "int64"}}}, {"columns", {{{"field", "a"}}}}}),
      "[replay.config.preprocess] /output/dtype: expected a floating dtype (float32, float64), "
      "got \"int64\"");
  EXPECT_EQ(spec_error({{"rows", "/instances"}}),
            "[replay.config.preprocess] /columns: missing (the list of columns)");
  EXPECT_EQ(spec_error({{"type", "tabular"}, {"columns", json::array()}}),
            "[replay.config.preprocess] /columns: expected a non-empty list");
  // The known types, sorted: the built-ins and the adapters' (command, tabular).
  EXPECT_EQ(spec_error({{"type", "pandas"}})
                .rfind("[replay.config.preprocess] /type: unknown preprocessor \"pandas\" (known: "
                       "command, default, tabular",
                       0),
            0u);
  EXPECT_EQ(spec_error("tabular"),
            "[replay.config.preprocess] expected an object or null, got a string");
}

// ---- Default preprocessor -------------------------------------------------------------------

TEST(DefaultPreprocessor, ReadsEachKeyAsFloat32) {
  for (const char* key : {"input", "inputs", "instances"}) {
    const std::vector<Tensor> features =
        make_preprocessor(nullptr)->run({{key, {{1, 2.5, 3}, {4, 5, 6}}}});
    ASSERT_EQ(features.size(), 1u) << key;
    EXPECT_EQ(features[0].name(), "input") << key;
    EXPECT_EQ(features[0].dtype(), DType::kFloat32) << key;
    EXPECT_EQ(features[0].shape(), (std::vector<int64_t>{2, 3})) << key;
    EXPECT_EQ(values_of(features[0]), (std::vector<double>{1, 2.5, 3, 4, 5, 6})) << key;
  }
  // Integers and float64 precision both become float32.
  const Tensor ints = make_preprocessor(nullptr)->run({{"input", {1, 2}}})[0];
  EXPECT_EQ(ints.dtype(), DType::kFloat32);
  const Tensor fine = make_preprocessor(nullptr)->run({{"input", {0.1}}})[0];
  EXPECT_EQ(values_of(fine)[0], static_cast<double>(0.1f));
  EXPECT_EQ(make_preprocessor({{"type", "default"}})->run({{"input", {{7}}}})[0].shape(),
            (std::vector<int64_t>{1, 1}));
}

TEST(DefaultPreprocessor, JsonTensorKeepsItsStatedDtype) {
  const Tensor ids = make_preprocessor(nullptr)->run(
      {{"inputs", {{"dtype", "int64"}, {"shape", {1, 3}}, {"data", {101, 2023, 102}}}}})[0];
  EXPECT_EQ(ids.name(), "input");
  EXPECT_EQ(ids.dtype(), DType::kInt64);
  EXPECT_EQ(ids.shape(), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(values_of(ids), (std::vector<double>{101, 2023, 102}));
  const Tensor doubles = make_preprocessor(nullptr)->run(
      {{"input", {{"dtype", "float64"}, {"shape", {2}}, {"data", {0.1, 0.2}}}}})[0];
  EXPECT_EQ(doubles.dtype(), DType::kFloat64);
  EXPECT_EQ(values_of(doubles), (std::vector<double>{0.1, 0.2}));
}

TEST(DefaultPreprocessor, ErrorsNameThePointer) {
  const auto run = [](const json& payload) { return preprocess_error(nullptr, payload); };
  EXPECT_EQ(
      run({{"features", {1}}}),
      "[replay.preprocess.payload] (the payload): none of \"input\", \"inputs\", \"instances\" "
      "(keys: \"features\"); set \"preprocess\" in the config for other payloads");
  EXPECT_EQ(run({1, 2}),
            "[replay.preprocess.payload] (the payload): expected an object with \"input\", "
            "\"inputs\" or \"instances\", got an array");
  EXPECT_EQ(run({{"input", {{1, 2}, {"a", 3}}}}),
            "[replay.preprocess.input] /input/1/0: expected a number, got the string \"a\"");
  EXPECT_EQ(
      run({{"instances", {{{"age", 3}}}}}).rfind("[replay.preprocess.input] /instances/0: ", 0),
      0u);
  EXPECT_EQ(run({{"input", {{1, 2}, {3}}}}).rfind("[replay.preprocess.input] /input/1: ragged", 0),
            0u);
  EXPECT_EQ(run({{"input", {1, nullptr}}}),
            "[replay.preprocess.input] /input/1: expected a number, got null");
}

// ---- Postprocessors -------------------------------------------------------------------------

Tensor floats(const std::vector<int64_t>& shape, const std::vector<double>& values,
              const std::string& name = "output") {
  return Tensor::from_doubles(name, DType::kFloat32, shape, values);
}

TEST(Postprocess, ArgmaxOverTheLastAxisByDefault) {
  const std::vector<Tensor> labels =
      make_postprocessor({{"type", "argmax"}})
          ->run({floats({3, 3}, {0.1, 0.7, 0.2, 2, 2, 1, -1, -3, -0.5})});
  ASSERT_EQ(labels.size(), 1u);
  EXPECT_EQ(labels[0].name(), "prediction");
  EXPECT_EQ(labels[0].dtype(), DType::kInt64);
  EXPECT_EQ(labels[0].shape(), (std::vector<int64_t>{3}));
  EXPECT_EQ(values_of(labels[0]), (std::vector<double>{1, 0, 2}));  // a tie gives the first
}

TEST(Postprocess, ArgmaxOverAGivenAxis) {
  const Tensor scores = floats({2, 3}, {1, 5, 0, 4, 2, 0});
  EXPECT_EQ(values_of(make_postprocessor({{"type", "argmax"}, {"axis", 0}})->run({scores})[0]),
            (std::vector<double>{1, 0, 0}));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(
      values_of(make_postprocessor({{"type", "argmax"}})->run({floats({1, 3}, {1, nan, 5})})[0]),
      (std::vector<double>{1}));
  EXPECT_EQ(
      error_of([&] {
        make_postprocessor({{"type", "argmax"}, {"axis", 2}})->run({scores});
      }),
      "[replay.postprocess.argmax] axis 2 is out of range for output 'output' of shape [2, 3]");
}

TEST(Postprocess, ThresholdWithAndWithoutSigmoid) {
  const std::vector<Tensor> labels =
      make_postprocessor({{"type", "threshold"}, {"apply", "sigmoid"}})
          ->run({floats({4, 1}, {-1, 0, 0.01, 3})});
  EXPECT_EQ(labels[0].name(), "prediction");
  EXPECT_EQ(labels[0].dtype(), DType::kInt64);
  EXPECT_EQ(labels[0].shape(), (std::vector<int64_t>{4, 1}));
  // sigmoid(0) = 0.5 is not above the threshold, as in sklearn's predict.
  EXPECT_EQ(values_of(labels[0]), (std::vector<double>{0, 0, 1, 1}));
  EXPECT_EQ(
      values_of(make_postprocessor({{"type", "threshold"}, {"threshold", 0.25}, {"apply", "none"}})
                    ->run({floats({3}, {0.2, 0.25, 0.9})})[0]),
      (std::vector<double>{0, 0, 1}));
}

TEST(Postprocess, IdentityKeepsEveryOutput) {
  const std::vector<Tensor> outputs = {floats({2, 3}, {1, 2, 3, 4, 5, 6}), floats({1}, {9}, "aux")};
  const std::vector<Tensor> same = make_postprocessor({{"type", "identity"}})->run(outputs);
  ASSERT_EQ(same.size(), 2u);
  EXPECT_EQ(same[1].name(), "aux");
  EXPECT_EQ(values_of(same[0]), values_of(outputs[0]));
}

TEST(Postprocess, DefaultIsArgmaxForClassScoresElseIdentity) {
  const auto postprocessor = make_postprocessor(nullptr);
  const std::vector<Tensor> labels = postprocessor->run({floats({2, 3}, {0, 1, 0, 3, 2, 1})});
  EXPECT_EQ(labels[0].name(), "prediction");
  EXPECT_EQ(values_of(labels[0]), (std::vector<double>{1, 0}));
  EXPECT_EQ(postprocessor->run({floats({2, 1}, {0.3, 0.8})})[0].name(), "output");
  EXPECT_EQ(postprocessor->run({floats({6}, {0, 1, 2, 3, 4, 5})})[0].name(), "output");
  const Tensor ints = Tensor::from_doubles("output", DType::kInt64, {2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(postprocessor->run({ints})[0].dtype(), DType::kInt64);
  EXPECT_TRUE(postprocessor->run({}).empty());
}

TEST(Postprocess, SpecErrors) {
  const auto error = [](const json& spec) { return error_of([&] { make_postprocessor(spec); }); };
  EXPECT_EQ(
      error({{"type", "softmax"}})
          .rfind("[replay.config.postprocess] /type: unknown postprocessor \"softmax\" (known: "
                 "argmax, command, identity, ",
                 0),
      0u);
  EXPECT_EQ(error({{"type", "threshold"}, {"apply", "tanh"}}),
            "[replay.config.postprocess] /apply: expected \"sigmoid\" or \"none\", got \"tanh\"");
  EXPECT_EQ(
      error({{"axis", 1}}).rfind("[replay.config.postprocess] /type: missing (known: argmax, ", 0),
      0u);
  EXPECT_EQ(error({{"type", "argmax"}, {"axis", "last"}}),
            "[replay.config.postprocess] /axis: expected an integer, got \"last\"");
  EXPECT_EQ(error_of([] {
              make_postprocessor({{"type", "argmax"}})->run({});
            }),
            "[replay.postprocess.argmax] the model gave no outputs");
}

// ---- Registration ---------------------------------------------------------------------------

class DoublingPreprocessor : public Preprocessor {
 public:
  explicit DoublingPreprocessor(double factor) : factor_(factor) {}
  std::vector<Tensor> run(const json& payload) const override {
    return {
        Tensor::from_doubles("x", DType::kFloat32, {1}, {payload.at("v").get<double>() * factor_})};
  }

 private:
  double factor_;
};

TEST(Registry, CustomPreprocessorByType) {
  EXPECT_EQ(
      spec_error({{"type", "test-doubling"}})
          .rfind("[replay.config.preprocess] /type: unknown preprocessor \"test-doubling\"", 0),
      0u);
  register_preprocessor("test-doubling", [](const json& spec) {
    return std::make_unique<DoublingPreprocessor>(spec.value("factor", 2.0));
  });
  const std::vector<Tensor> features =
      make_preprocessor({{"type", "test-doubling"}, {"factor", 3}})->run({{"v", 1.5}});
  ASSERT_EQ(features.size(), 1u);
  EXPECT_EQ(features[0].name(), "x");
  EXPECT_EQ(values_of(features[0]), (std::vector<double>{4.5}));
}

TEST(Registry, CustomPostprocessorByType) {
  class Negate : public Postprocessor {
   public:
    std::vector<Tensor> run(const std::vector<Tensor>& outputs) const override {
      std::vector<double> values = outputs.front().to_doubles();
      for (double& value : values) value = -value;
      return {Tensor::from_doubles("negated", DType::kFloat64, outputs.front().shape(), values)};
    }
  };
  register_postprocessor("test-negate", [](const json&) { return std::make_unique<Negate>(); });
  const std::vector<Tensor> result =
      make_postprocessor({{"type", "test-negate"}})->run({floats({2}, {1, -2})});
  EXPECT_EQ(result[0].name(), "negated");
  EXPECT_EQ(values_of(result[0]), (std::vector<double>{-1, 2}));
}

}  // namespace
}  // namespace replay
