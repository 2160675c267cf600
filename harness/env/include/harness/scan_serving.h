#pragma once
/// `replay env --scan-serving DIR`: a static scan of Python serving code for the call sites that
/// run a model without eval() and without no_grad()/inference_mode() on their path, and for the
/// places that set TF32 or determinism flags. Line-based (no Python needed): it follows the
/// conventions of serving code and says so where it guesses.

#include <string>
#include <vector>

namespace replay {

struct ServingFinding {
  std::string file;  ///< relative to the scanned folder
  int line = 0;      ///< 1-based
  std::string id;    ///< "serving.no_eval", "serving.no_grad", "serving.train_call",
                     ///< "serving.tf32", "serving.determinism"
  std::string message;
  std::string code;  ///< the line, trimmed
  /// True for call sites that can change outputs (no_eval, train_call); false for no_grad (cost
  /// only) and for settings (to be checked against training).
  bool changes_outputs = false;
};

/// Scans every *.py under `folder` (recursively, skipping hidden folders, venvs and
/// site-packages). Findings sorted by file and line. Throws Error kInput "env.scan" when the
/// folder cannot be read.
std::vector<ServingFinding> scan_serving(const std::string& folder);

/// "file:line: [id] message\n    code" lines, one finding each.
std::string render_serving_findings(const std::vector<ServingFinding>& findings);

}  // namespace replay
