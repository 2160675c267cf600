// replay's JSON parser (parse_json_checked: the quick path, QuickReader, for what it reads, and
// nlohmann's lexer for the rest) on the texts a nightly run parses for every capture, beside
// nlohmann's own json::parse of the same text and its lexer alone (json::accept): the fixture
// server's answer with X-Debug-Intermediates (700 bytes), and an offline capture line holding the
// request and that answer as escaped strings (1.2 KB). Run it directly:
//   build/bin/json_parse_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>

#include "harness/json_text.h"

namespace {

const std::string kAnswer =
    R"({"debug":{"features":{"features":{"data":[-0.25600001215934753,0.9504721164703369,)"
    R"(-0.2996707260608673,1.0,0.0,0.0,0.0,0.0,3.75,0.8640000224113464,0.13942354917526245,)"
    R"(0.4145944118499756,0.0,1.0,0.0,0.0,0.0,-0.949999988079071],"dtype":"float32","shape":[2,9]}},)"
    R"("payload":{"instances":[{"age":38,"amount":850164.643,"country":"DE","device":"android",)"
    R"("income":190094.42,"tenure_months":105},{"age":52,"amount":1207297.211,"country":"FR",)"
    R"("device":"android","income":27884.71,"tenure_months":11}]}},"outputs":{"data":)"
    R"([-0.6737549304962158,0.04043117165565491,-0.427176296710968,-0.13304781913757324,)"
    R"(-0.2635682225227356,-0.24263940751552582],"dtype":"float32","shape":[2,3]},"prediction":[1,0]})";

std::string escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

const std::string kCaptureLine =
    R"({"id": "c000000", "request": {"method": "POST", "path": "/predict", "headers": )"
    R"({"Content-Type": "application/json"}, "body": ")" +
    escaped(R"({"instances": [{"age": 38, "income": 190094.42, "amount": 850164.643, )"
            R"("country": "DE", "device": "android", "tenure_months": 105}, {"age": 52, )"
            R"("income": 27884.71, "amount": 1207297.211, "country": "FR", "device": "android", )"
            R"("tenure_months": 11}]})") +
    R"("}, "response": {"status": 200, "body": ")" + escaped(kAnswer) + R"("}})";

const std::string& text_of(const benchmark::State& state) {
  return state.range(0) == 0 ? kAnswer : kCaptureLine;
}

void label(benchmark::State& state) {
  state.SetLabel(state.range(0) == 0 ? "answer" : "capture line");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text_of(state).size()));
}

// As a remote answer is read (numbers packed anywhere) and a capture line (ordered, as captures).
void BM_ParseJsonChecked(benchmark::State& state) {
  const std::string& text = text_of(state);
  for (auto _ : state) {
    if (state.range(0) == 0) {
      nlohmann::json value;
      benchmark::DoNotOptimize(replay::parse_json_checked(text, &value, {"", true}));
      benchmark::DoNotOptimize(value);
    } else {
      nlohmann::ordered_json value;
      benchmark::DoNotOptimize(replay::parse_json_checked(text, &value));
      benchmark::DoNotOptimize(value);
    }
  }
  label(state);
}
BENCHMARK(BM_ParseJsonChecked)->Arg(0)->Arg(1);

void BM_NlohmannParse(benchmark::State& state) {
  const std::string& text = text_of(state);
  for (auto _ : state) {
    if (state.range(0) == 0) {
      benchmark::DoNotOptimize(nlohmann::json::parse(text));
    } else {
      benchmark::DoNotOptimize(nlohmann::ordered_json::parse(text));
    }
  }
  label(state);
}
BENCHMARK(BM_NlohmannParse)->Arg(0)->Arg(1);

void BM_NlohmannLexerAlone(benchmark::State& state) {
  const std::string& text = text_of(state);
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::accept(text));
  label(state);
}
BENCHMARK(BM_NlohmannLexerAlone)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
