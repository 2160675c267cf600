#pragma once
/// `replay bisect`: the first node of the model's graph where two runs part. Both runs mark every
/// intermediate value of the inlined TorchScript graph as an output (LocalBackend::run_all,
/// Polygraphy's "mark all"); nodes are paired and compared one by one under the tolerance, in
/// graph order; the first node past it is reported with where it comes from (op kind, module
/// path, source line recorded in the archive), and the error of every node is the growth series.
///
///   BisectOptions options;
///   options.model_path = "model.pt";
///   options.capture_path = "failing.json";
///   options.against = "tf32";
///   BisectResult result = run_bisect(options, *default_backend_factory());
///   std::cout << render_bisect_text(result, /*colour=*/false);
///   return result.exit_code();  // 0: no node past tolerance, 1: a first node found
///
/// What the local model is run against:
///   tf32, float16, bfloat16, train, cuda   the same model under that variant (BackendOptions)
///   model:PATH                             another archive, nodes paired by position and op
///                                          kind when the graphs have the same shape, else by
///                                          node id (and the report says the graphs differ)
///   production                             the activations production logged in the capture
///                                          (stages "layers/<node id or module path>")

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/backend.h"
#include "harness/compare.h"

namespace replay {

struct BisectOptions {
  std::string model_path;    ///< the local TorchScript archive
  std::string capture_path;  ///< a capture file (the first capture, or `capture_id`)
  std::string capture_id;
  std::string config_path;           ///< preprocessing and tolerances; empty: defaults
  std::optional<double> atol, rtol;  ///< over the config's default tolerance
  /// tf32 | float16 | bfloat16 | train | cuda | model:PATH | production. Empty: production
  /// when the capture logged layers, else Error kUsage "usage.bisect".
  std::string against;
  /// Where the model's inputs come from: "local" (the config's preprocessing of the request
  /// body), "capture" (the capture's logged stages.features), "auto" (logged when present).
  std::string features = "auto";
  BackendOptions backend;  ///< the local side's device and threads
};

/// One compared node, in the local graph's order.
struct BisectNode {
  GraphNode node;               ///< the local node (its value: the local run's)
  std::string against_id;       ///< what it was paired with: the other run's node id, or the layer
  TensorComparison comparison;  ///< local (actual) against the other side (reference)
};

struct BisectResult {
  std::string model_path;
  std::string capture_id;
  std::string against;          ///< "tf32", "model:other.pt", "production"
  std::string against_detail;   ///< the variant in words, the other path, or "the capture's layers"
  std::string features_source;  ///< "the config's preprocessing" / "the capture's stages.features"
  std::vector<std::string> notes;  ///< how each side ran, how nodes were paired
  std::vector<BisectNode> nodes;
  std::optional<size_t> first_divergence;  ///< index into `nodes`
  size_t local_node_count = 0;             ///< values the local graph marked
  std::vector<std::string> unpaired;       ///< ids or layer names left without a partner
  double elapsed_ms = 0;

  int exit_code() const { return first_divergence ? 1 : 0; }
};

/// Runs both sides and compares them. Throws Error kUsage "usage.bisect" (a bad --against or
/// --features), kInput "capture.*" / "config.*" / "preprocess.*" / "bisect.features", kModel
/// "model.*". A divergence is data, never an Error.
BisectResult run_bisect(const BisectOptions& options, const BackendFactory& backend);

/// The terminal report: what ran against what, a table of every compared node (verdict and
/// error), then the first node past tolerance with its source line and full figures.
std::string render_bisect_text(const BisectResult& result, bool colour);

/// Schema "replay.bisect", version 1 (README "Diagnosing a divergence: replay bisect").
nlohmann::json bisect_to_json(const BisectResult& result);

}  // namespace replay
