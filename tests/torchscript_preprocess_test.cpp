// The TorchScript preprocessor (adapters/preprocess/torchscript.h): the fixture module that
// scripts fixtures/configs/tabular.json's preprocessing gives the tabular preprocessor's features
// bit for bit; the records-as-columns contract (NaN for missing values, strings, errors); the
// forward forms it accepts; and the config's relative path.
#include <gtest/gtest.h>

#include <cstring>

#include "harness/capture.h"
#include "harness/config.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/pipeline.h"
#include "support/process.h"

namespace replay {
namespace {

using nlohmann::json;
using testing::fixture_path;

std::string error_id(const std::function<void()>& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& error) {
    if (message != nullptr) *message = error.what();
    return error.id();
  }
  return "";
}

json torchscript_spec() {
  return {{"type", "torchscript"}, {"path", fixture_path("tabular_prep.pt")}};
}

TEST(TorchScriptPreprocess, MatchesTheTabularPreprocessorBitForBit) {
  REPLAY_REQUIRE_TORCH();
  const Config tabular = load_config(fixture_path("tabular.json"));
  const auto reference = make_preprocessor(tabular.preprocess);
  const auto scripted = make_preprocessor(torchscript_spec());
  // Every fixture capture's payload: unknown categories (BR), a null to impute, many rows.
  size_t payloads = 0;
  for (const char* file : {"tabular_failing.json", "tabular_batch.jsonl"}) {
    for (const Capture& capture : load_captures(fixture_path(file))) {
      const json payload = json::parse(capture.request.body);
      const Tensor expected = reference->run(payload).at(0);
      const std::vector<Tensor> got = scripted->run(payload);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(got[0].name(), "features");
      EXPECT_EQ(got[0].dtype(), DType::kFloat32);
      ASSERT_EQ(got[0].shape(), expected.shape()) << capture.id;
      EXPECT_EQ(std::memcmp(got[0].data(), expected.data(), expected.nbytes()), 0) << capture.id;
      ++payloads;
    }
  }
  EXPECT_GE(payloads, 2u);
}

TEST(TorchScriptPreprocess, RowsAndOutputNameFromTheSpec) {
  REPLAY_REQUIRE_TORCH();
  json spec = torchscript_spec();
  spec["rows"] = "/data/records";
  spec["output"] = {{"name", "x"}};
  const auto scripted = make_preprocessor(spec);
  const json payload = json::parse(R"({"data": {"records": [
      {"age": 30, "income": 1000, "amount": 5, "country": "FR", "device": "web"},
      {"age": 40, "income": 0, "amount": 7, "country": "XX", "device": "ios",
       "tenure_months": 50}]}})");
  const std::vector<Tensor> out = scripted->run(payload);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name(), "x");
  EXPECT_EQ(out[0].shape(), (std::vector<int64_t>{2, 9}));
  const std::vector<double> values = out[0].to_doubles();
  EXPECT_EQ(values[4], 1.0);  // country FR
  EXPECT_EQ(values[7], 2.0);  // device web
  // tenure_months missing in the first record: NaN in its column, imputed to 12 by the module.
  EXPECT_FLOAT_EQ(values[8], static_cast<float>((12.0 - 30.0) / 20.0));
  EXPECT_FLOAT_EQ(values[17], static_cast<float>((50.0 - 30.0) / 20.0));
  for (int k = 3; k < 7; ++k) EXPECT_EQ(values[9 + k], 0.0) << k;  // XX: no country slot
}

TEST(TorchScriptPreprocess, PayloadErrorsNameThePlace) {
  REPLAY_REQUIRE_TORCH();
  const auto scripted = make_preprocessor(torchscript_spec());
  std::string message;
  EXPECT_EQ(error_id([&] { scripted->run(json::parse(R"({"rows": []})")); }, &message),
            "preprocess.rows");
  EXPECT_EQ(
      error_id(
          [&] { scripted->run(json::parse(R"({"instances": [{"age": 1}, {"age": "old"}]})")); },
          &message),
      "preprocess.value");
  EXPECT_NE(message.find("/instances/1/age"), std::string::npos) << message;
  EXPECT_EQ(error_id([&] { scripted->run(json::parse(R"({"instances": [[1, 2]]})")); }, &message),
            "preprocess.row");
  // A field the module needs is absent: the module's own KeyError, as model.run.
  EXPECT_EQ(
      error_id([&] { scripted->run(json::parse(R"({"instances": [{"age": 1}]})")); }, &message),
      "model.run");
  EXPECT_NE(message.find("preprocessing module"), std::string::npos) << message;
}

TEST(TorchScriptPreprocess, AModuleOfAnotherShapeIsAConfigError) {
  REPLAY_REQUIRE_TORCH();
  // A model (forward(Tensor x)) is a valid preprocessing module of the tensor form...
  json spec = {{"type", "torchscript"}, {"path", fixture_path("simple_mlp.pt")}};
  const auto as_tensor = make_preprocessor(spec);
  const std::vector<Tensor> out =
      as_tensor->run(json::parse(R"({"input": [[1, 2, 3, 4, 5, 6, 7, 8]]})"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name(), "features");
  EXPECT_EQ(out[0].shape(), (std::vector<int64_t>{1, 3}));
  // ...and the spec is checked.
  std::string message;
  spec["colums"] = json::array();
  EXPECT_EQ(error_id([&] { make_preprocessor(spec); }, &message), "config.preprocess");
  EXPECT_NE(message.find("/colums"), std::string::npos) << message;
  EXPECT_EQ(error_id([&] { make_preprocessor({{"type", "torchscript"}}); }), "config.preprocess");
  EXPECT_EQ(error_id([&] {
              make_preprocessor({{"type", "torchscript"}, {"path", fixture_path("nothing.pt")}});
            }),
            "model.missing");
}

TEST(TorchScriptPreprocess, ARelativePathIsBesideTheConfig) {
  testing::TempDir dir;
  const std::string path = dir.write(
      "c.json", R"({"version": 1, "preprocess": {"type": "torchscript", "path": "prep.pt"}})");
  const Config config = load_config(path);
  EXPECT_EQ(config.preprocess["path"], dir.path() + "/prep.pt");
  const std::string absolute = dir.write(
      "d.json", R"({"version": 1, "preprocess": {"type": "torchscript", "path": "/srv/prep.pt"}})");
  EXPECT_EQ(load_config(absolute).preprocess["path"], "/srv/prep.pt");
}

}  // namespace
}  // namespace replay
