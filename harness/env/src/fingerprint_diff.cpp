// diff_fingerprints: two fingerprints (schema v1) into findings, each with what it means and
// what to do. Only differences are findings; a fact one side does not report (no runtime, no
// python env) is not compared. The ids and texts are documented in docs/env.md.
#include <algorithm>
#include <map>
#include <set>

#include "harness/fingerprint.h"

namespace replay {
namespace {

using nlohmann::json;

// Packages whose version changes what a model computes (preprocessing defaults, kernels).
const std::set<std::string>& numerics_packages() {
  static const std::set<std::string> kPackages = {
      "torch", "torchvision", "torchaudio", "numpy", "scipy", "scikit-learn", "pandas",
      "onnxruntime", "onnxruntime-gpu", "onnx", "transformers", "tokenizers", "sentencepiece",
      "xgboost", "lightgbm", "catboost", "tensorflow", "tf-keras", "keras", "jax", "jaxlib",
      "pillow", "opencv-python", "opencv-python-headless", "nvidia-cudnn-cu11",
      "nvidia-cudnn-cu12", "nvidia-cublas-cu11", "nvidia-cublas-cu12", "triton", "safetensors",
      "accelerate", "sentence-transformers", "timm", "mkl", "intel-openmp"};
  return kPackages;
}

const json& field(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  const auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

bool usable(const json& section) { return section.is_object() && !section.contains("error"); }

class Differ {
 public:
  void add(std::string id, Severity severity, std::string subject, json local, json remote,
           std::string meaning, std::string action, bool changes_outputs) {
    EnvFinding finding;
    finding.id = std::move(id);
    finding.severity = severity;
    finding.subject = std::move(subject);
    finding.local = std::move(local);
    finding.remote = std::move(remote);
    finding.meaning = std::move(meaning);
    finding.action = std::move(action);
    finding.changes_outputs = changes_outputs;
    findings_.push_back(std::move(finding));
  }

  std::vector<EnvFinding> take() {
    std::stable_sort(findings_.begin(), findings_.end(),
                     [](const EnvFinding& a, const EnvFinding& b) { return a.severity > b.severity; });
    return std::move(findings_);
  }

 private:
  std::vector<EnvFinding> findings_;
};

std::string text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "absent";
  return value.dump();
}

std::string extension(const std::string& name) {
  const size_t slash = name.find_last_of('/');
  const size_t dot = name.find_last_of('.');
  return dot == std::string::npos || (slash != std::string::npos && dot < slash) ? ""
                                                                                : name.substr(dot);
}

std::set<std::string> string_set(const json& array) {
  std::set<std::string> out;
  if (array.is_array()) {
    for (const auto& item : array) {
      if (item.is_string()) out.insert(item.get<std::string>());
    }
  }
  return out;
}

void diff_torchscript(const std::string& subject, const json& a, const json& b, Differ* out) {
  if (!usable(a) || !usable(b)) return;
  const json& training_a = field(a, "training_modules");
  const json& training_b = field(b, "training_modules");
  if (string_set(training_a) != string_set(training_b)) {
    const bool batch_norm = field(a, "has_batch_norm") == true || field(b, "has_batch_norm") == true;
    const bool dropout = field(a, "has_dropout") == true || field(b, "has_dropout") == true;
    std::string what = "Modules saved with training=True";
    if (batch_norm && dropout) {
      what += " normalise with the statistics of each batch and apply dropout at random";
    } else if (batch_norm) {
      what += " normalise with the statistics of each batch instead of the running ones";
    } else if (dropout) {
      what += " apply dropout at random";
    } else {
      what += " take their training-time code paths";
    }
    out->add("model.training_mode", Severity::kCritical, subject, training_a, training_b,
             what + " unless the serving code calls eval(): one side's outputs then depend on the "
                    "batch (and on chance), the other's do not.",
             "Call model.eval() before serving, and save models after eval(); `replay env "
             "--scan-serving DIR` finds serving code that does not.",
             true);
  }
  if (field(a, "format_version") != field(b, "format_version")) {
    out->add("model.format_version", Severity::kInfo, subject, field(a, "format_version"),
             field(b, "format_version"),
             "The archives were written by different TorchScript serialisation formats, so by "
             "different PyTorch releases.",
             "Export the model once and deploy that file on both sides.", false);
  }
}

void diff_artifacts(const json& a, const json& b, Differ* out) {
  const json& list_a = field(a, "artifacts");
  const json& list_b = field(b, "artifacts");
  if (!list_a.is_array() || !list_b.is_array()) return;
  std::vector<const json*> left, right;
  for (const auto& artifact : list_a) left.push_back(&artifact);
  for (const auto& artifact : list_b) right.push_back(&artifact);

  auto name_of = [](const json* artifact) { return field(*artifact, "name").get<std::string>(); };
  std::vector<std::pair<const json*, const json*>> pairs;
  // Matched by file name first; then what is left is paired by extension, in order, when each
  // side has one of a kind (model.pt here, model_v2.pt there is one model, not two).
  for (auto it = left.begin(); it != left.end();) {
    const auto match = std::find_if(right.begin(), right.end(),
                                    [&](const json* r) { return name_of(r) == name_of(*it); });
    if (match == right.end()) {
      ++it;
      continue;
    }
    pairs.emplace_back(*it, *match);
    right.erase(match);
    it = left.erase(it);
  }
  for (auto it = left.begin(); it != left.end();) {
    const std::string kind = extension(name_of(*it));
    auto count_kind = [&](const std::vector<const json*>& side) {
      return std::count_if(side.begin(), side.end(),
                           [&](const json* x) { return extension(name_of(x)) == kind; });
    };
    if (count_kind(left) != 1 || count_kind(right) != 1) {
      ++it;
      continue;
    }
    const auto match = std::find_if(right.begin(), right.end(),
                                    [&](const json* r) { return extension(name_of(r)) == kind; });
    pairs.emplace_back(*it, *match);
    right.erase(match);
    it = left.erase(it);
  }

  for (const auto& [x, y] : pairs) {
    const std::string subject =
        name_of(x) == name_of(y) ? name_of(x) : name_of(x) + " / " + name_of(y);
    if (field(*x, "sha256") != field(*y, "sha256")) {
      out->add("artifact.checksum", Severity::kCritical, subject,
               {{"sha256", field(*x, "sha256")}, {"size_bytes", field(*x, "size_bytes")}},
               {{"sha256", field(*y, "sha256")}, {"size_bytes", field(*y, "size_bytes")}},
               "Checksum mismatch: production is not running the bytes that were evaluated (a "
               "partial rollout, a stale file, or a rebuilt artifact).",
               "Deploy the evaluated artifact (or evaluate the deployed one) and pin artifacts by "
               "SHA-256 in the release.",
               true);
    }
    diff_torchscript(subject, field(*x, "torchscript"), field(*y, "torchscript"), out);
  }
  for (const json* x : left) {
    out->add("artifact.missing", Severity::kWarning, name_of(x), field(*x, "sha256"), nullptr,
             "This artifact was fingerprinted on the local side only.",
             "Fingerprint the same artifacts on both sides (--artifact), or deploy the file.",
             false);
  }
  for (const json* y : right) {
    out->add("artifact.missing", Severity::kWarning, name_of(y), nullptr, field(*y, "sha256"),
             "This artifact was fingerprinted on the remote side only.",
             "Fingerprint the same artifacts on both sides (--artifact), or deploy the file.",
             false);
  }
}

std::string without_digest(const json& reference) {
  if (!reference.is_string()) return "";
  const std::string text = reference.get<std::string>();
  return text.substr(0, text.find('@'));
}

void diff_container(const json& a, const json& b, Differ* out) {
  const json& x = field(a, "container");
  const json& y = field(b, "container");
  if (!x.is_object() || !y.is_object()) return;
  const std::string ref_a = without_digest(field(x, "image_ref"));
  const std::string ref_b = without_digest(field(y, "image_ref"));
  const json& digest_a = field(x, "image_digest");
  const json& digest_b = field(y, "image_digest");
  if (digest_a.is_string() && digest_b.is_string() && digest_a != digest_b) {
    if (!ref_a.empty() && ref_a == ref_b) {
      out->add("image.digest", Severity::kCritical, ref_a, digest_a, digest_b,
               "Same tag, other digest: the image was rebuilt under the same tag, so the two "
               "sides run different bytes (base image, libraries) under one name.",
               "Pin images by digest (image@sha256:...) wherever they are deployed or evaluated; "
               "treat tags as labels, not versions.",
               true);
    } else {
      out->add("image.digest", Severity::kWarning,
               ref_a == ref_b ? "container image" : ref_a + " / " + ref_b, digest_a, digest_b,
               "The two sides run different container images.",
               "Evaluate the image that is deployed, pinned by digest.", true);
    }
  } else if (ref_a != ref_b && !ref_a.empty() && !ref_b.empty()) {
    out->add("image.ref", Severity::kWarning, "container image", field(x, "image_ref"),
             field(y, "image_ref"),
             "The two sides run different image references; without both digests replay cannot "
             "tell whether the bytes differ.",
             "Expose the digest on both sides (REPLAY_IMAGE_DIGEST, --image-digest or "
             "--docker-inspect) and pin it.",
             false);
  }
}

const char* const kLibraryAction =
    "Rebuild both sides from one lock file (same versions of every numerical library).";

void diff_runtime(const json& a, const json& b, Differ* out) {
  const json& x = field(a, "runtime");
  const json& y = field(b, "runtime");
  if (!usable(x) || !usable(y)) return;
  const std::pair<const char*, const char*> libraries[] = {
      {"libtorch", "LibTorch"}, {"cuda_runtime", "CUDA runtime"}, {"cudnn", "cuDNN"}};
  for (const auto& [key, name] : libraries) {
    if (field(x, key) != field(y, key)) {
      out->add("library.version", Severity::kWarning, name, field(x, key), field(y, key),
               std::string(name) + " " + text(field(x, key)) + " here, " + text(field(y, key)) +
                   " there: releases choose different kernels and fix numerics differently, so "
                   "outputs can differ beyond the last bit.",
               kLibraryAction, true);
    }
  }
  if (field(x, "cuda_available") != field(y, "cuda_available")) {
    out->add("runtime.device", Severity::kWarning, "CUDA available", field(x, "cuda_available"),
             field(y, "cuda_available"),
             "One side can run on a GPU and the other cannot: GPU and CPU kernels differ (and "
             "TF32 applies on the GPU only).",
             "Compare like with like: replay with --device matching production.", true);
  }
  const char* const tf32_keys[] = {"tf32_matmul", "tf32_cudnn", "float32_matmul_precision"};
  for (const char* key : tf32_keys) {
    if (field(x, key) != field(y, key)) {
      out->add("numerics.tf32", Severity::kCritical, key, field(x, key), field(y, key),
               "TF32 on one side only: on Ampere and later GPUs, float32 matmuls and convolutions "
               "keep 10 mantissa bits on that side (relative errors near 1e-3).",
               "Set it explicitly at start-up on both sides to match training "
               "(torch.backends.cuda.matmul.allow_tf32 / torch.backends.cudnn.allow_tf32, or "
               "torch.set_float32_matmul_precision).",
               true);
    }
  }
  for (const char* key : {"cudnn_deterministic", "cudnn_benchmark", "deterministic_algorithms"}) {
    if (field(x, key) != field(y, key)) {
      out->add("numerics.determinism", Severity::kWarning, key, field(x, key), field(y, key),
               "Determinism settings differ: one side may pick kernels by benchmark or use "
               "non-deterministic reductions, so its outputs vary in the last bits from run to "
               "run.",
               "Set cudnn.benchmark, cudnn.deterministic and use_deterministic_algorithms "
               "explicitly and identically on both sides.",
               false);
    }
  }
  for (const char* key : {"intra_op_threads", "inter_op_threads"}) {
    if (field(x, key) != field(y, key)) {
      out->add("runtime.threads", Severity::kInfo, key, field(x, key), field(y, key),
               "Thread counts differ: some CPU reductions split work by thread, which can change "
               "the last bits.",
               "Set the thread counts explicitly if bit-exact results matter.", false);
    }
  }
  if (field(x, "cpu_capability") != field(y, "cpu_capability")) {
    out->add("cpu.isa", Severity::kWarning, "ATen CPU capability", field(x, "cpu_capability"),
             field(y, "cpu_capability"),
             "LibTorch picked different vectorised CPU kernels on each side; expect last-bit "
             "differences in float32.",
             "Set ATEN_CPU_CAPABILITY identically on both sides if bit-exact results matter.",
             false);
  }
}

void diff_host(const json& a, const json& b, Differ* out) {
  const json& x = field(a, "host");
  const json& y = field(b, "host");
  if (!x.is_object() || !y.is_object()) return;
  const json& isa_x = field(x, "isa");
  const json& isa_y = field(y, "isa");
  if (isa_x.is_object() && isa_y.is_object()) {
    json only_x = json::object(), only_y = json::object();
    for (const auto& [flag, value] : isa_x.items()) {
      if (field(isa_y, flag.c_str()) != value) {
        only_x[flag] = value;
        only_y[flag] = field(isa_y, flag.c_str());
      }
    }
    if (!only_x.empty()) {
      out->add("cpu.isa", Severity::kWarning, "instruction sets", only_x, only_y,
               "The CPUs offer different instruction sets (AVX2, AVX-512, AMX), so MKL, oneDNN "
               "and ATen choose different kernels: expect last-bit differences in float32, more "
               "in bfloat16 or int8.",
               "Replay on the production CPU type, or pin the kernel level (MKL_CBWR, "
               "ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA) on both sides.",
               false);
    }
  }
  if (field(x, "cpu_model") != field(y, "cpu_model")) {
    out->add("cpu.model", Severity::kInfo, "CPU model", field(x, "cpu_model"), field(y, "cpu_model"),
             "Different CPU models.", "Nothing unless another finding points here.", false);
  }
  if (field(x, "denormals") != field(y, "denormals")) {
    out->add("numerics.denormals", Severity::kWarning, "denormal flush mode", field(x, "denormals"),
             field(y, "denormals"),
             "One side flushes denormal floats to zero (FTZ/DAZ): values below 1e-38 become 0 "
             "there.",
             "Set the flush mode identically (torch.set_flush_denormal) on both sides.", true);
  }
  const json& gpus_x = field(x, "gpus");
  const json& gpus_y = field(y, "gpus");
  if (gpus_x.is_object() && gpus_y.is_object()) {
    if (field(gpus_x, "devices") != field(gpus_y, "devices")) {
      out->add("hardware.gpu", Severity::kWarning, "GPUs", field(gpus_x, "devices"),
               field(gpus_y, "devices"),
               "Different GPUs (or compute capabilities): kernels are chosen per architecture, so "
               "expect last-bit differences, and TF32 only from compute capability 8.0.",
               "Replay on the production GPU type when bit-level agreement matters.", false);
    }
    if (field(gpus_x, "driver") != field(gpus_y, "driver")) {
      out->add("library.version", Severity::kInfo, "NVIDIA driver", field(gpus_x, "driver"),
               field(gpus_y, "driver"), "Different NVIDIA drivers.", kLibraryAction, false);
    }
  }
  for (const auto& [key, name] :
       {std::pair<const char*, const char*>{"os", "OS"}, {"kernel", "kernel"}, {"glibc", "glibc"}}) {
    if (field(x, key) != field(y, key)) {
      out->add(std::string("host.") + key, Severity::kInfo, name, field(x, key), field(y, key),
               std::string("Different ") + name +
                   (std::string(key) == "glibc" ? " (its libm can differ in the last bit of "
                                                   "exp, log and friends)."
                                                 : "."),
               "Build both sides from one base image.", false);
    }
  }
}

bool is_thread_variable(const std::string& name) {
  return name.find("NUM_THREADS") != std::string::npos || name == "VECLIB_MAXIMUM_THREADS" ||
         name == "OMP_THREAD_LIMIT" || name == "OMP_DYNAMIC" || name == "MKL_DYNAMIC";
}

void diff_env(const json& a, const json& b, Differ* out) {
  const json& x = field(a, "env");
  const json& y = field(b, "env");
  if (!x.is_object() || !y.is_object()) return;
  std::set<std::string> names;
  for (const auto& item : x.items()) names.insert(item.key());
  for (const auto& item : y.items()) names.insert(item.key());
  static const std::set<std::string> kKernelChoice = {
      "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA",
      "ONEDNN_MAX_CPU_ISA", "CUBLAS_WORKSPACE_CONFIG", "OPENBLAS_CORETYPE",
      "TORCH_CUDNN_V8_API_ENABLED", "TF_ENABLE_ONEDNN_OPTS"};
  for (const std::string& name : names) {
    const json& value_x = field(x, name.c_str());
    const json& value_y = field(y, name.c_str());
    if (value_x == value_y) continue;
    if (name == "NVIDIA_TF32_OVERRIDE" || name == "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE") {
      out->add("numerics.tf32", Severity::kCritical, name, value_x, value_y,
               "TF32 is forced on or off by the environment on one side only: float32 matmuls "
               "keep 10 mantissa bits where TF32 is on (relative errors near 1e-3).",
               "Set " + name + " identically on both sides (or unset it) and set TF32 explicitly "
               "at start-up to match training.",
               true);
    } else if (is_thread_variable(name)) {
      out->add("runtime.threads", Severity::kInfo, name, value_x, value_y,
               "Thread settings differ: some CPU reductions split work by thread, which can "
               "change the last bits.",
               "Set them identically if bit-exact results matter.", false);
    } else if (kKernelChoice.count(name) > 0) {
      out->add("numerics.env", Severity::kWarning, name, value_x, value_y,
               name + " changes which kernels run (or their reduction order) and is set "
                      "differently on the two sides.",
               "Set " + name + " identically on both sides.", true);
    } else {
      out->add("numerics.env", Severity::kInfo, name, value_x, value_y,
               name + " is set differently on the two sides.",
               "Set it identically unless the difference is intended.", false);
    }
  }
}

void diff_python(const json& a, const json& b, Differ* out) {
  const json& x = field(field(a, "python"), "packages");
  const json& y = field(field(b, "python"), "packages");
  if (!x.is_object() || !y.is_object()) return;
  std::set<std::string> names;
  for (const auto& item : x.items()) names.insert(item.key());
  for (const auto& item : y.items()) names.insert(item.key());
  for (const std::string& name : names) {
    const json& version_x = field(x, name.c_str());
    const json& version_y = field(y, name.c_str());
    if (version_x == version_y) continue;
    const bool numerics = numerics_packages().count(name) > 0;
    out->add("library.version", numerics ? Severity::kWarning : Severity::kInfo, name, version_x,
             version_y,
             name + " " + text(version_x) + " here, " + text(version_y) + " there" +
                 (numerics ? ": a release can change preprocessing defaults, kernels and "
                             "numerics, so outputs can differ."
                           : "."),
             kLibraryAction, numerics);
  }
}

}  // namespace

std::string_view severity_name(Severity severity) {
  switch (severity) {
    case Severity::kInfo: return "info";
    case Severity::kWarning: return "warning";
    case Severity::kCritical: return "critical";
  }
  return "info";
}

std::vector<EnvFinding> diff_fingerprints(const json& a, const json& b) {
  Differ differ;
  if (field(a, "schema_version") != field(b, "schema_version")) {
    differ.add("fingerprint.schema", Severity::kWarning, "schema_version",
               field(a, "schema_version"), field(b, "schema_version"),
               "The fingerprints were written by different versions of replay; facts one of "
               "them does not record are not compared.",
               "Run the same replay release on both sides.", false);
  }
  diff_artifacts(a, b, &differ);
  diff_container(a, b, &differ);
  diff_runtime(a, b, &differ);
  diff_host(a, b, &differ);
  diff_env(a, b, &differ);
  diff_python(a, b, &differ);
  return differ.take();
}

json findings_to_json(const std::vector<EnvFinding>& findings) {
  json out = json::array();
  for (const EnvFinding& finding : findings) {
    out.push_back({{"id", finding.id},
                   {"severity", std::string(severity_name(finding.severity))},
                   {"subject", finding.subject},
                   {"local", finding.local},
                   {"remote", finding.remote},
                   {"meaning", finding.meaning},
                   {"action", finding.action},
                   {"changes_outputs", finding.changes_outputs}});
  }
  return out;
}

}  // namespace replay
