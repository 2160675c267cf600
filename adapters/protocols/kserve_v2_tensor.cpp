// KServe v2 tensors: datatypes, raw little-endian elements, v2 JSON data, replay tensors.
#include "kserve_v2_tensor.h"

#include <sys/mman.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <type_traits>

#include "harness/base64.h"

namespace replay::v2 {
namespace {

using nlohmann::json;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "v2 raw tensor contents are little-endian; this code copies them as they are");

struct DatatypeEntry {
  Datatype datatype;
  const char* name;
  size_t size;
};

constexpr DatatypeEntry kDatatypes[] = {
    {Datatype::kBool, "BOOL", 1},     {Datatype::kUInt8, "UINT8", 1},
    {Datatype::kUInt16, "UINT16", 2}, {Datatype::kUInt32, "UINT32", 4},
    {Datatype::kUInt64, "UINT64", 8}, {Datatype::kInt8, "INT8", 1},
    {Datatype::kInt16, "INT16", 2},   {Datatype::kInt32, "INT32", 4},
    {Datatype::kInt64, "INT64", 8},   {Datatype::kFP16, "FP16", 2},
    {Datatype::kFP32, "FP32", 4},     {Datatype::kFP64, "FP64", 8},
    {Datatype::kBF16, "BF16", 2},     {Datatype::kBytes, "BYTES", 0},
};

// No body holds more elements than this; past it a shape is a lie (or an overflow).
constexpr int64_t kMaxElements = int64_t{1} << 53;

std::string element_place(const std::string& place, int64_t index) {
  return place + " element " + std::to_string(index);
}

// One JSON element into `out` (which has room for it), or a reason it does not fit.
template <class T>
bool store_integer(const json& value, char* out) {
  T converted{};
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    converted = static_cast<T>(v);
  } else if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (v < 0 || static_cast<uint64_t>(v) > std::numeric_limits<T>::max()) return false;
    } else {
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) return false;
    }
    converted = static_cast<T>(v);
  } else if (value.is_number_float()) {
    // 3.0 is an integer written by a float formatter (numpy, some JSON libraries); 3.5 is not.
    const double v = value.get<double>();
    if (!std::isfinite(v) || v != std::trunc(v)) return false;
    if (v < static_cast<double>(std::numeric_limits<T>::min()) ||
        v >= std::ldexp(1.0, std::numeric_limits<T>::digits)) {
      return false;
    }
    converted = static_cast<T>(v);
  } else {
    return false;
  }
  std::memcpy(out, &converted, sizeof(T));
  return true;
}

bool store_element(const json& value, Datatype datatype, char* out) {
  switch (datatype) {
    case Datatype::kBool:
      if (!value.is_boolean()) return false;
      *out = value.get<bool>() ? 1 : 0;
      return true;
    case Datatype::kUInt8:
      return store_integer<uint8_t>(value, out);
    case Datatype::kUInt16:
      return store_integer<uint16_t>(value, out);
    case Datatype::kUInt32:
      return store_integer<uint32_t>(value, out);
    case Datatype::kUInt64:
      return store_integer<uint64_t>(value, out);
    case Datatype::kInt8:
      return store_integer<int8_t>(value, out);
    case Datatype::kInt16:
      return store_integer<int16_t>(value, out);
    case Datatype::kInt32:
      return store_integer<int32_t>(value, out);
    case Datatype::kInt64:
      return store_integer<int64_t>(value, out);
    case Datatype::kFP16:
    case Datatype::kBF16:
    case Datatype::kFP32:
    case Datatype::kFP64: {
      if (!value.is_number()) return false;
      const double v = value.get<double>();
      if (datatype == Datatype::kFP64) {
        std::memcpy(out, &v, 8);
      } else if (datatype == Datatype::kFP32) {
        const float f = static_cast<float>(v);
        std::memcpy(out, &f, 4);
      } else {
        const float f = static_cast<float>(v);
        const uint16_t bits = datatype == Datatype::kFP16 ? float_to_half(f) : float_to_bfloat16(f);
        std::memcpy(out, &bits, 2);
      }
      return true;
    }
    case Datatype::kBytes:
      return false;  // handled by the caller
  }
  return false;
}

std::string json_excerpt(const json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

// Walks nested lists in row-major order, calling visit(element, flat_index).
template <class Visit>
void walk_data(const json& data, int depth, int64_t* index, const ErrorSite& site,
               const std::string& place, const Visit& visit) {
  if (depth > 64) site.schema_error(place + ": data nested deeper than 64 lists");
  for (const json& element : data) {
    if (element.is_array()) {
      walk_data(element, depth + 1, index, site, place, visit);
    } else {
      visit(element, (*index)++);
    }
  }
}

// A float as the JSON number that reads back to it: the shortest decimal of the float (what a
// person or numpy would write, "1.1"), unless that decimal, read as a double and rounded to
// float, would not give the float back; then the float's exact value. (NaN and infinities have
// no JSON form; nlohmann writes null, which json_data_is_exact() keeps writers away from.)
double json_number_of(float value) {
  if (!std::isfinite(value)) return static_cast<double>(value);
  char text[32];
  const auto [end, error] = std::to_chars(text, text + sizeof(text), value);
  if (error != std::errc()) return static_cast<double>(value);
  double shortest = 0;
  const auto parsed = std::from_chars(text, end, shortest);
  if (parsed.ec != std::errc() || static_cast<float>(shortest) != value) {
    return static_cast<double>(value);
  }
  return shortest;
}

template <class T>
T load(const char* in) {
  T value;
  std::memcpy(&value, in, sizeof(T));
  return value;
}

// Raw bytes of one widened element type into another (UINT16 -> int32, UINT32/UINT64 -> int64).
template <class From, class To>
Tensor widen(const V2Tensor& tensor, DType dtype, const ErrorSite& site, const std::string& place) {
  Tensor out = Tensor::zeros(tensor.name, dtype, tensor.shape);
  To* target = out.mutable_data_as<To>();
  const char* source = tensor.bytes().data();
  const int64_t count = out.numel();
  for (int64_t i = 0; i < count; ++i) {
    const From value = load<From>(source + i * sizeof(From));
    if constexpr (sizeof(From) == sizeof(To)) {
      if (value > static_cast<From>(std::numeric_limits<To>::max())) {
        site.schema_error(element_place(place, i) + " (" + std::to_string(value) +
                          ") does not fit in int64, which replay compares UINT64 as");
      }
    }
    target[i] = static_cast<To>(value);
  }
  return out;
}

}  // namespace

void ErrorSite::parse_error(const std::string& message) const {
  throw Error(kind, parse_id, where + ": " + message);
}

void ErrorSite::schema_error(const std::string& message) const {
  throw Error(kind, schema_id, where + ": " + message);
}

ErrorSite capture_request_site(const std::string& origin) {
  ErrorSite site;
  site.kind = ErrorKind::kInput;
  site.parse_id = "capture.payload.parse";
  site.schema_id = "capture.payload.schema";
  site.where = origin + ": request body";
  return site;
}

ErrorSite response_site(const std::string& where) {
  ErrorSite site;
  site.where = where + " response";
  return site;
}

std::optional<Datatype> datatype_from_name(std::string_view name) {
  for (const auto& entry : kDatatypes) {
    if (name == entry.name) return entry.datatype;
  }
  return std::nullopt;
}

std::string_view datatype_name(Datatype datatype) {
  for (const auto& entry : kDatatypes) {
    if (entry.datatype == datatype) return entry.name;
  }
  REPLAY_CHECK(false);
  return {};
}

size_t datatype_size(Datatype datatype) {
  for (const auto& entry : kDatatypes) {
    if (entry.datatype == datatype) return entry.size;
  }
  REPLAY_CHECK(false);
  return 0;
}

Datatype datatype_of(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return Datatype::kBool;
    case DType::kUInt8:
      return Datatype::kUInt8;
    case DType::kInt8:
      return Datatype::kInt8;
    case DType::kInt16:
      return Datatype::kInt16;
    case DType::kInt32:
      return Datatype::kInt32;
    case DType::kInt64:
      return Datatype::kInt64;
    case DType::kFloat16:
      return Datatype::kFP16;
    case DType::kBFloat16:
      return Datatype::kBF16;
    case DType::kFloat32:
      return Datatype::kFP32;
    case DType::kFloat64:
      return Datatype::kFP64;
  }
  REPLAY_CHECK(false);
  return Datatype::kFP32;
}

int64_t element_count(const std::vector<int64_t>& shape, const ErrorSite& site,
                      const std::string& place) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) {
      site.schema_error(place + ": shape " + shape_string(shape) + " has a negative dimension");
    }
    if (dim != 0 && count > kMaxElements / dim) {
      site.schema_error(place + ": shape " + shape_string(shape) +
                        " holds more elements than any body could (2^53 or more)");
    }
    count *= dim;
  }
  return count;
}

void check_raw_size(const V2Tensor& tensor, const ErrorSite& site, const std::string& place) {
  const int64_t count = element_count(tensor.shape, site, place);
  const std::string_view bytes = tensor.bytes();
  if (tensor.datatype != Datatype::kBytes) {
    const uint64_t expected = static_cast<uint64_t>(count) * datatype_size(tensor.datatype);
    if (bytes.size() != expected) {
      site.schema_error(place + ": " + describe(tensor) + " needs " + std::to_string(expected) +
                        " bytes of data, but " + std::to_string(bytes.size()) + " were given");
    }
    return;
  }
  (void)bytes_elements(tensor, site, place);
}

std::vector<std::string> bytes_elements(const V2Tensor& tensor, const ErrorSite& site,
                                        const std::string& place) {
  const int64_t count = element_count(tensor.shape, site, place);
  const std::string_view bytes = tensor.bytes();
  std::vector<std::string> elements;
  size_t offset = 0;
  while (offset < bytes.size()) {
    if (bytes.size() - offset < 4) {
      site.schema_error(place + ": BYTES element " + std::to_string(elements.size()) +
                        " has a length prefix cut short at byte " + std::to_string(offset));
    }
    const uint32_t length = load<uint32_t>(bytes.data() + offset);
    offset += 4;
    if (length > bytes.size() - offset) {
      site.schema_error(place + ": BYTES element " + std::to_string(elements.size()) +
                        " says it is " + std::to_string(length) + " bytes long, past the end of " +
                        "its " + std::to_string(bytes.size()) + " bytes of data");
    }
    if (static_cast<int64_t>(elements.size()) >= count) {
      site.schema_error(place + ": BYTES data holds more than the " + std::to_string(count) +
                        " elements of its shape " + shape_string(tensor.shape));
    }
    elements.emplace_back(bytes.substr(offset, length));
    offset += length;
  }
  if (static_cast<int64_t>(elements.size()) != count) {
    site.schema_error(place + ": BYTES data holds " + std::to_string(elements.size()) +
                      " elements; its shape " + shape_string(tensor.shape) + " calls for " +
                      std::to_string(count));
  }
  return elements;
}

std::string raw_from_bytes_elements(const std::vector<std::string>& elements) {
  std::string raw;
  size_t total = 0;
  for (const std::string& element : elements) total += 4 + element.size();
  raw.reserve(total);
  for (const std::string& element : elements) {
    const uint32_t length = static_cast<uint32_t>(element.size());
    raw.append(reinterpret_cast<const char*>(&length), 4);
    raw += element;
  }
  return raw;
}

std::string raw_from_json_data(const json& data, Datatype datatype,
                               const std::vector<int64_t>& shape, const ErrorSite& site,
                               const std::string& place) {
  const int64_t count = element_count(shape, site, place);
  if (!data.is_array()) {
    site.schema_error(place + ": \"data\" is " + json_excerpt(data) + ", not a list of elements");
  }
  // Count first: a shape is only believed once the data agrees with it, so a lying shape never
  // sizes an allocation.
  int64_t given = 0;
  walk_data(data, 1, &given, site, place, [](const json&, int64_t) {});
  if (given != count) {
    site.schema_error(place + ": \"data\" holds " + std::to_string(given) +
                      " elements; its shape " + shape_string(shape) + " calls for " +
                      std::to_string(count));
  }
  std::string raw;
  int64_t index = 0;
  if (datatype == Datatype::kBytes) {
    std::vector<std::string> elements;
    elements.reserve(static_cast<size_t>(count));
    walk_data(data, 1, &index, site, place, [&](const json& element, int64_t at) {
      if (!element.is_string()) {
        site.schema_error(element_place(place, at) + " (" + json_excerpt(element) +
                          ") is not a string, as BYTES elements are in JSON");
      }
      elements.push_back(element.get<std::string>());
    });
    raw = raw_from_bytes_elements(elements);
  } else {
    const size_t size = datatype_size(datatype);
    raw.resize(static_cast<size_t>(count) * size);
    char* out = raw.data();
    walk_data(data, 1, &index, site, place, [&](const json& element, int64_t at) {
      if (!store_element(element, datatype, out + static_cast<size_t>(at) * size)) {
        site.schema_error(element_place(place, at) + " (" + json_excerpt(element) + ") is not a " +
                          std::string(datatype_name(datatype)) + " value");
      }
    });
  }
  return raw;
}

bool is_utf8(std::string_view text) {
  size_t i = 0;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  while (i < text.size()) {
    const unsigned char c = s[i];
    size_t extra = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, min = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    uint32_t code = c & (0x3f >> extra);
    for (size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      code = (code << 6) | (s[i + k] & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

bool json_data_is_exact(const V2Tensor& tensor) {
  if (tensor.datatype == Datatype::kFP16 || tensor.datatype == Datatype::kBF16) return false;
  // JSON has no NaN or infinity.
  if (tensor.datatype == Datatype::kFP32 || tensor.datatype == Datatype::kFP64) {
    const std::string_view bytes = tensor.bytes();
    const size_t size = datatype_size(tensor.datatype);
    for (size_t offset = 0; offset + size <= bytes.size(); offset += size) {
      const double value = size == 4 ? static_cast<double>(load<float>(bytes.data() + offset))
                                     : load<double>(bytes.data() + offset);
      if (!std::isfinite(value)) return false;
    }
    return true;
  }
  if (tensor.datatype != Datatype::kBytes) return true;
  ErrorSite site;
  try {
    for (const std::string& element : bytes_elements(tensor, site, tensor.name)) {
      if (!is_utf8(element)) return false;
    }
  } catch (const Error&) {
    return false;
  }
  return true;
}

json json_data_from_raw(const V2Tensor& tensor) {
  json data = json::array();
  const std::string_view bytes = tensor.bytes();
  const char* p = bytes.data();
  if (tensor.datatype == Datatype::kBytes) {
    ErrorSite site;
    site.kind = ErrorKind::kInput;
    site.schema_id = "v2.bytes";
    site.where = "output '" + tensor.name + "'";
    for (std::string& element : bytes_elements(tensor, site, tensor.name)) {
      if (!is_utf8(element)) {
        fail_input("v2.bytes_not_text", "BYTES tensor '" + tensor.name +
                                            "' holds an element that is not UTF-8 text, which "
                                            "JSON cannot carry; use the binary form");
      }
      data.push_back(std::move(element));
    }
    return data;
  }
  const size_t size = datatype_size(tensor.datatype);
  const size_t count = size == 0 ? 0 : bytes.size() / size;
  for (size_t i = 0; i < count; ++i, p += size) {
    switch (tensor.datatype) {
      case Datatype::kBool:
        data.push_back(*p != 0);
        break;
      case Datatype::kUInt8:
        data.push_back(load<uint8_t>(p));
        break;
      case Datatype::kUInt16:
        data.push_back(load<uint16_t>(p));
        break;
      case Datatype::kUInt32:
        data.push_back(load<uint32_t>(p));
        break;
      case Datatype::kUInt64:
        data.push_back(load<uint64_t>(p));
        break;
      case Datatype::kInt8:
        data.push_back(load<int8_t>(p));
        break;
      case Datatype::kInt16:
        data.push_back(load<int16_t>(p));
        break;
      case Datatype::kInt32:
        data.push_back(load<int32_t>(p));
        break;
      case Datatype::kInt64:
        data.push_back(load<int64_t>(p));
        break;
      case Datatype::kFP16:
        data.push_back(json_number_of(half_to_float(load<uint16_t>(p))));
        break;
      case Datatype::kBF16:
        data.push_back(json_number_of(bfloat16_to_float(load<uint16_t>(p))));
        break;
      case Datatype::kFP32:
        data.push_back(json_number_of(load<float>(p)));
        break;
      case Datatype::kFP64:
        data.push_back(load<double>(p));
        break;
      case Datatype::kBytes:
        break;
    }
  }
  return data;
}

Tensor to_tensor(const V2Tensor& tensor, const ErrorSite& site, const std::string& place,
                 std::string* note) {
  check_raw_size(tensor, site, place);
  DType dtype = DType::kFloat32;
  switch (tensor.datatype) {
    case Datatype::kBool:
      dtype = DType::kBool;
      break;
    case Datatype::kUInt8:
      dtype = DType::kUInt8;
      break;
    case Datatype::kInt8:
      dtype = DType::kInt8;
      break;
    case Datatype::kInt16:
      dtype = DType::kInt16;
      break;
    case Datatype::kInt32:
      dtype = DType::kInt32;
      break;
    case Datatype::kInt64:
      dtype = DType::kInt64;
      break;
    case Datatype::kFP16:
      dtype = DType::kFloat16;
      break;
    case Datatype::kBF16:
      dtype = DType::kBFloat16;
      break;
    case Datatype::kFP32:
      dtype = DType::kFloat32;
      break;
    case Datatype::kFP64:
      dtype = DType::kFloat64;
      break;
    case Datatype::kUInt16:
    case Datatype::kUInt32:
    case Datatype::kUInt64: {
      if (note != nullptr) {
        *note = place + " is " + std::string(datatype_name(tensor.datatype)) + ": compared as " +
                (tensor.datatype == Datatype::kUInt16 ? "int32" : "int64") +
                ", which holds its values exactly";
      }
      if (tensor.datatype == Datatype::kUInt16) {
        return widen<uint16_t, int32_t>(tensor, DType::kInt32, site, place);
      }
      if (tensor.datatype == Datatype::kUInt32) {
        return widen<uint32_t, int64_t>(tensor, DType::kInt64, site, place);
      }
      return widen<uint64_t, int64_t>(tensor, DType::kInt64, site, place);
    }
    case Datatype::kBytes:
      site.schema_error(place +
                        " is BYTES: replay's tensors hold numbers, not strings (BYTES "
                        "inputs cannot feed the local model; BYTES outputs are kept as "
                        "text)");
  }
  const char* data = tensor.bytes().data();
  if (reinterpret_cast<uintptr_t>(data) % dtype_size(dtype) == 0) {
    return Tensor::wrap(tensor.name, dtype, tensor.shape, tensor.owner, data);
  }
  // Misaligned inside a shared body: one copy, so the comparison kernels read aligned data.
  auto copy = std::make_shared<const std::string>(tensor.bytes());
  return Tensor::wrap(tensor.name, dtype, tensor.shape, copy, copy->data());
}

V2Tensor from_tensor(const Tensor& tensor) {
  V2Tensor out;
  out.name = tensor.name();
  out.datatype = datatype_of(tensor.dtype());
  out.shape = tensor.shape();
  out.copy_raw(std::string_view(reinterpret_cast<const char*>(tensor.data()), tensor.nbytes()));
  return out;
}

void V2Tensor::set_raw(std::string bytes) {
  auto owned = std::make_shared<const std::string>(std::move(bytes));
  data = owned->data();
  size = owned->size();
  owner = std::move(owned);
}

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// Large tensor buffers: mmap'ed, aligned to a huge page and marked MADV_HUGEPAGE (a fresh
// 64 MiB buffer then costs 32 page faults rather than 16384), and kept for reuse when freed, so
// that the next response of a similar size is copied into memory that is already mapped: a
// replay decodes one response per capture, and its tensors are freed before the next one.
// At most kMaxCachedBytes stay cached; the process never gives them back while it runs.
class LargeBuffers {
 public:
  static LargeBuffers& instance() {
    static LargeBuffers* buffers = new LargeBuffers();  // never destroyed: deleters may run late
    return *buffers;
  }

  // A buffer of at least `size` bytes starting on a huge page, or nullptr; `mapped` and `base`
  // are what release() takes back.
  char* acquire(size_t size, void** base, size_t* mapped) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t i = 0; i < free_.size(); ++i) {
        const Entry entry = free_[i];
        // Reuse a buffer that fits without wasting more than half of it.
        if (entry.usable >= size && entry.usable / 2 <= size) {
          free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
          cached_bytes_ -= entry.mapped;
          *base = entry.base;
          *mapped = entry.mapped;
          return entry.start;
        }
      }
    }
    *mapped = size + kHugePage;  // room to start on a huge-page boundary
    *base = mmap(nullptr, *mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*base == MAP_FAILED) return nullptr;
    char* start = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(*base) + kHugePage - 1) &
                                          ~(uintptr_t{kHugePage} - 1));
    madvise(start, size, MADV_HUGEPAGE);  // a hint: without transparent huge pages, 4 KiB pages
    return start;
  }

  void release(void* base, size_t mapped) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + mapped <= kMaxCachedBytes && free_.size() < kMaxCachedBuffers) {
        char* start = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(base) + kHugePage - 1) &
                                              ~(uintptr_t{kHugePage} - 1));
        free_.push_back(
            {base, start, mapped, mapped - static_cast<size_t>(start - static_cast<char*>(base))});
        cached_bytes_ += mapped;
        return;
      }
    }
    munmap(base, mapped);
  }

 private:
  static constexpr size_t kMaxCachedBytes = size_t{1} << 30;
  static constexpr size_t kMaxCachedBuffers = 4;
  struct Entry {
    void* base;
    char* start;
    size_t mapped, usable;
  };
  std::mutex mutex_;
  std::vector<Entry> free_;
  size_t cached_bytes_ = 0;
};

}  // namespace

void V2Tensor::copy_raw(std::string_view bytes) {
  if (bytes.size() >= kHugePage) {
    void* base = nullptr;
    size_t mapped = 0;
    if (char* start = LargeBuffers::instance().acquire(bytes.size(), &base, &mapped)) {
      std::memcpy(start, bytes.data(), bytes.size());
      owner = std::shared_ptr<const void>(base, [mapped](const void* pointer) {
        LargeBuffers::instance().release(const_cast<void*>(pointer), mapped);
      });
      data = start;
      size = bytes.size();
      return;
    }
  }
  set_raw(std::string(bytes));
}

std::string describe(const V2Tensor& tensor) {
  return std::string(datatype_name(tensor.datatype)) + " " + shape_string(tensor.shape);
}

}  // namespace replay::v2
