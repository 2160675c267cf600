// The limits of every JSON text replay reads (harness/json_text.h: parse_json_checked): nesting
// past kMaxJsonDepth and numbers past a double's range are bad input with the file's own id, at
// every entry point (captures, JSON Lines, request bodies, logged stages, configs, each remote
// protocol's answer, /debug/payload), never a crash or an internal error; and strings of 1 MiB or
// more, read outside nlohmann's lexer, read exactly as it reads them.
#include <gtest/gtest.h>

#include <iterator>
#include <random>

#include "harness/capture.h"
#include "harness/config.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "support/errors.h"
#include "harness/protocol.h"
#include "support/process.h"

namespace replay {
namespace {

constexpr size_t kDeep = 100000;

std::string nested_arrays(size_t depth, const std::string& inner = "") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}
std::string nested_objects(size_t depth) {
  std::string text;
  for (size_t i = 0; i < depth; ++i) text += "{\"a\":";
  text += "1";
  text += std::string(depth, '}');
  return text;
}

using testing::error_of;

template <class F>
int exit_code_of(F body) {
  try {
    body();
  } catch (const Error& error) {
    return error.exit_code();
  }
  return 0;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(JsonLimits, TheDepthLimitIsExactAndCheckedWhileParsing) {
  nlohmann::json value;
  EXPECT_FALSE(parse_json_checked(nested_arrays(kMaxJsonDepth), &value));
  EXPECT_EQ(value.dump().size(), 2 * kMaxJsonDepth);
  std::optional<JsonProblem> problem = parse_json_checked(nested_arrays(kMaxJsonDepth + 1), &value);
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->byte_offset, kMaxJsonDepth);  // the first bracket past the limit
  EXPECT_TRUE(has(problem->message, "nested deeper than 512")) << problem->message;

  // 100,000 levels of arrays and of objects, in both json flavours: a problem, no crash.
  EXPECT_TRUE(parse_json_checked(nested_arrays(kDeep), &value));
  EXPECT_TRUE(parse_json_checked(nested_objects(kDeep), &value));
  nlohmann::ordered_json ordered;
  EXPECT_TRUE(parse_json_checked(nested_arrays(kDeep), &ordered));
  // An unclosed 100,000-deep text is the depth, not "unexpected end of input".
  problem = parse_json_checked(std::string(kDeep, '['), &value);
  ASSERT_TRUE(problem);
  EXPECT_TRUE(has(problem->message, "nested deeper")) << problem->message;
  // Brackets inside strings are not nesting.
  EXPECT_FALSE(parse_json_checked("[\"" + std::string(kDeep, '[') + "\"]", &value));
  EXPECT_TRUE(parse_json_or_discarded(nested_arrays(kDeep)).is_discarded());
}

TEST(JsonLimits, NumbersPastADoubleAreAParseProblemWithTheirPlace) {
  nlohmann::json value;
  for (const char* text : {"[1, 1e400]", "[1, -1e400]", "[1, 1234567890e300]"}) {
    std::optional<JsonProblem> problem = parse_json_checked(text, &value);
    ASSERT_TRUE(problem) << text;
    EXPECT_EQ(problem->byte_offset, 4u) << text;
    EXPECT_TRUE(has(problem->message, "out of range")) << problem->message;
  }
  // Integers past int64/uint64 are doubles (nlohmann's rule), and underflow is 0: both fine.
  EXPECT_FALSE(parse_json_checked("[18446744073709551616, 1e-400]", &value));
  EXPECT_EQ(error_of([] { parse_json_text("{\n  \"x\": 1e400}", "f.json", "config"); }),
            "config.parse f.json:2:8: the number 1e400 is out of range (beyond a double's "
            "+-1.8e308)");
}

TEST(JsonLimits, CapturesRefuseDeepNestingAndHugeNumbersAsCaptureParse) {
  const std::string deep = nested_arrays(kDeep);
  const std::string request = R"("request": {"method": "POST", "path": "/p", "body": "{}"})";
  const std::vector<std::string> files = {
      "{\"input\": " + deep + "}",                                      // a bare payload
      "{" + request + ", \"stages\": {\"outputs\": {\"o\": " + deep + "}}}",  // a logged stage
      "{" + request + ", \"stages\": {\"payload\": " + deep + "}}",      // the logged payload
      "{" + request + ", \"meta\": {\"m\": " + deep + "}}",
      "[{" + request + "}, {" + request + ", \"stages\": {\"features\": " + deep + "}}]",
      "{" + request + "}\n{" + request + ", \"stages\": {\"outputs\": " + deep + "}}\n",  // JSONL
      "{" + request + ", \"stages\": {\"outputs\": {\"o\": [1e400]}}}",
      "{" + request + "}\n{\"input\": [1, 2e999]}\n",
  };
  for (const std::string& text : files) {
    const std::string error = error_of([&] { parse_captures(text, "c.json"); });
    EXPECT_EQ(error.rfind("capture.parse c.json:", 0), 0u) << error.substr(0, 200);
    EXPECT_TRUE(has(error, "nested deeper than 512") || has(error, "out of range")) << error;
    EXPECT_EQ(exit_code_of([&] { parse_captures(text, "c.json"); }), kExitBadInput);
  }
  // JSON Lines name the line.
  EXPECT_TRUE(has(error_of([&] { parse_captures(files[5], "c.jsonl"); }), "c.jsonl:2:"));
  // At the limit a capture is read (a bare payload adds one level: the object).
  EXPECT_EQ(error_of([&] {
              parse_captures("{\"input\": " + nested_arrays(kMaxJsonDepth - 1, "1") + "}", "c");
            }),
            "no error");
}

TEST(JsonLimits, RequestBodiesOfEveryProtocolAreCapturePayloadParse) {
  for (const std::string& protocol : protocol_names()) {
    auto codec = make_protocol(protocol, {});
    for (const std::string& body : std::vector<std::string>{"{\"inputs\": " + nested_arrays(kDeep) + "}",
                                    "{\"instances\": [[1, 1e400]]}",
                                    "{\"inputs\": [{\"name\": \"x\", \"shape\": [1], "
                                    "\"datatype\": \"FP32\", \"data\": [1e400]}]}"}) {
      CapturedRequest request;
      request.method = "POST";
      request.path = "/";
      request.headers = {{"Content-Type", "application/json"}};
      request.body = body;
      const std::string error = error_of([&] { codec->decode_request(request, "c.json"); });
      EXPECT_EQ(error.rfind("capture.payload.parse ", 0), 0u) << protocol << ": " << error.substr(0, 300);
      EXPECT_TRUE(has(error, "nested deeper than 512") || has(error, "out of range"))
          << protocol << ": " << error.substr(0, 300);
    }
  }
}

TEST(JsonLimits, RemoteAnswersOfEveryProtocolAreRemoteParse) {
  const std::string deep = nested_arrays(kDeep);
  for (const std::string& protocol : protocol_names()) {
    auto codec = make_protocol(protocol, {});
    for (const std::string& body :
         std::vector<std::string>{"{\"outputs\": " + deep + "}", "{\"debug\": {\"payload\": " + deep + "}}",
          "{\"predictions\": " + deep + "}", deep, "{\"predictions\": [[1, 1e400]]}",
          "{\"outputs\": [{\"name\": \"o\", \"shape\": [1], \"datatype\": \"FP32\", "
          "\"data\": [-1e400]}]}"}) {
      TransportResponse response;
      response.status = 200;
      response.headers = {{"Content-Type", "application/json"}};
      response.body = body;
      const std::string error = error_of([&] { codec->decode_response(response, "POST x"); });
      EXPECT_EQ(error.rfind("remote.parse ", 0), 0u) << protocol << ": " << error.substr(0, 300);
      EXPECT_TRUE(has(error, "nested deeper than 512") || has(error, "out of range"))
          << protocol << ": " << error.substr(0, 300);
      EXPECT_EQ(exit_code_of([&] { codec->decode_response(response, "POST x"); }), kExitRemote);
    }
  }
}

TEST(JsonLimits, ConfigsAreConfigParse) {
  testing::TempDir dir;
  for (const std::string& text :
       std::vector<std::string>{"{\"version\": 1, \"x\": " + nested_arrays(kDeep) + "}",
        "{\"version\": 1, \"tolerances\": {\"default\": {\"atol\": 1e400}}}"}) {
    const std::string path = dir.write("c.json", text);
    const std::string error = error_of([&] { load_config(path); });
    EXPECT_EQ(error.rfind("config.parse " + path + ":1:", 0), 0u) << error.substr(0, 300);
  }
}

// Strings of 1 MiB or more are decoded outside nlohmann's lexer (which holds a string token
// twice while it reads it): what the parse gives must be what nlohmann's own parse gives, value
// for value, escapes, surrogate pairs and UTF-8 included; keys, and strings nlohmann refuses, are
// left to it (the same error, at the same byte offset); a short string that looks like the
// lexer's stand-in for a long one stays itself.
TEST(JsonLimits, LongStringsReadAsNlohmannReadsThem) {
  const size_t mib = size_t{1} << 20;
  std::string plain(mib + 3, 'a');
  std::string escaped;
  while (escaped.size() < mib) escaped += R"(q\"x\\y\/z\b\f\n\r\t\u00e9\u20ac\ud83d\ude00 \u0000 )";
  std::string utf8;
  while (utf8.size() < mib) utf8 += "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 ";
  const std::string key(mib, 'k');
  const std::string text = "{\"plain\": \"" + plain + "\", \"" + key + "\" : \"v\", \"list\": [\"" +
                           escaped + "\", 7, \"\\u0001replay-long-string-0000000000000000-0\", \"" +
                           utf8 + "\"]}";
  nlohmann::json ours;
  ASSERT_FALSE(parse_json_checked(text, &ours).has_value());
  EXPECT_EQ(ours, nlohmann::json::parse(text));
  EXPECT_EQ(ours["plain"].get<std::string>().size(), plain.size());
  EXPECT_EQ(ours["list"][2], "\x01replay-long-string-0000000000000000-0");
  nlohmann::ordered_json ordered;
  ASSERT_FALSE(parse_json_checked(text, &ordered).has_value());
  EXPECT_EQ(ordered.dump(), nlohmann::ordered_json::parse(text).dump());

  // Refused long strings: the error nlohmann gives, where it gives it.
  const std::string refused[] = {
      "[\"" + plain + "\x01\"]",             // a control character
      "[\"" + plain + "\\x\"]",              // not an escape
      "[\"" + plain + "\\udc00\"]",          // a lone low surrogate
      "[\"" + plain + "\\ud800 \"]",         // a high surrogate alone
      "[\"" + plain + "\xc3\x28\"]",         // ill-formed UTF-8
      "[\"" + plain + "\xed\xa0\x80\"]",     // a surrogate in UTF-8
      "[\"" + plain + "\" x]",               // after the string
      "[\"" + plain + "\", \"" + plain + "\", 1, x]",  // further on
      "[\"" + plain,                         // unterminated
  };
  for (const std::string& bad : refused) {
    nlohmann::json value;
    const std::optional<JsonProblem> problem = parse_json_checked(bad, &value);
    ASSERT_TRUE(problem.has_value()) << bad.substr(mib);
    try {
      const nlohmann::json unused = nlohmann::json::parse(bad);
      (void)unused;
      ADD_FAILURE() << "nlohmann accepted " << bad.substr(mib);
    } catch (const nlohmann::json::parse_error& error) {
      EXPECT_EQ(problem->byte_offset + 1, error.byte) << bad.substr(mib);
      EXPECT_EQ(problem->message, short_parse_message(error)) << bad.substr(mib);
    }
  }
}

// The same, differentially: long strings of random pieces (plain text, every escape, surrogate
// pairs and lone halves, UTF-8 of every length, ill-formed bytes, control characters), as values
// and as keys; whatever nlohmann makes of the text (its value, or its error at its byte offset),
// replay's parser makes of it too.
TEST(JsonLimits, LongStringsOfRandomPiecesReadAsNlohmannReadsThem) {
  const char* const pieces[] = {"abc", " ", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r",
                                "\\t", "\\u0041", "\\u00e9", "\\u20AC", "\\ud83d\\ude00",
                                "\\u0000", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                // refused by nlohmann: a few of each
                                "\\ud83d", "\\ude00", "\\x", "\\u12g4", "\x01", "\xc3", "\xff",
                                "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
  constexpr size_t kAccepted = 18;
  std::mt19937 random(11);
  int values = 0, errors = 0;
  for (int round = 0; round < 24; ++round) {
    std::string content;
    const bool clean = round % 3 != 0;  // two in three hold only what nlohmann accepts
    while (content.size() < (size_t{1} << 20) + 16) {
      const size_t count = clean ? kAccepted : std::size(pieces);
      const size_t pick = random() % 50 == 0 ? random() % count : 0;
      content += pieces[pick];
    }
    const std::string text = round % 4 == 1 ? "{\"" + content + "\": 1}"
                                            : "{\"k\": [1, \"" + content + "\"], \"z\": true}";
    nlohmann::json ours;
    const std::optional<JsonProblem> problem = parse_json_checked(text, &ours);
    try {
      const nlohmann::json theirs = nlohmann::json::parse(text);
      ASSERT_FALSE(problem.has_value()) << "round " << round << ": " << problem->message.substr(0, 200);
      EXPECT_TRUE(ours == theirs) << "round " << round;
      ++values;
    } catch (const nlohmann::json::parse_error& error) {
      ASSERT_TRUE(problem.has_value()) << "round " << round;
      ++errors;
      EXPECT_EQ(problem->byte_offset + 1, error.byte) << "round " << round;
      EXPECT_EQ(problem->message.substr(0, 300), short_parse_message(error).substr(0, 300))
          << "round " << round;
    }
  }
  EXPECT_EQ(values, 16);  // the clean rounds
  EXPECT_EQ(errors, 8);
}

}  // namespace
}  // namespace replay
