// Writing captures (harness/capture_writer.h): one whole line per capture that reads back,
// rotation by size, no torn line under concurrent writers, and the asynchronous writer.
#include "harness/capture_writer.h"

#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "harness/error.h"
#include "support/process.h"

namespace replay {
namespace {

using testing::TempDir;

Capture capture_of(const std::string& id, size_t body_bytes) {
  Capture capture;
  capture.id = id;
  capture.request.body = "{\"pad\": \"" + std::string(body_bytes, 'x') + "\"}";
  return capture;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(testing::read_file(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(CaptureWriter, LinesReadBackAsCaptures) {
  TempDir dir;
  const std::string path = dir.file("out.jsonl");
  {
    CaptureWriter writer(path);
    Capture binary = capture_of("b", 0);
    binary.request.body = std::string("\x00\xff\x10", 3);
    binary.request.body_binary = true;
    writer.write(capture_of("a", 3));
    writer.write(binary);
    EXPECT_EQ(writer.lines_written(), 2u);
  }
  const auto captures = parse_captures(testing::read_file(path), path);
  ASSERT_EQ(captures.size(), 2u);
  EXPECT_EQ(captures[0].id, "a");
  EXPECT_EQ(captures[1].request.body, std::string("\x00\xff\x10", 3));
  // Appending by default; truncating on request.
  {
    CaptureWriter writer(path);
    writer.write(capture_of("c", 1));
  }
  EXPECT_EQ(lines_of(path).size(), 3u);
  CaptureWriterOptions truncate;
  truncate.append = false;
  {
    CaptureWriter writer(path, truncate);
    writer.write(capture_of("d", 1));
  }
  EXPECT_EQ(lines_of(path).size(), 1u);
}

// A header value or path that is not UTF-8 (a GoReplay record's raw bytes) is written with its
// invalid bytes replaced, never an exception out of the JSON serialiser (the capture fuzz target
// found it: tests/fuzz/regressions/capture/gor_header_invalid_utf8).
TEST(CaptureWriter, InvalidUtf8OutsideBodiesIsReplaced) {
  TempDir dir;
  const std::string path = dir.file("out.jsonl");
  {
    CaptureWriter writer(path);
    Capture capture = capture_of("u", 1);
    capture.request.path = "/predict\xff";
    capture.request.headers = {{"X-Name", "caf\xc3"}};
    EXPECT_NO_THROW(writer.write(capture));
  }
  const auto captures = parse_captures(testing::read_file(path), path);
  ASSERT_EQ(captures.size(), 1u);
  EXPECT_EQ(captures[0].request.path, "/predict\xef\xbf\xbd");
  ASSERT_EQ(captures[0].request.headers.size(), 1u);
  EXPECT_EQ(captures[0].request.headers[0].second, "caf\xef\xbf\xbd");
}

TEST(CaptureWriter, RotatesBySize) {
  TempDir dir;
  const std::string path = dir.file("captures.jsonl");
  CaptureWriterOptions options;
  options.rotate_bytes = 1000;
  CaptureWriter writer(path, options);
  for (int i = 0; i < 10; ++i) writer.write(capture_of("c" + std::to_string(i), 300));
  writer.close();
  const auto rotated = writer.rotated_files();
  ASSERT_GE(rotated.size(), 3u);
  EXPECT_EQ(rotated[0], dir.file("captures.1.jsonl"));
  EXPECT_EQ(rotated[1], dir.file("captures.2.jsonl"));
  size_t total = lines_of(path).size();
  for (const std::string& file : rotated) {
    const std::string text = testing::read_file(file);
    EXPECT_LE(text.size(), 1000u) << file;
    total += lines_of(file).size();
  }
  EXPECT_EQ(total, 10u);  // every capture in exactly one file
}

TEST(CaptureWriter, ConcurrentWritersNeverTearALine) {
  TempDir dir;
  const std::string path = dir.file("out.jsonl");
  {
    CaptureWriter writer(path);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&writer, t] {
        for (int i = 0; i < 200; ++i) {
          writer.write(capture_of(std::to_string(t) + "-" + std::to_string(i), 5000 + t));
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 800u);
  for (const std::string& line : lines) ASSERT_TRUE(nlohmann::json::accept(line));
}

TEST(CaptureWriter, UnwritablePathIsAnError) {
  try {
    CaptureWriter writer("/nonexistent-dir/x.jsonl");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.write");
    EXPECT_NE(error.message().find("/nonexistent-dir/x.jsonl"), std::string::npos);
  }
}

TEST(AsyncCaptureWriter, WritesEverythingPushedBeforeClose) {
  TempDir dir;
  const std::string path = dir.file("out.jsonl");
  AsyncCaptureWriter writer(
      path, {}, [](Capture& capture) { capture.meta["prepared"] = true; },
      /*max_queued_bytes=*/4096);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&writer, t] {
      for (int i = 0; i < 100; ++i) writer.push(capture_of(std::to_string(t * 100 + i), 500));
    });
  }
  for (auto& thread : threads) thread.join();
  writer.close();
  const auto captures = parse_captures(testing::read_file(path), path);
  ASSERT_EQ(captures.size(), 300u);
  for (const Capture& capture : captures) EXPECT_EQ(capture.meta["prepared"], true);
}

TEST(AsyncCaptureWriter, ACaptureThatCannotBePreparedIsCountedNotWritten) {
  TempDir dir;
  const std::string path = dir.file("out.jsonl");
  AsyncCaptureWriter writer(path, {}, [](Capture& capture) {
    if (capture.id == "bad") fail_input("capture.redact", "too deep");
  });
  writer.push(capture_of("a", 1));
  writer.push(capture_of("bad", 1));
  writer.push(capture_of("b", 1));
  writer.close();
  EXPECT_EQ(lines_of(path).size(), 2u);  // the others still written
  EXPECT_EQ(writer.dropped(), 1u);
  EXPECT_EQ(writer.first_drop_reason(), "bad: [replay.capture.redact] too deep");
}

}  // namespace
}  // namespace replay
