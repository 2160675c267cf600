#pragma once
/// `replay minimize`: the smallest request that still diverges the same way. Delta debugging
/// (Zeller's ddmin) first over the batch's rows, then over the remaining records' fields, with
/// the Replayer as the oracle: a candidate request "still fails" when its replay diverges and
/// its first diverging stage is the original one. The result is written as a new capture file:
/// the failing request a person can paste into a bug report.
///
///   MinimizeOptions options;
///   options.replay.capture_path = "failing.json";
///   options.replay.model_path = "model.pt";
///   options.replay.remote_url = "http://127.0.0.1:8080/predict";
///   options.out_path = "minimal.json";
///   MinimizeResult result = run_minimize(options);   // writes minimal.json
///   std::cout << render_minimize_text(result);
///
/// The remote answers every candidate (a recorded response answers only the whole batch), so
/// minimize needs --remote. Each candidate costs one request and one local run; `max_replays`
/// bounds them.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/capture.h"
#include "harness/replay.h"

namespace replay {

struct MinimizeOptions {
  ReplayOptions replay;    ///< capture, model, remote, config, protocol, backend, tolerances
  std::string capture_id;  ///< empty: the first capture
  std::string out_path;    ///< the minimized capture (required)
  /// JSON pointer of the batch's rows in the request body; empty: the config's preprocess
  /// "rows", else the first of /instances, /inputs, /input, /data that holds an array.
  std::string rows_pointer;
  int max_replays = 300;   ///< candidates replayed at most (the original not counted)
};

struct MinimizeResult {
  std::string capture_id, origin, out_path;
  bool diverged = false;   ///< false: the capture does not diverge, nothing was written
  std::string stage;       ///< the first diverging stage kept
  std::string rows_pointer;            ///< empty when the body has no rows array
  size_t rows_before = 0;
  std::vector<size_t> rows_kept;       ///< 0-based positions in the original batch
  size_t fields_before = 0, fields_after = 0;  ///< record fields over the kept rows
  std::vector<std::string> fields_removed;     ///< "/instances/0/tenure_months" (in the output)
  int replays = 0;                     ///< candidates replayed
  bool budget_exhausted = false;       ///< max_replays reached: smaller may exist
  Capture minimized;
  double elapsed_ms = 0;

  /// 0 a minimized capture was written; 1 the capture does not diverge (nothing written).
  int exit_code() const { return diverged ? 0 : 1; }
};

/// Throws Error as `replay` does (usage.*, capture.*, config.*, model.*: exit 2; remote.*: 3),
/// usage.minimize without --remote or --out, minimize.payload for a body that is not a JSON
/// object or array, and report.write when the output cannot be written.
MinimizeResult run_minimize(const MinimizeOptions& options, const ReplayServices& services = {});

/// Delta debugging over `count` items: the smallest subset (as sorted indices) for which
/// `still_fails` holds, 1-minimal when the budget allows. `still_fails` is never asked about
/// the whole set (assumed to fail) and its answers are cached. `min_size`: subsets smaller than
/// this are not tried. Public for tests.
std::vector<size_t> ddmin(size_t count,
                          const std::function<bool(const std::vector<size_t>&)>& still_fails,
                          size_t min_size = 1);

std::string render_minimize_text(const MinimizeResult& result);
/// Schema "replay.minimize", version 1.
nlohmann::json minimize_to_json(const MinimizeResult& result);

}  // namespace replay
