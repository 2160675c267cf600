// tensor_from_json decoding without a string per element (harness/tensor_io.h): an element's
// place is spelled only in a message, and exactly as before (nested and flat data, both json
// flavours); a capture's ordered_json decodes to the same tensor as json.
#include <gtest/gtest.h>

#include <cstring>

#include "harness/error.h"
#include "harness/tensor_io.h"

namespace replay {
namespace {

template <class Json>
std::string message_of(const std::string& text) {
  try {
    tensor_from_json("x", Json::parse(text), "f.json: /x");
  } catch (const Error& error) {
    return error.id() + " " + error.message();
  }
  return "no error";
}

TEST(TensorJsonPlaces, MessagesNameTheElement) {
  for (auto message : {message_of<nlohmann::json>, message_of<nlohmann::ordered_json>}) {
    EXPECT_EQ(message(R"({"dtype": "uint8", "shape": [2, 2], "data": [1, 2, 3, 300]})"),
              "tensor.json f.json: /x/data/3: 300 is out of range for uint8");
    EXPECT_EQ(message(R"({"dtype": "uint8", "shape": [2, 2], "data": [[1, 2], [300, 4]]})"),
              "tensor.json f.json: /x/data/1/0: 300 is out of range for uint8");
    EXPECT_EQ(message(R"({"dtype": "bool", "shape": [3], "data": [1, 0, 2]})"),
              "tensor.json f.json: /x/data/2: 2.0 is not a bool (0 or 1)");
    EXPECT_EQ(message(R"([[1, 2], [3, "four"]])"),
              "tensor.json f.json: /x/1/1: expected a number, got the string \"four\"");
    EXPECT_EQ(message(R"([[1, 2], [3]])"),
              "tensor.json f.json: /x/1: ragged nested lists: 1 elements where the first row has 2");
  }
}

TEST(TensorJsonPlaces, BothFlavoursDecodeTheSameTensor) {
  const std::string text = R"({"dtype": "float32", "shape": [2, 3], "data": [[1, 2.5, -3], [4, 5, 6e10]]})";
  const Tensor a = tensor_from_json("t", nlohmann::json::parse(text), "a");
  const Tensor b = tensor_from_json("t", nlohmann::ordered_json::parse(text), "b");
  EXPECT_EQ(a.shape(), b.shape());
  EXPECT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(a.numel(), 6);
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_EQ(a.element_as_double(i), b.element_as_double(i));
  EXPECT_EQ(a.element_as_double(5), static_cast<double>(6e10f));
  EXPECT_TRUE(is_json_tensor_object(nlohmann::ordered_json::parse(text)));
  // Integers past 2^53 still survive (int64 nested lists).
  const Tensor big = tensor_from_json("i", nlohmann::ordered_json::parse("[9007199254740993]"), "c");
  EXPECT_EQ(big.dtype(), DType::kInt64);
  int64_t value = 0;
  std::memcpy(&value, big.data(), sizeof(value));
  EXPECT_EQ(value, 9007199254740993LL);
}

}  // namespace
}  // namespace replay
