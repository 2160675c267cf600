// Payloads (harness/payload.h): JSON bodies as they are, CSV bodies (RFC 4180) as rows.
#include "harness/payload.h"

#include <gtest/gtest.h>

#include "harness/error.h"

namespace replay {
namespace {

using nlohmann::json;

json csv(const std::string& text) { return parse_csv_payload(text, "b", "capture.payload"); }

TEST(Payload, CsvCellsBecomeNumbersStringsAndNulls) {
  EXPECT_EQ(csv("6,148,72,35,0,33.6,0.627,50"),
            json::parse(R"({"instances": [[6, 148, 72, 35, 0, 33.6, 0.627, 50]]})"));
  EXPECT_EQ(csv("1,x,,-2.5e3\r\n\r\n7.0,\"a,b\",\"say \"\"hi\"\"\",007\n"),
            json::parse(
                R"({"instances": [[1, "x", null, -2500.0], [7.0, "a,b", "say \"hi\"", "007"]]})"));
  // A quoted cell keeps line breaks; a quoted number is a string.
  EXPECT_EQ(csv("\"1\",\"two\nlines\""), json::parse(R"({"instances": [["1", "two\nlines"]]})"));
  EXPECT_EQ(csv(""), json::parse(R"({"instances": []})"));
  EXPECT_TRUE(csv("1,2")["instances"][0][0].is_number_integer());
}

TEST(Payload, UnterminatedQuoteNamesTheLine) {
  try {
    csv("1,2\n3,\"open\n4");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()),
              "[replay.capture.payload.parse] b:2: CSV: a quoted cell is not closed");
  }
}

TEST(Payload, ContentTypeChoosesTheReading) {
  EXPECT_TRUE(is_csv_content_type({{"content-type", "Text/CSV; charset=utf-8"}}));
  EXPECT_FALSE(is_csv_content_type({{"Content-Type", "application/json"}}));
  EXPECT_FALSE(is_csv_content_type({}));
  EXPECT_EQ(parse_payload("1,2", {{"Content-Type", "text/csv"}}, "b", "capture.payload"),
            json::parse(R"({"instances": [[1, 2]]})"));
  EXPECT_EQ(parse_payload(R"({"input": [1]})", {}, "b", "capture.payload"),
            json::parse(R"({"input": [1]})"));
  EXPECT_THROW(parse_payload("1,2", {}, "b", "capture.payload"), Error);
}

}  // namespace
}  // namespace replay
