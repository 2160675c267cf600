// Report files (harness/report.h): atomic replacement (a reader of the old file keeps the old
// content; permissions kept; symlinks written through; nothing left behind; a failure leaves
// the old report whole) and the refusal of a report path that is an input or another report.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "harness/error.h"
#include "harness/report.h"
#include "support/process.h"

namespace replay {
namespace {

using testing::TempDir;

std::string error_id(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.id();
  }
  return "";
}

TEST(ReportFile, ReplacesTheFileSoAReaderKeepsTheOldOne) {
  TempDir dir;
  const std::string path = dir.write("r.json", "old report");
  const int reader = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(reader, 0);
  write_report_file(path, "new report");
  char buffer[32] = {};
  ASSERT_EQ(::read(reader, buffer, sizeof(buffer) - 1), 10);
  EXPECT_STREQ(buffer, "old report");  // written in place, it would read "new report" or less
  ::close(reader);
  EXPECT_EQ(testing::read_file(path), "new report");
}

TEST(ReportFile, KeepsPermissionsAndLeavesNothingBehind) {
  TempDir dir;
  const std::string path = dir.write("r.txt", "x");
  ::chmod(path.c_str(), 0604);
  write_report_file(path, "y");
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0604u);
  size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

TEST(ReportFile, WritesThroughASymlink) {
  TempDir dir;
  const std::string target = dir.write("real.json", "old");
  ASSERT_EQ(::symlink(target.c_str(), dir.file("link.json").c_str()), 0);
  write_report_file(dir.file("link.json"), "new");
  EXPECT_TRUE(std::filesystem::is_symlink(dir.file("link.json")));
  EXPECT_EQ(testing::read_file(target), "new");
}

TEST(ReportFile, AFolderThatIsNotThereIsAWriteError) {
  TempDir dir;
  EXPECT_EQ(error_id([&] { write_report_file(dir.file("missing/r.json"), "x"); }), "report.write");
}

TEST(ReportPaths, AnInputOrASecondReportIsRefused) {
  TempDir dir;
  const std::string capture = dir.write("c.json", "{}");
  const std::string config = dir.write("cfg.json", "{}");
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {"--capture", capture}, {"--config", config}, {"--local", ""}};
  EXPECT_EQ(error_id([&] { check_report_paths({capture}, inputs); }), "usage.report");
  // The same file by another path: "./", "..", a hard link.
  EXPECT_EQ(error_id([&] { check_report_paths({dir.path() + "/./cfg.json"}, inputs); }),
            "usage.report");
  ASSERT_EQ(::link(capture.c_str(), dir.file("hard.json").c_str()), 0);
  EXPECT_EQ(error_id([&] { check_report_paths({dir.file("hard.json")}, inputs); }), "usage.report");
  // Two reports on one file that does not exist yet.
  EXPECT_EQ(error_id([&] {
              check_report_paths({dir.file("r.json"), dir.path() + "/x/../r.json"}, inputs);
            }),
            "usage.report");
  EXPECT_EQ(error_id([&] {
              check_report_paths({dir.file("r.json"), dir.file("r.xml")}, inputs);
            }),
            "");
}

}  // namespace
}  // namespace replay
