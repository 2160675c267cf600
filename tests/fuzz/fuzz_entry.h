#pragma once
// The entry points of replay's fuzz targets (tests/fuzz/fuzz_*.cpp, libFuzzer) and of the unit
// test that replays their corpora and found crashers (tests/fuzz_regressions_test.cpp): the same
// code either way. Each feeds one input to one reader of untrusted bytes; an Error (bad input,
// reported with its id) is the expected outcome of garbage, anything else escaping or any
// sanitizer report is a bug.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace replay::fuzz {

using Entry = void (*)(const uint8_t* data, size_t size);

struct Target {
  std::string name;  ///< corpus and regression folder name: tests/fuzz/corpus/<name>/
  Entry entry;
};

/// Capture files in every format: byte 0 picks replay (detected), replay, sagemaker, kserve,
/// har, gor; the rest is the file. Also parse_captures for replay's own format.
void capture(const uint8_t* data, size_t size);
/// A JSON tensor ({"dtype", "shape", "data"}, nested lists), compared with itself.
void tensor_json(const uint8_t* data, size_t size);
/// An .npy file's bytes, compared with itself.
void npy(const uint8_t* data, size_t size);
/// An .npz archive (libzip), each member compared with itself.
void npz(const uint8_t* data, size_t size);
/// A remote's response: byte 0 picks the codec (json, kserve-v2, tfserving, torchserve), byte 1
/// the status and headers (KServe v2's binary extension header length from bytes 2-3); the rest
/// is the body. decode_response, then the recorded-response decoding.
void remote_response(const uint8_t* data, size_t size);
/// A config document (--config FILE).
void config(const uint8_t* data, size_t size);

/// Any text, read by parse_json_checked (its quick path, and nlohmann's for what that leaves) as
/// json, packed and ordered_json: the value or the error must be nlohmann's own parse's. A
/// difference throws std::logic_error.
void json_text(const uint8_t* data, size_t size);

/// Every target, in a fixed order.
const std::vector<Target>& targets();

}  // namespace replay::fuzz
