// Packed numbers (harness/json_text.h): the capture parser holds the long arrays of numbers of
// logged stages as native doubles, 8 bytes each. Checked here: which arrays are packed and which
// stay json, that every reader of a logged stage decodes the packed form exactly as it decodes
// the same text unpacked (values, dtypes, errors and their places), and that what is not a
// tensor (a logged payload, a bare payload's body) comes back as the json it was.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "harness/capture.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/protocol.h"
#include "harness/tensor_io.h"
#include "support/errors.h"

namespace replay {
namespace {

using nlohmann::ordered_json;

std::string numbers(size_t count, bool floats, size_t offset = 0) {
  std::string text = "[";
  for (size_t i = 0; i < count; ++i) {
    if (i) text += ",";
    text += floats ? std::to_string(0.25 * static_cast<double>(i + offset) - 100.5)
                   : std::to_string(static_cast<int64_t>(i + offset) - 500);
  }
  return text + "]";
}

ordered_json packed_parse(const std::string& text) {
  ordered_json value;
  EXPECT_FALSE(parse_json_checked(text, &value, JsonPacking{"stages"}).has_value()) << text.substr(0, 200);
  return value;
}

ordered_json plain_parse(const std::string& text) {
  ordered_json value;
  EXPECT_FALSE(parse_json_checked(text, &value).has_value());
  return value;
}

/// "no error" with the tensor in *out, or "<error id> <message>".
std::string decode(const ordered_json& value, Tensor* out) {
  return testing::error_of([&] { *out = tensor_from_json("t", value, "where"); });
}

void expect_same_decoding(const std::string& tensor_text) {
  SCOPED_TRACE(tensor_text.substr(0, 120));
  const std::string document = "{\"stages\": {\"outputs\": " + tensor_text + "}}";
  const ordered_json packed = packed_parse(document);
  const ordered_json plain = plain_parse(document);
  Tensor a, b;
  const std::string error_a = decode(packed["stages"]["outputs"], &a);
  const std::string error_b = decode(plain["stages"]["outputs"], &b);
  EXPECT_EQ(error_a, error_b);
  if (error_a != "no error" || error_b != "no error") return;
  EXPECT_EQ(a.dtype(), b.dtype());
  EXPECT_EQ(a.shape(), b.shape());
  EXPECT_EQ(a.dtype_inferred(), b.dtype_inferred());
  ASSERT_EQ(a.nbytes(), b.nbytes());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0);
}

TEST(JsonPacked, OnlyLongArraysOfNumbersBelowTheNamedMemberArePacked) {
  const std::string long_floats = numbers(2000, true);
  const ordered_json value = packed_parse(
      "{\"stages\": {\"outputs\": " + long_floats + ", \"short\": [1, 2, 3], \"nested\": [" +
      long_floats + ", " + long_floats + "], \"shape\": {\"dtype\": \"float32\", \"shape\": [2000], " +
      "\"data\": " + long_floats + "}}, \"meta\": {\"x\": " + long_floats + "}}");
  EXPECT_TRUE(is_packed_numbers(value["stages"]["outputs"]));
  EXPECT_EQ(packed_count(value["stages"]["outputs"]), 2000u);
  EXPECT_TRUE(value["stages"]["short"].is_array());
  ASSERT_TRUE(value["stages"]["nested"].is_array());
  EXPECT_TRUE(is_packed_numbers(value["stages"]["nested"][1]));
  EXPECT_TRUE(value["stages"]["shape"]["shape"].is_array());
  EXPECT_TRUE(is_packed_numbers(value["stages"]["shape"]["data"]));
  EXPECT_TRUE(value["meta"]["x"].is_array()) << "outside the named member";
  // The named member itself is not packed; nor one deeper than a capture's own keys.
  EXPECT_TRUE(packed_parse("{\"stages\": " + long_floats + "}")["stages"].is_array());
  EXPECT_TRUE(packed_parse("{\"meta\": {\"stages\": {\"o\": " + long_floats + "}}}")["meta"]["stages"]["o"]
                  .is_array());
  // An array of captures: each capture's stages.
  EXPECT_TRUE(is_packed_numbers(
      packed_parse("[{\"stages\": {\"o\": " + long_floats + "}}]")[0]["stages"]["o"]));
  // Exactly at the threshold, and one below.
  EXPECT_TRUE(is_packed_numbers(
      packed_parse("{\"stages\": {\"o\": " + numbers(kPackedMinNumbers, false) + "}}")["stages"]["o"]));
  EXPECT_TRUE(packed_parse("{\"stages\": {\"o\": " + numbers(kPackedMinNumbers - 1, false) + "}}")
                  ["stages"]["o"].is_array());
}

TEST(JsonPacked, AnArrayHoldingAnythingButExactNumbersStaysJsonWithItsValues) {
  const std::string head = numbers(1500, true);
  const std::string prefix = head.substr(0, head.size() - 1);  // without the closing bracket
  for (const std::string& tail : {std::string("\"NaN\""), std::string("null"), std::string("true"),
                                  std::string("[1, 2]"), std::string("{\"a\": 1}"),
                                  std::string("9007199254740993"),
                                  std::string("18446744073709551615")}) {
    SCOPED_TRACE(tail);
    const std::string text = "{\"stages\": {\"o\": " + prefix + ", " + tail + ", 1.5, 2]}}";
    const ordered_json packed = packed_parse(text);
    ASSERT_TRUE(packed["stages"]["o"].is_array());
    EXPECT_EQ(packed, plain_parse(text));
    EXPECT_EQ(packed.dump(), plain_parse(text).dump());
  }
  // 2^53 itself is exact: packed, and read back as that integer.
  const ordered_json big = packed_parse("{\"stages\": {\"o\": [9007199254740992, -9007199254740992" +
                                        numbers(1100, false).replace(0, 1, ",") + "}}");
  ASSERT_TRUE(is_packed_numbers(big["stages"]["o"]));
  const ordered_json back = unpacked_numbers(big["stages"]["o"]);
  EXPECT_EQ(back[0].get<int64_t>(), int64_t{1} << 53);
  EXPECT_EQ(back[1].get<int64_t>(), -(int64_t{1} << 53));
  EXPECT_TRUE(back[2].is_number_integer());
}

TEST(JsonPacked, TensorsDecodeAsFromTheSameTextUnpacked) {
  const std::string floats = numbers(3000, true);
  const std::string ints = numbers(3000, false);
  const std::string mixed = "[1.5," + numbers(2000, false).substr(1);
  expect_same_decoding(floats);                                  // inferred float64
  expect_same_decoding(ints);                                    // inferred int64
  expect_same_decoding(mixed);                                   // integers and floats: float64
  expect_same_decoding("[" + floats + "," + floats + "]");       // 2-D
  expect_same_decoding("{\"dtype\": \"float32\", \"shape\": [3000], \"data\": " + floats + "}");
  expect_same_decoding("{\"dtype\": \"float16\", \"shape\": [2, 1500], \"data\": " + floats + "}");
  expect_same_decoding("{\"dtype\": \"int32\", \"shape\": [3000], \"data\": " + ints + "}");
  expect_same_decoding("{\"dtype\": \"bool\", \"shape\": [3000], \"data\": " + ints + "}");
  // Errors, with the same message and place.
  expect_same_decoding("{\"dtype\": \"int8\", \"shape\": [3000], \"data\": " + ints + "}");
  expect_same_decoding("{\"dtype\": \"int64\", \"shape\": [3000], \"data\": " + floats + "}");
  expect_same_decoding("{\"dtype\": \"float32\", \"shape\": [2999], \"data\": " + floats + "}");
  expect_same_decoding("[" + floats + "," + numbers(2999, true) + "]");  // ragged
  expect_same_decoding("[" + floats + ", 1.5]");                          // a number beside a list
  expect_same_decoding("[[" + floats + "]," + floats + "]");              // a list beside lists
}

TEST(JsonPacked, CapturesReadPackedStagesAndGiveBackTheJsonOfPayloads) {
  const std::string floats = numbers(2500, true);
  const std::string text = "{\"format\": 1, \"request\": {\"method\": \"POST\", \"path\": \"/p\", "
                           "\"body\": \"{}\"}, \"stages\": {\"payload\": {\"x\": " + floats +
                           "}, \"outputs\": " + floats + ", \"layers/fc1\": " + floats + "}}";
  const std::vector<Capture> captures = parse_captures(text, "c.json");
  ASSERT_EQ(captures.size(), 1u);
  const Capture& capture = captures[0];
  ASSERT_TRUE(capture.logged_payload.has_value());
  EXPECT_EQ(*capture.logged_payload, nlohmann::json::parse("{\"x\": " + floats + "}"));
  ASSERT_EQ(capture.stages.count(Stage::kOutputs), 1u);
  const Tensor& outputs = capture.stages.at(Stage::kOutputs).front();
  EXPECT_EQ(outputs.shape(), std::vector<int64_t>{2500});
  EXPECT_EQ(outputs.element_as_double(7), 0.25 * 7 - 100.5);
  ASSERT_EQ(capture.layers.size(), 1u);
  EXPECT_EQ(capture.layers[0].numel(), 2500);

  // A bare payload in an array of captures: its body is the json it was, not a binary value.
  const std::string bare = "[{\"stages\": {\"x\": " + floats + "}}, {\"a\": 1}]";
  const std::vector<Capture> bodies = parse_captures(bare, "b.json");
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(bodies[0].request.body),
            nlohmann::json::parse("{\"stages\": {\"x\": " + floats + "}}"));

}

TEST(JsonPacked, AShapeOfOverAThousandDimensionsIsReadAsUnpacked) {
  std::string ones = "[1";
  for (size_t i = 1; i < 1100; ++i) ones += ",1";
  ones += "]";
  expect_same_decoding("{\"dtype\": \"float32\", \"shape\": " + ones + ", \"data\": [1.5]}");
  EXPECT_TRUE(is_packed_numbers(packed_parse("{\"stages\": {\"o\": {\"dtype\": \"float32\", \"shape\": " +
                                             ones + ", \"data\": [1.5]}}}")["stages"]["o"]["shape"]));
}

/// The generic JSON codec reads remote answers packed everywhere: what it makes of one must be
/// what the text says, unpacked.
TEST(JsonPacked, TheJsonCodecReadsALongAnswerAsItsText) {
  const std::string prediction = numbers(2000, true);
  const std::string payload = "{\"x\": " + numbers(1500, false) + ", \"name\": \"a\"}";
  const std::string features = "[" + numbers(1024, true) + "," + numbers(1024, true, 7) + "]";
  const std::string labels = numbers(1200, false);
  TransportResponse answer;
  answer.status = 200;
  answer.body = "{\"prediction\": " + prediction + ", \"labels\": " + labels +
                ", \"debug\": {\"payload\": " + payload + ", \"features\": " + features + "}}";
  const auto expect_tensor = [](const ResponseField& field, const std::string& text) {
    ASSERT_EQ(field.tensors.size(), 1u) << field.location;
    const Tensor expected = tensor_from_json("x", nlohmann::json::parse(text), "expected");
    EXPECT_EQ(field.tensors[0].dtype(), expected.dtype()) << field.location;
    EXPECT_EQ(field.tensors[0].shape(), expected.shape()) << field.location;
    ASSERT_EQ(field.tensors[0].nbytes(), expected.nbytes());
    EXPECT_EQ(std::memcmp(field.tensors[0].data(), expected.data(), expected.nbytes()), 0)
        << field.location;
  };
  {
    auto codec = make_protocol("json", {});
    const DecodedResponse decoded = codec->decode_response(answer, "POST http://h/predict");
    std::map<std::string, const ResponseField*> by_location;
    for (const ResponseField& field : decoded.fields) by_location[field.location] = &field;
    ASSERT_EQ(by_location.count("/prediction"), 1u);
    expect_tensor(*by_location["/prediction"], prediction);
    ASSERT_EQ(by_location.count("/labels"), 1u);
    expect_tensor(*by_location["/labels"], labels);
    ASSERT_EQ(by_location.count("/debug/features"), 1u);
    expect_tensor(*by_location["/debug/features"], features);
    ASSERT_EQ(by_location.count("/debug/payload"), 1u);
    EXPECT_EQ(by_location["/debug/payload"]->json, nlohmann::json::parse(payload));
    // The long lists' tensors took the packed bytes over; the summary says what they held.
    const std::string summary = decoded.summary();
    EXPECT_EQ(summary.find("binary"), std::string::npos) << summary;
    EXPECT_NE(summary.find("/prediction (float64 [2000])"), std::string::npos) << summary;
    EXPECT_NE(summary.find("/labels (int64 [1200])"), std::string::npos) << summary;
  }
  {
    // One long list named by two stages (outputs by the config, prediction by its default
    // location): taken once, both fields the text's tensor, sharing its bytes.
    ProtocolOptions options;
    const auto index = static_cast<size_t>(Stage::kOutputs);
    options.stage_locations[index] = {"/prediction"};
    options.stage_configured[index] = true;
    auto codec = make_protocol("json", options);
    const DecodedResponse decoded = codec->decode_response(answer, "POST http://h/predict");
    std::vector<const ResponseField*> found;
    for (const ResponseField& field : decoded.fields) {
      if (field.location == "/prediction") found.push_back(&field);
    }
    ASSERT_EQ(found.size(), 2u);
    expect_tensor(*found[0], prediction);
    expect_tensor(*found[1], prediction);
    EXPECT_EQ(found[0]->tensors[0].name(), "output");
    EXPECT_EQ(found[1]->tensors[0].name(), "prediction");
    EXPECT_EQ(found[0]->tensors[0].data(), found[1]->tensors[0].data());
  }
  {
    // A configured pointer to one element of a long list.
    ProtocolOptions options;
    const auto index = static_cast<size_t>(Stage::kPrediction);
    options.stage_locations[index] = {"/labels/5"};
    options.stage_configured[index] = true;
    auto codec = make_protocol("json", options);
    const DecodedResponse decoded = codec->decode_response(answer, "POST http://h/predict");
    const ResponseField* found = nullptr;
    for (const ResponseField& field : decoded.fields) {
      if (field.location == "/labels/5") found = &field;
    }
    ASSERT_NE(found, nullptr);
    expect_tensor(*found, "-495");
  }
}

}  // namespace
}  // namespace replay
