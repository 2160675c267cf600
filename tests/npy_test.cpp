// .npy and .npz files (harness/tensor_io.h): every dtype written and read back, format versions
// 1.0-3.0, big-endian data, Fortran order (transposed into row-major), misaligned data, shapes
// whose element count overflows, FIFOs, malformed files, and .npz arrays by name.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "harness/error.h"
#include "harness/tensor_io.h"
#include "support/process.h"

namespace replay {
namespace {

using testing::TempDir;

std::string npy(const std::string& version, const std::string& header, const std::string& data) {
  std::string out = std::string("\x93NUMPY", 6) + version;
  if (version[0] == '\x01') {
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
  } else {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  return out + header + data;
}

std::string error_of(const std::string& path) {
  try {
    read_npy(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Npy, EveryDtypeRoundTrips) {
  TempDir dir;
  for (DType dtype : {DType::kBool, DType::kUInt8, DType::kInt8, DType::kInt16, DType::kInt32,
                      DType::kInt64, DType::kFloat16, DType::kBFloat16, DType::kFloat32,
                      DType::kFloat64}) {
    const Tensor t = Tensor::from_doubles("x", dtype, {2, 3}, {1, 0, 1, 1, 0, 1});
    const std::string path = dir.file(std::string(dtype_name(dtype)) + ".npy");
    write_npy(path, t);
    const Tensor back = read_npy(path);
    EXPECT_EQ(back.dtype(), dtype);
    EXPECT_EQ(back.shape(), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(back.to_doubles(), t.to_doubles());
    EXPECT_EQ(back.name(), std::string(dtype_name(dtype)));
  }
}

TEST(Npy, HeaderIsNumpyCompatibleAndAligned) {
  TempDir dir;
  write_npy(dir.file("v.npy"), Tensor::from_doubles("v", DType::kFloat32, {3}, {1, 2, 3}));
  const std::string bytes = testing::read_file(dir.file("v.npy"));
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
  EXPECT_EQ((10 + header) % 64, 0u);
  EXPECT_NE(bytes.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"),
            std::string::npos);
  EXPECT_EQ(bytes.size(), 10 + header + 12);
  write_npy(dir.file("s.npy"), Tensor::from_doubles("s", DType::kFloat64, {}, {7}));
  EXPECT_NE(testing::read_file(dir.file("s.npy")).find("'shape': ()"), std::string::npos);
  EXPECT_EQ(read_npy(dir.file("s.npy")).to_doubles(), std::vector<double>{7});
}

TEST(Npy, Versions2And3AndBigEndian) {
  TempDir dir;
  const float values[2] = {1.5f, -2.0f};
  const std::string data(reinterpret_cast<const char*>(values), sizeof(values));
  dir.write("v2.npy", npy(std::string("\x02\x00", 2),
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", data));
  dir.write("v3.npy", npy(std::string("\x03\x00", 2),
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", data));
  EXPECT_EQ(read_npy(dir.file("v2.npy")).to_doubles(), (std::vector<double>{1.5, -2}));
  EXPECT_EQ(read_npy(dir.file("v3.npy")).to_doubles(), (std::vector<double>{1.5, -2}));
  // Big-endian int32 1 and -2.
  const std::string big = std::string("\x00\x00\x00\x01\xff\xff\xff\xfe", 8);
  dir.write("be.npy", npy(std::string("\x01\x00", 2),
                          "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }\n", big));
  const Tensor be = read_npy(dir.file("be.npy"));
  EXPECT_EQ(be.dtype(), DType::kInt32);
  EXPECT_EQ(be.to_doubles(), (std::vector<double>{1, -2}));
}

TEST(Npy, ErrorsAreClear) {
  TempDir dir;
  const std::string four(16, '\0');
  // 2^32 x 2^32 x 2^32: the element count wraps to 0 in 64 bits; it is no empty tensor.
  dir.write("o.npy", npy(std::string("\x01\x00", 2),
                         "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, "
                         "4294967296, 4294967296), }\n",
                         four));
  EXPECT_EQ(error_of(dir.file("o.npy")),
            "[replay.tensor.npy] " + dir.file("o.npy") +
                ": shape [4294967296, 4294967296, 4294967296] is too large (its element count "
                "overflows)");
  // A zero dimension does not hide an overflowing product of the others.
  dir.write("z.npy", npy(std::string("\x01\x00", 2),
                         "{'descr': '<f8', 'fortran_order': False, 'shape': (281474976710656, "
                         "281474976710656, 0), }\n",
                         ""));
  EXPECT_NE(error_of(dir.file("z.npy")).find("too large"), std::string::npos);
  // Bytes beyond int64 although the count fits: 2^60 float64s.
  dir.write("b.npy", npy(std::string("\x01\x00", 2),
                         "{'descr': '<f8', 'fortran_order': False, 'shape': (4096, 281474976710656), }\n",
                         four));
  EXPECT_NE(error_of(dir.file("b.npy")).find("too large"), std::string::npos);
  dir.write("c.npy", npy(std::string("\x01\x00", 2),
                         "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n", four));
  EXPECT_NE(error_of(dir.file("c.npy")).find("unsupported dtype '<c8'"), std::string::npos);
  dir.write("t.npy", npy(std::string("\x01\x00", 2),
                         "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n", four));
  EXPECT_EQ(error_of(dir.file("t.npy")),
            "[replay.tensor.npy] " + dir.file("t.npy") +
                ": truncated data: [3] float64 needs 24 bytes, the file has 16");
  dir.write("x.npy", "hello");
  EXPECT_NE(error_of(dir.file("x.npy")).find("not a .npy file"), std::string::npos);
  EXPECT_NE(error_of(dir.file("missing.npy")).find("cannot open"), std::string::npos);
  dir.write("v9.npy", npy(std::string("\x09\x00", 2), "{}", ""));
  EXPECT_NE(error_of(dir.file("v9.npy")).find("unsupported .npy format version 9.0"),
            std::string::npos);
}

// Arrays numpy.save wrote in Fortran order (tests/data/npy, scripts/gen_compare_vectors.py) read
// as their C-ordered twins: the same dtype, shape and elements in row-major order.
TEST(Npy, FortranOrderIsTransposedIntoRowMajor) {
  for (const std::string name : {"fortran_f32", "fortran_i16_be", "fortran_f64"}) {
    const Tensor f = read_npy(testing::source_path("tests/data/npy/" + name + ".npy"));
    const Tensor c = read_npy(testing::source_path("tests/data/npy/" + name + "_c.npy"));
    EXPECT_EQ(f.dtype(), c.dtype()) << name;
    EXPECT_EQ(f.shape(), c.shape()) << name;
    EXPECT_EQ(f.to_doubles(), c.to_doubles()) << name;
    EXPECT_GT(f.numel(), 1) << name;
  }
  // By hand: [[1, 2, 3], [4, 5, 6]] stored column by column.
  TempDir dir;
  const float column_major[6] = {1, 4, 2, 5, 3, 6};
  dir.write("f.npy", npy(std::string("\x01\x00", 2),
                         "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n",
                         std::string(reinterpret_cast<const char*>(column_major), 24)));
  const Tensor t = read_npy(dir.file("f.npy"));
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.to_doubles(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
}

// Data after a header not padded to the element's alignment is copied, never read in place (the
// comparison kernels load elements as their type; UBSan flags a misaligned load).
TEST(Npy, MisalignedDataIsCopiedToAlignedMemory) {
  const Tensor t = read_npy(testing::source_path("tests/data/npy/misaligned_f64.npy"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % alignof(double), 0u);
  EXPECT_EQ(t.to_doubles(), (std::vector<double>{1.0, -2.5, 3.25}));
  std::string bytes = testing::read_file(testing::source_path("tests/data/npy/misaligned_f64.npy"));
  const Tensor from_bytes = npy_from_bytes(bytes, "x", "bytes");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(from_bytes.data()) % alignof(double), 0u);
  EXPECT_EQ(from_bytes.to_doubles(), (std::vector<double>{1.0, -2.5, 3.25}));
}

// A FIFO is refused at once: the open does not wait for a writer.
TEST(Npy, FifoIsRefusedWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.file("pipe.npy");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_of(fifo), "[replay.tensor.npy] " + fifo + ": not a regular file");
}

// A member whose declared size its compressed bytes cannot hold is refused before anything is
// allocated (the npz fuzz target found a 536-byte archive asking for 4 GB).
TEST(Npz, DeclaredSizeBeyondTheArchiveIsRefused) {
  const std::string path = testing::source_path("tests/fuzz/regressions/npz/declared_size_4g");
  try {
    read_npz(path);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.id(), "tensor.npz");
    EXPECT_NE(e.message().find("corrupt member: it declares"), std::string::npos) << e.message();
  }
}

TEST(Npz, ArraysByNameRoundTrip) {
  TempDir dir;
  write_npz(dir.file("z.npz"), {Tensor::from_doubles("logits", DType::kFloat32, {2}, {1, 2}),
                                Tensor::from_doubles("ids", DType::kInt64, {3}, {4, 5, 6})});
  const std::vector<Tensor> tensors = read_npz(dir.file("z.npz"));
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].name(), "logits");
  EXPECT_EQ(tensors[0].to_doubles(), (std::vector<double>{1, 2}));
  EXPECT_EQ(tensors[1].name(), "ids");
  EXPECT_EQ(tensors[1].dtype(), DType::kInt64);
}

TEST(Npz, ReadsNumpySavezOutput) {
  // tests/data/isclose_vectors.npz was written by numpy.savez.
  const std::vector<Tensor> tensors = read_npz(testing::source_path("tests/data/isclose_vectors.npz"));
  EXPECT_GT(tensors.size(), 20u);
  bool found = false;
  for (const Tensor& t : tensors) found |= t.name() == "float32_a" && t.dtype() == DType::kFloat32;
  EXPECT_TRUE(found);
}

TEST(Npz, NotAZipIsAnError) {
  TempDir dir;
  dir.write("bad.npz", "not a zip");
  try {
    read_npz(dir.file("bad.npz"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.id(), "tensor.npz");
  }
}

}  // namespace
}  // namespace replay
