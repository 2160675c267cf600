// Capture formats (capture_format.h): names, detection by content, replay's own format read one
// JSON Lines line at a time, and the wrapper that redacts and filters every format's captures.

#include "harness/capture_format.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "capture_internal.h"
#include "harness/error.h"
#include "importers.h"

namespace replay {
namespace {

using nlohmann::json;

constexpr size_t kDetectBytes = size_t{1} << 16;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view skip_bom_and_space(std::string_view text) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  return text;
}

// Collects the member names of the first object (or of the first element of a top-level array)
// and every name below it, from text that may be cut anywhere.
class KeyCollector : public nlohmann::json_sax<json> {
 public:
  std::set<std::string> top_keys;  // names of the top-level object (or first element)
  std::set<std::string> all_keys;  // lowercased, any depth
  bool top_is_array = false;

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return depth_ >= top_depth();  // stop after the first record
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) top_is_array = true;
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool key(string_t& name) override {
    if (depth_ == top_depth()) top_keys.insert(name);
    all_keys.insert(lower(name));
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool value() { return depth_ > 0; }
  size_t top_depth() const { return top_is_array ? 2 : 1; }
  size_t depth_ = 0;
};

bool looks_like_gor(std::string_view text) {
  static const std::regex header(R"(^[123] [^ \r\n]+ -?[0-9]+( -?[0-9]+)?\r?\n)");
  const std::string head(text.substr(0, 512));
  return std::regex_search(head, header);
}

// ---- replay's own format ---------------------------------------------------------------------

class ReplayFormatReader : public FormatReader {
 public:
  explicit ReplayFormatReader(const std::string& path) : path_(path), file_(path) {
    // JSON Lines when the first non-blank line is a JSON document on its own and another
    // non-blank line follows (parse_captures decides the same way); else the whole file.
    std::string line;
    while (file_.next("\n", &line)) {
      if (!blank(line)) {
        first_ = line;
        first_line_ = file_.record_line();
        break;
      }
    }
    bool json_lines = false;
    if (first_ && json::accept(strip_bom(*first_))) {
      while (file_.next("\n", &line)) {
        if (blank(line)) continue;
        second_ = line;
        second_line_ = file_.record_line();
        json_lines = true;
        break;
      }
    }
    if (!json_lines) {
      std::vector<Capture> captures = parse_captures(read_capture_file(path), path);
      whole_.emplace(std::make_move_iterator(captures.begin()),
                     std::make_move_iterator(captures.end()));
    }
  }

  std::optional<Capture> next() override {
    if (whole_) {
      if (whole_->empty()) return std::nullopt;
      Capture capture = std::move(whole_->front());
      whole_->pop_front();
      return capture;
    }
    std::string line;
    size_t line_number = 0;
    if (first_) {
      line = std::move(*first_);
      first_.reset();
      line_number = first_line_;
    } else if (second_) {
      line = std::move(*second_);
      second_.reset();
      line_number = second_line_;
    } else {
      for (;;) {
        if (!file_.next("\n", &line)) return std::nullopt;
        if (!blank(line)) break;
      }
      line_number = file_.record_line();
    }
    return parse_capture_line(line, path_, line_number, index_++);
  }

 private:
  static bool blank(std::string_view line) {
    return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
  }
  static std::string_view strip_bom(std::string_view text) {
    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    return text;
  }

  std::string path_;
  RecordFile file_;
  std::optional<std::string> first_, second_;
  size_t first_line_ = 0, second_line_ = 0;
  size_t index_ = 0;
  std::optional<std::deque<Capture>> whole_;
};

// ---- Redaction and filtering over any format ------------------------------------------------

class WrappedReader : public CaptureReader {
 public:
  WrappedReader(std::unique_ptr<FormatReader> reader, CaptureFormat format,
                std::optional<RedactionPolicy> redaction, const std::string& match)
      : reader_(std::move(reader)), format_(format), redaction_(std::move(redaction)) {
    if (!match.empty()) {
      try {
        match_.emplace(match, std::regex::ECMAScript);
      } catch (const std::regex_error& error) {
        fail_usage("usage.match",
                   "--match '" + match + "': not a regular expression (" + error.what() + ")");
      }
    }
  }

  std::optional<Capture> next() override {
    for (;;) {
      std::optional<Capture> capture = reader_->next();
      if (!capture) return capture;
      if (match_) {
        const std::string url = capture->meta.contains("url") && capture->meta["url"].is_string()
                                    ? capture->meta["url"].get<std::string>()
                                    : capture->request.path;
        if (!std::regex_search(url, *match_)) continue;
      }
      if (redaction_ && !redaction_->empty()) redact_capture(*redaction_, &*capture);
      return capture;
    }
  }

  CaptureFormat format() const override { return format_; }
  std::vector<std::string> take_warnings() override { return reader_->take_warnings(); }

 private:
  std::unique_ptr<FormatReader> reader_;
  CaptureFormat format_;
  std::optional<RedactionPolicy> redaction_;
  std::optional<std::regex> match_;
};

}  // namespace

std::string json_type_phrase(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return value.type_name();
  }
}

void fail_import(const char* format, const std::string& where, const std::string& pointer,
                 const std::string& message) {
  fail_input(std::string("capture.") + format,
             where + ": " + (pointer.empty() ? "" : pointer + ": ") + message);
}

std::unique_ptr<FormatReader> open_replay_format(const std::string& path) {
  return std::make_unique<ReplayFormatReader>(path);
}

std::string_view capture_format_name(CaptureFormat format) {
  switch (format) {
    case CaptureFormat::kReplay:
      return "replay";
    case CaptureFormat::kSageMaker:
      return "sagemaker";
    case CaptureFormat::kKServe:
      return "kserve";
    case CaptureFormat::kHar:
      return "har";
    case CaptureFormat::kGoReplay:
      return "gor";
  }
  return "unknown";
}

std::optional<CaptureFormat> capture_format_from_name(std::string_view name) {
  const std::string lowered = lower(name);
  for (CaptureFormat format :
       {CaptureFormat::kReplay, CaptureFormat::kSageMaker, CaptureFormat::kKServe,
        CaptureFormat::kHar, CaptureFormat::kGoReplay}) {
    if (lowered == capture_format_name(format)) return format;
  }
  if (lowered == "goreplay") return CaptureFormat::kGoReplay;
  return std::nullopt;
}

std::string capture_format_names() { return "replay, sagemaker, kserve, har, gor"; }

CaptureFormat detect_capture_format(std::string_view head) {
  const std::string_view text = skip_bom_and_space(head);
  if (text.empty()) return CaptureFormat::kReplay;
  if (looks_like_gor(text)) return CaptureFormat::kGoReplay;
  if (text.front() != '{' && text.front() != '[') return CaptureFormat::kReplay;
  KeyCollector keys;
  json::sax_parse(text.begin(), text.end(), &keys, json::input_format_t::json,
                  /*strict=*/false);
  const auto has = [&](const char* key) { return keys.top_keys.count(key) > 0; };
  if (has("captureData")) return CaptureFormat::kSageMaker;
  if (has("log") && !has("request")) return CaptureFormat::kHar;
  if (has("specversion")) return CaptureFormat::kKServe;
  if (has("headers") && !has("request") && (has("body") || has("body_base64")) &&
      (keys.all_keys.count("ce-type") > 0 || keys.all_keys.count("ce-id") > 0)) {
    return CaptureFormat::kKServe;
  }
  return CaptureFormat::kReplay;
}

std::unique_ptr<CaptureReader> open_capture_reader(const std::string& path,
                                                   const CaptureReadOptions& options) {
  CaptureFormat format;
  if (options.format) {
    format = *options.format;
  } else {
    RecordFile file(path);
    format = detect_capture_format(file.peek(kDetectBytes));
  }
  std::unique_ptr<FormatReader> reader;
  switch (format) {
    case CaptureFormat::kReplay:
      reader = open_replay_format(path);
      break;
    case CaptureFormat::kSageMaker:
      reader = open_sagemaker_format(path);
      break;
    case CaptureFormat::kKServe:
      reader = open_kserve_format(path);
      break;
    case CaptureFormat::kHar:
      reader = open_har_format(path);
      break;
    case CaptureFormat::kGoReplay:
      reader = open_gor_format(path);
      break;
  }
  std::optional<RedactionPolicy> redaction = options.redaction;
  if (!redaction && format != CaptureFormat::kReplay) redaction = default_redaction_policy();
  return std::make_unique<WrappedReader>(std::move(reader), format, std::move(redaction),
                                         options.match);
}

std::vector<Capture> read_captures(const std::string& path, const CaptureReadOptions& options) {
  std::unique_ptr<CaptureReader> reader = open_capture_reader(path, options);
  std::vector<Capture> captures;
  while (std::optional<Capture> capture = reader->next()) captures.push_back(std::move(*capture));
  if (captures.empty()) {
    fail_input("capture.empty", path + ": no captures in this " +
                                    std::string(capture_format_name(reader->format())) + " file" +
                                    (options.match.empty() ? "" : " match --match"));
  }
  return captures;
}

std::vector<Capture> load_captures(const std::string& path) { return read_captures(path); }

}  // namespace replay
