// The command step (adapters/preprocess/command.h) with the Python workers of fixtures/workers/:
// a worker that matches the built-in tabular transforms bit for bit, .npy answers, and a worker
// that crashes, hangs, prints garbage or reports an error, each an error naming it with its
// stderr, after which the next call gets a fresh worker; concurrent calls over a pool.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "harness/config.h"
#include "harness/error.h"
#include "harness/pipeline.h"
#include "support/process.h"

namespace replay {
namespace {

using nlohmann::json;
using testing::source_path;

json worker_spec(const std::string& script, int timeout_ms = 10000, int workers = 1) {
  return json{{"type", "command"},
              {"argv", {"python3", source_path("fixtures/workers/" + script)}},
              {"timeout_ms", timeout_ms},
              {"workers", workers}};
}

json churn_payload() {
  return json::parse(R"({"instances": [
    {"age": 37, "income": 58250.5, "amount": 1234567.891, "country": "DE", "device": "ios", "tenure_months": 26},
    {"age": 52, "income": 121000.0, "amount": 845123.37, "country": "BR", "device": "android", "tenure_months": 71},
    {"age": 24, "income": 31875.25, "amount": 1502333.12, "country": "FR", "device": "web", "tenure_months": null},
    {"age": 44, "income": 96250.69, "amount": 1504735.048, "country": "GB", "device": "tablet", "tenure_months": 77}]})");
}

std::string error_of(const Preprocessor& step, const json& payload, std::string* id = nullptr) {
  try {
    step.run(payload);
  } catch (const Error& error) {
    if (id != nullptr) *id = error.id();
    return error.message();
  }
  return "";
}

TEST(CommandStep, MatchesTheBuiltInTabularTransformsBitForBit) {
  const Config config = load_config(source_path("fixtures/configs/tabular.json"));
  const auto builtin = make_preprocessor(config.preprocess);
  const auto command = make_preprocessor(worker_spec("churn_features.py"));
  const std::vector<Tensor> expected = builtin->run(churn_payload());
  for (int round = 0; round < 3; ++round) {  // one persistent worker answers every call
    const std::vector<Tensor> got = command->run(churn_payload());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].name(), "features");
    EXPECT_EQ(got[0].dtype(), DType::kFloat32);
    EXPECT_EQ(got[0].shape(), expected[0].shape());
    EXPECT_EQ(std::memcmp(got[0].data(), expected[0].data(), expected[0].nbytes()), 0);
  }
}

TEST(CommandStep, TheSkewedWorkerDiffers) {
  const Config config = load_config(source_path("fixtures/configs/tabular.json"));
  const auto builtin = make_preprocessor(config.preprocess);
  const auto skewed = make_preprocessor(worker_spec("churn_features_stale.py"));
  const auto got = skewed->run(churn_payload())[0].to_doubles();
  const auto expected = builtin->run(churn_payload())[0].to_doubles();
  EXPECT_NE(got[0], expected[0]);  // age, scaled with stale statistics
  EXPECT_EQ(got[1], expected[1]);
}

TEST(CommandStep, PostprocessAnswersInNpy) {
  const auto step = make_postprocessor(worker_spec("argmax_postprocess.py"));
  Tensor scores = Tensor::from_doubles("output", DType::kFloat32, {3, 3},
                                       {0.1, 0.7, 0.2, 0.5, 0.5, 0.0, -1, -2, -0.5});
  const auto labels = step->run({scores});
  ASSERT_EQ(labels.size(), 1u);
  EXPECT_EQ(labels[0].name(), "prediction");
  EXPECT_EQ(labels[0].dtype(), DType::kInt64);
  EXPECT_EQ(labels[0].to_doubles(), (std::vector<double>{1, 0, 2}));
  // The same as the built-in argmax.
  EXPECT_EQ(make_postprocessor(json{{"type", "argmax"}})->run({scores})[0].to_doubles(),
            labels[0].to_doubles());
}

TEST(CommandStep, ACrashIsAnErrorWithItsStderrAndTheNextCallRestarts) {
  const auto step = make_preprocessor(worker_spec("crashing.py"));
  for (int call = 0; call < 2; ++call) {
    std::string id;
    const std::string message = error_of(*step, churn_payload(), &id);
    EXPECT_EQ(id, "preprocess.command");
    EXPECT_NE(message.find("crashing.py"), std::string::npos) << message;
    EXPECT_NE(message.find("exited with status 1"), std::string::npos) << message;
    EXPECT_NE(message.find("KeyError: 'salary'"), std::string::npos) << message;
  }
}

TEST(CommandStep, AHangIsKilledAfterTheTimeout) {
  const auto step = make_preprocessor(worker_spec("hanging.py", /*timeout_ms=*/4000));
  const auto start = std::chrono::steady_clock::now();
  std::string id;
  const std::string message = error_of(*step, churn_payload(), &id);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(id, "preprocess.command");
  EXPECT_NE(message.find("did not answer within 4000 ms"), std::string::npos) << message;
  // Its stderr (the timeout leaves Python time to start even on a loaded machine).
  EXPECT_NE(message.find("working on it..."), std::string::npos) << message;
  EXPECT_LT(seconds, 20.0);
}

TEST(CommandStep, GarbageAndReportedErrors) {
  const auto garbage = make_preprocessor(worker_spec("garbage.py"));
  const std::string message = error_of(*garbage, churn_payload());
  EXPECT_NE(message.find("answered something that is not an answer (not JSON): loaded model v3"),
            std::string::npos)
      << message;
  // A worker that cannot be started.
  const auto missing = make_preprocessor(
      json{{"type", "command"}, {"argv", {"/nonexistent/worker"}}, {"timeout_ms", 2000}});
  EXPECT_NE(error_of(*missing, churn_payload()).find("cannot start /nonexistent/worker"),
            std::string::npos);
  // A worker that reports an error in the protocol: the error, the worker kept.
  testing::TempDir dir;
  const std::string script = dir.write("err.py", R"(import json, sys
for line in sys.stdin:
    request = json.loads(line)
    if "instances" not in request["payload"]:
        print(json.dumps({"id": request["id"], "error": "no instances"}), flush=True)
    else:
        print(json.dumps({"id": request["id"], "tensors": {"x": [[1.0]]}}), flush=True)
)");
  const auto reporting = make_preprocessor(
      json{{"type", "command"}, {"argv", {"python3", script}}, {"timeout_ms", 10000}});
  EXPECT_NE(error_of(*reporting, json::object()).find("reported an error: no instances"),
            std::string::npos);
  EXPECT_EQ(reporting->run(churn_payload())[0].to_doubles(), std::vector<double>{1.0});
}

TEST(CommandStep, ConcurrentCallsOverAPool) {
  const auto step = make_preprocessor(worker_spec("churn_features.py", 20000, /*workers=*/2));
  const Config config = load_config(source_path("fixtures/configs/tabular.json"));
  const auto expected = make_preprocessor(config.preprocess)->run(churn_payload())[0].to_doubles();
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        if (step->run(churn_payload())[0].to_doubles() == expected) ++good;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), 20);
}

TEST(CommandStep, SpecErrorsNameTheKey) {
  for (const auto& [spec, pointer] : std::vector<std::pair<json, std::string>>{
           {json{{"type", "command"}}, "/argv"},
           {json{{"type", "command"}, {"argv", json::array()}}, "/argv"},
           {json{{"type", "command"}, {"argv", {"x", 1}}}, "/argv/1"},
           {json{{"type", "command"}, {"argv", {"x"}}, {"timeout_ms", 0}}, "/timeout_ms"},
           {json{{"type", "command"}, {"argv", {"x"}}, {"workers", 0}}, "/workers"},
           {json{{"type", "command"}, {"argv", {"x"}}, {"timeout", 5}}, "/timeout"}}) {
    try {
      make_preprocessor(spec);
      FAIL() << spec.dump();
    } catch (const Error& error) {
      EXPECT_EQ(error.id(), "config.preprocess");
      EXPECT_EQ(error.message().rfind(pointer + ":", 0), 0u) << error.message();
    }
  }
}

}  // namespace
}  // namespace replay
