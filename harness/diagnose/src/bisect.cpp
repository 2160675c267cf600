// replay bisect (bisect.h): features from a capture, both sides run with every value marked,
// nodes paired and compared in the local graph's order.
#include "harness/bisect.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "harness/capture.h"
#include "harness/config.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/pipeline.h"

namespace replay {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kAgainstList = "tf32, float16, bfloat16, train, cuda, model:PATH, production";

enum class AgainstKind { kVariant, kModel, kProduction };

struct Against {
  AgainstKind kind = AgainstKind::kVariant;
  BackendOptions variant;
  std::string model_path;
};

Against parse_against(const std::string& spec, const BackendOptions& local) {
  Against against;
  against.variant = local;
  if (spec == "tf32") {
    against.variant.emulate_tf32 = true;
  } else if (spec == "float16") {
    against.variant.run_dtype = DType::kFloat16;
  } else if (spec == "bfloat16") {
    against.variant.run_dtype = DType::kBFloat16;
  } else if (spec == "train") {
    against.variant.force_training_mode = true;
  } else if (spec == "cuda") {
    against.variant.device = "cuda";
  } else if (spec.rfind("model:", 0) == 0 && spec.size() > 6) {
    against.kind = AgainstKind::kModel;
    against.model_path = spec.substr(6);
  } else if (spec == "production") {
    against.kind = AgainstKind::kProduction;
  } else {
    fail_usage("usage.bisect",
               "--against takes one of " + std::string(kAgainstList) + ", not '" + spec + "'");
  }
  return against;
}

const Capture& pick_capture(const std::vector<Capture>& captures, const std::string& id,
                            const std::string& path) {
  if (id.empty()) return captures.front();
  for (const Capture& capture : captures) {
    if (capture.id == id) return capture;
  }
  fail_input("capture.id", path + ": no capture with id '" + id + "'");
}

std::vector<Tensor> model_inputs(const BisectOptions& options, const Capture& capture,
                                 const Config& config, std::string* source) {
  const auto logged = capture.stages.find(Stage::kFeatures);
  const bool have_logged = logged != capture.stages.end() && !logged->second.empty();
  if (options.features != "auto" && options.features != "local" && options.features != "capture") {
    fail_usage("usage.bisect",
               "--features takes auto, local or capture, not '" + options.features + "'");
  }
  if (options.features == "capture" || (options.features == "auto" && have_logged)) {
    if (!have_logged) {
      fail_input("bisect.features", capture.origin + ": capture " + capture.id +
                                        " logged no stages.features (use --features local)");
    }
    *source = "the capture's stages.features";
    return logged->second;
  }
  if (capture.request.body_binary) {
    fail_input("bisect.features", capture.origin + ": capture " + capture.id +
                                      " has a binary body; give the features in stages.features");
  }
  const json payload =
      parse_json_text(capture.request.body, capture.origin + ": request body", "capture.payload");
  *source = config.preprocess.is_null() ? "the default preprocessing of the request body"
                                        : "the config's preprocessing of the request body";
  return make_preprocessor(config.preprocess)->run(payload);
}

CompareOptions node_compare_options() {
  CompareOptions options;
  options.auto_class_scores = false;  // intermediate values are not class scores
  return options;
}

// Node lists of the same graph (variants): the same ids in the same order.
bool same_ids(const std::vector<GraphNode>& a, const std::vector<GraphNode>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id) return false;
  }
  return true;
}

bool same_kinds(const std::vector<GraphNode>& a, const std::vector<GraphNode>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].kind != b[i].kind) return false;
  }
  return true;
}

// Pairs the local nodes with another run's: by position when the graphs have the same shape
// (the same op kinds in the same order), else by node id.
std::vector<std::pair<size_t, size_t>> pair_runs(const std::vector<GraphNode>& local,
                                                 const std::vector<GraphNode>& other,
                                                 const std::string& other_name,
                                                 BisectResult* result) {
  std::vector<std::pair<size_t, size_t>> pairs;
  if (same_kinds(local, other)) {
    for (size_t i = 0; i < local.size(); ++i) pairs.emplace_back(i, i);
    if (!same_ids(local, other)) {
      result->notes.push_back(
          "the two graphs have the same op kinds in the same order but "
          "other module paths; nodes paired by position");
    }
    return pairs;
  }
  std::map<std::string, size_t> by_id;
  for (size_t j = 0; j < other.size(); ++j) by_id.emplace(other[j].id, j);
  std::vector<bool> used(other.size(), false);
  for (size_t i = 0; i < local.size(); ++i) {
    const auto found = by_id.find(local[i].id);
    if (found == by_id.end()) {
      result->unpaired.push_back(local[i].id);
      continue;
    }
    pairs.emplace_back(i, found->second);
    used[found->second] = true;
  }
  size_t only_other = 0;
  for (size_t j = 0; j < other.size(); ++j) {
    if (!used[j]) {
      result->unpaired.push_back(other_name + ":" + other[j].id);
      ++only_other;
    }
  }
  result->notes.push_back("the graphs differ (" + std::to_string(local.size()) + " values here, " +
                          std::to_string(other.size()) + " in " + other_name +
                          "): nodes paired by node id; " +
                          std::to_string(local.size() - pairs.size()) + " only here, " +
                          std::to_string(only_other) + " only in " + other_name);
  return pairs;
}

// The local node a production layer stands for: the node with that id, else the output of the
// module with that path (the last value computed inside it, submodules included).
std::optional<size_t> node_for_layer(const std::vector<GraphNode>& local, const std::string& name) {
  for (size_t i = 0; i < local.size(); ++i) {
    if (local[i].id == name) return i;
  }
  std::optional<size_t> last;
  for (size_t i = 0; i < local.size(); ++i) {
    const std::string& path = local[i].module_path;
    if (path == name || path.rfind(name + ".", 0) == 0) last = i;
  }
  return last;
}

std::string verdict_of(const TensorComparison& comparison) {
  if (comparison.bit_identical && comparison.passed) return "equal";
  return comparison.passed ? "within tolerance" : "DIVERGED";
}

std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return "0";
  std::ostringstream out;
  out << std::setprecision(3) << value;
  return out.str();
}

std::string source_of(const GraphNode& node) {
  if (node.source_line <= 0) return "";
  return (node.source_file.empty() ? "(no file)" : node.source_file) + ":" +
         std::to_string(node.source_line);
}

std::string pad(const std::string& text, size_t width) {
  return text.size() >= width ? text + " " : text + std::string(width - text.size(), ' ');
}

}  // namespace

BisectResult run_bisect(const BisectOptions& options, const BackendFactory& backend) {
  const auto start = Clock::now();
  BisectResult result;
  result.model_path = options.model_path;
  if (options.model_path.empty()) fail_usage("usage.bisect", "--local MODEL.pt is required");
  if (options.capture_path.empty()) fail_usage("usage.bisect", "--capture FILE is required");

  Config config = options.config_path.empty() ? default_config() : load_config(options.config_path);
  config.tolerances.override_defaults(options.atol, options.rtol);
  const std::vector<Capture> captures = load_captures(options.capture_path);
  const Capture& capture = pick_capture(captures, options.capture_id, options.capture_path);
  result.capture_id = capture.id;

  std::string against_spec = options.against;
  if (against_spec.empty()) {
    if (capture.layers.empty()) {
      fail_usage("usage.bisect", "--against is required (" + std::string(kAgainstList) +
                                     "): capture " + capture.id +
                                     " logged no layers/ activations to compare with");
    }
    against_spec = "production";
  }
  const Against against = parse_against(against_spec, options.backend);
  result.against = against_spec;
  if (against.kind == AgainstKind::kProduction && capture.layers.empty()) {
    fail_input("bisect.layers", capture.origin + ": capture " + capture.id +
                                    " logged no layers/ activations (README \"Capture format\")");
  }

  const std::vector<Tensor> inputs =
      model_inputs(options, capture, config, &result.features_source);
  const std::unique_ptr<LocalBackend> local = backend.open(options.model_path, options.backend);
  const std::vector<GraphNode> local_nodes = local->run_all(inputs, options.backend);
  result.local_node_count = local_nodes.size();
  for (const std::string& note : local->variant_notes(options.backend)) {
    result.notes.push_back("local: " + note);
  }

  // (local index, reference tensor, reference name)
  struct Pair {
    size_t local;
    Tensor reference;
    std::string reference_name;
  };
  std::vector<Pair> pairs;
  if (against.kind == AgainstKind::kVariant) {
    result.against_detail = describe_variant(against.variant);
    const std::vector<GraphNode> other = local->run_all(inputs, against.variant);
    for (const std::string& note : local->variant_notes(against.variant)) {
      result.notes.push_back(against_spec + ": " + note);
    }
    for (const auto& [i, j] : pair_runs(local_nodes, other, against_spec, &result)) {
      pairs.push_back({i, other[j].value, other[j].id});
    }
  } else if (against.kind == AgainstKind::kModel) {
    result.against_detail = against.model_path;
    const std::unique_ptr<LocalBackend> other_model =
        backend.open(against.model_path, options.backend);
    const std::vector<GraphNode> other = other_model->run_all(inputs, options.backend);
    for (const auto& [i, j] : pair_runs(local_nodes, other, against.model_path, &result)) {
      pairs.push_back({i, other[j].value, other[j].id});
    }
  } else {
    result.against_detail = "the activations the capture logged (stages layers/...)";
    for (const Tensor& layer : capture.layers) {
      const std::optional<size_t> index = node_for_layer(local_nodes, layer.name());
      if (!index) {
        result.unpaired.push_back("layers/" + layer.name());
        continue;
      }
      pairs.push_back({*index, layer, "layers/" + layer.name()});
    }
    if (!result.unpaired.empty()) {
      result.notes.push_back(std::to_string(result.unpaired.size()) +
                             " logged layer(s) match no node id or module path of " +
                             options.model_path);
    }
    std::stable_sort(pairs.begin(), pairs.end(),
                     [](const Pair& a, const Pair& b) { return a.local < b.local; });
  }

  const CompareOptions compare_options = node_compare_options();
  for (const Pair& pair : pairs) {
    BisectNode compared;
    compared.node = local_nodes[pair.local];
    compared.against_id = pair.reference_name;
    const Tolerance tolerance = config.tolerances.resolve("layers", compared.node.id);
    compared.comparison =
        compare_tensors(compared.node.value, pair.reference, tolerance, compare_options);
    compared.comparison.name = compared.node.id;
    if (!result.first_divergence && !compared.comparison.passed) {
      result.first_divergence = result.nodes.size();
    }
    result.nodes.push_back(std::move(compared));
  }
  result.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return result;
}

std::string render_bisect_text(const BisectResult& result, bool colour) {
  const char* bold = colour ? "\033[1m" : "";
  const char* red = colour ? "\033[31m" : "";
  const char* green = colour ? "\033[32m" : "";
  const char* reset = colour ? "\033[0m" : "";
  std::ostringstream out;
  out << bold << "replay bisect" << reset << ": " << result.model_path << " on capture "
      << result.capture_id << "\n"
      << "  against: " << result.against << " (" << result.against_detail << ")\n"
      << "  inputs:  " << result.features_source << "\n";
  for (const std::string& note : result.notes) out << "  note: " << note << "\n";
  out << "\n";

  size_t id_width = 4, kind_width = 4;
  for (const BisectNode& entry : result.nodes) {
    id_width = std::max(id_width, entry.node.id.size());
    kind_width = std::max(kind_width, entry.node.kind.size());
  }
  id_width = std::min<size_t>(id_width, 48);
  kind_width = std::min<size_t>(kind_width, 32);
  out << pad("#", 5) << pad("node", id_width + 1) << pad("kind", kind_width + 1)
      << pad("verdict", 17) << pad("max |diff|", 12) << pad("max rel", 12) << "mismatched\n";
  for (size_t i = 0; i < result.nodes.size(); ++i) {
    const BisectNode& entry = result.nodes[i];
    const TensorComparison& c = entry.comparison;
    const std::string verdict = verdict_of(c);
    const char* tone = !c.passed ? red : (c.bit_identical ? "" : green);
    out << pad(std::to_string(entry.node.index), 5) << pad(entry.node.id, id_width + 1)
        << pad(entry.node.kind, kind_width + 1) << tone << pad(verdict, 17) << reset
        << pad(number(c.max_abs_error), 12) << pad(number(c.max_rel_error), 12) << c.mismatched
        << "/" << c.total
        << (result.first_divergence && *result.first_divergence == i ? "  <-" : "") << "\n";
  }
  out << "\n";
  if (result.nodes.empty()) {
    out << "No node was compared (nothing paired).\n";
  } else if (!result.first_divergence) {
    out << green << "No node past tolerance" << reset << ": the " << result.nodes.size()
        << " compared values agree (greatest |diff| "
        << number(result.nodes.back().comparison.max_abs_error) << " at the last node).\n";
  } else {
    const BisectNode& first = result.nodes[*result.first_divergence];
    out << red << bold << "First node past tolerance: " << first.node.id << reset << " ("
        << first.node.kind;
    if (!first.node.module_path.empty()) out << ", module " << first.node.module_path;
    out << ", value #" << first.node.index << " of " << result.local_node_count << ")\n";
    const std::string source = source_of(first.node);
    if (!source.empty()) {
      out << "  source: " << source
          << (first.node.source_text.empty() ? "" : "  " + first.node.source_text) << "\n";
    }
    out << "  paired with: " << first.against_id << "\n";
    for (std::string line : render_comparison(first.comparison, colour)) {
      // The comparison's words are a replay's (local against remote); here the reference is
      // the other run.
      const std::string remote = "reference side: remote";
      if (const size_t at = line.find(remote); at != std::string::npos) {
        line.replace(at, remote.size(), "reference side: the --against run");
      }
      out << "  " << line << "\n";
    }
    // How the error grows from there: the greatest |diff| at each later node.
    out << "  error growth (max |diff|): ";
    for (size_t i = *result.first_divergence; i < result.nodes.size(); ++i) {
      out << (i > *result.first_divergence ? " -> " : "")
          << number(result.nodes[i].comparison.max_abs_error) << " (" << result.nodes[i].node.id
          << ")";
    }
    out << "\n";
  }
  if (!result.unpaired.empty()) {
    out << "Unpaired: ";
    for (size_t i = 0; i < result.unpaired.size(); ++i) {
      out << (i > 0 ? ", " : "") << result.unpaired[i];
      if (i == 19 && result.unpaired.size() > 20) {
        out << ", ... (" << result.unpaired.size() - 20 << " more)";
        break;
      }
    }
    out << "\n";
  }
  return out.str();
}

json bisect_to_json(const BisectResult& result) {
  const auto node_json = [](const BisectNode& entry) {
    const TensorComparison& c = entry.comparison;
    json source = nullptr;
    if (entry.node.source_line > 0) {
      source = {{"file", entry.node.source_file},
                {"line", entry.node.source_line},
                {"text", entry.node.source_text}};
    }
    return json{{"index", entry.node.index},
                {"id", entry.node.id},
                {"kind", entry.node.kind},
                {"module_path", entry.node.module_path},
                {"source", source},
                {"against", entry.against_id},
                {"verdict", verdict_of(c)},
                {"passed", c.passed},
                {"dtype", std::string(dtype_name(entry.node.value.dtype()))},
                {"shape", entry.node.value.shape()},
                {"max_abs_error", json_number(c.max_abs_error)},
                {"max_rel_error", json_number(c.max_rel_error)},
                {"mean_abs_error", json_number(c.mean_abs_error)},
                {"cosine", json_number(c.cosine)},
                {"mismatched", c.mismatched},
                {"total", c.total}};
  };
  json nodes = json::array();
  for (const BisectNode& entry : result.nodes) nodes.push_back(node_json(entry));
  json first = nullptr;
  if (result.first_divergence) {
    const BisectNode& entry = result.nodes[*result.first_divergence];
    first = node_json(entry);
    first["comparison"] = entry.comparison.to_json();
  }
  return {{"schema", "replay.bisect"},        {"version", 1},
          {"model", result.model_path},       {"capture", result.capture_id},
          {"against", result.against},        {"against_detail", result.against_detail},
          {"inputs", result.features_source}, {"notes", result.notes},
          {"exit_code", result.exit_code()},  {"local_values", result.local_node_count},
          {"first_divergence", first},        {"nodes", nodes},
          {"unpaired", result.unpaired},      {"elapsed_ms", result.elapsed_ms}};
}

}  // namespace replay
