#pragma once
// Private to harness/io: one reader per capture format (import_<format>.cpp), giving captures as
// the file has them; capture_format.cpp wraps them with redaction and --match.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/capture.h"
#include "harness/capture_format.h"

namespace replay {

/// A format's reader before redaction and filtering.
class FormatReader {
 public:
  virtual ~FormatReader() = default;
  virtual std::optional<Capture> next() = 0;
  std::vector<std::string> take_warnings() {
    std::vector<std::string> out = std::move(warnings_);
    warnings_.clear();
    return out;
  }

 protected:
  std::vector<std::string> warnings_;
};

std::unique_ptr<FormatReader> open_replay_format(const std::string& path);
std::unique_ptr<FormatReader> open_sagemaker_format(const std::string& path);
std::unique_ptr<FormatReader> open_kserve_format(const std::string& path);
std::unique_ptr<FormatReader> open_har_format(const std::string& path);
std::unique_ptr<FormatReader> open_gor_format(const std::string& path);

/// "<file>:<line>: <pointer>: <message>" under the id "capture.<format>".
[[noreturn]] void fail_import(const char* format, const std::string& where,
                              const std::string& pointer, const std::string& message);

/// "a string", "an object", ... for messages.
std::string json_type_phrase(const nlohmann::json& value);

/// True when `bytes` is valid UTF-8 (text that a capture can hold as "body").
bool is_utf8_text(std::string_view bytes);

}  // namespace replay
