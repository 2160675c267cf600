// The fuzz targets' entry points (fuzz_entry.h). Files that readers open by path are written to
// a memfd and opened as /proc/self/fd/N: no disk traffic, nothing left behind.
#include "fuzz_entry.h"

#include <sys/mman.h>
#include <unistd.h>

#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

#include "harness/capture.h"
#include "harness/capture_format.h"
#include "harness/compare.h"
#include "harness/config.h"
#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/protocol.h"
#include "harness/tensor_io.h"
#include "support/json_same.h"
#include "protocols/json_codec.h"
#include "protocols/kserve_v2_codec.h"
#include "protocols/tfserving.h"
#include "protocols/torchserve.h"

namespace replay::fuzz {
namespace {

// Tensors larger than this are not compared (the comparison is linear; fuzzing wants speed).
constexpr int64_t kMaxComparedElements = int64_t{1} << 16;

class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) : fd_(::memfd_create("replay-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) return;
    size_t written = 0;
    while (written < size) {
      const ssize_t n = ::write(fd_, data + written, size - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
  }
  ~MemFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

// Reads every element (ASan checks the bounds of the tensor's bytes) and compares the tensor
// with itself: the comparison must find it equal (NaNs aside).
void exercise(const Tensor& tensor) {
  if (tensor.numel() > kMaxComparedElements) return;
  Tolerance tolerance;
  tolerance.equal_nan = true;
  CompareOptions options;
  options.threads = 1;
  const TensorComparison c = compare_tensors(tensor, tensor, tolerance, options);
  REPLAY_CHECK(c.passed);
  REPLAY_CHECK(c.mismatched == 0);
  (void)c.summary();
  (void)c.to_json().dump();
}

// As CaptureWriter writes a capture (invalid UTF-8 outside bodies replaced).
std::string dump_capture(const Capture& capture) {
  return capture_to_json(capture).dump(-1, ' ', false,
                                       nlohmann::ordered_json::error_handler_t::replace);
}

// Every reader reports bad bytes as a replay::Error (its id names the file); anything else that
// escapes is a finding.
template <class Parse>
bool parsed(Parse parse) {
  try {
    parse();
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::string text_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace

void capture(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const int choice = data[0] % 6;
  const std::string text = text_of(data + 1, size - 1);
  MemFile file(data + 1, size - 1);
  if (!file.ok()) return;
  CaptureReadOptions options;
  if (choice > 0) options.format = static_cast<CaptureFormat>(choice - 1);
  parsed([&] {
    auto reader = open_capture_reader(file.path(), options);
    for (int i = 0; i < 100000; ++i) {
      const std::optional<Capture> next = reader->next();
      if (!next) break;
      (void)dump_capture(*next);
    }
    (void)reader->take_warnings();
  });
  if (choice <= 1) {
    parsed([&] {
      for (const Capture& c : parse_captures(text, "fuzz")) (void)dump_capture(c);
    });
  }
}

void tensor_json(const uint8_t* data, size_t size) {
  nlohmann::json value;
  if (!parsed([&] { value = parse_json_text(text_of(data, size), "fuzz", "tensor"); })) return;
  try {
    exercise(tensor_from_json("fuzz", value, "fuzz"));
  } catch (const Error&) {
  }
}

void npy(const uint8_t* data, size_t size) {
  try {
    exercise(npy_from_bytes(text_of(data, size), "fuzz", "fuzz"));
  } catch (const Error&) {
  }
}

void npz(const uint8_t* data, size_t size) {
  MemFile file(data, size);
  if (!file.ok()) return;
  try {
    for (const Tensor& tensor : read_npz(file.path())) exercise(tensor);
  } catch (const Error&) {
  }
}

void remote_response(const uint8_t* data, size_t size) {
  if (size < 4) return;
  static const ProtocolOptions options;
  static const std::unique_ptr<ProtocolCodec> codecs[] = {
      make_json_codec(options), make_kserve_v2_codec(options), make_tfserving_codec(options),
      make_torchserve_codec(options)};
  const ProtocolCodec& codec = *codecs[data[0] % 4];
  TransportResponse response;
  static const int kStatuses[] = {200, 200, 200, 201, 400, 404, 500, 503};
  response.status = kStatuses[data[1] % 8];
  response.status_text = "OK";
  const size_t binary_length = static_cast<size_t>(data[2]) | (static_cast<size_t>(data[3]) << 8);
  switch ((data[1] >> 3) % 4) {
    case 0: response.headers = {{"Content-Type", "application/json"}}; break;
    case 1:  // KServe v2's binary extension: a JSON header of N bytes, then raw tensors
      response.headers = {{"Content-Type", "application/octet-stream"},
                          {"Inference-Header-Content-Length", std::to_string(binary_length)}};
      break;
    case 2:
      response.headers = {{"inference-header-content-length",
                           std::to_string(binary_length % (size + 1))}};
      break;
    default: break;
  }
  response.body = text_of(data + 4, size - 4);
  parsed([&] { (void)codec.decode_response(response, "fuzz"); });
}

void config(const uint8_t* data, size_t size) {
  nlohmann::json document;
  if (!parsed([&] { document = parse_json_text(text_of(data, size), "fuzz", "config"); })) return;
  try {
    (void)parse_config(document, "fuzz");
  } catch (const Error&) {
  }
}

namespace {

[[noreturn]] void differs(const std::string& what) {
  throw std::logic_error("parse_json_checked differs from nlohmann's parse: " + what);
}

// parse_json_checked against nlohmann's own parse of the same text, as `Json`.
template <class Json>
void read_as_nlohmann_reads(std::string_view text, const JsonPacking& packing) {
  Json ours;
  const std::optional<JsonProblem> problem = parse_json_checked(text, &ours, packing);
  if (problem && problem->message.rfind("nested deeper than", 0) == 0) return;  // our own limit
  unpack_numbers_in_place(ours);
  try {
    const Json theirs = Json::parse(text);
    if (problem) differs("it refuses what nlohmann reads: " + problem->message);
    // Packed, a list's integers come back as int64, or as doubles beside other numbers: equal
    // numbers, not the same types.
    const bool same = packing.anywhere ? ours == theirs : testing::same_json_value(ours, theirs);
    if (!same) differs("another value: " + ours.dump() + " vs " + theirs.dump());
  } catch (const nlohmann::json::parse_error& error) {
    if (!problem) differs("it reads what nlohmann refuses: " + std::string(error.what()));
    if (problem->byte_offset + 1 != error.byte || problem->message != short_parse_message(error)) {
      differs("another error: " + std::to_string(problem->byte_offset) + " " + problem->message +
              " vs " + error.what());
    }
  } catch (const nlohmann::json::out_of_range&) {
    if (!problem) differs("it reads a number nlohmann refuses");
  }
}

}  // namespace

void json_text(const uint8_t* data, size_t size) {
  const std::string text = text_of(data, size);
  read_as_nlohmann_reads<nlohmann::json>(text, {});
  read_as_nlohmann_reads<nlohmann::json>(text, JsonPacking{"", true});
  read_as_nlohmann_reads<nlohmann::ordered_json>(text, {});
}

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"capture", capture}, {"tensor_json", tensor_json}, {"npy", npy},
      {"npz", npz},         {"remote_response", remote_response}, {"config", config},
      {"json_text", json_text},
  };
  return all;
}

}  // namespace replay::fuzz
