// The fuzz targets' inputs replayed in every build (no clang needed): each seed of
// tests/fuzz/corpus/<target>/ and each crasher the fuzzers found, tests/fuzz/regressions/<target>/,
// through the same entry points as the libFuzzer executables (tests/fuzz/fuzz_entry.cpp). An
// input passes when its entry point returns (replay::Error is the expected end of bad input);
// anything else escaping, an aborted check or, in scripts/sanitize.sh's build, a sanitizer report
// fails it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz/fuzz_entry.h"
#include "support/process.h"

namespace replay {
namespace {

std::vector<std::string> files_in(const std::string& folder) {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
    if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void replay_folder(const fuzz::Target& target, const std::string& kind, size_t at_least) {
  const std::string folder = testing::source_path("tests/fuzz/" + kind + "/" + target.name);
  const std::vector<std::string> files = files_in(folder);
  EXPECT_GE(files.size(), at_least) << folder;
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const std::string bytes = testing::read_file(file);
    EXPECT_NO_THROW(target.entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
}

TEST(FuzzCorpus, EverySeedOfEveryTargetRuns) {
  ASSERT_EQ(fuzz::targets().size(), 7u);
  for (const fuzz::Target& target : fuzz::targets()) replay_folder(target, "corpus", 2);
}

TEST(FuzzRegressions, EveryCrasherFoundStaysFixed) {
  for (const fuzz::Target& target : fuzz::targets()) replay_folder(target, "regressions", 0);
}

}  // namespace
}  // namespace replay
