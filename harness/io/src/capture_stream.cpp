// Capture sources: JSON Lines streamed through a line reader over a file descriptor; other
// capture files read whole through parse_captures.
#include "harness/capture_stream.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/error.h"

namespace replay {
namespace {

/// Lines longer than this are refused as one capture's error (a capture is a request, not a
/// dataset); the reader skips to the next line and goes on.
constexpr size_t kMaxLineBytes = size_t{1} << 30;

bool is_blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Reads lines from a file descriptor without a limit on the file's size.
class LineReader {
 public:
  LineReader(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  ~LineReader() {
    if (fd_ > 0) ::close(fd_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  /// The next line without its '\n'; nullopt at the end. *too_long is set (and the line's
  /// content dropped) for a line over kMaxLineBytes.
  std::optional<std::string> next(bool* too_long) {
    *too_long = false;
    std::string line;
    bool started = false;  // some byte of this line has been read
    for (;;) {
      if (start_ < buffer_.size()) {
        started = true;
        const size_t newline = buffer_.find('\n', start_);
        const size_t end = newline == std::string::npos ? buffer_.size() : newline;
        if (!*too_long) {
          line.append(buffer_, start_, end - start_);
          if (line.size() > kMaxLineBytes) {
            *too_long = true;
            std::string().swap(line);
          }
        }
        start_ = end;
        if (newline != std::string::npos) {
          start_ = newline + 1;
          ++line_number_;
          terminated_ = true;
          return line;
        }
      }
      if (!fill()) {
        if (!started) return std::nullopt;
        ++line_number_;  // the last line, without a final '\n'
        terminated_ = false;
        return line;
      }
    }
  }
  size_t line_number() const { return line_number_; }
  /// Whether the line last returned ended with '\n'.
  bool terminated() const { return terminated_; }

 private:
  bool fill() {
    char chunk[1 << 16];
    for (;;) {
      const ssize_t got = ::read(fd_, chunk, sizeof(chunk));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail_input("capture.read", name_ + ": cannot read: " + std::strerror(errno));
      if (got == 0) return false;
      buffer_.assign(chunk, static_cast<size_t>(got));
      start_ = 0;
      return true;
    }
  }

  int fd_;
  std::string name_;
  std::string buffer_;
  size_t start_ = 0;
  size_t line_number_ = 0;
  bool terminated_ = true;
};

class JsonLinesSource final : public CaptureSource {
 public:
  JsonLinesSource(std::unique_ptr<LineReader> reader, std::string name,
                  std::deque<std::pair<size_t, std::string>> pending)
      : reader_(std::move(reader)), name_(std::move(name)), pending_(std::move(pending)) {}

  std::optional<CaptureRecord> next() override {
    for (;;) {
      std::string line;
      size_t line_number = 0;
      bool too_long = false;
      if (!pending_.empty()) {
        line_number = pending_.front().first;
        line = std::move(pending_.front().second);
        pending_.pop_front();
      } else {
        std::optional<std::string> read = reader_->next(&too_long);
        if (!read) return std::nullopt;
        line = std::move(*read);
        line_number = reader_->line_number();
      }
      if (!too_long && is_blank(line)) continue;
      CaptureRecord record;
      record.index = index_++;
      record.line = line_number;
      record.id = name_ + ":" + std::to_string(line_number);
      if (too_long) {
        record.error_id = "capture.too_large";
        record.error_message = "[replay.capture.too_large] " + record.id + ": a line over " +
                               std::to_string(kMaxLineBytes >> 20) + " MiB";
        return record;
      }
      try {
        record.capture = parse_capture_line(line, name_, line_number, record.index);
        record.id = record.capture->id;
      } catch (const Error& error) {
        record.error_id = error.id();
        record.error_message = error.what();
      }
      return record;
    }
  }
  std::string describe() const override { return name_; }
  bool streaming() const override { return true; }

 private:
  std::unique_ptr<LineReader> reader_;
  std::string name_;
  std::deque<std::pair<size_t, std::string>> pending_;
  size_t index_ = 0;
};

class WholeFileSource final : public CaptureSource {
 public:
  WholeFileSource(std::vector<Capture> captures, std::string name)
      : captures_(std::move(captures)), name_(std::move(name)) {}
  std::optional<CaptureRecord> next() override {
    if (next_ >= captures_.size()) return std::nullopt;
    CaptureRecord record;
    record.index = next_;
    record.id = captures_[next_].id;
    record.capture = std::move(captures_[next_]);
    ++next_;
    return record;
  }
  std::string describe() const override { return name_; }
  bool streaming() const override { return false; }

 private:
  std::vector<Capture> captures_;
  std::string name_;
  size_t next_ = 0;
};

// The formats production writes, through their importers (capture_format.h).
class ImportedSource final : public CaptureSource {
 public:
  ImportedSource(std::unique_ptr<CaptureReader> reader, std::string name)
      : reader_(std::move(reader)), name_(std::move(name)) {}
  std::optional<CaptureRecord> next() override {
    if (done_) return std::nullopt;
    CaptureRecord record;
    record.index = index_++;
    try {
      std::optional<Capture> capture = reader_->next();
      if (!capture) return std::nullopt;
      record.id = capture->id;
      record.capture = std::move(capture);
      consecutive_errors_ = 0;
    } catch (const Error& error) {
      // An importer reads past the record it could not read: go on, unless it keeps failing
      // (a whole-document format that is broken fails the same way every time).
      record.id = name_ + "#" + std::to_string(record.index + 1);
      record.error_id = error.id();
      record.error_message = error.what();
      done_ = ++consecutive_errors_ >= 2 && !streams_by_record();
      if (consecutive_errors_ >= 100) done_ = true;
    }
    return record;
  }
  std::string describe() const override { return name_; }
  bool streaming() const override { return streams_by_record(); }

 private:
  bool streams_by_record() const { return reader_->format() != CaptureFormat::kHar; }
  std::unique_ptr<CaptureReader> reader_;
  std::string name_;
  size_t index_ = 0;
  int consecutive_errors_ = 0;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<CaptureSource> open_capture_source(const std::string& path,
                                                   const CaptureReadOptions& options) {
  if (path != "-") {
    // Another format than replay's own, named or recognised from the first bytes: its importer.
    std::optional<CaptureFormat> format = options.format;
    if (!format) {
      std::ifstream head_stream(path, std::ios::binary);
      std::string head(8192, '\0');
      head_stream.read(head.data(), static_cast<std::streamsize>(head.size()));
      head.resize(static_cast<size_t>(head_stream.gcount()));
      if (!head.empty()) format = detect_capture_format(head);
    }
    if (format && *format != CaptureFormat::kReplay) {
      CaptureReadOptions with_format = options;
      with_format.format = format;
      return std::make_unique<ImportedSource>(open_capture_reader(path, with_format), path);
    }
  }
  const bool from_stdin = path == "-";
  const std::string name = from_stdin ? "(standard input)" : path;
  int fd = from_stdin ? ::dup(STDIN_FILENO) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_input("capture.read", name + ": cannot open: " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
    ::close(fd);
    fail_input("capture.read", name + ": is a directory, not a file");
  }
  auto reader = std::make_unique<LineReader>(fd, name);

  // Peek at the first non-blank lines. JSON Lines when the first is a JSON document on its own
  // and another non-blank line follows, or (the first line itself malformed) when at least half
  // of the first kPeekLines non-blank lines are documents standing at the start of their line:
  // a pretty-printed document has none (its inner lines are indented or end in a comma), so a
  // night's file whose first line is broken still streams, with that line its own error.
  constexpr size_t kPeekLines = 16;
  std::deque<std::pair<size_t, std::string>> peeked;
  std::string whole;
  bool too_long = false;
  size_t non_blank = 0, documents = 0;
  bool first_is_document = false;
  // The first non-blank line is checked only once a second one follows: a capture file of one
  // line is read whole whatever it holds, and checking a line of 300 MB costs its size again
  // (the lexer's copy of its longest string).
  size_t first_unchecked = 0;  // its index in `peeked`, while first_pending
  bool first_pending = false;
  const auto check_first = [&] {
    std::string& first = peeked[first_unchecked].second;
    const bool bom = first.size() >= 3 && first.compare(0, 3, "\xEF\xBB\xBF") == 0;
    const std::string_view text = std::string_view(first).substr(bom ? 3 : 0);
    first_is_document = nlohmann::json::accept(text.begin(), text.end());
    documents += first_is_document && !text.empty() && (text.front() == '{' || text.front() == '[');
    if (first_is_document && bom) first.erase(0, 3);
    first_pending = false;
  };
  while (non_blank < kPeekLines && (non_blank < 2 || !first_is_document)) {
    std::optional<std::string> line = reader->next(&too_long);
    if (!line) break;
    if (too_long) {
      fail_input("capture.too_large", name + ":" + std::to_string(reader->line_number()) +
                                          ": a line over " + std::to_string(kMaxLineBytes >> 20) +
                                          " MiB");
    }
    const bool blank = is_blank(*line);
    if (!blank && first_pending) check_first();
    if (!blank && non_blank > 0) {
      const std::string_view text = *line;
      documents += (text.front() == '{' || text.front() == '[') &&
                   nlohmann::json::accept(text.begin(), text.end());
    }
    if (!blank && non_blank++ == 0) {
      first_unchecked = peeked.size();
      first_pending = true;
    }
    peeked.emplace_back(reader->line_number(), std::move(*line));
  }
  if (non_blank == 0) fail_input("capture.empty", name + ": the file is empty");
  const bool json_lines = non_blank >= 2 && (first_is_document || 2 * documents >= non_blank);
  if (json_lines) {
    return std::make_unique<JsonLinesSource>(std::move(reader), name, std::move(peeked));
  }
  // One document (over one or many lines): read it whole, within the capture file bound.
  // Lines are joined as they were, so parse errors name the file's own lines and columns.
  bool terminated = reader->terminated();
  // Moved, not copied: a one-line capture of 300 MB must not be held twice.
  for (size_t i = 0; i < peeked.size(); ++i) {
    if (i == 0) {
      whole = std::move(peeked[i].second);
    } else {
      whole += '\n';
      whole += peeked[i].second;
    }
    std::string().swap(peeked[i].second);
  }
  while (std::optional<std::string> line = reader->next(&too_long)) {
    if (too_long || whole.size() + line->size() > kMaxLineBytes) {
      fail_input("capture.too_large", name + ": a capture file over " +
                                          std::to_string(kMaxLineBytes >> 20) +
                                          " MiB that is not JSON Lines (split it into lines)");
    }
    whole += '\n';
    whole += *line;
    terminated = reader->terminated();
  }
  if (terminated && !peeked.empty()) whole += '\n';
  reader.reset();  // its line buffer: the text is all in `whole` now
  peeked.clear();
  whole.shrink_to_fit();
  return std::make_unique<WholeFileSource>(parse_captures(whole, name), name);
}

}  // namespace replay
