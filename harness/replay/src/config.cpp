#include "harness/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/error.h"
#include "harness/json_text.h"

namespace replay {
namespace {

const char* const kKnownKeys[] = {"version", "preprocess", "postprocess", "remote",
                                  "tolerances", "compare", "description"};

/// A tensor has at most this many dimensions here (numpy's limit is 64).
constexpr int64_t kMaxClassAxis = 64;
/// top-k agreement over more classes than this is not a top-k (and k is an int).
constexpr int64_t kMaxTopk = 1 << 20;

[[noreturn]] void schema_error(const std::string& origin, const std::string& pointer,
                               const std::string& what) {
  fail_input("config.schema", origin + ": " + pointer + ": " + what);
}

// A stage's response locations: JSON pointers ("/outputs") for JSON protocols, or output names
// ("logits") for tensor protocols, one or a list tried in order.
std::vector<std::string> location_list(const nlohmann::json& value, const std::string& origin,
                                       const std::string& where) {
  std::vector<std::string> pointers;
  auto add = [&](const nlohmann::json& item, const std::string& at) {
    if (!item.is_string() || item.get<std::string>().empty()) {
      schema_error(origin, at, "expected a JSON pointer such as \"/outputs\" or an output name");
    }
    if (item.get<std::string>()[0] == '/') {
      const std::string problem = json_pointer_problem(item.get<std::string>());
      if (!problem.empty()) schema_error(origin, at, "invalid JSON pointer: " + problem);
    }
    pointers.push_back(item.get<std::string>());
  };
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) add(value[i], where + "/" + std::to_string(i));
  } else {
    add(value, where);
  }
  return pointers;
}

}  // namespace

Config default_config() {
  Config config;
  config.origin = "(defaults)";
  // The raw payload should arrive bit for bit: a number that changed in parsing is a finding.
  config.tolerances = ToleranceSet::from_json(
      {{"stages", {{"payload", {{"rule", "exact"}}}}}}, "(defaults)");
  return config;
}

Config parse_config(const nlohmann::json& document, const std::string& origin) {
  if (!document.is_object()) schema_error(origin, "(root)", "expected a JSON object");
  for (const auto& [key, value] : document.items()) {
    bool known = false;
    for (const char* candidate : kKnownKeys) known = known || key == candidate;
    if (!known) schema_error(origin, "/" + json_pointer_token(key), "unknown key");
  }
  if (document.contains("version") && json_integer(document["version"], 1, 1) != 1) {
    schema_error(origin, "/version", "this replay reads config version 1");
  }
  Config config = default_config();
  config.origin = origin;
  if (document.contains("preprocess")) config.preprocess = document["preprocess"];
  if (document.contains("postprocess")) config.postprocess = document["postprocess"];

  if (document.contains("remote")) {
    const auto& remote = document["remote"];
    if (!remote.is_object()) schema_error(origin, "/remote", "expected an object");
    for (const auto& [key, value] : remote.items()) {
      if (key == "protocol") {
        static const char* const kProtocols[] = {"auto", "json", "kserve-v2", "tfserving",
                                                 "torchserve"};
        if (!value.is_string() ||
            std::none_of(std::begin(kProtocols), std::end(kProtocols),
                         // An init-capture: clang (libFuzzer builds) does not capture a
                         // structured binding before C++20.
                         [&protocol = value](const char* name) {
                           return protocol.get<std::string>() == name;
                         })) {
          schema_error(origin, "/remote/protocol",
                       "expected one of auto, json, kserve-v2, tfserving, torchserve");
        }
        config.protocol = value.get<std::string>() == "auto" ? "" : value.get<std::string>();
      } else if (key == "path") {
        if (!value.is_string()) schema_error(origin, "/remote/path", "expected a string");
        config.remote_path = value.get<std::string>();
      } else if (key == "headers") {
        if (!value.is_object()) schema_error(origin, "/remote/headers", "expected an object");
        for (const auto& [name, header] : value.items()) {
          if (!header.is_string()) {
            schema_error(origin, "/remote/headers/" + name, "expected a string");
          }
          config.remote_headers.emplace_back(name, header.get<std::string>());
        }
      } else if (key == "stages") {
        if (!value.is_object()) schema_error(origin, "/remote/stages", "expected an object");
        for (const auto& [name, pointers] : value.items()) {
          Stage stage;
          if (!stage_from_name(name, &stage)) {
            schema_error(origin, "/remote/stages/" + json_pointer_token(name),
                         "unknown stage (" + stage_names() + ")");
          }
          config.response_pointers[static_cast<int>(stage)] =
              location_list(pointers, origin, "/remote/stages/" + json_pointer_token(name));
        }
      } else {
        schema_error(origin, "/remote/" + key, "unknown key");
      }
    }
  }

  if (document.contains("tolerances")) {
    // Config tolerances layer over the defaults (which make the payload stage exact).
    nlohmann::json merged = default_config().tolerances.to_json();
    merged.merge_patch(document["tolerances"]);
    config.tolerances = ToleranceSet::from_json(merged, origin + ": /tolerances");
  }

  if (document.contains("compare")) {
    const auto& compare = document["compare"];
    if (!compare.is_object()) schema_error(origin, "/compare", "expected an object");
    for (const auto& [key, value] : compare.items()) {
      if (key == "class_axis" && json_integer(value, -kMaxClassAxis, kMaxClassAxis)) {
        config.compare.class_axis = static_cast<int>(*json_integer(value, -kMaxClassAxis, kMaxClassAxis));
        config.compare.class_scores = true;
      } else if (key == "class_scores" && value.is_boolean()) {
        config.compare.class_scores = value.get<bool>();
      } else if (key == "topk" && json_integer(value, 1, kMaxTopk)) {
        config.compare.topk = static_cast<int>(*json_integer(value, 1, kMaxTopk));
      } else {
        schema_error(origin, "/compare/" + key, "unknown key or wrong type");
      }
    }
  }
  return config;
}

Config load_config(const std::string& path) {
  Config config = parse_config(read_json_file(path, "config"), path);
  // A preprocessing module named by a relative path sits beside the config that names it.
  nlohmann::json& preprocess = config.preprocess;
  if (preprocess.is_object() && preprocess.value("type", "") == "torchscript" &&
      preprocess.contains("path") && preprocess["path"].is_string()) {
    const std::filesystem::path module = preprocess["path"].get<std::string>();
    if (module.is_relative()) {
      preprocess["path"] = (std::filesystem::path(path).parent_path() / module).string();
    }
  }
  return config;
}

}  // namespace replay
