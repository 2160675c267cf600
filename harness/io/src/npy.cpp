// .npy and .npz files (numpy's own formats) to and from Tensor.
// .npy: format versions 1.0, 2.0 and 3.0; any byte order (big-endian data is swapped into a
// copy); C order, or Fortran order (what np.save writes for a transposed array: transposed into a
// row-major copy). Data after a header not padded to the element's alignment is copied too.
// Files are memory-mapped, so comparing two large dumps costs no more memory than the page
// cache. bfloat16 has no numpy dtype: it is written as "<V2" (two raw bytes, what
// ml_dtypes.bfloat16 arrays save as) and "<V2" is read back as bfloat16.
// .npz: a zip (stored or deflated) of .npy members, read and written with libzip.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include "harness/error.h"
#include "harness/tensor_io.h"
#include "harness/tensor_shape.h"

namespace replay {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct Descr {
  DType dtype;
  bool swap;  // big-endian data
};

Descr parse_descr(const std::string& descr, const std::string& where) {
  if (descr.size() < 2) fail_input("tensor.npy", where + ": unsupported dtype '" + descr + "'");
  const char order = descr[0];
  std::string type = descr.substr(1);
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    fail_input("tensor.npy", where + ": unsupported dtype '" + descr + "'");
  }
  static const std::pair<const char*, DType> kTypes[] = {
      {"b1", DType::kBool},    {"u1", DType::kUInt8},   {"i1", DType::kInt8},
      {"i2", DType::kInt16},   {"i4", DType::kInt32},   {"i8", DType::kInt64},
      {"f2", DType::kFloat16}, {"V2", DType::kBFloat16}, {"f4", DType::kFloat32},
      {"f8", DType::kFloat64},
  };
  for (const auto& [name, dtype] : kTypes) {
    if (type == name) return {dtype, order == '>' && dtype_size(dtype) > 1};
  }
  fail_input("tensor.npy",
             where + ": unsupported dtype '" + descr +
                 "' (bool, uint8, int8, int16, int32, int64, float16, bfloat16 as V2, float32, "
                 "float64)");
}

std::string descr_of(DType dtype) {
  switch (dtype) {
    case DType::kBool: return "|b1";
    case DType::kUInt8: return "|u1";
    case DType::kInt8: return "|i1";
    case DType::kInt16: return "<i2";
    case DType::kInt32: return "<i4";
    case DType::kInt64: return "<i8";
    case DType::kFloat16: return "<f2";
    case DType::kBFloat16: return "<V2";
    case DType::kFloat32: return "<f4";
    case DType::kFloat64: return "<f8";
  }
  return "";
}

// The value text after 'key': in the header dict, up to its end.
std::string dict_value(const std::string& header, const std::string& key, const std::string& where) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) at = header.find("\"" + key + "\"");
  if (at == std::string::npos) fail_input("tensor.npy", where + ": header has no '" + key + "'");
  size_t colon = header.find(':', at + key.size() + 2);
  if (colon == std::string::npos) fail_input("tensor.npy", where + ": malformed header");
  size_t begin = colon + 1;
  while (begin < header.size() && header[begin] == ' ') ++begin;
  if (begin >= header.size()) fail_input("tensor.npy", where + ": malformed header");
  size_t end;
  if (header[begin] == '\'' || header[begin] == '"') {
    end = header.find(header[begin], begin + 1);
    if (end == std::string::npos) fail_input("tensor.npy", where + ": malformed header");
    return header.substr(begin + 1, end - begin - 1);
  }
  if (header[begin] == '(') {
    end = header.find(')', begin);
    if (end == std::string::npos) fail_input("tensor.npy", where + ": malformed header");
    return header.substr(begin, end - begin + 1);
  }
  end = header.find_first_of(",}", begin);
  if (end == std::string::npos) fail_input("tensor.npy", where + ": malformed header");
  std::string value = header.substr(begin, end - begin);
  while (!value.empty() && value.back() == ' ') value.pop_back();
  return value;
}

std::vector<int64_t> parse_shape(const std::string& text, const std::string& where) {
  std::vector<int64_t> shape;
  size_t i = 1;  // after '('
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
    if (i >= text.size() || text[i] == ')') break;
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      fail_input("tensor.npy", where + ": malformed shape " + text);
    }
    int64_t dim = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      dim = dim * 10 + (text[i] - '0');
      if (dim > (int64_t{1} << 48)) fail_input("tensor.npy", where + ": shape too large " + text);
      ++i;
    }
    while (i < text.size() && (text[i] == 'L' || text[i] == ' ')) ++i;
    shape.push_back(dim);
  }
  return shape;
}

void swap_bytes(std::byte* data, size_t count, size_t width) {
  for (size_t i = 0; i < count; ++i) {
    std::byte* element = data + i * width;
    for (size_t j = 0; j < width / 2; ++j) std::swap(element[j], element[width - 1 - j]);
  }
}

// Column-major elements of `shape` (`width` bytes each) into row-major order at `out`. One pass
// over the output with a running multi-index; the source offset follows it incrementally.
void transpose_fortran(const std::byte* in, const std::vector<int64_t>& shape, size_t width,
                       std::byte* out) {
  const size_t rank = shape.size();
  std::vector<int64_t> stride(rank);  // column-major strides, in elements
  int64_t step = 1;
  for (size_t d = 0; d < rank; ++d) {
    stride[d] = step;
    step *= shape[d];
  }
  const int64_t numel = step;
  std::vector<int64_t> index(rank, 0);
  int64_t source = 0;
  for (int64_t flat = 0; flat < numel; ++flat) {
    std::memcpy(out + static_cast<size_t>(flat) * width, in + static_cast<size_t>(source) * width,
                width);
    for (size_t d = rank; d-- > 0;) {  // row-major increment: the last axis fastest
      if (++index[d] < shape[d]) {
        source += stride[d];
        break;
      }
      source -= stride[d] * (shape[d] - 1);
      index[d] = 0;
    }
  }
}

// Parses .npy bytes [data, data + size) kept alive by `owner`.
Tensor parse_npy(const std::byte* data, size_t size, std::shared_ptr<const void> owner,
                 const std::string& name, const std::string& where) {
  if (size < kMagicSize + 4 || std::memcmp(data, kMagic, kMagicSize) != 0) {
    fail_input("tensor.npy", where + ": not a .npy file (no \\x93NUMPY magic)");
  }
  const uint8_t major = static_cast<uint8_t>(data[6]);
  size_t header_size, header_begin;
  if (major == 1) {
    header_size = static_cast<size_t>(data[8]) | (static_cast<size_t>(data[9]) << 8);
    header_begin = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) fail_input("tensor.npy", where + ": truncated header");
    header_size = 0;
    for (int i = 3; i >= 0; --i) header_size = (header_size << 8) | static_cast<size_t>(data[8 + i]);
    header_begin = 12;
  } else {
    fail_input("tensor.npy", where + ": unsupported .npy format version " +
                                 std::to_string(major) + "." +
                                 std::to_string(static_cast<int>(data[7])));
  }
  if (header_begin + header_size > size) fail_input("tensor.npy", where + ": truncated header");
  const std::string header(reinterpret_cast<const char*>(data) + header_begin, header_size);
  const Descr descr = parse_descr(dict_value(header, "descr", where), where);
  const std::string fortran = dict_value(header, "fortran_order", where);
  if (fortran != "True" && fortran != "False") {
    fail_input("tensor.npy", where + ": malformed fortran_order " + fortran);
  }
  const bool fortran_order = fortran == "True";
  std::vector<int64_t> shape = parse_shape(dict_value(header, "shape", where), where);

  const size_t width = dtype_size(descr.dtype);
  const std::optional<int64_t> numel = checked_numel(shape);
  if (!numel) {
    fail_input("tensor.npy", where + ": shape " + shape_string(shape) +
                                 " is too large (its element count overflows)");
  }
  const size_t offset = header_begin + header_size;
  const size_t available = size - offset;
  // numel <= int64 max / 8 (checked_numel): the byte count cannot overflow.
  const size_t nbytes = static_cast<size_t>(*numel) * width;
  if (available < nbytes) {
    fail_input("tensor.npy", where + ": truncated data: " + shape_string(shape) + " " +
                                 std::string(dtype_name(descr.dtype)) + " needs " +
                                 std::to_string(nbytes) + " bytes, the file has " +
                                 std::to_string(available));
  }
  const std::byte* payload = data + offset;
  // In place only when the bytes can be read as they are: C order, native byte order, and
  // aligned to the element (numpy pads its headers to 64 bytes, other writers need not).
  const bool aligned = reinterpret_cast<uintptr_t>(payload) % width == 0;
  if (!descr.swap && !fortran_order && aligned) {
    return Tensor::wrap(name, descr.dtype, shape, std::move(owner), payload);
  }
  Tensor copy = Tensor::zeros(name, descr.dtype, shape);
  if (fortran_order && shape.size() > 1) {
    transpose_fortran(payload, shape, width, copy.mutable_data());
  } else {
    std::memcpy(copy.mutable_data(), payload, nbytes);
  }
  if (descr.swap) swap_bytes(copy.mutable_data(), static_cast<size_t>(*numel), width);
  return copy;
}

std::string npy_bytes(const Tensor& tensor) {
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape().size(); ++i) {
    shape += (i ? ", " : "") + std::to_string(tensor.shape()[i]);
  }
  shape += tensor.shape().size() == 1 ? ",)" : ")";
  std::string header = "{'descr': '" + descr_of(tensor.dtype()) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t prefix = 10;
  if (header.size() + 1 + prefix > 65535) prefix = 12;
  const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  std::string out(kMagic, kMagicSize);
  if (prefix == 10) {
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>((header.size() >> 8) & 0xff);
  } else {
    out += '\x02';
    out += '\x00';
    for (int i = 0; i < 4; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  out += header;
  out.append(reinterpret_cast<const char*>(tensor.data()), tensor.nbytes());
  return out;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

}  // namespace

Tensor read_npy(const std::string& path, const std::string& name) {
  // O_NONBLOCK: a FIFO given as a file must not block the open; it is refused below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail_input("tensor.npy", path + ": cannot open: " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    fail_input("tensor.npy", path + ": not a regular file");
  }
  const size_t size = static_cast<size_t>(info.st_size);
  if (size == 0) {
    ::close(fd);
    fail_input("tensor.npy", path + ": empty file");
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED) fail_input("tensor.npy", path + ": cannot map: " + std::strerror(errno));
  std::shared_ptr<const void> owner(mapped, [size](const void* p) {
    ::munmap(const_cast<void*>(p), size);
  });
  return parse_npy(static_cast<const std::byte*>(mapped), size, owner,
                   name.empty() ? base_name(path) : name, path);
}

Tensor npy_from_bytes(std::string bytes, const std::string& name, const std::string& where) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  const std::byte* data = reinterpret_cast<const std::byte*>(owner->data());
  const size_t size = owner->size();
  return parse_npy(data, size, std::shared_ptr<const void>(owner, owner->data()), name, where);
}

void write_npy(const std::string& path, const Tensor& tensor) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const std::string bytes = npy_bytes(tensor);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) fail_input("tensor.npy", path + ": cannot write");
}

std::vector<Tensor> read_npz(const std::string& path) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY, &error);
  if (archive == nullptr) {
    zip_error_t zip_error;
    zip_error_init_with_code(&zip_error, error);
    const std::string message = zip_error_strerror(&zip_error);
    zip_error_fini(&zip_error);
    fail_input("tensor.npz", path + ": cannot open as a zip archive: " + message);
  }
  std::unique_ptr<zip_t, int (*)(zip_t*)> closer(archive, zip_close);
  // No member's compressed bytes can exceed the archive's.
  struct stat archive_info {};
  const zip_uint64_t archive_bytes =
      ::stat(path.c_str(), &archive_info) == 0 ? static_cast<zip_uint64_t>(archive_info.st_size) : 0;
  std::vector<Tensor> tensors;
  const zip_int64_t entries = zip_get_num_entries(archive, 0);
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t stat;
    if (zip_stat_index(archive, static_cast<zip_uint64_t>(i), 0, &stat) != 0) continue;
    std::string member = stat.name;
    if (member.size() < 4 || member.compare(member.size() - 4, 4, ".npy") != 0) continue;
    const std::string where = path + ":" + member;
    // The declared size comes from the archive: never allocate past what its bytes can hold.
    // Deflate expands at most 1032:1; a stored member is its compressed size.
    const bool sizes_known = (stat.valid & ZIP_STAT_SIZE) && (stat.valid & ZIP_STAT_COMP_SIZE) &&
                             stat.comp_size <= archive_bytes;
    const zip_uint64_t most =
        !sizes_known ? 0
        : stat.comp_method == ZIP_CM_STORE ? stat.comp_size
        : stat.comp_size > (UINT64_MAX - 64) / 1032 ? UINT64_MAX
                                                    : stat.comp_size * 1032 + 64;
    if (!sizes_known || stat.size > most) {
      fail_input("tensor.npz", where + ": corrupt member: it declares " +
                                   std::to_string(stat.size) + " bytes from " +
                                   std::to_string(stat.comp_size) + " compressed");
    }
    auto buffer = std::shared_ptr<std::byte[]>(new std::byte[stat.size == 0 ? 1 : stat.size]);
    zip_file_t* file = zip_fopen_index(archive, static_cast<zip_uint64_t>(i), 0);
    if (file == nullptr) fail_input("tensor.npz", where + ": cannot read the member");
    const zip_int64_t got = zip_fread(file, buffer.get(), stat.size);
    zip_fclose(file);
    if (got < 0 || static_cast<zip_uint64_t>(got) != stat.size) {
      fail_input("tensor.npz", where + ": truncated member");
    }
    const std::string name = member.substr(0, member.size() - 4);
    try {
      tensors.push_back(parse_npy(buffer.get(), stat.size,
                                  std::shared_ptr<const void>(buffer, buffer.get()), name, where));
    } catch (const Error& e) {
      fail_input("tensor.npz", e.message());
    }
  }
  return tensors;
}

void write_npz(const std::string& path, const std::vector<Tensor>& tensors) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (archive == nullptr) fail_input("tensor.npz", path + ": cannot create");
  std::vector<std::string> buffers;  // must outlive zip_close
  buffers.reserve(tensors.size());
  for (const Tensor& tensor : tensors) {
    buffers.push_back(npy_bytes(tensor));
    zip_source_t* source = zip_source_buffer(archive, buffers.back().data(), buffers.back().size(), 0);
    const std::string member = tensor.name() + ".npy";
    zip_int64_t index = source ? zip_file_add(archive, member.c_str(), source, ZIP_FL_OVERWRITE) : -1;
    if (index < 0) {
      if (source) zip_source_free(source);
      zip_discard(archive);
      fail_input("tensor.npz", path + ": cannot add " + member);
    }
    zip_set_file_compression(archive, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
  }
  if (zip_close(archive) != 0) {
    const std::string message = zip_strerror(archive);
    zip_discard(archive);
    fail_input("tensor.npz", path + ": cannot write: " + message);
  }
}

}  // namespace replay
