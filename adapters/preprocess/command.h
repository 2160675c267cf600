#pragma once
/// The command step: the user's own code (a Python preprocessing module, anything with stdin and
/// stdout) as the local preprocessing or postprocessing, run as a persistent worker process that
/// answers one request per line (README: "Bring your own step").
///
///   "preprocess": {"type": "command", "argv": ["python3", "prep.py"],
///                  "timeout_ms": 10000, "workers": 1, "cwd": "/srv/model", "env": {"K": "v"}}
///
/// Protocol, one JSON object per line each way (the worker must flush after each answer):
///   replay -> worker  {"id": 7, "step": "preprocess", "payload": <the parsed request body>}
///                     {"id": 8, "step": "postprocess", "tensors": {"output": <tensor>}}
///   worker -> replay  {"id": 7, "tensors": {"features": <tensor>}}
///                     {"id": 7, "error": "what went wrong"}
/// where <tensor> is the JSON tensor form {"dtype": "float32", "shape": [2, 9], "data": [...]}
/// (or nested lists) or {"npy": "<base64 of .npy bytes>"}. Tensors keep the order the worker
/// wrote them in. Anything the worker prints to stderr is its log: its last lines are quoted in
/// errors.
///
/// A worker that exits, does not answer within timeout_ms (it is then killed), or answers
/// something that is not an answer to this request is an Error kInput "preprocess.command" (or
/// "postprocess.command") for that capture, with the worker's stderr tail; the next capture
/// starts a fresh worker. An {"error": ...} answer is the same error, and the worker is kept.
///
/// Thread-safety: run() may be called from several threads. The step keeps a pool of `workers`
/// processes (default 1), started when first needed; a call takes an idle worker or waits for
/// one, so requests to one worker never interleave.

#include <memory>
#include <nlohmann/json.hpp>

#include "harness/pipeline.h"

namespace replay {

/// Throws Error kInput "config.preprocess" for an invalid spec (naming the key).
std::unique_ptr<Preprocessor> make_command_preprocessor(const nlohmann::json& spec);
/// Throws Error kInput "config.postprocess" for an invalid spec.
std::unique_ptr<Postprocessor> make_command_postprocessor(const nlohmann::json& spec);

}  // namespace replay
