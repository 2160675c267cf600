// `replay diff A B` end to end (the real binary): .npy, .npz (paired by name and file.npz:name),
// JSON tensors and capture stages; exit codes 0/1/2; the printed figures; the JSON report.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "harness/tensor_io.h"
#include "support/process.h"

namespace replay {
namespace {

using testing::RunResult;
using testing::TempDir;

RunResult diff(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {testing::replay_binary(), "diff"};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::run_process(argv, 60000, {"NO_COLOR=1"});
}

Tensor floats(const std::string& name, std::vector<double> values, std::vector<int64_t> shape) {
  return Tensor::from_doubles(name, DType::kFloat32, std::move(shape), values);
}

TEST(ReplayDiff, EqualNpyFilesExitZero) {
  TempDir dir;
  write_npy(dir.file("a.npy"), floats("x", {1, 2, 3}, {3}));
  write_npy(dir.file("b.npy"), floats("x", {1, 2, 3}, {3}));
  const RunResult r = diff({dir.file("a.npy"), dir.file("b.npy")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("equal a~b: all 3 elements equal bit for bit\n", 0), 0u) << r.out;
}

TEST(ReplayDiff, DivergedNpyFilesExitOneWithFigures) {
  TempDir dir;
  write_npy(dir.file("a.npy"), floats("x", {1, 2, 3, 4}, {2, 2}));
  write_npy(dir.file("b.npy"), floats("x", {1, 2.5, 3, 3}, {2, 2}));
  const RunResult r = diff({dir.file("a.npy"), dir.file("b.npy"), "--atol", "0.1", "--rtol", "0"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("DIVERGED a~b: 2 of 4 elements (50%) differ; greatest |diff| 1 at [1, 1] "
                       "(4 vs 3); first at [0, 1] (2 vs 2.5)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  would pass allclose with atol >= 1 (rtol 0) or rtol >= 0.333333"),
            std::string::npos);
  // Looser tolerances pass; --reference a changes the side of rtol * |reference|.
  EXPECT_EQ(diff({dir.file("a.npy"), dir.file("b.npy"), "--atol", "1"}).exit_code, 0);
  EXPECT_EQ(diff({dir.file("a.npy"), dir.file("b.npy"), "--atol", "0", "--rtol", "0.3"}).exit_code, 1);
  EXPECT_EQ(diff({dir.file("a.npy"), dir.file("b.npy"), "--atol", "0", "--rtol", "0.3",
                  "--reference", "a"}).exit_code, 0);  // 1 <= 0.3 * 4
}

TEST(ReplayDiff, RulesFromTheCommandLine) {
  TempDir dir;
  write_npy(dir.file("a.npy"), floats("x", {1, 2, 3, 4}, {4}));
  write_npy(dir.file("b.npy"), floats("x", {1, 2, 3, 5}, {4}));
  EXPECT_EQ(diff({dir.file("a.npy"), dir.file("b.npy"), "--rule", "median", "--atol", "0"}).exit_code, 0);
  EXPECT_EQ(diff({dir.file("a.npy"), dir.file("b.npy"), "--rule", "max", "--atol", "0.5", "--rtol", "0"}).exit_code, 1);
  EXPECT_EQ(diff({dir.file("a.npy"), dir.file("a.npy"), "--rule", "exact"}).exit_code, 0);
  const RunResult bad = diff({dir.file("a.npy"), dir.file("b.npy"), "--rule", "nearly"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("[replay.usage.diff]"), std::string::npos) << bad.err;
}

TEST(ReplayDiff, NpzArraysPairedByNameAndSelected) {
  TempDir dir;
  write_npz(dir.file("a.npz"), {floats("logits", {1, 2}, {2}), floats("probs", {0.5, 0.5}, {2})});
  write_npz(dir.file("b.npz"), {floats("probs", {0.5, 0.5}, {2}), floats("logits", {1, 3}, {2})});
  const RunResult all = diff({dir.file("a.npz"), dir.file("b.npz")});
  EXPECT_EQ(all.exit_code, 1);
  EXPECT_NE(all.out.find("DIVERGED logits:"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("equal probs:"), std::string::npos);
  EXPECT_NE(all.out.find("2 tensors compared, 1 diverged\n"), std::string::npos);
  EXPECT_EQ(diff({dir.file("a.npz") + ":probs", dir.file("b.npz") + ":probs"}).exit_code, 0);
  EXPECT_EQ(diff({dir.file("a.npz"), dir.file("b.npz"), "--tensor", "probs"}).exit_code, 0);
  const RunResult missing = diff({dir.file("a.npz") + ":nope", dir.file("b.npz")});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no array named 'nope'"), std::string::npos) << missing.err;
}

TEST(ReplayDiff, JsonTensorAgainstNpyAndTheJsonReport) {
  TempDir dir;
  write_npy(dir.file("a.npy"), floats("x", {0.1, 0.2}, {2}));
  dir.write("b.json", R"({"dtype": "float32", "shape": [2], "data": [0.1, 0.25]})");
  dir.write("c.json", "[0.1, 0.2]");  // nested lists: float64 inferred, read as float32
  EXPECT_EQ(diff({dir.file("a.npy"), dir.file("c.json")}).exit_code, 0);
  const RunResult r = diff({dir.file("a.npy"), dir.file("b.json"), "--report",
                            "json:" + dir.file("report.json")});
  EXPECT_EQ(r.exit_code, 1);
  const nlohmann::json report = nlohmann::json::parse(testing::read_file(dir.file("report.json")));
  EXPECT_EQ(report["passed"], false);
  EXPECT_EQ(report["tensors"][0]["mismatched"], 1);
  EXPECT_EQ(report["tensors"][0]["first_mismatch"]["index"], nlohmann::json::array({1}));
}

TEST(ReplayDiff, CaptureStage) {
  TempDir dir;
  dir.write("capture.json",
            R"({"format": 1, "id": "c1", "request": {"body": "{}"},
                "stages": {"outputs": {"logits": [[0.1, 0.9]]}}})");
  write_npy(dir.file("logits.npy"), Tensor::from_doubles("logits", DType::kFloat32, {1, 2}, {0.1, 0.9}));
  const RunResult r = diff({dir.file("logits.npy"), dir.file("capture.json") + ":outputs"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(diff({dir.file("logits.npy"), dir.file("capture.json") + ":middle"}).exit_code, 2);
}

TEST(ReplayDiff, FindingsForDtypeShapeAndNan) {
  TempDir dir;
  write_npy(dir.file("a.npy"), floats("x", {1, 2, 3, 4, 5, 6}, {2, 3}));
  write_npy(dir.file("t.npy"), floats("x", {1, 4, 2, 5, 3, 6}, {3, 2}));
  write_npy(dir.file("h.npy"), Tensor::from_doubles("x", DType::kFloat16, {2, 3}, {1, 2, 3, 4, 5, 6}));
  write_npy(dir.file("n.npy"), floats("x", {1, 2, NAN, 4, 5, 6}, {2, 3}));
  const RunResult shape = diff({dir.file("t.npy"), dir.file("a.npy")});
  EXPECT_EQ(shape.exit_code, 1);
  EXPECT_NE(shape.out.find("layout_hint: the elements agree when the actual side is transposed"),
            std::string::npos) << shape.out;
  const RunResult dtype = diff({dir.file("h.npy"), dir.file("a.npy")});
  EXPECT_EQ(dtype.exit_code, 0);
  EXPECT_NE(dtype.out.find("dtype_mismatch: dtypes differ: actual float16, reference float32"),
            std::string::npos) << dtype.out;
  const RunResult nan = diff({dir.file("n.npy"), dir.file("a.npy")});
  EXPECT_EQ(nan.exit_code, 1);
  EXPECT_NE(nan.out.find("nan_one_side: NaN on the actual side only at 1 element, first at [0, 2]"),
            std::string::npos) << nan.out;
}

TEST(ReplayDiff, BadInputExitsTwo) {
  TempDir dir;
  dir.write("bad.npy", "garbage");
  const RunResult r = diff({dir.file("bad.npy"), dir.file("bad.npy")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("[replay.tensor.npy]"), std::string::npos) << r.err;
  EXPECT_EQ(diff({dir.file("missing.npy"), dir.file("bad.npy")}).exit_code, 2);
}

// Something that exists but is not a regular file: its own sentence (not "no such file"), exit
// 2, and never a hang on a FIFO (no writer ever comes: an open would block for good).
TEST(ReplayDiff, DirectoryDeviceAndFifoAreNamedForWhatTheyAre) {
  TempDir dir;
  write_npy(dir.file("b.npy"), floats("x", {1}, {1}));
  const std::string fifo = dir.file("pipe.npy");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const struct {
    std::string path, sentence;
  } cases[] = {
      {dir.path(), dir.path() + ": is a directory, not a tensor file"},
      {"/dev/zero", "/dev/zero: is a character device, not a regular file"},
      {fifo, fifo + ": is a FIFO (named pipe), not a regular file"},
      {fifo + ":outputs", fifo + ":outputs: is a FIFO (named pipe), not a regular file"},
      {dir.file("missing.npy"), dir.file("missing.npy") + ": no such file"},
  };
  for (const auto& c : cases) {
    const RunResult r = diff({c.path, dir.file("b.npy")});
    EXPECT_EQ(r.exit_code, 2) << c.path << ": " << r.err;
    EXPECT_EQ(r.err, "replay: [replay.tensor.read] " + c.sentence + "\n") << c.path;
  }
}

}  // namespace
}  // namespace replay
