// Fingerprints and their diff (harness/fingerprint.h, harness/hashing.h): the fields of a
// fingerprint of this environment, SHA-256 against known digests and in parallel, and each kind
// of difference mapped to its finding id, severity and changes_outputs.
#include "harness/fingerprint.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "harness/error.h"
#include "harness/hashing.h"
#include "support/process.h"

namespace replay {
namespace {

using nlohmann::json;
using testing::TempDir;

FingerprintOptions no_torch(std::vector<std::string> artifacts = {}) {
  FingerprintOptions options;
  options.artifacts = std::move(artifacts);
  options.include_torch_runtime = false;
  return options;
}

const EnvFinding* find(const std::vector<EnvFinding>& findings, const std::string& id,
                       const std::string& subject = "") {
  for (const auto& finding : findings) {
    if (finding.id == id && (subject.empty() || finding.subject == subject)) return &finding;
  }
  return nullptr;
}

bool any_changes_outputs(const std::vector<EnvFinding>& findings) {
  for (const auto& finding : findings) {
    if (finding.changes_outputs) return true;
  }
  return false;
}

std::string ids(const std::vector<EnvFinding>& findings) {
  std::string out;
  for (const auto& finding : findings) out += finding.id + "(" + finding.subject + ") ";
  return out;
}

// A fingerprint as a LibTorch side writes it, for diff cases that need runtime facts.
json runtime_fingerprint() {
  json fingerprint = collect_fingerprint(no_torch());
  fingerprint["runtime"] = {{"libtorch", "2.3.1"},
                            {"cuda_available", true},
                            {"cuda_runtime", "12.1"},
                            {"cudnn", "8.9.2"},
                            {"tf32_matmul", false},
                            {"tf32_cudnn", true},
                            {"float32_matmul_precision", "highest"},
                            {"cudnn_deterministic", false},
                            {"cudnn_benchmark", false},
                            {"deterministic_algorithms", false},
                            {"intra_op_threads", 8},
                            {"inter_op_threads", 8},
                            {"cpu_capability", "AVX2"}};
  return fingerprint;
}

TEST(Hashing, KnownDigests) {
  EXPECT_EQ(sha256_hex("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  TempDir dir;
  // Larger than one read block, so the streaming path is exercised.
  std::string big(3 * (1 << 20) + 17, 'x');
  const FileDigest digest = sha256_file(dir.write("big.bin", big));
  EXPECT_EQ(digest.size_bytes, big.size());
  EXPECT_EQ(digest.sha256, sha256_hex(big.data(), big.size()));
}

TEST(Hashing, ParallelMatchesSequentialInOrder) {
  TempDir dir;
  std::vector<std::string> paths;
  for (int i = 0; i < 9; ++i) {
    paths.push_back(dir.write("f" + std::to_string(i), std::string(1000 * i + 1, char('a' + i))));
  }
  const auto parallel = sha256_files(paths, 3);
  ASSERT_EQ(parallel.size(), paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    EXPECT_EQ(parallel[i].path, paths[i]);
    EXPECT_EQ(parallel[i].sha256, sha256_file(paths[i]).sha256);
  }
}

TEST(Hashing, MissingFileIsAnInputError) {
  try {
    sha256_files({"/nonexistent/replay/file.pt"}, 2);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "env.artifact");
    EXPECT_EQ(error.exit_code(), kExitBadInput);
  }
}

TEST(CollectFingerprint, HasTheDocumentedFields) {
  TempDir dir;
  const std::string model = dir.write("model.bin", "abc");
  setenv("MKL_CBWR", "AVX2", 1);
  const json fingerprint = collect_fingerprint(no_torch({model}));
  unsetenv("MKL_CBWR");

  EXPECT_EQ(fingerprint["schema"], "replay.fingerprint");
  EXPECT_EQ(fingerprint["schema_version"], kFingerprintSchemaVersion);
  ASSERT_EQ(fingerprint["artifacts"].size(), 1u);
  const json& artifact = fingerprint["artifacts"][0];
  EXPECT_EQ(artifact["name"], "model.bin");
  EXPECT_EQ(artifact["size_bytes"], 3);
  EXPECT_EQ(artifact["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(fingerprint["runtime"].is_null());  // include_torch_runtime = false

  const json& host = fingerprint["host"];
  for (const char* key : {"cpu_model", "cpu_count", "isa", "denormals", "os", "kernel", "glibc", "arch"}) {
    EXPECT_TRUE(host.contains(key)) << key;
  }
  for (const char* flag : {"avx2", "avx512f", "amx_tile"}) {
    EXPECT_TRUE(host["isa"][flag].is_boolean()) << flag;
  }
  EXPECT_FALSE(host["glibc"].get<std::string>().empty());
  EXPECT_EQ(host["kernel"].get<std::string>().rfind("Linux ", 0), 0u);
  EXPECT_EQ(fingerprint["env"]["MKL_CBWR"], "AVX2");
  for (const char* key : {"in_container", "container_id", "image_ref", "image_digest"}) {
    EXPECT_TRUE(fingerprint["container"].contains(key)) << key;
  }
  EXPECT_TRUE(fingerprint["python"].is_null());
}

TEST(CollectFingerprint, FoldersAreHashedRecursivelyAndNamedByTheirFolder) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("bundle/sub"));
  dir.write("bundle/a.json", "{}");
  dir.write("bundle/sub/b.txt", "b");
  const json fingerprint = collect_fingerprint(no_torch({dir.file("bundle")}));
  ASSERT_EQ(fingerprint["artifacts"].size(), 2u);
  EXPECT_EQ(fingerprint["artifacts"][0]["name"], "bundle/a.json");
  EXPECT_EQ(fingerprint["artifacts"][1]["name"], "bundle/sub/b.txt");
}

TEST(CollectFingerprint, PythonPackagesFromMetadata) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("site/numpy-1.26.4.dist-info"));
  dir.write("site/numpy-1.26.4.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: numpy\nVersion: 1.26.4\n\nVersion: 0.0 in the body\n");
  std::filesystem::create_directories(dir.file("site/scikit_learn-1.4.0.dist-info"));
  dir.write("site/scikit_learn-1.4.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: scikit_learn\nVersion: 1.4.0\n");
  FingerprintOptions options = no_torch();
  options.python_env = dir.file("site");
  const json fingerprint = collect_fingerprint(options);
  EXPECT_EQ(fingerprint["python"]["packages"]["numpy"], "1.26.4");
  EXPECT_EQ(fingerprint["python"]["packages"]["scikit-learn"], "1.4.0");
}

TEST(CollectFingerprint, ImageDigestFromDockerInspect) {
  TempDir dir;
  const std::string inspect = dir.write("inspect.json", R"([{
    "Id": "sha256:1111",
    "RepoTags": ["registry.example.com/scorer:1.4"],
    "RepoDigests": ["registry.example.com/scorer@sha256:abcd"]}])");
  FingerprintOptions options = no_torch();
  options.docker_inspect = inspect;
  json fingerprint = collect_fingerprint(options);
  EXPECT_EQ(fingerprint["container"]["image_digest"], "sha256:abcd");
  EXPECT_EQ(fingerprint["container"]["digest_source"], "docker inspect RepoDigests");
  options.image_digest = "sha256:given";
  fingerprint = collect_fingerprint(options);
  EXPECT_EQ(fingerprint["container"]["image_digest"], "sha256:given");
}

TEST(DiffFingerprints, SameEnvironmentHasNoFindings) {
  TempDir dir;
  const json fingerprint = collect_fingerprint(no_torch({dir.write("model.pt", "weights")}));
  EXPECT_TRUE(diff_fingerprints(fingerprint, fingerprint).empty());
}

TEST(DiffFingerprints, OneByteChangeIsAChecksumMismatch) {
  TempDir dir;
  const std::string path = dir.write("model.pt", "weights-0");
  const json before = collect_fingerprint(no_torch({path}));
  dir.write("model.pt", "weights-1");
  const json after = collect_fingerprint(no_torch({path}));
  const auto findings = diff_fingerprints(before, after);
  const EnvFinding* finding = find(findings, "artifact.checksum", "model.pt");
  ASSERT_NE(finding, nullptr) << ids(findings);
  EXPECT_EQ(finding->severity, Severity::kCritical);
  EXPECT_TRUE(finding->changes_outputs);
  EXPECT_EQ(finding->local["sha256"], before["artifacts"][0]["sha256"]);
  EXPECT_EQ(finding->remote["sha256"], after["artifacts"][0]["sha256"]);
  EXPECT_NE(finding->meaning.find("not running"), std::string::npos) << finding->meaning;
  EXPECT_EQ(findings.front().id, "artifact.checksum");  // critical first
}

TEST(DiffFingerprints, RenamedModelIsPairedByKind) {
  TempDir dir;
  const json a = collect_fingerprint(no_torch({dir.write("model.pt", "v1"), dir.write("c.json", "{}")}));
  const json b = collect_fingerprint(no_torch({dir.write("model_v2.pt", "v2"), dir.file("c.json")}));
  const auto findings = diff_fingerprints(a, b);
  ASSERT_EQ(findings.size(), 1u) << ids(findings);
  EXPECT_EQ(findings[0].id, "artifact.checksum");
  EXPECT_EQ(findings[0].subject, "model.pt / model_v2.pt");
}

TEST(DiffFingerprints, LibraryVersionDrift) {
  json a = collect_fingerprint(no_torch());
  a["python"] = {{"site_packages", "/a"}, {"packages", {{"scikit-learn", "1.3.2"}, {"rich", "13.0"}}}};
  json b = a;
  b["python"]["packages"]["scikit-learn"] = "1.4.0";
  b["python"]["packages"]["rich"] = "13.1";
  const auto findings = diff_fingerprints(a, b);
  const EnvFinding* sklearn = find(findings, "library.version", "scikit-learn");
  ASSERT_NE(sklearn, nullptr) << ids(findings);
  EXPECT_TRUE(sklearn->changes_outputs);
  EXPECT_EQ(sklearn->local, "1.3.2");
  EXPECT_EQ(sklearn->remote, "1.4.0");
  EXPECT_NE(sklearn->action.find("lock file"), std::string::npos);
  const EnvFinding* rich = find(findings, "library.version", "rich");
  ASSERT_NE(rich, nullptr);
  EXPECT_FALSE(rich->changes_outputs);
  EXPECT_EQ(rich->severity, Severity::kInfo);

  json c = runtime_fingerprint(), d = c;
  d["runtime"]["libtorch"] = "2.4.0";
  const auto torch_findings = diff_fingerprints(c, d);
  const EnvFinding* torch = find(torch_findings, "library.version", "LibTorch");
  ASSERT_NE(torch, nullptr) << ids(torch_findings);
  EXPECT_TRUE(torch->changes_outputs);
}

TEST(DiffFingerprints, Tf32OnOneSideOnly) {
  json a = runtime_fingerprint(), b = a;
  b["runtime"]["tf32_matmul"] = true;
  auto findings = diff_fingerprints(a, b);
  ASSERT_EQ(findings.size(), 1u) << ids(findings);
  EXPECT_EQ(findings[0].id, "numerics.tf32");
  EXPECT_EQ(findings[0].subject, "tf32_matmul");
  EXPECT_EQ(findings[0].severity, Severity::kCritical);
  EXPECT_TRUE(findings[0].changes_outputs);

  json c = a, d = a;
  d["env"]["NVIDIA_TF32_OVERRIDE"] = "0";
  findings = diff_fingerprints(c, d);
  ASSERT_NE(find(findings, "numerics.tf32", "NVIDIA_TF32_OVERRIDE"), nullptr) << ids(findings);
}

TEST(DiffFingerprints, TrainingModeModule) {
  json a = collect_fingerprint(no_torch());
  a["artifacts"] = json::array({{{"name", "model.pt"}, {"sha256", "aa"}, {"size_bytes", 2},
                                 {"torchscript", {{"format_version", 10},
                                                  {"training_modules", json::array()},
                                                  {"has_batch_norm", true},
                                                  {"has_dropout", false}}}}});
  json b = a;
  b["artifacts"][0]["torchscript"]["training_modules"] = {"<root>", "bn"};
  const auto findings = diff_fingerprints(a, b);
  const EnvFinding* finding = find(findings, "model.training_mode", "model.pt");
  ASSERT_NE(finding, nullptr) << ids(findings);
  EXPECT_EQ(finding->severity, Severity::kCritical);
  EXPECT_TRUE(finding->changes_outputs);
  EXPECT_NE(finding->meaning.find("statistics of each batch"), std::string::npos);
  EXPECT_NE(finding->action.find("eval()"), std::string::npos);
}

TEST(DiffFingerprints, SameTagOtherDigest) {
  json a = collect_fingerprint(no_torch()), b = a;
  a["container"]["image_ref"] = "registry/scorer:1.4";
  a["container"]["image_digest"] = "sha256:aaaa";
  b["container"]["image_ref"] = "registry/scorer:1.4";
  b["container"]["image_digest"] = "sha256:bbbb";
  const auto findings = diff_fingerprints(a, b);
  ASSERT_EQ(findings.size(), 1u) << ids(findings);
  EXPECT_EQ(findings[0].id, "image.digest");
  EXPECT_EQ(findings[0].severity, Severity::kCritical);
  EXPECT_NE(findings[0].action.find("digest"), std::string::npos);
}

TEST(DiffFingerprints, EnvironmentVariablesAndThreads) {
  json a = runtime_fingerprint(), b = a;
  b["env"]["MKL_CBWR"] = "COMPATIBLE";
  b["env"]["OMP_NUM_THREADS"] = "4";
  b["runtime"]["intra_op_threads"] = 4;
  b["host"]["isa"]["avx512f"] = !a["host"]["isa"]["avx512f"].get<bool>();
  const auto findings = diff_fingerprints(a, b);
  const EnvFinding* cbwr = find(findings, "numerics.env", "MKL_CBWR");
  ASSERT_NE(cbwr, nullptr) << ids(findings);
  EXPECT_TRUE(cbwr->changes_outputs);
  EXPECT_TRUE(cbwr->local.is_null());
  const EnvFinding* omp = find(findings, "runtime.threads", "OMP_NUM_THREADS");
  ASSERT_NE(omp, nullptr);
  EXPECT_EQ(omp->severity, Severity::kInfo);
  EXPECT_FALSE(omp->changes_outputs);
  ASSERT_NE(find(findings, "runtime.threads", "intra_op_threads"), nullptr);
  const EnvFinding* isa = find(findings, "cpu.isa", "instruction sets");
  ASSERT_NE(isa, nullptr);
  EXPECT_EQ(isa->severity, Severity::kWarning);
  EXPECT_FALSE(isa->changes_outputs);
}

TEST(DiffFingerprints, InformationalDifferencesDoNotChangeOutputs) {
  json a = runtime_fingerprint(), b = a;
  b["host"]["kernel"] = "Linux 0.0";
  b["runtime"]["cudnn_benchmark"] = true;
  const auto findings = diff_fingerprints(a, b);
  EXPECT_EQ(findings.size(), 2u) << ids(findings);
  EXPECT_FALSE(any_changes_outputs(findings));
}

TEST(DiffFingerprints, MissingRuntimeOnOneSideIsNotCompared) {
  json a = runtime_fingerprint(), b = a;
  b["runtime"] = nullptr;
  EXPECT_TRUE(diff_fingerprints(a, b).empty());
}

TEST(FindingsToJson, CarriesEveryField) {
  EnvFinding finding;
  finding.id = "numerics.tf32";
  finding.severity = Severity::kWarning;
  finding.subject = "tf32_matmul";
  finding.local = false;
  finding.remote = true;
  finding.meaning = "m";
  finding.action = "a";
  finding.changes_outputs = true;
  const json out = findings_to_json({finding});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (json{{"id", "numerics.tf32"}, {"severity", "warning"}, {"subject", "tf32_matmul"},
                          {"local", false}, {"remote", true}, {"meaning", "m"}, {"action", "a"},
                          {"changes_outputs", true}}));
  EXPECT_EQ(severity_name(Severity::kCritical), "critical");
  EXPECT_EQ(severity_name(Severity::kInfo), "info");
}

}  // namespace
}  // namespace replay
