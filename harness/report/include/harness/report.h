#pragma once
/// Writing report files so that a report on disk is never stale, torn or written over an input.
/// (The renderings themselves, text, JSON and JUnit, are declared in harness/replay.h.)
///
///   check_report_paths({"r.json", "c.xml"}, {{"--capture", "c.json"}, {"--config", "cfg.json"}});
///   write_report_file("r.json", redacted_text);   // temporary file + rename

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replay {

/// Writes `content` to `path` atomically: into a temporary file in the same folder, flushed to
/// disk, then renamed over `path`, so a reader (or a crash) sees the old report or the new one,
/// never a part. An existing file keeps its permissions; a symbolic link is written through.
/// Throws Error kInput "report.write" naming the path.
void write_report_file(const std::string& path, const std::string& content);

/// The same, streamed: write() as often as needed, then commit(); a file not committed (an
/// error on the way) leaves the old report in place. Not thread-safe.
class ReportFile {
 public:
  explicit ReportFile(const std::string& path);
  ~ReportFile();
  ReportFile(const ReportFile&) = delete;
  ReportFile& operator=(const ReportFile&) = delete;
  void write(std::string_view content);
  void commit();

 private:
  void flush();
  [[noreturn]] void abandon(int saved_errno);
  std::string path_, target_, temporary_;
  std::string buffer_;
  int fd_ = -1;
};

/// Refuses a report path that names one of the run's inputs (`inputs`: the flag and the path,
/// e.g. {"--capture", "c.json"}; empty paths are skipped) or the same file as another report:
/// the same file by device and inode where it exists, by normalised absolute path where it
/// does not. Throws Error kUsage "usage.report".
void check_report_paths(const std::vector<std::string>& reports,
                        const std::vector<std::pair<std::string, std::string>>& inputs);
/// The same check for another file a run writes (`--results`): throws Error kUsage "usage.results"
/// when `path` is one of `inputs` (a results file that is the capture file would be read while it
/// grows; the baseline would be cut before it is read).
void check_output_path(const std::string& flag, const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& inputs);

}  // namespace replay
