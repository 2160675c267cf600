// Unit: the results file (harness/results.h): the header and one line per write, append after a
// run killed mid-line (the partial line cut, the rest kept), reading back (a partial last line
// skipped with a warning, a JSON report's captures[] accepted), and the stable id hash.
#include "harness/results.h"

#include <gtest/gtest.h>

#include <fstream>

#include "harness/error.h"
#include "support/process.h"

namespace replay {
namespace {

using nlohmann::json;
using testing::TempDir;

std::vector<json> read_lines(const std::string& path, std::vector<std::string>* warnings = nullptr,
                             json* header = nullptr) {
  std::vector<json> out;
  read_results(
      path, [&](const json& line) { out.push_back(line); },
      [&](const json& h) {
        if (header) *header = h;
      },
      warnings);
  return out;
}

TEST(Results, HeaderThenOneLinePerCapture) {
  TempDir dir;
  const std::string path = dir.file("r.jsonl");
  {
    ResultsWriter writer(path, false, {{"capture", "night.jsonl"}});
    writer.write({{"id", "a"}, {"verdict", "equivalent"}});
    writer.write({{"id", "b"}, {"verdict", "diverged"}});
  }
  json header;
  const std::vector<json> lines = read_lines(path, nullptr, &header);
  EXPECT_EQ(header["schema"], "replay.results");
  EXPECT_EQ(header["run"]["capture"], "night.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["id"], "b");
  const std::string text = testing::read_file(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
}

TEST(Results, AppendingCutsOnlyAPartialLastLine) {
  TempDir dir;
  const std::string path = dir.file("r.jsonl");
  {
    ResultsWriter writer(path, false, json::object());
    writer.write({{"id", "a"}, {"verdict", "equivalent"}});
    writer.write({{"id", "b"}, {"verdict", "equivalent"}});
  }
  {
    std::ofstream out(path, std::ios::app);
    out << R"({"id": "c", "verd)";  // a run killed mid-write
  }
  std::vector<std::string> warnings;
  EXPECT_EQ(read_lines(path, &warnings).size(), 2u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("partial last line"), std::string::npos);
  {
    ResultsWriter writer(path, true, json::object());  // --resume
    writer.write({{"id", "c"}, {"verdict", "diverged"}});
  }
  warnings.clear();
  json header;
  const std::vector<json> lines = read_lines(path, &warnings, &header);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(header["schema"], "replay.results");  // the header is kept, not written twice
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["id"], "a");
  EXPECT_EQ(lines[2]["id"], "c");
}

TEST(Results, AppendingToAMissingFileStartsWithTheHeader) {
  TempDir dir;
  const std::string path = dir.file("new.jsonl");
  {
    ResultsWriter writer(path, true, {{"capture", "x"}});
    writer.write({{"id", "a"}, {"verdict", "equivalent"}});
  }
  json header;
  EXPECT_EQ(read_lines(path, nullptr, &header).size(), 1u);
  EXPECT_EQ(header["run"]["capture"], "x");
}

TEST(Results, AJsonReportsCapturesAreReadAsResults) {
  TempDir dir;
  const json report = {{"schema", "replay.report"},
                       {"captures", json::array({{{"id", "a"}, {"verdict", "diverged"}},
                                                 {{"id", "b"}, {"verdict", "equivalent"}}})}};
  const std::string path = dir.write("report.json", report.dump(2));
  const std::vector<json> lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["seq"], 1);
}

TEST(Results, MalformedLinesAreErrorsWithTheirLine) {
  TempDir dir;
  const std::string path = dir.write("bad.jsonl", "{\"id\": \"a\", \"verdict\": \"equivalent\"}\nnot json\n{}\n");
  try {
    read_lines(path);
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "results.parse");
    EXPECT_NE(std::string(error.what()).find(path + ":2"), std::string::npos) << error.what();
  }
}

TEST(Results, IdHashIsStable) {
  // FNV-1a 64: shards and resume sets depend on these values never changing.
  EXPECT_EQ(capture_id_hash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(capture_id_hash("a"), 0xaf63dc4c8601ec8cull);
}

}  // namespace
}  // namespace replay
