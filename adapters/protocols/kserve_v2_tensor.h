#pragma once
/// KServe v2 (Open Inference Protocol) tensors: the datatypes of the specification's "Tensor
/// Data Types" table, a tensor as the protocol carries it (V2Tensor: name, datatype, shape,
/// parameters and its elements as raw little-endian bytes, the form of Triton's binary extension
/// and of gRPC's raw_*_contents), and the conversions between that form, v2 JSON `data`, gRPC's
/// typed contents and replay's neutral Tensor. Every size read from a body is checked before it
/// is used: nothing is read past the bytes given, and a lie is an error naming its place.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/error.h"
#include "harness/tensor.h"

namespace replay::v2 {

enum class Datatype {
  kBool,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFP16,
  kFP32,
  kFP64,
  kBF16,
  kBytes,
};

/// "BOOL", "UINT8", ..., "FP16", "FP32", "FP64", "BF16", "BYTES" (case-sensitive, as the
/// specification says every string is). nullopt for any other name.
std::optional<Datatype> datatype_from_name(std::string_view name);
std::string_view datatype_name(Datatype datatype);
/// Bytes per element; 0 for BYTES (variable: a 4-byte little-endian length, then the bytes).
size_t datatype_size(Datatype datatype);
/// The v2 datatype of one of replay's dtypes (every dtype has one).
Datatype datatype_of(DType dtype);

/// Where a decoding error goes: a capture's request (kInput, capture.payload.*) or a response
/// (kRemote, remote.*), and the words that name the body in the message.
struct ErrorSite {
  ErrorKind kind = ErrorKind::kRemote;
  std::string parse_id = "remote.parse";    ///< the body is not readable at all
  std::string schema_id = "remote.schema";  ///< readable, but inconsistent
  std::string where;                        ///< "POST http://h/v2/models/m/infer response"

  [[noreturn]] void parse_error(const std::string& message) const;
  [[noreturn]] void schema_error(const std::string& message) const;
};
ErrorSite capture_request_site(const std::string& origin);  ///< "<origin>: request body"
ErrorSite response_site(const std::string& where);          ///< "<where> response"

/// A tensor as v2 carries it. `raw` holds the elements exactly as the binary extension and gRPC's
/// raw contents lay them out (row-major, little-endian; BOOL one byte 0/1; BYTES each element a
/// 4-byte little-endian length and its bytes), shared and immutable, so copies are cheap.
struct V2Tensor {
  std::string name;
  Datatype datatype = Datatype::kFP32;
  std::vector<int64_t> shape;
  /// Every parameter except the binary extension's own (binary_data_size, binary_data), which
  /// the readers consume and the writers set.
  nlohmann::json parameters = nlohmann::json::object();
  /// The elements' bytes, kept alive by `owner` (shared: copies of a V2Tensor alias them).
  std::shared_ptr<const void> owner;
  const char* data = nullptr;
  size_t size = 0;
  /// Read from binary data (the REST extension's, or gRPC's raw contents) rather than from JSON
  /// decimals or typed contents. Informational: the writers take the form from their caller.
  bool binary = false;

  std::string_view bytes() const { return std::string_view(data, size); }
  /// Takes `bytes` as the elements.
  void set_raw(std::string bytes);
  /// Copies `bytes` as the elements. Copies of 2 MiB and more go to memory the kernel may back
  /// with huge pages (madvise MADV_HUGEPAGE): a fresh 64 MiB buffer then costs 32 page faults,
  /// not 16384, and the copy runs near memory bandwidth.
  void copy_raw(std::string_view bytes);
};

/// The number of elements of `shape`. Throws site.schema_error for a negative dimension or a
/// product past 2^53 (no body holds that many elements), naming `place` ("output 'logits'").
int64_t element_count(const std::vector<int64_t>& shape, const ErrorSite& site,
                      const std::string& place);

/// Checks that the tensor's bytes hold exactly the elements its shape and datatype call for (for
/// BYTES, walks the length prefixes without reading past the end). Throws site.schema_error.
void check_raw_size(const V2Tensor& tensor, const ErrorSite& site, const std::string& place);

/// The elements of a v2 JSON `data` value (flat or nested lists, row-major) as raw bytes.
/// Integers must be integers in the datatype's range, BOOL booleans, BYTES strings; FP16 and
/// BF16 are rounded from the JSON number through float32 (tensor.h's conversions). Throws
/// site.schema_error when an element does not fit or the count differs from the shape's.
std::string raw_from_json_data(const nlohmann::json& data, Datatype datatype,
                               const std::vector<int64_t>& shape, const ErrorSite& site,
                               const std::string& place);
/// The elements as a flat v2 JSON `data` list. Floats are written so they read back to the
/// same value (float32 and the half types through their exact float value). BYTES elements
/// must be UTF-8 text (JSON strings are); else Error kInput "v2.bytes_not_text".
nlohmann::json json_data_from_raw(const V2Tensor& tensor);
/// Whether the tensor can be written as JSON `data` and read back bit for bit: false for FP16
/// and BF16 (the specification notes JSON has no representation for them) and for BYTES that
/// are not UTF-8.
bool json_data_is_exact(const V2Tensor& tensor);

/// Replay's tensor of a v2 tensor (zero-copy when the bytes are aligned for the dtype). UINT16
/// and UINT32 are widened to int32 and int64, which hold every value; UINT64 to int64 when every
/// value fits (else site.schema_error); `note` then receives a sentence saying so. BYTES has no
/// tensor form: site.schema_error naming the tensor.
Tensor to_tensor(const V2Tensor& tensor, const ErrorSite& site, const std::string& place,
                 std::string* note);
/// A v2 tensor of replay's tensor (copies its bytes).
V2Tensor from_tensor(const Tensor& tensor);

/// The elements of a BYTES tensor. Throws site.schema_error when the prefixes are inconsistent.
std::vector<std::string> bytes_elements(const V2Tensor& tensor, const ErrorSite& site,
                                        const std::string& place);
/// Raw BYTES contents of `elements`.
std::string raw_from_bytes_elements(const std::vector<std::string>& elements);

/// "FP32 [4, 3]".
std::string describe(const V2Tensor& tensor);
/// True when `text` is valid UTF-8.
bool is_utf8(std::string_view text);

}  // namespace replay::v2
