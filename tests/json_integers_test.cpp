// Integers and JSON pointers read from configs and captures (harness/json_text.h: json_integer,
// find_json_pointer, json_pointer_problem): a value that does not fit is refused with the file's
// schema id, never wrapped (version 4294967297 is not version 1) and never an internal error.
#include <gtest/gtest.h>

#include "harness/capture.h"
#include "harness/config.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "support/errors.h"

namespace replay {
namespace {

using nlohmann::json;

using testing::error_of;

TEST(JsonInteger, RefusesWhatDoesNotFitInsteadOfWrapping) {
  EXPECT_EQ(json_integer(json(1), 1, 1), 1);
  EXPECT_EQ(json_integer(json(4294967297LL), 1, 1), std::nullopt);
  EXPECT_EQ(json_integer(json(4294967297LL), 0, INT32_MAX), std::nullopt);
  EXPECT_EQ(json_integer(json(18446744073709551615ULL), 0, INT64_MAX), std::nullopt);
  EXPECT_EQ(json_integer(json(9223372036854775807ULL), 0, INT64_MAX), INT64_MAX);
  EXPECT_EQ(json_integer(json(-5), -10, 10), -5);
  EXPECT_EQ(json_integer(json(-5), 0, 10), std::nullopt);
  EXPECT_EQ(json_integer(json(3u), -10, -1), std::nullopt);
  EXPECT_EQ(json_integer(json(1.0), 0, 10), std::nullopt);  // a float is not an integer
  EXPECT_EQ(json_integer(json("1"), 0, 10), std::nullopt);
  EXPECT_EQ(json_integer(nlohmann::ordered_json(7), 0, 10), 7);
}

TEST(JsonPointer, FindNeverThrows) {
  const json document = json::parse(R"({"outputs": [[1, 2]], "01": "key", "m": {"7": 1}})");
  EXPECT_EQ(*find_json_pointer(document, "/outputs/0/1"), 2);
  EXPECT_EQ(*find_json_pointer(document, "/01"), "key");  // an object key may be any text
  EXPECT_EQ(*find_json_pointer(document, "/m/7"), 1);
  EXPECT_EQ(find_json_pointer(document, ""), &document);
  for (const char* missing : {"/outputs/99999999999999999999999", "/outputs/01", "/outputs/-",
                              "/outputs/x", "/outputs/5", "/outputs/0/1/2", "/nope", "outputs"}) {
    EXPECT_EQ(find_json_pointer(document, missing), nullptr) << missing;
  }
  EXPECT_EQ(json_pointer_problem("/outputs/0"), "");
  EXPECT_NE(json_pointer_problem("/outputs/99999999999999999999999"), "");
  EXPECT_NE(json_pointer_problem("/a~2"), "");
  EXPECT_NE(json_pointer_problem("outputs"), "");
}

TEST(ConfigIntegers, AreRangeChecked) {
  auto config_error = [](const std::string& text) {
    return error_of([&] { parse_config(json::parse(text), "c.json"); });
  };
  EXPECT_EQ(config_error(R"({"version": 4294967297})"),
            "config.schema c.json: /version: this replay reads config version 1");
  EXPECT_EQ(config_error(R"({"version": 18446744073709551617})"),
            "config.schema c.json: /version: this replay reads config version 1");
  EXPECT_EQ(config_error(R"({"version": 1, "compare": {"topk": 4294967297}})"),
            "config.schema c.json: /compare/topk: unknown key or wrong type");
  EXPECT_EQ(config_error(R"({"version": 1, "compare": {"class_axis": 4294967296}})"),
            "config.schema c.json: /compare/class_axis: unknown key or wrong type");
  EXPECT_EQ(config_error(R"({"version": 1, "compare": {"topk": 3, "class_axis": -1}})"),
            "no error");
  EXPECT_EQ(parse_config(json::parse(R"({"compare": {"topk": 3}})"), "c").compare.topk, 3);
}

TEST(ConfigPointers, AnIndexThatCannotExistIsConfigSchema) {
  const std::string error = error_of([] {
    parse_config(json::parse(R"({"remote": {"stages": {"outputs": "/outputs/99999999999999999999999"}}})"),
                 "c.json");
  });
  EXPECT_EQ(error.rfind("config.schema c.json: /remote/stages/outputs: invalid JSON pointer", 0), 0u)
      << error;
}

TEST(CaptureIntegers, AreRangeChecked) {
  const std::string request = R"("request": {"method": "POST", "path": "/p", "body": "{}"})";
  EXPECT_EQ(error_of([&] { parse_captures("{\"format\": 4294967297, " + request + "}", "c"); })
                .rfind("capture.version ", 0),
            0u);
  EXPECT_EQ(error_of([&] {
              parse_captures("{" + request + ", \"response\": {\"status\": 4294967496}}", "c");
            }).rfind("capture.schema c: /response/status: expected an HTTP status code", 0),
            0u);
  EXPECT_EQ(error_of([&] {
              parse_captures("{" + request + ", \"response\": {\"status\": 18446744073709551615}}", "c");
            }).rfind("capture.schema ", 0),
            0u);
}

}  // namespace
}  // namespace replay
