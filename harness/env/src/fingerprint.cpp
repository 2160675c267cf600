// collect_fingerprint: what this process can see of the environment it runs in, as schema v1
// JSON (documented in docs/env.md); fetch_remote_fingerprint: the same from GET /fingerprint.
// The diff into findings is in fingerprint_diff.cpp.
#include "harness/fingerprint.h"
#include "harness/json_text.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <sys/utsname.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "harness/backend.h"
#include "harness/error.h"
#include "harness/hashing.h"
#include "harness/transport.h"

extern char** environ;

namespace replay {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_text(const std::string& path, size_t max_bytes = size_t{1} << 20) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string text(max_bytes, '\0');
  in.read(&text[0], static_cast<std::streamsize>(max_bytes));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

std::string trim(std::string text) {
  const char* space = " \t\r\n\"'";
  text.erase(0, text.find_first_not_of(space));
  const size_t end = text.find_last_not_of(space);
  text.erase(end == std::string::npos ? 0 : end + 1);
  return text;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// ---- artifacts -----------------------------------------------------------------------------

struct ArtifactFile {
  std::string path;  // as found on disk
  std::string name;  // what the other side's file is matched by
};

// A file is named by its file name; a file in a folder by the folder's name and its path
// inside it ("model_dir/tokenizer/vocab.txt"), so two deployments match whatever their roots.
std::vector<ArtifactFile> expand_artifacts(const std::vector<std::string>& roots) {
  std::vector<ArtifactFile> files;
  for (const std::string& root : roots) {
    std::error_code error;
    const fs::path root_path(root);
    if (fs::is_directory(root_path, error)) {
      const std::string folder = fs::path(root_path).lexically_normal().filename().empty()
                                     ? fs::path(root_path).lexically_normal().parent_path().filename().string()
                                     : fs::path(root_path).lexically_normal().filename().string();
      std::vector<ArtifactFile> inside;
      for (fs::recursive_directory_iterator it(root_path, fs::directory_options::skip_permission_denied, error),
           end;
           !error && it != end; it.increment(error)) {
        if (!it->is_regular_file(error)) continue;
        inside.push_back({it->path().string(),
                          folder + "/" + it->path().lexically_relative(root_path).generic_string()});
      }
      if (error) fail_input("env.artifact", root + ": cannot list the folder: " + error.message());
      std::sort(inside.begin(), inside.end(),
                [](const ArtifactFile& a, const ArtifactFile& b) { return a.name < b.name; });
      files.insert(files.end(), inside.begin(), inside.end());
    } else if (fs::exists(root_path, error)) {
      files.push_back({root, root_path.filename().string()});
    } else {
      fail_input("env.artifact", root + ": no such file or folder");
    }
  }
  return files;
}

// TorchScript archives are zip files with a "<name>/version" record; the module knows more.
bool looks_like_torchscript(const std::string& path) {
  const std::string extension = lower(fs::path(path).extension().string());
  if (extension != ".pt" && extension != ".pth" && extension != ".zip" &&
      extension != ".torchscript" && extension != ".ptl") {
    return false;
  }
  const std::string head = read_text(path, 4);
  return head.size() == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
}

// What only the local backend knows: its runtime facts and each TorchScript archive's facts.
// Gathered on a thread of its own while the artifacts are hashed, since loading LibTorch alone
// takes about half a second; a backend that cannot be loaded is recorded, not fatal.
struct BackendFacts {
  json runtime;
  std::map<std::string, json> archives;  // by ArtifactFile::path
};

BackendFacts collect_backend_facts(const std::vector<ArtifactFile>& files) {
  BackendFacts facts;
  std::shared_ptr<const BackendFactory> backend;
  try {
    backend = default_backend_factory();
  } catch (const Error& error) {
    facts.runtime = {{"error", error.what()}};
  }
  for (const ArtifactFile& file : files) {
    if (!looks_like_torchscript(file.path)) continue;
    if (!backend) {
      facts.archives[file.path] = facts.runtime;
      continue;
    }
    try {
      facts.archives[file.path] = backend->archive_fingerprint(file.path);
    } catch (const Error& error) {
      facts.archives[file.path] = {{"error", error.what()}};
    }
  }
  if (backend) {
    try {
      facts.runtime = backend->runtime_fingerprint();
    } catch (const Error& error) {
      facts.runtime = {{"error", error.what()}};
    }
  }
  return facts;
}

json hash_artifacts(const std::vector<ArtifactFile>& files, int hash_threads) {
  std::vector<std::string> paths;
  for (const auto& file : files) paths.push_back(file.path);
  const std::vector<FileDigest> digests = sha256_files(paths, hash_threads);
  json out = json::array();
  for (size_t i = 0; i < files.size(); ++i) {
    std::error_code error;
    const fs::path absolute = fs::absolute(files[i].path, error);
    out.push_back({{"name", files[i].name},
                   {"path", error ? files[i].path : absolute.lexically_normal().string()},
                   {"size_bytes", digests[i].size_bytes},
                   {"sha256", digests[i].sha256}});
  }
  return out;
}

// ---- host ----------------------------------------------------------------------------------

std::string cpuinfo_field(const std::string& cpuinfo, const std::string& key) {
  std::istringstream lines(cpuinfo);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (trim(line.substr(0, colon)) == key) return trim(line.substr(colon + 1));
  }
  return "";
}

// GPU facts straight from the driver (libcuda), so they are known without a CUDA build of
// LibTorch and without CUDA headers; absent when there is no driver.
json collect_gpus() {
  json out = nullptr;
  void* cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (cuda == nullptr) return out;
  using InitFn = int (*)(unsigned);
  using DriverVersionFn = int (*)(int*);
  using CountFn = int (*)(int*);
  using GetFn = int (*)(int*, int);
  using NameFn = int (*)(char*, int, int);
  using AttributeFn = int (*)(int*, int, int);
  auto init = reinterpret_cast<InitFn>(dlsym(cuda, "cuInit"));
  auto driver_version = reinterpret_cast<DriverVersionFn>(dlsym(cuda, "cuDriverGetVersion"));
  auto count = reinterpret_cast<CountFn>(dlsym(cuda, "cuDeviceGetCount"));
  auto get = reinterpret_cast<GetFn>(dlsym(cuda, "cuDeviceGet"));
  auto name = reinterpret_cast<NameFn>(dlsym(cuda, "cuDeviceGetName"));
  auto attribute = reinterpret_cast<AttributeFn>(dlsym(cuda, "cuDeviceGetAttribute"));
  if (!init || !driver_version || !count || !get || !name || !attribute || init(0) != 0) {
    return out;  // the handle stays open: unloading a driver library is never worth the risk
  }
  out = json::object();
  int version = 0;
  if (driver_version(&version) == 0) {
    out["cuda_driver_api"] = std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
  }
  const std::string nvidia = read_text("/proc/driver/nvidia/version", 4096);
  std::smatch match;
  static const std::regex kDriver(R"(Kernel Module\s+(?:for \S+\s+)?([0-9]+\.[0-9.]+))");
  if (std::regex_search(nvidia, match, kDriver)) out["driver"] = match[1].str();
  json devices = json::array();
  int devices_count = 0;
  if (count(&devices_count) == 0) {
    for (int i = 0; i < devices_count; ++i) {
      int device = 0;
      if (get(&device, i) != 0) continue;
      char buffer[256] = {};
      int major = 0, minor = 0;
      name(buffer, sizeof(buffer) - 1, device);
      attribute(&major, 75, device);  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
      attribute(&minor, 76, device);  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
      devices.push_back({{"index", i},
                         {"name", std::string(buffer)},
                         {"capability", std::to_string(major) + "." + std::to_string(minor)}});
    }
  }
  out["devices"] = devices;
  return out;
}

json collect_host() {
  json host;
  const std::string cpuinfo = read_text("/proc/cpuinfo", size_t{4} << 20);
  std::string model = cpuinfo_field(cpuinfo, "model name");
  if (model.empty()) model = cpuinfo_field(cpuinfo, "Model");
  if (model.empty()) model = cpuinfo_field(cpuinfo, "CPU part");
  host["cpu_model"] = model;
  host["cpu_count"] = std::thread::hardware_concurrency();
  std::string flags_text = cpuinfo_field(cpuinfo, "flags");
  if (flags_text.empty()) flags_text = cpuinfo_field(cpuinfo, "Features");
  std::set<std::string> flags;
  std::istringstream flag_words(flags_text);
  for (std::string flag; flag_words >> flag;) flags.insert(flag);
  // The instruction sets that change which kernels oneDNN, MKL and ATen pick.
  json isa = json::object();
  for (const char* flag : {"avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16",
                           "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "sha_ni", "asimd",
                           "sve"}) {
    isa[flag] = flags.count(flag) > 0;
  }
  host["isa"] = isa;

#if defined(__x86_64__) || defined(__i386__)
  const unsigned int mxcsr = _mm_getcsr();
  host["denormals"] = {{"flush_to_zero", (mxcsr & 0x8000u) != 0},
                       {"denormals_are_zero", (mxcsr & 0x0040u) != 0}};
#else
  host["denormals"] = nullptr;
#endif

  struct utsname names {};
  if (uname(&names) == 0) {
    host["arch"] = names.machine;
    host["kernel"] = std::string(names.sysname) + " " + names.release;
    host["hostname"] = names.nodename;
  }
  std::string os;
  std::istringstream os_release(read_text("/etc/os-release", 65536));
  for (std::string line; std::getline(os_release, line);) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) os = trim(line.substr(12));
  }
  host["os"] = os;
  host["glibc"] = gnu_get_libc_version();
  host["gpus"] = collect_gpus();
  return host;
}

// ---- environment variables -----------------------------------------------------------------

bool is_numerics_variable(const std::string& name) {
  static const char* const kExact[] = {
      "NVIDIA_TF32_OVERRIDE", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "CUBLAS_WORKSPACE_CONFIG",
      "CUDA_LAUNCH_BLOCKING", "CUDA_VISIBLE_DEVICES", "CUDA_MODULE_LOADING",
      "ATEN_CPU_CAPABILITY", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
      "TF_ENABLE_ONEDNN_OPTS", "XLA_FLAGS"};
  static const char* const kPrefixes[] = {"OMP_", "MKL_", "KMP_", "GOMP_", "OPENBLAS_",
                                          "PYTORCH_", "TORCH_CUDNN_", "CUBLAS_", "CUBLASLT_",
                                          "CUDNN_", "DNNL_", "ONEDNN_", "NCCL_ALGO"};
  for (const char* exact : kExact) {
    if (name == exact) return true;
  }
  for (const char* prefix : kPrefixes) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

json collect_numerics_env() {
  std::map<std::string, std::string> found;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const size_t equals = text.find('=');
    if (equals == std::string::npos) continue;
    const std::string name = text.substr(0, equals);
    if (is_numerics_variable(name)) found[name] = text.substr(equals + 1);
  }
  return found;
}

// ---- container -----------------------------------------------------------------------------

std::string env_value(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

std::string find_container_id() {
  static const std::regex kId(R"((?:docker|containerd|crio|libpod|cri-containerd)[-/:]([0-9a-f]{64}))");
  static const std::regex kMountId(R"(/containers/([0-9a-f]{64})/)");
  std::smatch match;
  const std::string cgroup = read_text("/proc/self/cgroup", 65536);
  if (std::regex_search(cgroup, match, kId)) return match[1].str();
  // cgroup v2 hides the id; the bind mounts of /etc/hostname and friends still name it.
  const std::string mountinfo = read_text("/proc/self/mountinfo", size_t{1} << 20);
  if (std::regex_search(mountinfo, match, kMountId)) return match[1].str();
  return "";
}

std::string digest_of_reference(const std::string& reference) {
  const size_t at = reference.find("@sha256:");
  return at == std::string::npos ? "" : reference.substr(at + 1);
}

json collect_container(const FingerprintOptions& options) {
  json container;
  std::error_code ignored;
  const bool dockerenv = fs::exists("/.dockerenv", ignored);
  const bool containerenv = fs::exists("/run/.containerenv", ignored);
  const std::string id = find_container_id();
  container["in_container"] = dockerenv || containerenv || !id.empty() ||
                              !env_value("KUBERNETES_SERVICE_HOST").empty();
  container["container_id"] = id.empty() ? json(nullptr) : json(id);

  std::string reference, digest, digest_source;
  for (const char* name : {"REPLAY_IMAGE_REF", "IMAGE_REF", "CONTAINER_IMAGE", "IMAGE_NAME", "IMAGE"}) {
    if (!env_value(name).empty()) {
      reference = env_value(name);
      break;
    }
  }
  json inspect_facts = nullptr;
  if (!options.docker_inspect.empty()) {
    const std::string text = read_text(options.docker_inspect, size_t{16} << 20);
    if (text.empty()) fail_input("env.docker_inspect", options.docker_inspect + ": cannot read");
    json document;
    if (std::optional<JsonProblem> problem = parse_json_checked(text, &document)) {
      fail_input("env.docker_inspect",
                 "not JSON: " + json_problem_place(text, *problem, options.docker_inspect));
    }
    const json& entry = document.is_array() && !document.empty() ? document[0] : document;
    if (!entry.is_object()) {
      fail_input("env.docker_inspect", options.docker_inspect +
                                           ": expected the output of `docker inspect` (an array of objects)");
    }
    inspect_facts = json::object();
    // An image inspect has RepoTags/RepoDigests/Id; a container inspect has Image (the image
    // id) and Config.Image (the reference it was started from).
    const json repo_digests = entry.value("RepoDigests", json::array());
    const json repo_tags = entry.value("RepoTags", json::array());
    inspect_facts["repo_digests"] = repo_digests;
    inspect_facts["repo_tags"] = repo_tags;
    if (entry.contains("Image") && entry["Image"].is_string()) inspect_facts["image_id"] = entry["Image"];
    else if (entry.contains("Id") && entry["Id"].is_string()) inspect_facts["image_id"] = entry["Id"];
    if (reference.empty()) {
      if (entry.contains("Config") && entry["Config"].is_object() &&
          entry["Config"].value("Image", json()).is_string()) {
        reference = entry["Config"]["Image"].get<std::string>();
      } else if (!repo_tags.empty() && repo_tags[0].is_string()) {
        reference = repo_tags[0].get<std::string>();
      }
    }
    if (!repo_digests.empty() && repo_digests[0].is_string()) {
      digest = digest_of_reference(repo_digests[0].get<std::string>());
      digest_source = "docker inspect RepoDigests";
    }
  }
  if (!options.image_digest.empty()) {
    digest = options.image_digest;
    digest_source = "given";
  } else if (digest.empty()) {
    for (const char* name : {"REPLAY_IMAGE_DIGEST", "IMAGE_DIGEST"}) {
      if (!env_value(name).empty()) {
        digest = env_value(name);
        digest_source = std::string("environment ") + name;
        break;
      }
    }
    if (digest.empty() && !digest_of_reference(reference).empty()) {
      digest = digest_of_reference(reference);
      digest_source = "image reference";
    }
  }
  container["image_ref"] = reference.empty() ? json(nullptr) : json(reference);
  container["image_digest"] = digest.empty() ? json(nullptr) : json(digest);
  container["digest_source"] = digest_source.empty() ? json(nullptr) : json(digest_source);
  container["docker_inspect"] = inspect_facts;
  return container;
}

// ---- python packages -----------------------------------------------------------------------

// PEP 503 normalisation: "Scikit_Learn" and "scikit-learn" are one package.
std::string normalise_package(const std::string& name) {
  std::string out;
  for (char c : lower(name)) {
    const bool separator = c == '_' || c == '.' || c == '-';
    if (separator) {
      if (out.empty() || out.back() != '-') out += '-';
    } else {
      out += c;
    }
  }
  return out;
}

json collect_python(const std::string& site_packages) {
  std::error_code error;
  if (!fs::is_directory(site_packages, error)) {
    fail_input("env.python_env", site_packages + ": not a folder (expected a site-packages folder)");
  }
  std::map<std::string, std::string> packages;
  for (const auto& entry : fs::directory_iterator(site_packages, error)) {
    const std::string name = entry.path().filename().string();
    std::string metadata_path;
    if (name.size() > 10 && name.compare(name.size() - 10, 10, ".dist-info") == 0) {
      metadata_path = (entry.path() / "METADATA").string();
    } else if (name.size() > 9 && name.compare(name.size() - 9, 9, ".egg-info") == 0) {
      metadata_path = entry.is_directory(error) ? (entry.path() / "PKG-INFO").string()
                                                : entry.path().string();
    } else {
      continue;
    }
    // The headers come first and end at the first blank line; only Name and Version matter.
    std::istringstream lines(read_text(metadata_path, 65536));
    std::string package, version;
    for (std::string line; std::getline(lines, line) && !trim(line).empty();) {
      if (line.rfind("Name:", 0) == 0) package = trim(line.substr(5));
      if (line.rfind("Version:", 0) == 0) version = trim(line.substr(8));
    }
    if (!package.empty()) packages[normalise_package(package)] = version;
  }
  if (error) fail_input("env.python_env", site_packages + ": " + error.message());
  return {{"site_packages", fs::absolute(site_packages, error).lexically_normal().string()},
          {"packages", packages}};
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm parts{};
  gmtime_r(&now, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buffer;
}

}  // namespace

json collect_fingerprint(const FingerprintOptions& options) {
  json out;
  out["schema"] = "replay.fingerprint";
  out["schema_version"] = kFingerprintSchemaVersion;
  out["replay_version"] = REPLAY_VERSION;
  out["collected_at"] = utc_now();
  const std::vector<ArtifactFile> files = expand_artifacts(options.artifacts);
  // The backend's facts load LibTorch: started first, on their own thread, so hashing starts at
  // once and the load overlaps it.
  std::future<BackendFacts> backend_facts;
  if (options.include_torch_runtime) {
    backend_facts = std::async(std::launch::async, collect_backend_facts, files);
  }
  out["artifacts"] = hash_artifacts(files, options.hash_threads);
  out["runtime"] = nullptr;
  out["host"] = collect_host();
  out["env"] = collect_numerics_env();
  out["container"] = collect_container(options);
  out["python"] = options.python_env.empty() ? json(nullptr) : collect_python(options.python_env);
  if (backend_facts.valid()) {
    BackendFacts facts = backend_facts.get();
    out["runtime"] = std::move(facts.runtime);
    for (size_t i = 0; i < files.size(); ++i) {
      const auto found = facts.archives.find(files[i].path);
      if (found != facts.archives.end()) out["artifacts"][i]["torchscript"] = found->second;
    }
  }
  return out;
}

json fetch_remote_fingerprint(const std::string& base_url, int timeout_ms) {
  TransportOptions options;
  options.timeout_ms = timeout_ms;
  return fetch_remote_fingerprint(base_url, options);
}

json fetch_remote_fingerprint(const std::string& base_url, const TransportOptions& options) {
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const std::string suffix = "/fingerprint";
  if (url.size() < suffix.size() || url.compare(url.size() - suffix.size(), suffix.size(), suffix) != 0) {
    url += suffix;
  }
  // The replay's own transport settings: its credentials (a gateway in front of the model
  // server answers 401 without them), TLS trust and retries; a fingerprint is small.
  TransportOptions remote_options = options;
  remote_options.max_body_bytes = std::min(options.max_body_bytes, size_t{64} << 20);
  auto endpoint = make_transport(url, remote_options);
  TransportRequest request;
  request.method = "GET";
  request.path = endpoint->url_path();
  request.headers.emplace_back("Accept", "application/json");
  const TransportResponse response = endpoint->send(request);
  if (response.status == 404) return nullptr;
  if (response.status != 200) {
    fail_remote("remote.status", "GET " + endpoint->describe() + " answered HTTP " +
                                     std::to_string(response.status));
  }
  json document;
  if (std::optional<JsonProblem> problem = parse_json_checked(response.body, &document)) {
    fail_remote("remote.body", "GET " + endpoint->describe() + " did not answer JSON: " +
                                   json_problem_place(response.body, *problem, "body"));
  }
  if (!document.is_object() || document.value("schema", "") != "replay.fingerprint") {
    fail_remote("remote.body", "GET " + endpoint->describe() +
                                   " answered JSON that is not a replay fingerprint");
  }
  return document;
}

}  // namespace replay
