// harness/utf8.h: the UTF-8 every output keeps (valid_utf8, utf8_boundary, dump_json), and
// redact() (the last step of every sink) returning valid UTF-8 whatever it was given.
#include "harness/utf8.h"

#include <gtest/gtest.h>

#include "harness/redact.h"

namespace replay {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(Utf8, ValidTextIsUnchanged) {
  for (const std::string text : {"", "plain", "caf\xC3\xA9", "\xE2\x82\xAC 5", "\xF0\x9F\x98\x80"}) {
    EXPECT_TRUE(is_valid_utf8(text)) << text;
    EXPECT_EQ(valid_utf8(text), text);
  }
}

TEST(Utf8, EveryInvalidByteBecomesTheReplacementCharacter) {
  EXPECT_EQ(valid_utf8("a\xFF" "b"), "a" + kReplacement + "b");
  EXPECT_EQ(valid_utf8("caf\xC3"), "caf" + kReplacement);             // a character cut off
  EXPECT_EQ(valid_utf8("\xC0\xAF"), kReplacement + kReplacement);     // overlong '/'
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);  // surrogate
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80").size(), 4 * kReplacement.size());  // past U+10FFFF
  EXPECT_EQ(valid_utf8("\x80x\xC3\xA9"), kReplacement + "x\xC3\xA9");
  for (const std::string text : {"\xFF", "caf\xC3", "\xC0\xAF", "\xED\xA0\x80"}) {
    EXPECT_FALSE(is_valid_utf8(text));
    EXPECT_TRUE(is_valid_utf8(valid_utf8(text)));
  }
}

TEST(Utf8, ExcerptsAreCutBetweenCharacters) {
  const std::string text = "ab\xC3\xA9" "cd\xE2\x82\xAC";
  EXPECT_EQ(utf8_boundary(text, 2), 2u);
  EXPECT_EQ(utf8_boundary(text, 3), 2u);  // inside the e-acute: before it
  EXPECT_EQ(utf8_boundary(text, 4), 4u);
  EXPECT_EQ(utf8_boundary(text, 7), 6u);  // inside the euro sign
  EXPECT_EQ(utf8_boundary(text, 8), 6u);
  EXPECT_EQ(utf8_boundary(text, 99), text.size());
  EXPECT_TRUE(is_valid_utf8(text.substr(0, utf8_boundary(text, 7))));
}

TEST(Utf8, DumpJsonNeverThrowsOnInvalidBytes) {
  const nlohmann::json value = {{"file", "c\xFF.json"}, {"c\xFE", 1}};
  EXPECT_THROW((void)value.dump(), nlohmann::json::type_error);
  const std::string text = dump_json(value);
  EXPECT_TRUE(is_valid_utf8(text));
  EXPECT_TRUE(nlohmann::json::accept(text));
  EXPECT_NE(text.find("c" + kReplacement + ".json"), std::string::npos) << text;
}

TEST(Utf8, RedactReturnsValidUtf8WithAndWithoutSecrets) {
  Redactor redactor;
  EXPECT_EQ(redactor.redact("body \xFF end"), "body " + kReplacement + " end");
  redactor.add("s3cr3t-key");
  EXPECT_EQ(redactor.redact("\xC3 s3cr3t-key \xFF"), kReplacement + " *** " + kReplacement);
  EXPECT_EQ(redactor.redact("nothing secret \xFF"), "nothing secret " + kReplacement);
}

}  // namespace
}  // namespace replay
