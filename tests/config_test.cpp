// Config files (harness/config.h): defaults, each section, and errors that name the place.
#include "harness/config.h"

#include <gtest/gtest.h>

#include "harness/error.h"
#include "support/process.h"

namespace replay {
namespace {

std::string error_of(const nlohmann::json& document) {
  try {
    parse_config(document, "c.json");
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(Config, DefaultsLeaveResponseLocationsToTheProtocol) {
  Config config = default_config();
  // Nothing configured: the protocol's defaults (the stage table) and evidence decide.
  for (const auto& locations : config.response_pointers) EXPECT_TRUE(locations.empty());
  EXPECT_TRUE(config.protocol.empty());
  const auto& prediction = stage_spec(Stage::kPrediction).response_pointers;
  ASSERT_EQ(prediction.size(), 2u);
  EXPECT_EQ(prediction[0], "/prediction");
  EXPECT_EQ(prediction[1], "/predictions");
  EXPECT_EQ(stage_spec(Stage::kOutputs).response_pointers[0], "/outputs");
  EXPECT_TRUE(config.preprocess.is_null());
  EXPECT_EQ(config.tolerances.resolve("payload", "payload").rule, Rule::kExact);
  EXPECT_EQ(config.tolerances.resolve("outputs", "output").rule, Rule::kAllclose);
}

TEST(Config, ReadsEverySection) {
  Config config = parse_config(
      {{"version", 1},
       {"preprocess", {{"rows", "/instances"}}},
       {"postprocess", {{"type", "argmax"}}},
       {"remote",
        {{"path", "/v1/predict"},
         {"headers", {{"X-Debug-Intermediates", "1"}}},
         {"protocol", "kserve-v2"},
         {"stages", {{"outputs", {"/a", "logits"}}, {"features", "/f"}}}}},
       {"tolerances", {{"stages", {{"outputs", {{"atol", 0.5}}}}}}},
       {"compare", {{"topk", 3}}}},
      "c.json");
  EXPECT_EQ(config.preprocess["rows"], "/instances");
  EXPECT_EQ(*config.remote_path, "/v1/predict");
  ASSERT_EQ(config.remote_headers.size(), 1u);
  EXPECT_EQ(config.remote_headers[0].first, "X-Debug-Intermediates");
  EXPECT_EQ(config.protocol, "kserve-v2");
  EXPECT_EQ(config.response_pointers[static_cast<int>(Stage::kOutputs)],
            (std::vector<std::string>{"/a", "logits"}));
  EXPECT_EQ(config.response_pointers[static_cast<int>(Stage::kFeatures)],
            (std::vector<std::string>{"/f"}));
  EXPECT_DOUBLE_EQ(*config.tolerances.resolve("outputs", "output").atol, 0.5);
  // The payload stays exact when the config does not say otherwise.
  EXPECT_EQ(config.tolerances.resolve("payload", "payload").rule, Rule::kExact);
  EXPECT_EQ(config.compare.topk, 3);
}

TEST(Config, ErrorsNameTheFileAndPointer) {
  EXPECT_EQ(error_of({{"colour", 1}}), "[replay.config.schema] c.json: /colour: unknown key");
  EXPECT_EQ(error_of({{"version", 2}}),
            "[replay.config.schema] c.json: /version: this replay reads config version 1");
  EXPECT_EQ(error_of({{"remote", {{"stages", {{"logits", "/x"}}}}}}),
            "[replay.config.schema] c.json: /remote/stages/logits: unknown stage (payload, "
            "features, outputs, prediction)");
  EXPECT_EQ(error_of({{"remote", {{"stages", {{"outputs", ""}}}}}}),
            "[replay.config.schema] c.json: /remote/stages/outputs: expected a JSON pointer such "
            "as \"/outputs\" or an output name");
  EXPECT_EQ(error_of({{"remote", {{"protocol", "grpc"}}}}),
            "[replay.config.schema] c.json: /remote/protocol: expected one of auto, json, "
            "kserve-v2, tfserving, torchserve");
  // A misspelt stage under tolerances would silently apply to nothing.
  EXPECT_EQ(error_of({{"tolerances", {{"stages", {{"output", {{"atol", 1}}}}}}}}),
            "[replay.config.tolerance] c.json: /tolerances/stages/output: unknown stage "
            "(payload, features, outputs, prediction)");
  EXPECT_EQ(error_of({{"remote", {{"headers", {{"A", 1}}}}}}),
            "[replay.config.schema] c.json: /remote/headers/A: expected a string");
  EXPECT_EQ(error_of(nlohmann::json::array()),
            "[replay.config.schema] c.json: (root): expected a JSON object");
}

TEST(Config, ParseErrorsHaveLineAndColumn) {
  testing::TempDir dir;
  const std::string path = dir.write("c.json", "{\n  \"version\": 1,\n  \"remote\": [\n}");
  try {
    load_config(path);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "config.parse");
    EXPECT_EQ(error.exit_code(), kExitBadInput);
    EXPECT_NE(std::string(error.what()).find(path + ":4:1: "), std::string::npos) << error.what();
  }
}

TEST(Config, EmptyAndMissingFiles) {
  testing::TempDir dir;
  try {
    load_config(dir.write("empty.json", "\n\n"));
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "config.empty");
  }
  try {
    load_config(dir.file("absent.json"));
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "config.read");
    EXPECT_NE(std::string(error.what()).find("No such file"), std::string::npos);
  }
}

}  // namespace
}  // namespace replay
