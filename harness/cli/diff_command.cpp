// replay diff A B: compares two tensor files under the same rules and with the same figures as
// a replay, without a model or a server. A and B are .npy, .npz (every array, paired by name,
// or one array as file.npz:name), JSON tensor files, or a stage of a capture (capture.json:stage).
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "harness/utf8.h"
#include "harness/capture.h"
#include "harness/compare.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/tensor_io.h"
#include "harness/tolerance.h"

namespace replay::cli {
namespace {

bool is_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

// Why `path` cannot be read as a tensor file, or "" when it is a regular file. stat only: a FIFO
// is never opened (an open would block until a writer comes).
std::string unreadable_reason(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return errno == ENOENT || errno == ENOTDIR ? "no such file"
                                               : std::string("cannot open: ") + std::strerror(errno);
  }
  if (S_ISREG(info.st_mode)) return "";
  if (S_ISDIR(info.st_mode)) return "is a directory, not a tensor file";
  if (S_ISFIFO(info.st_mode)) return "is a FIFO (named pipe), not a regular file";
  if (S_ISCHR(info.st_mode)) return "is a character device, not a regular file";
  if (S_ISBLK(info.st_mode)) return "is a block device, not a regular file";
  if (S_ISSOCK(info.st_mode)) return "is a socket, not a regular file";
  return "is not a regular file";
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string stem(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input("tensor.read", path + ": cannot open");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<Tensor> load_json_tensors(const std::string& path) {
  nlohmann::json value;
  const std::string text = read_text(path);
  if (std::optional<JsonProblem> problem = parse_json_checked(text, &value)) {
    fail_input("tensor.json", "not JSON: " + json_problem_place(text, *problem, path));
  }
  if (value.is_array() || is_json_tensor_object(value)) {
    return {tensor_from_json(stem(path), value, path)};
  }
  if (value.is_object() && !value.empty()) {  // {"name": tensor, ...}
    std::vector<Tensor> tensors;
    for (const auto& [name, tensor] : value.items()) {
      tensors.push_back(tensor_from_json(name, tensor, path + ": /" + json_pointer_token(name)));
    }
    return tensors;
  }
  fail_input("tensor.json", path + ": neither a JSON tensor ({\"dtype\", \"shape\", \"data\"}), "
                                   "nested lists, nor an object of named tensors");
}

std::vector<Tensor> load_capture_stage(const std::string& path, const std::string& stage_text) {
  Stage stage;
  if (!stage_from_name(stage_text, &stage)) {
    fail_usage("usage.diff", "'" + stage_text +
                                 "' is not a stage (payload, features, outputs, prediction)");
  }
  for (const Capture& capture : load_captures(path)) {
    const auto found = capture.stages.find(stage);
    if (found != capture.stages.end()) return found->second;
  }
  fail_input("tensor.missing", path + ": no capture logs tensors for stage " + stage_text);
}

// A, B: "file.npy", "file.npz", "file.npz:name", "file.json", "capture.json:stage".
std::vector<Tensor> load_side(const std::string& spec) {
  std::string path = spec, part;
  if (!is_file(spec)) {
    const size_t colon = spec.rfind(':');
    if (colon != std::string::npos && colon > 0) {
      path = spec.substr(0, colon);
      part = spec.substr(colon + 1);
    }
    if (!is_file(path)) {
      // Name the spec as given when it exists as something else (a directory, a FIFO).
      const std::string whole = unreadable_reason(spec);
      if (whole != "no such file" || path == spec) fail_input("tensor.read", spec + ": " + whole);
      fail_input("tensor.read", spec + ": " + unreadable_reason(path));
    }
  }
  if (ends_with(path, ".npy")) {
    if (!part.empty()) fail_usage("usage.diff", spec + ": a .npy file holds one array");
    return {read_npy(path)};
  }
  if (ends_with(path, ".npz")) {
    std::vector<Tensor> tensors = read_npz(path);
    if (part.empty()) return tensors;
    for (Tensor& tensor : tensors) {
      if (tensor.name() == part) return {tensor};
    }
    fail_input("tensor.missing", path + ": no array named '" + part + "'");
  }
  if (!part.empty()) return load_capture_stage(path, part);
  return load_json_tensors(path);
}

void write_report(const std::string& spec, const nlohmann::json& report) {
  const size_t colon = spec.find(':');
  if (colon == std::string::npos || spec.substr(0, colon) != "json" || colon + 1 == spec.size()) {
    fail_usage("usage.report", "replay diff --report takes json:PATH, not '" + spec + "'");
  }
  write_text_file(spec.substr(colon + 1), dump_json(report, 2) + "\n", "report");
}

struct DiffArgs {
  std::string a, b, tensor, rule, reference = "b", report;
  std::optional<double> atol, rtol;
  std::optional<int64_t> max_ulp;
  bool equal_nan = false;
};

int run_diff(const DiffArgs& args) {
  nlohmann::json spec = nlohmann::json::object();
  if (!args.rule.empty()) spec["rule"] = args.rule;
  if (args.atol) spec["atol"] = *args.atol;
  if (args.rtol) spec["rtol"] = *args.rtol;
  if (args.max_ulp) spec["max_ulp"] = *args.max_ulp;
  if (args.equal_nan) spec["equal_nan"] = true;
  spec["reference"] = args.reference == "a" ? "local" : "remote";
  Tolerance tolerance;
  try {
    tolerance = parse_tolerance(spec, Tolerance{}, "command line");
  } catch (const Error& e) {
    fail_usage("usage.diff", e.message());
  }

  std::vector<Tensor> a = load_side(args.a), b = load_side(args.b);
  if (!args.tensor.empty()) {
    auto only = [&](std::vector<Tensor>& side, const std::string& spec_text) {
      for (Tensor& t : side) {
        if (t.name() == args.tensor || side.size() == 1) return std::vector<Tensor>{t};
      }
      fail_input("tensor.missing", spec_text + ": no tensor named '" + args.tensor + "'");
    };
    a = only(a, args.a);
    b = only(b, args.b);
  }
  std::vector<std::pair<Tensor, Tensor>> pairs;
  std::vector<std::string> unpaired;
  if (a.size() == 1 && b.size() == 1) {
    pairs.emplace_back(a[0], b[0]);
  } else {
    std::map<std::string, Tensor> by_name;
    for (const Tensor& t : b) by_name.emplace(t.name(), t);
    for (const Tensor& t : a) {
      const auto found = by_name.find(t.name());
      if (found == by_name.end()) {
        unpaired.push_back(t.name() + " (only in " + args.a + ")");
        continue;
      }
      pairs.emplace_back(t, found->second);
      by_name.erase(found);
    }
    for (const auto& [name, t] : by_name) unpaired.push_back(name + " (only in " + args.b + ")");
  }
  if (pairs.empty() && unpaired.empty()) fail_input("tensor.missing", "no tensors to compare");

  const bool colour = use_colour(stdout);
  bool all_passed = unpaired.empty();
  int diverged = 0;
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& [actual, reference] : pairs) {
    TensorComparison comparison = compare_tensors(actual, reference, tolerance);
    comparison.name = actual.name() == reference.name() ? actual.name()
                                                        : actual.name() + "~" + reference.name();
    for (const std::string& line : render_comparison(comparison, colour)) {
      std::cout << valid_utf8(line) << "\n";
    }
    if (!comparison.passed) {
      all_passed = false;
      ++diverged;
    }
    tensors.push_back(comparison.to_json());
  }
  for (const std::string& name : unpaired) std::cout << "unpaired tensor " << valid_utf8(name) << "\n";
  if (pairs.size() + unpaired.size() > 1) {
    std::cout << pairs.size() << " tensor" << (pairs.size() == 1 ? "" : "s") << " compared, "
              << diverged << " diverged";
    if (!unpaired.empty()) std::cout << ", " << unpaired.size() << " unpaired";
    std::cout << "\n";
  }
  std::cout << std::flush;
  if (!args.report.empty()) {
    write_report(args.report, {{"a", args.a},
                               {"b", args.b},
                               {"passed", all_passed},
                               {"tensors", tensors},
                               {"unpaired", unpaired}});
  }
  return all_passed ? kExitEquivalent : kExitDiverged;
}

}  // namespace

void add_diff_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<DiffArgs>();
  CLI::App* diff = app.add_subcommand(
      "diff",
      "Compare two tensor files (.npy, .npz[:name], JSON tensor, capture.json:stage) under the "
      "comparison rules; exit 0 equal or within tolerance, 1 diverged, 2 bad input");
  diff->add_option("A", args->a, "actual side")->required();
  diff->add_option("B", args->b, "reference side (see --reference)")->required();
  diff->add_option("--tensor", args->tensor, "compare only the tensor of this name");
  diff->add_option("--atol", args->atol, "absolute tolerance (default: the dtype's)")
      ->check(CLI::NonNegativeNumber);
  diff->add_option("--rtol", args->rtol, "relative tolerance (default: the dtype's)")
      ->check(CLI::NonNegativeNumber);
  diff->add_option("--rule", args->rule,
                   "allclose (default), either, ulp, exact, max, mean, median, quantile:Q");
  diff->add_option("--max-ulp", args->max_ulp, "units in the last place for --rule ulp")
      ->check(CLI::NonNegativeNumber);
  diff->add_flag("--equal-nan", args->equal_nan, "NaN equals NaN");
  diff->add_option("--reference", args->reference,
                   "which side is the reference in rtol * |reference| (default b)")
      ->check(CLI::IsMember({"a", "b"}));
  diff->add_option("--report", args->report, "also write a JSON report: json:PATH");
  diff->callback([args, exit_code] { *exit_code = run_diff(*args); });
}

}  // namespace replay::cli
