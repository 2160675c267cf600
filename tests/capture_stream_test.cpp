// Unit: capture sources (harness/capture_stream.h): JSON Lines streamed with each malformed line
// its own record (also the first line), blank lines skipped, a last line without '\n', whole
// documents (one object, an array, pretty-printed) read whole, and the errors of the source itself.
#include "harness/capture_stream.h"

#include <gtest/gtest.h>

#include "harness/error.h"
#include "support/process.h"

namespace replay {
namespace {

using testing::TempDir;

std::string capture_line(const std::string& id) {
  return R"({"id": ")" + id + R"(", "request": {"method": "POST", "path": "/predict", "body": "{\"input\": [1, 2]}"}})";
}

std::vector<CaptureRecord> read_all(const std::string& path) {
  std::unique_ptr<CaptureSource> source = open_capture_source(path);
  std::vector<CaptureRecord> out;
  while (std::optional<CaptureRecord> record = source->next()) out.push_back(std::move(*record));
  return out;
}

TEST(CaptureStream, JsonLinesAreStreamedWithTheirLineNumbers) {
  TempDir dir;
  const std::string path = dir.write("a.jsonl", capture_line("a") + "\n\n" + capture_line("b") + "\n" +
                                                    capture_line("c"));  // no final '\n'
  std::unique_ptr<CaptureSource> source = open_capture_source(path);
  EXPECT_TRUE(source->streaming());
  std::vector<CaptureRecord> records;
  while (auto record = source->next()) records.push_back(std::move(*record));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].id, "a");
  EXPECT_EQ(records[1].id, "b");
  EXPECT_EQ(records[1].line, 3u);
  EXPECT_EQ(records[1].index, 1u);
  EXPECT_EQ(records[2].id, "c");
  EXPECT_EQ(records[2].line, 4u);
  for (const auto& record : records) EXPECT_TRUE(record.capture.has_value());
}

TEST(CaptureStream, AMalformedLineIsItsOwnRecordAndReadingGoesOn) {
  TempDir dir;
  for (const size_t bad : {0u, 2u}) {
    std::string text;
    for (size_t i = 0; i < 4; ++i) {
      text += (i == bad ? std::string("{\"id\": \"x\", oops}") : capture_line("c" + std::to_string(i))) + "\n";
    }
    const std::string path = dir.write("bad" + std::to_string(bad) + ".jsonl", text);
    std::vector<CaptureRecord> records = read_all(path);
    ASSERT_EQ(records.size(), 4u) << "bad line " << bad;
    for (size_t i = 0; i < 4; ++i) {
      if (i == bad) {
        EXPECT_FALSE(records[i].capture.has_value());
        EXPECT_EQ(records[i].error_id, "capture.parse");
        EXPECT_EQ(records[i].id, path + ":" + std::to_string(i + 1));
        EXPECT_NE(records[i].error_message.find(path + ":" + std::to_string(i + 1) + ":"),
                  std::string::npos)
            << records[i].error_message;
      } else {
        EXPECT_EQ(records[i].id, "c" + std::to_string(i));
      }
    }
  }
}

TEST(CaptureStream, WholeDocumentsAreReadWhole) {
  TempDir dir;
  const std::string one = dir.write("one.json", capture_line("only") + "\n");
  std::unique_ptr<CaptureSource> source = open_capture_source(one);
  EXPECT_FALSE(source->streaming());
  ASSERT_EQ(read_all(one).size(), 1u);
  // A pretty-printed array, an element ending its own line: one document, not JSON Lines.
  const std::string array =
      dir.write("array.json", "[\n  " + capture_line("a") + ",\n  " + capture_line("b") + "\n]\n");
  std::vector<CaptureRecord> records = read_all(array);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].id, "b");
  // A malformed whole document is an error of the file (there are no records to go on with).
  const std::string broken = dir.write("broken.json", "{\n  \"id\": \"x\",\n  oops\n}\n");
  try {
    read_all(broken);
    FAIL() << "a malformed document was read";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.parse");
    EXPECT_NE(std::string(error.what()).find(broken + ":3:"), std::string::npos) << error.what();
  }
}

TEST(CaptureStream, ErrorsOfTheSourceItself) {
  TempDir dir;
  try {
    open_capture_source(dir.file("missing.jsonl"));
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.read");
  }
  try {
    open_capture_source(dir.path());
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.read");
  }
  try {
    open_capture_source(dir.write("blank.jsonl", "\n  \n"));
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.empty");
  }
}

}  // namespace
}  // namespace replay
