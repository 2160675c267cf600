// A line-based scan of Python serving code. Models are the names assigned from a loader
// (torch.load, torch.jit.load, from_pretrained, ...) or a constructor into a name that says
// model/net; a model counts as evaluated when `<name>.eval()` (or train(False)) appears
// anywhere in the tree, because loading and serving often live in different files. A call site
// is guarded when an enclosing `with torch.no_grad()/inference_mode()` block or a decorator of
// the enclosing function says so, found by indentation.
#include "harness/scan_serving.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "harness/error.h"

namespace replay {
namespace {

namespace fs = std::filesystem;

struct SourceFile {
  std::string relative;
  std::vector<std::string> lines;
};

std::string trim(const std::string& text) {
  const size_t start = text.find_first_not_of(" \t\r");
  if (start == std::string::npos) return "";
  return text.substr(start, text.find_last_not_of(" \t\r") - start + 1);
}

// Code without its trailing comment (a '#' outside quotes).
std::string strip_comment(const std::string& line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote != 0) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '#') {
      return line.substr(0, i);
    }
  }
  return line;
}

int indentation(const std::string& line) {
  int width = 0;
  for (char c : line) {
    if (c == ' ') ++width;
    else if (c == '\t') width += 8 - width % 8;
    else break;
  }
  return width;
}

bool skipped_folder(const std::string& name) {
  return (!name.empty() && name[0] == '.') || name == "site-packages" || name == "venv" ||
         name == "__pycache__" || name == "node_modules" || name == "dist-packages";
}

std::vector<SourceFile> read_tree(const std::string& folder) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) fail_input("env.scan", folder + ": not a folder");
  std::vector<SourceFile> files;
  fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, error);
  if (error) fail_input("env.scan", folder + ": " + error.message());
  for (const fs::recursive_directory_iterator end; it != end; it.increment(error)) {
    if (error) fail_input("env.scan", folder + ": " + error.message());
    if (it->is_directory(error) && skipped_folder(it->path().filename().string())) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(error) || it->path().extension() != ".py") continue;
    std::ifstream in(it->path());
    SourceFile file;
    file.relative = it->path().lexically_relative(folder).generic_string();
    for (std::string line; std::getline(in, line);) file.lines.push_back(line);
    files.push_back(std::move(file));
  }
  std::sort(files.begin(), files.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.relative < b.relative; });
  return files;
}

std::string bare_name(const std::string& name) {
  return name.rfind("self.", 0) == 0 ? name.substr(5) : name;
}

std::string escape_regex(const std::string& text) {
  static const std::regex kSpecial(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(text, kSpecial, R"(\$&)");
}

const std::regex kLoaderAssignment(
    R"(^\s*((?:self\.)?\w+)\s*(?::[^=]+)?=\s*(?:torch\.jit\.load|torch\.load|torch\.hub\.load|torch\.export\.load|[\w.]*from_pretrained|load_model|jit\.load)\s*\()");
const std::regex kModelNamedAssignment(
    R"(^\s*((?:self\.)?\w*(?:model|net|classifier|encoder|decoder)\w*)\s*(?::[^=]+)?=\s*[\w.]+\s*\()",
    std::regex::icase);
const std::regex kGuardWith(R"(^\s*(?:async\s+)?with\b.*\b(?:no_grad|inference_mode)\s*\()");
const std::regex kGuardDecorator(R"(^\s*@\s*[\w.]*(?:no_grad|inference_mode)\b)");
const std::regex kGlobalGuard(
    R"(\btorch\.set_grad_enabled\s*\(\s*False\s*\)|\btorch\.autograd\.set_grad_enabled\s*\(\s*False)");

struct SettingRule {
  std::regex pattern;
  const char* id;
  const char* message;
};

const std::vector<SettingRule>& setting_rules() {
  static const std::vector<SettingRule> kRules = {
      {std::regex(R"(\btorch\.backends\.cuda\.matmul\.allow_tf32\s*=[^=])"), "serving.tf32",
       "sets TF32 for matmuls: check that it matches training and the evaluation environment"},
      {std::regex(R"(\btorch\.backends\.cudnn\.allow_tf32\s*=[^=])"), "serving.tf32",
       "sets TF32 for cuDNN convolutions: check that it matches training and evaluation"},
      {std::regex(R"(\bset_float32_matmul_precision\s*\()"), "serving.tf32",
       "sets float32 matmul precision (TF32/bfloat16 passes): check that it matches training"},
      {std::regex(R"(NVIDIA_TF32_OVERRIDE|TORCH_ALLOW_TF32_CUBLAS_OVERRIDE)"), "serving.tf32",
       "sets a TF32 override in the environment: check that it matches evaluation"},
      {std::regex(R"(\btorch\.backends\.cudnn\.benchmark\s*=[^=])"), "serving.determinism",
       "sets cuDNN benchmark mode (kernel choice by timing, outputs can vary run to run)"},
      {std::regex(R"(\btorch\.backends\.cudnn\.deterministic\s*=[^=])"), "serving.determinism",
       "sets cuDNN deterministic mode: check that it matches evaluation"},
      {std::regex(R"(\buse_deterministic_algorithms\s*\()"), "serving.determinism",
       "sets deterministic-algorithms mode: check that it matches evaluation"},
      {std::regex(R"(\bset_flush_denormal\s*\()"), "serving.determinism",
       "sets denormal flushing (values below 1e-38 become 0): check that it matches evaluation"},
      {std::regex(R"(CUBLAS_WORKSPACE_CONFIG)"), "serving.determinism",
       "sets the cuBLAS workspace (reduction order): check that it matches evaluation"},
  };
  return kRules;
}

// True when line `index` runs under no_grad/inference_mode: an enclosing `with` block, or a
// decorator on an enclosing function.
bool guarded(const std::vector<std::string>& lines, size_t index) {
  int limit = indentation(lines[index]);
  for (size_t i = index; i-- > 0 && limit > 0;) {
    const std::string code = strip_comment(lines[i]);
    if (trim(code).empty()) continue;
    const int width = indentation(code);
    if (width >= limit) continue;
    limit = width;  // an enclosing block header
    if (std::regex_search(code, kGuardWith)) return true;
    if (std::regex_search(trim(code), std::regex(R"(^(?:async\s+)?def\b)"))) {
      for (size_t j = i; j-- > 0;) {
        const std::string above = trim(strip_comment(lines[j]));
        if (above.empty() || above[0] != '@') break;
        if (std::regex_search(above, kGuardDecorator)) return true;
      }
    }
  }
  return false;
}

}  // namespace

std::vector<ServingFinding> scan_serving(const std::string& folder) {
  const std::vector<SourceFile> files = read_tree(folder);
  std::vector<ServingFinding> findings;

  // Pass 1: model names, and which of them are put in eval mode somewhere in the tree.
  std::map<std::string, std::pair<std::string, int>> models;  // bare name -> where assigned
  std::set<std::string> evaluated;
  std::set<std::string> files_with_global_guard;
  for (const SourceFile& file : files) {
    for (size_t i = 0; i < file.lines.size(); ++i) {
      const std::string code = strip_comment(file.lines[i]);
      std::smatch match;
      if (std::regex_search(code, match, kLoaderAssignment) ||
          std::regex_search(code, match, kModelNamedAssignment)) {
        const std::string name = bare_name(match[1].str());
        models.emplace(name, std::make_pair(file.relative, static_cast<int>(i + 1)));
        // torch.jit.load(path).eval() or MyNet().to(device).eval() on the assignment itself.
        if (std::regex_search(code, std::regex(R"(\.eval\s*\(\s*\))"))) evaluated.insert(name);
      }
      if (std::regex_search(code, kGlobalGuard)) files_with_global_guard.insert(file.relative);
    }
  }
  for (const SourceFile& file : files) {
    for (const std::string& line : file.lines) {
      const std::string code = strip_comment(line);
      for (const auto& [name, where] : models) {
        const std::regex eval_call("(^|[^\\w])" + escape_regex(name) +
                                   R"(\s*\.\s*(?:eval\s*\(\s*\)|train\s*\(\s*(?:False|mode\s*=\s*False)\s*\)))");
        if (std::regex_search(code, eval_call)) evaluated.insert(name);
      }
    }
  }

  // Pass 2: call sites and settings.
  for (const SourceFile& file : files) {
    for (size_t i = 0; i < file.lines.size(); ++i) {
      const std::string code = strip_comment(file.lines[i]);
      if (trim(code).empty()) continue;
      const int line_number = static_cast<int>(i + 1);
      for (const SettingRule& rule : setting_rules()) {
        if (std::regex_search(code, rule.pattern)) {
          findings.push_back({file.relative, line_number, rule.id, rule.message, trim(code), false});
          break;
        }
      }
      if (std::regex_search(trim(code), std::regex(R"(^(?:async\s+)?(?:def|class)\b)"))) continue;
      for (const auto& [name, where] : models) {
        const std::string pattern = "(^|[^\\w.])(?:self\\.)?" + escape_regex(name);
        if (std::regex_search(code, std::regex(pattern + R"(\s*\.\s*train\s*\(\s*(?:True\s*)?\))"))) {
          findings.push_back({file.relative, line_number, "serving.train_call",
                              "puts model '" + name + "' in training mode (batch-norm on batch "
                              "statistics, dropout on): call eval() instead",
                              trim(code), true});
          continue;
        }
        if (!std::regex_search(code, std::regex(pattern + R"(\s*(?:\.\s*forward\s*)?\()"))) {
          continue;
        }
        if (evaluated.count(name) == 0) {
          findings.push_back(
              {file.relative, line_number, "serving.no_eval",
               "runs model '" + name + "' (assigned at " + where.first + ":" +
                   std::to_string(where.second) +
                   ") and eval() is never called on it: batch-norm and dropout run in training "
                   "mode, so outputs depend on the batch and on chance",
               trim(code), true});
        }
        if (files_with_global_guard.count(file.relative) == 0 && !guarded(file.lines, i)) {
          findings.push_back({file.relative, line_number, "serving.no_grad",
                              "runs model '" + name + "' without torch.no_grad() or "
                              "torch.inference_mode() on its path: autograd records every "
                              "operation (memory and latency; outputs unchanged)",
                              trim(code), false});
        }
      }
    }
  }
  std::stable_sort(findings.begin(), findings.end(),
                   [](const ServingFinding& a, const ServingFinding& b) {
                     return a.file != b.file ? a.file < b.file : a.line < b.line;
                   });
  return findings;
}

std::string render_serving_findings(const std::vector<ServingFinding>& findings) {
  std::ostringstream out;
  for (const ServingFinding& finding : findings) {
    out << finding.file << ":" << finding.line << ": [" << finding.id << "] " << finding.message
        << "\n    " << finding.code << "\n";
  }
  return out.str();
}

}  // namespace replay
