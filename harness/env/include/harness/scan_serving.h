#pragma once
/// `replay env --scan-serving DIR`: a static scan of Python serving code, read as Python. It
/// reports models served without eval() (`serving.no_eval`), models run with autograd on
/// (`serving.no_grad`), train() on a served model (`serving.train_call`), the numerics settings the
/// code makes (`serving.tf32`, `serving.determinism`, `serving.precision`) and the files that do
/// not parse (`serving.parse_error`). The rules are in docs/env.md.
///
/// The analysis is Python's own parser (the `ast` module) driven by an analyser script that is
/// compiled into this library (harness/env/scan/scan_serving.py) and fed on stdin to a python3
/// (3.8 or newer, standard library only): any Python a serving environment has will do, and a
/// moved binary needs no file beside it.
///
///   ServingScanOptions options;
///   options.python = "/usr/bin/python3";            // or $REPLAY_PYTHON, else python3 on PATH
///   ServingScan scan = scan_serving("serving/", options);
///   std::cout << render_serving_scan(scan);

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace replay {

struct ServingFinding {
  std::string file;      ///< relative to the scanned folder
  int line = 0;          ///< 1-based (0 when a file could not be read at all)
  std::string id;        ///< "serving.no_eval", "serving.no_grad", "serving.train_call",
                         ///< "serving.tf32", "serving.determinism", "serving.precision",
                         ///< "serving.parse_error"
  std::string severity;  ///< "certain" or "unsure" (the scan cannot tell: it says so)
  std::string message;
  std::string code;  ///< the line, trimmed
  /// Where the model was created, where it is run, what was looked for and not found, in order.
  std::vector<std::pair<std::string, std::string>> evidence;
  std::string value;         ///< settings: the value set (as written)
  bool conditional = false;  ///< settings: set under a condition or a runtime flag
  /// True for call sites that can change outputs (no_eval, train_call); false for no_grad (cost
  /// only) and for settings (to be checked against training).
  bool changes_outputs = false;

  /// no_eval, no_grad and train_call: a defect at a call site (the others are settings or notes).
  bool is_call_site() const;
};

struct SkippedFile {
  std::string file;
  std::string reason;  ///< "tests", or "training (<what made it a training script>)"
};

struct ServingScan {
  std::string folder;
  std::string python;          ///< the interpreter that ran the analysis
  std::string python_version;  ///< as it reported itself, e.g. "3.11.2"
  size_t files = 0;            ///< *.py files found
  std::vector<SkippedFile> skipped;
  std::vector<ServingFinding> findings;  ///< sorted by file, line, id
  nlohmann::json report;                 ///< the analyser's JSON document, as written

  /// Exit status for `replay env --scan-serving`: 1 when a certain call-site finding exists or a
  /// file does not parse (the scan is then incomplete), else 0.
  int exit_code() const;
};

struct ServingScanOptions {
  /// The interpreter: this path, else $REPLAY_PYTHON, else `python3` (then `python`) on PATH.
  std::string python;
  int timeout_ms = 300000;  ///< the analysis is killed past this (error env.scan.timeout)
  int jobs = 0;             ///< parser processes; 0: one per core, at most 4
};

/// Scans every *.py under `folder` (recursively; hidden folders, venv, site-packages,
/// __pycache__ and node_modules skipped). Errors: kInput "env.scan" (not a folder),
/// "env.scan.python" (no usable python3, or one older than 3.8), "env.scan.timeout";
/// kInternal "env.scan.analyser" (the analyser failed: a bug in replay).
ServingScan scan_serving(const std::string& folder, const ServingScanOptions& options = {});

/// The interpreter scan_serving would use with these options (for messages and tests); throws
/// "env.scan.python" when there is none.
std::string find_python(const std::string& requested);

/// "file:line: [id] severity: message" per finding with the code line and its evidence under
/// it, then one summary line.
std::string render_serving_scan(const ServingScan& scan);

/// The JSON report (`--report json:PATH`): the analyser's document with replay's version, the
/// folder and the interpreter added.
nlohmann::json serving_scan_to_json(const ServingScan& scan);

/// The analyser's source text, as compiled into the binary.
const char* serving_scan_script();

}  // namespace replay
