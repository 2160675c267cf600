// Untyped JSON tensor values (adapters/protocols/json_values.h): the bare NaN/Infinity/-Infinity
// tokens of TF Serving's JSON and Python's json.dumps (quoted only where a value starts, never
// inside strings), parse errors reported for the text as given, {"b64": ...} values, and the
// layout of nested lists (shape, leaf kinds, the first ragged or mixed place).
#include "protocols/json_values.h"

#include <gtest/gtest.h>

#include "harness/error.h"

namespace replay {
namespace {

using nlohmann::json;

TEST(NonFiniteTokens, QuotedWhereAValueStartsOnly) {
  EXPECT_EQ(quote_nonfinite_tokens("[NaN, Infinity,-Infinity]"),
            R"(["NaN", "Infinity","-Infinity"])");
  EXPECT_EQ(quote_nonfinite_tokens("{\"a\":\n  NaN}"), "{\"a\":\n  \"NaN\"}");
  EXPECT_EQ(quote_nonfinite_tokens("NaN"), "\"NaN\"");
  // Inside strings, escaped quotes included, nothing changes.
  const std::string in_strings = R"({"NaN": "a \" NaN, Infinity", "b": [1]})";
  EXPECT_EQ(quote_nonfinite_tokens(in_strings), in_strings);
  // Not a token: part of a longer word, or not where a value starts.
  EXPECT_EQ(quote_nonfinite_tokens("[NaNa, Infinityx]"), "[NaNa, Infinityx]");
  EXPECT_EQ(quote_nonfinite_tokens("[1 NaN]"), "[1 NaN]");
  // A backslash at the very end of the text is not read past.
  EXPECT_EQ(quote_nonfinite_tokens("[\"\\"), "[\"\\");
}

TEST(NonFiniteTokens, ParseKeepsTheOriginalErrorPosition) {
  const json parsed = parse_json_with_nonfinite("[1, NaN, -Infinity]", "resp", "remote");
  EXPECT_EQ(parsed, json({1, "NaN", "-Infinity"}));
  try {
    parse_json_with_nonfinite("[NaN,\n 1,, 2]", "resp", "remote");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "remote.parse");
    EXPECT_NE(std::string(error.what()).find("resp:2:4"), std::string::npos) << error.what();
  }
}

TEST(B64Values, OnlyTheExactForm) {
  EXPECT_TRUE(is_b64_value(json::parse(R"({"b64": "aGk="})")));
  EXPECT_FALSE(is_b64_value(json::parse(R"({"b64": 1})")));
  EXPECT_FALSE(is_b64_value(json::parse(R"({"b64": "aGk=", "x": 1})")));
  EXPECT_FALSE(is_b64_value(json::parse(R"(["b64"])")));
}

TEST(NestedLayout, ShapesKindsAndProblems) {
  NestedLayout layout = inspect_nested(json::parse(R"([[1, 2.5], [3, "NaN"]])"));
  EXPECT_TRUE(layout.problem.empty());
  EXPECT_EQ(layout.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(layout.numeric());
  EXPECT_EQ(layout.integers, 2u);

  layout = inspect_nested(json(3.5));
  EXPECT_TRUE(layout.shape.empty());
  EXPECT_TRUE(layout.numeric());

  layout = inspect_nested(json::parse(R"([true, false])"));
  EXPECT_TRUE(layout.all_bool());

  layout = inspect_nested(json::parse(R"([{"b64": "aGk="}, "x"])"));
  EXPECT_TRUE(layout.textual());
  EXPECT_EQ(layout.binaries, 1u);

  layout = inspect_nested(json::parse(R"([[1, 2], [3]])"));
  EXPECT_EQ(layout.problem_pointer, "/1");
  EXPECT_EQ(layout.problem, "ragged nested lists: 1 elements where the first row has 2");
  EXPECT_TRUE(layout.shape.empty());

  layout = inspect_nested(json::parse(R"([[1, 2], [3, [4]]])"));
  EXPECT_EQ(layout.problem_pointer, "/1/1");

  layout = inspect_nested(json::parse(R"([[1, 2], 3])"));
  EXPECT_EQ(layout.problem_pointer, "/1");

  layout = inspect_nested(json::parse(R"([1, true])"));
  EXPECT_EQ(layout.problem_pointer, "/1");
  EXPECT_EQ(layout.problem,
            "mixes numbers and booleans (1 of 2 values are booleans; the first "
            "is here)");
  // The odd one out is named, wherever it is.
  layout = inspect_nested(json::parse(R"([["0.5", 1, 2], [3, 4, "x"]])"));
  EXPECT_EQ(layout.problem_pointer, "/0/0");
  EXPECT_EQ(layout.problem,
            "mixes numbers and strings (2 of 6 values are strings; the first "
            "is here)");

  layout = inspect_nested(json::parse("[]"));
  EXPECT_TRUE(layout.problem.empty());
  EXPECT_EQ(layout.shape, (std::vector<int64_t>{0}));

  // Deep nesting is refused, not recursed into without end.
  json deep = json::array();
  for (int i = 0; i < 100; ++i) deep = json::array({deep});
  layout = inspect_nested(deep);
  EXPECT_NE(layout.problem.find("nested deeper than 32"), std::string::npos) << layout.problem;
}

}  // namespace
}  // namespace replay
