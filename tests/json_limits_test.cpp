// The limits of every JSON text replay reads (harness/json_text.h: parse_json_checked): nesting
// past kMaxJsonDepth and numbers past a double's range are bad input with the file's own id, at
// every entry point (captures, JSON Lines, request bodies, logged stages, configs, each remote
// protocol's answer, /debug/payload), never a crash or an internal error; and strings of 1 MiB or
// more, read outside nlohmann's lexer, read exactly as it reads them; and so does every text read
// on the quick path (QuickReader), which gives the rest to nlohmann.
#include <gtest/gtest.h>

#include <iterator>
#include <random>

#include "harness/capture.h"
#include "harness/config.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "support/errors.h"
#include "support/json_same.h"
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

// A random text, most of it JSON: every kind of value, nested, with numbers at the edges of
// nlohmann's integer types and of a double's range, strings with every escape and UTF-8, and now
// and then something nlohmann refuses (a bad number, literal, string or separator).
class TextMaker {
 public:
  explicit TextMaker(uint32_t seed) : random_(seed) {}

  std::string text() {
    std::string out;
    if (chance(200)) out += "\xEF\xBB\xBF";  // a byte order mark
    space(&out);
    value(&out, 0);
    space(&out);
    if (chance(100)) out += pick({"x", "]", "}", ",", "1", "\"\""});
    return out;
  }

 private:
  bool chance(uint32_t one_in) { return random_() % one_in == 0; }
  const char* pick(std::initializer_list<const char*> items) {
    return items.begin()[random_() % items.size()];
  }

  void space(std::string* out) {
    while (chance(3)) out->append(chance(60) ? pick({"\f", "\v", "\xc2\xa0"}) : pick({" ", "\n", "\r", "\t"}));
  }

  void string(std::string* out) {
    *out += '"';
    const size_t pieces = random_() % 6;
    for (size_t i = 0; i < pieces; ++i) {
      *out += chance(40) ? pick({"\\ud83d", "\\ude00", "\\x", "\\u12g4", "\x01", "\x1f", "\xc3", "\xff",
                                 "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\\"})
                         : pick({"abc", "key", " ", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r",
                                 "\\t", "\\u0041", "\\u00e9", "\\u20AC", "\\ud83d\\ude00", "\\u0000",
                                 "\\uDBFF\\uDFFF", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                 "\x7f", "{\\\"instances\\\": [1, 2]}"});
    }
    if (!chance(80)) *out += '"';
  }

  void number(std::string* out) {
    *out += chance(30) ? pick({"01", "1.", ".5", "-", "1e", "+1", "0x10", "1.0e+", "-01", "1e400",
                               "-1e400", "1E309", "Infinity", "NaN", "--1"})
                       : pick({"0", "-0", "1", "-1", "7", "42", "-42", "123456789012345678",
                               "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                               "-9223372036854775809", "18446744073709551615", "18446744073709551616",
                               "123456789012345678901234567890", "-123456789012345678901234567890",
                               "1.5", "-0.0", "0.0", "1e5", "1E+5", "1e-5", "-2.5E-3", "0.1",
                               "3.141592653589793238462643383279", "2.2250738585072014e-308",
                               "2.2250738585072011e-308", "4.9e-324", "5e-324", "2e-324", "1e-400",
                               "1.7976931348623157e308", "1.7976931348623159e308", "-0.25600001215934753",
                               "0.30400000512599945", "1e22", "1e23", "9007199254740993", "0.1e1",
                               "100000000000000000000000e-10"});
  }

  void value(std::string* out, int depth) {
    const uint32_t kind = depth >= 5 ? random_() % 3 : random_() % 5;
    if (kind == 0) {
      string(out);
    } else if (kind == 1) {
      number(out);
    } else if (kind == 2) {
      *out += chance(30) ? pick({"tru", "nul", "True", "falsy", "none"}) : pick({"true", "false", "null"});
    } else {
      const bool object = kind == 3;
      *out += object ? '{' : '[';
      const size_t count = random_() % 5;
      for (size_t i = 0; i < count; ++i) {
        if (i > 0 && !chance(80)) *out += ',';
        space(out);
        if (object) {
          string(out);
          space(out);
          if (!chance(80)) *out += ':';
          space(out);
        }
        value(out, depth + 1);
        space(out);
      }
      if (count > 0 && chance(60)) *out += ',';
      if (!chance(80)) *out += object ? '}' : ']';
    }
  }

  std::mt19937 random_;
};

// nlohmann's own parse of `text` against parse_json_checked's, as `Json` (std::map or ordered).
template <class Json>
void expect_read_as_nlohmann_reads(const std::string& text, int* values, int* errors) {
  Json ours;
  const std::optional<JsonProblem> problem = parse_json_checked(text, &ours);
  try {
    const Json theirs = Json::parse(text);
    ASSERT_FALSE(problem.has_value()) << text << ": " << problem->message;
    EXPECT_TRUE(testing::same_json_value(ours, theirs)) << text << "\nours:   " << ours.dump()
                                          << "\ntheirs: " << theirs.dump();
    ++*values;
  } catch (const nlohmann::json::parse_error& error) {
    ASSERT_TRUE(problem.has_value()) << text;
    EXPECT_EQ(problem->byte_offset + 1, error.byte) << text;
    EXPECT_EQ(problem->message, short_parse_message(error)) << text;
    ++*errors;
  } catch (const nlohmann::json::out_of_range& error) {
    ASSERT_TRUE(problem.has_value()) << text;  // 1e400: our own message, tested above
    EXPECT_TRUE(has(problem->message, "out of range")) << text << ": " << problem->message;
    ++*errors;
  }
}

TEST(JsonLimits, TextsReadOnTheQuickPathReadAsNlohmannReadsThem) {
  TextMaker maker(5);
  int values = 0, errors = 0, quick = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::string text = maker.text();
    if (json_read_quickly(text)) ++quick;
    expect_read_as_nlohmann_reads<nlohmann::json>(text, &values, &errors);
    expect_read_as_nlohmann_reads<nlohmann::ordered_json>(text, &values, &errors);
    if (::testing::Test::HasFailure()) break;
  }
  // Both sides of the fence, many times over: texts nlohmann reads (most of them quickly) and
  // texts it refuses.
  EXPECT_GT(values, 8000);
  EXPECT_GT(errors, 6000);
  EXPECT_GT(quick, 10000);
}

TEST(JsonLimits, TheQuickPathReadsCommonTextsAndLeavesTheRestToNlohmann) {
  for (const char* text : {
           R"({"outputs": {"data": [-0.67, 0.04, 1e-3], "dtype": "float32", "shape": [1, 3]},
               "prediction": [1], "id": 18446744073709551615, "n": -9223372036854775808})",
           R"({"id": "c1", "request": {"body": "{\"instances\": [{\"age\": 38}]}"}})",
           "  [true, false, null, \"caf\u00e9 \\u00e9 \\ud83d\\ude00\", {}, []]\n",
       }) {
    EXPECT_TRUE(json_read_quickly(text)) << text;
  }
  for (const char* text : {"", " ", "[1,]", "{\"a\" 1}", "1e400", "1e-400", "18446744073709551616",
                           "-9223372036854775809", "\xEF\xBB\xBF{}", "\"\\ud83d\"", "\"\x01\"",
                           "[1] 2", "tru", "01"}) {
    EXPECT_FALSE(json_read_quickly(text)) << text;
  }
  const std::string deep = nested_arrays(kMaxJsonDepth + 1);
  EXPECT_FALSE(json_read_quickly(deep));  // the builder stops: nlohmann says where
  EXPECT_TRUE(json_read_quickly(nested_arrays(kMaxJsonDepth)));
}

}  // namespace
}  // namespace replay
