// Tensors in JSON (harness/tensor_io.h): the documented tensor form, nested lists, round trips.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "harness/error.h"
#include "harness/tensor.h"
#include "harness/tensor_io.h"

namespace replay {
namespace {

using nlohmann::json;

std::string error_id(const json& value, std::string* message = nullptr) {
  try {
    tensor_from_json("t", value, "f.json: /x");
  } catch (const Error& error) {
    if (message != nullptr) *message = error.what();
    return error.id();
  }
  return "";
}

TEST(TensorJson, TensorFormKeepsDtypeAndShape) {
  const Tensor t = tensor_from_json(
      "x", json::parse(R"({"dtype": "float32", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6.5]})"),
      "w");
  EXPECT_EQ(t.name(), "x");
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_FALSE(t.dtype_inferred());
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.data_as<float>()[5], 6.5f);
  EXPECT_EQ(t.element_as_double(4), 5.0);
}

TEST(TensorJson, NestedListsInferTheirDtype) {
  const Tensor floats = tensor_from_json("f", json::parse("[[1, 2.5], [3, 4]]"), "w");
  EXPECT_EQ(floats.dtype(), DType::kFloat64);
  EXPECT_TRUE(floats.dtype_inferred());
  EXPECT_EQ(floats.shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(floats.to_doubles(), (std::vector<double>{1, 2.5, 3, 4}));

  const Tensor ints = tensor_from_json("i", json::parse("[1, 2, 3]"), "w");
  EXPECT_EQ(ints.dtype(), DType::kInt64);
  EXPECT_EQ(ints.shape(), (std::vector<int64_t>{3}));

  const Tensor bools = tensor_from_json("b", json::parse("[[true], [false]]"), "w");
  EXPECT_EQ(bools.dtype(), DType::kBool);

  const Tensor scalar = tensor_from_json("s", json(2.5), "w");
  EXPECT_TRUE(scalar.shape().empty());
  EXPECT_EQ(scalar.numel(), 1);
}

TEST(TensorJson, NullAndSpecialStringsAreNonFinite) {
  const Tensor t = tensor_from_json("x", json::parse(R"([null, "NaN", "Infinity", "-Infinity", 1.5])"), "w");
  ASSERT_EQ(t.dtype(), DType::kFloat64);
  const auto v = t.to_doubles();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_EQ(v[2], std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[3], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[4], 1.5);
}

TEST(TensorJson, EveryDtypeRoundTrips) {
  for (const char* name : {"bool", "uint8", "int8", "int16", "int32", "int64", "float16",
                           "bfloat16", "float32", "float64"}) {
    const json in = {{"dtype", name}, {"shape", {2, 2}}, {"data", {0, 1, 1, 0}}};
    const Tensor t = tensor_from_json("x", in, "w");
    EXPECT_EQ(dtype_name(t.dtype()), name);
    const json out = tensor_to_json(t);
    EXPECT_EQ(out["dtype"], name);
    EXPECT_EQ(out["shape"], json({2, 2}));
    const Tensor back = tensor_from_json("x", out, "w");
    EXPECT_EQ(back.to_doubles(), t.to_doubles()) << name;
  }
}

TEST(TensorJson, FloatsRoundTripExactly) {
  Tensor t = Tensor::from_doubles("x", DType::kFloat64, {3},
                                  {0.1, 1.0 / 3.0, std::numeric_limits<double>::denorm_min()});
  const Tensor back = tensor_from_json("x", json::parse(tensor_to_json(t).dump()), "w");
  EXPECT_EQ(back.to_doubles(), t.to_doubles());

  Tensor special = Tensor::from_doubles("y", DType::kFloat32, {2},
                                        {std::nan(""), -std::numeric_limits<double>::infinity()});
  const json j = tensor_to_json(special);
  EXPECT_EQ(j["data"][0], "NaN");
  EXPECT_EQ(j["data"][1], "-Infinity");
}

TEST(TensorJson, ErrorsNameThePlace) {
  std::string message;
  EXPECT_EQ(error_id(json::parse("[[1, 2], [3]]"), &message), "tensor.json");
  EXPECT_NE(message.find("f.json: /x"), std::string::npos) << message;
  EXPECT_EQ(error_id(json::parse(R"({"dtype": "float32", "shape": [2, 2], "data": [1, 2, 3]})"),
                     &message),
            "tensor.json");
  EXPECT_EQ(error_id(json::parse(R"({"dtype": "complex64", "shape": [1], "data": [1]})")),
            "tensor.json");
  EXPECT_EQ(error_id(json::parse(R"([1, "two"])")), "tensor.json");
  EXPECT_EQ(error_id(json::parse(R"({"dtype": "bool", "shape": [1], "data": [2]})")),
            "tensor.json");
  EXPECT_EQ(error_id(json::parse(R"({"dtype": "float32", "shape": [-1], "data": []})")),
            "tensor.json");
}

TEST(TensorJson, RecognisesTheTensorForm) {
  EXPECT_TRUE(is_json_tensor_object(json::parse(R"({"dtype": "int64", "shape": [], "data": [1]})")));
  EXPECT_FALSE(is_json_tensor_object(json::parse(R"({"input": [1]})")));
  EXPECT_FALSE(is_json_tensor_object(json::parse("[1, 2]")));
}

}  // namespace
}  // namespace replay
