// Unit: the results file (harness/results.h): the header and one line per write (or lines held
// and written together, for the temporary file behind the reports), append after a
// run killed mid-line (the partial line cut, the rest kept), reading back (a partial last line
// skipped with a warning, a JSON report's captures[] accepted), the stable id hash, and the
// text of a result line (exactly nlohmann's dump of its parse).
#include "harness/results.h"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>

#include "harness/error.h"
#include "harness/json_text.h"
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

TEST(Results, HeldLinesAreWrittenWhenEnoughArePendingAndOnFlush) {
  TempDir dir;
  const std::string path = dir.file("r.jsonl");
  const auto newlines = [&] {
    const std::string text = testing::read_file(path);
    return std::count(text.begin(), text.end(), '\n');
  };
  ResultsWriter writer(path, false, json::object());
  writer.hold_lines(100);
  writer.write_text(R"({"id":"a","verdict":"equivalent"})");  // 35 bytes with its newline
  writer.write_text(R"({"id":"b","verdict":"equivalent"})");
  EXPECT_EQ(newlines(), 1);  // the header only
  writer.write_text(R"({"id":"c","verdict":"diverged"})");
  EXPECT_EQ(newlines(), 4);  // 103 bytes were pending: all written at once
  writer.write_text(R"({"id":"d","verdict":"equivalent"})");
  EXPECT_EQ(newlines(), 4);
  writer.flush();
  EXPECT_EQ(newlines(), 5);
  writer.flush();  // nothing held: nothing written twice
  EXPECT_EQ(newlines(), 5);
  const std::vector<json> lines = read_lines(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines.front()["id"], "a");
  EXPECT_EQ(lines[2]["verdict"], "diverged");
  EXPECT_EQ(lines.back()["id"], "d");
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

// The results line is written as text, with no json value built (JsonWriter): it must be
// exactly what nlohmann writes for its own parse (keys in byte order, numbers and escapes as
// nlohmann gives them, invalid UTF-8 replaced), so a line copied raw into the JSON report is the
// same as one parsed and dumped. Outcomes that reach every branch of the line.
TEST(Results, EachLineIsNlohmannsCompactDumpOfItsOwnParse) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  auto canonical = [](const std::string& text) {
    return json::parse(text).dump(-1, ' ', false, json::error_handler_t::replace);
  };
  TensorComparison same;
  same.name = "features";
  same.passed = same.bit_identical = true;
  same.total = 18;
  TensorComparison off;
  off.name = "logits \"q\"\n";
  off.total = 6;
  off.mismatched = 2;
  off.max_abs_error = inf;
  off.max_rel_error = nan;
  off.max_abs = ElementRef{5, {1, 2}, -0.0, 1e300, 0, 0};
  off.noise_floor = 5e-324;
  off.findings = {{"nan_one_side", "x"}, {"argmax_flip", "y"}};
  off.argmax_disagreement_count = 1;
  off.abs_error_histogram = {0, 4, 0, 2};
  StageDiff payload;
  payload.stage = Stage::kPayload;
  payload.verdict = StageVerdict::kDiverged;
  payload.local_source = "local: request body (json)";
  payload.notes = {"a note", std::string("bad \xff\xfe utf-8 \xc3")};
  JsonDiffResult differences;
  differences.total = 2;
  differences.leaves_compared = 12;
  differences.differences = {
      {JsonDifference::Kind::kValueChanged, "/instances/0/age", json(37), json(37.5)},
      {JsonDifference::Kind::kTypeChanged, "/a~1b", json{{"z", 1}, {"a", {1.0, nullptr, "\u00e9\u2603"}}},
       json("\x01\t")}};
  payload.json = differences;
  StageDiff outputs;
  outputs.stage = Stage::kOutputs;
  outputs.verdict = StageVerdict::kWithinNoise;
  outputs.remote_source = "response /outputs";
  outputs.tensors = {same, off};
  ColumnDiff column;
  column.index = 7;
  column.column = "device";
  column.transform = "ordinal";
  column.category = "DE \u00c4";
  column.rows = 4;
  column.local_count = 4;
  column.local_mean = 0.1;
  column.local_m2 = nan;
  column.remote_mean = -inf;
  column.max_abs_diff = 1.0;
  column.local_counts = {{-1, 1}, {2, 1}, {10, 2}};
  column.remote_counts = {{0, 4}};
  ColumnDiff plain;
  plain.column = "age";
  plain.transform = "standard";

  CaptureOutcome diverged;
  diverged.id = "c\u2603 \"7\"";
  diverged.origin = "night.jsonl:7";
  diverged.verdict = CaptureVerdict::kDiverged;
  diverged.local_ms = nan;
  diverged.remote_ms = 12.5;
  diverged.attempts = 3;
  diverged.diffs.stages = {payload, outputs};
  diverged.diffs.first_divergence = 0;
  diverged.columns = {column, plain};
  diverged.pairing = {"response /outputs (float32 [2, 3]) -> outputs"};
  diverged.unpaired = {"response /extra"};
  diverged.warnings = {"w\x7f"};
  CaptureOutcome error;
  error.id = "bad";
  error.origin = "bad";
  error.verdict = CaptureVerdict::kError;
  error.error_id = "capture.parse";
  error.error_message = "night.jsonl:9:3: \"unexpected\" \xe2\x82";
  error.error_exit_code = 2;

  const std::string line = result_line_text(diverged, 6, 7, "new");
  EXPECT_EQ(line, canonical(line));
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const json parsed = json::parse(line);
  EXPECT_EQ(parsed["seq"], 6);
  EXPECT_EQ(parsed["line"], 7);
  EXPECT_EQ(parsed["baseline"], "new");
  EXPECT_TRUE(parsed["local_ms"].is_null());  // a double that is not finite, as nlohmann has it
  EXPECT_EQ(parsed["first_divergence"]["stage"], "payload");
  EXPECT_EQ(parsed["stages"][0]["local_source"], "local: request body (json)");
  EXPECT_TRUE(parsed["stages"][0]["remote_source"].is_null());
  EXPECT_EQ(parsed["stages"][0]["payload"]["differences"][1]["remote"]["a"][2], "\u00e9\u2603");
  EXPECT_EQ(parsed["stages"][0]["payload"]["differences"][1]["local"], "\x01\t");
  EXPECT_EQ(parsed["stages"][0]["notes"][1], "bad \xef\xbf\xbd\xef\xbf\xbd utf-8 \xef\xbf\xbd");
  const json& figures = parsed["stages"][1]["tensors"];
  EXPECT_EQ(figures[0], json({{"name", "features"}, {"passed", true}, {"bit_identical", true}, {"total", 18}}));
  EXPECT_EQ(figures[1]["max_abs_error"], "Infinity");
  EXPECT_EQ(figures[1]["max_rel_error"], "NaN");
  EXPECT_EQ(figures[1]["max_abs"], json({{"index", {1, 2}}, {"actual", -0.0}, {"reference", 1e300}}));
  EXPECT_EQ(figures[1]["noise_floor"], 5e-324);
  EXPECT_EQ(figures[1]["findings"], json({"nan_one_side", "argmax_flip"}));
  EXPECT_EQ(parsed["columns"][0]["local_counts"], json({{"-1", 1}, {"2", 1}, {"10", 2}}));
  EXPECT_EQ(parsed["columns"][0]["local"], json({4, 0.1, "NaN"}));
  EXPECT_EQ(parsed["columns"][0]["remote"][1], "-Infinity");
  EXPECT_FALSE(parsed["columns"][1].contains("local_counts"));
  EXPECT_EQ(parsed["unpaired"], json({"response /extra"}));

  const std::string failed = result_line_text(error, 0, 0);
  EXPECT_EQ(failed, canonical(failed));
  const json error_line = json::parse(failed);
  EXPECT_TRUE(error_line["line"].is_null());
  EXPECT_FALSE(error_line.contains("baseline"));
  EXPECT_FALSE(error_line.contains("columns"));
  EXPECT_EQ(error_line["error"]["id"], "capture.parse");
  EXPECT_EQ(error_line["verdict"], "error");
  EXPECT_EQ(error_line["stages"], json::array());
}

// JsonWriter's scalars against nlohmann's own dump of the same values: every byte as a one-byte
// string, in the middle of others, and doubles and integers at their edges.
TEST(Results, JsonWriterWritesScalarsAsNlohmannDoes) {
  auto dumped = [](const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  for (int byte = 0; byte < 256; ++byte) {
    const std::string text = "a" + std::string(1, static_cast<char>(byte)) + "b";
    JsonWriter out;
    out.string(text);
    EXPECT_EQ(out.text(), dumped(text)) << "byte " << byte;
  }
  const double doubles[] = {0.0, -0.0, 1.0, -1.5, 0.1, 1e21, 1e-7, 123456789012345680.0,
                            5e-324, 1.7976931348623157e308, 3.0e-5, 100.0};
  for (double value : doubles) {
    JsonWriter out;
    out.number(value);
    EXPECT_EQ(out.text(), dumped(value)) << value;
  }
  JsonWriter out;
  out.begin_array()
      .number(std::numeric_limits<int64_t>::min())
      .number(std::numeric_limits<uint64_t>::max())
      .number(std::numeric_limits<double>::quiet_NaN())
      .boolean(false)
      .null()
      .begin_object()
      .key("k")
      .begin_array()
      .end_array()
      .key("\u00e9")
      .value(json::object())
      .end_object()
      .end_array();
  EXPECT_EQ(out.text(), dumped(json({std::numeric_limits<int64_t>::min(),
                                     std::numeric_limits<uint64_t>::max(), nullptr, false,
                                     nullptr, {{"k", json::array()}, {"\u00e9", json::object()}}})));
}

}  // namespace
}  // namespace replay
