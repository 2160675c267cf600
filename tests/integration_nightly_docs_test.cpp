// Integration: the commands in docs/k8s-nightly-job.yaml and docs/nightly-workflow.yml are real.
// Every `replay` and `replay merge` command line is extracted (backslash continuations joined),
// each of its flags must be one `replay --help` (or `replay merge --help`) lists, and the command
// itself is run with the environment those files give it (JOB_COMPLETION_INDEX, the matrix
// index, the secrets) and its absolute paths moved under a scratch directory: it must get past
// argument parsing and fail only on the missing captures or results file, never on usage.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "support/process.h"

namespace replay::testing {
namespace {

// Logical lines (continuations joined) that invoke replay.
std::vector<std::string> replay_commands(const std::string& text) {
  std::vector<std::string> commands;
  std::istringstream in(text);
  std::string line, joined;
  static const std::regex invocation(R"((^|\s)(\S*/)?replay( merge)?\s+--?\w|(^|\s)(\S*/)?replay merge\s)");
  while (std::getline(in, line)) {
    const bool continues = !line.empty() && line.back() == '\\';
    joined += continues ? line.substr(0, line.size() - 1) + " " : line;
    if (continues) continue;
    if (std::regex_search(joined, invocation) && joined.find('#') != joined.find_first_not_of(" \t")) {
      commands.push_back(joined);
    }
    joined.clear();
  }
  return commands;
}

// Splits a shell command: quotes removed, stops at `||`, `&&`, `;` or a comment.
std::vector<std::string> shell_words(const std::string& command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (quote) {
      if (c == quote) quote = 0;
      else word += c;
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
      continue;
    }
    if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
      continue;
    }
    if (!in_word && (c == '|' || c == '&' || c == ';' || c == '#')) break;
    word += c;
    in_word = true;
  }
  if (in_word) words.push_back(word);
  return words;
}

void check_doc(const std::string& relative) {
  const std::string text = read_file(source_path(relative));
  ASSERT_FALSE(text.empty()) << relative;
  const std::vector<std::string> commands = replay_commands(text);
  ASSERT_GE(commands.size(), 2u) << relative << ": a shard command and a merge command";
  const std::string help = run_process({replay_binary(), "--help"}).out;
  const std::string merge_help = run_process({replay_binary(), "merge", "--help"}).out;
  ASSERT_NE(help.find("--shard"), std::string::npos);
  bool sharded = false, merged = false;
  for (const std::string& command : commands) {
    // The environment the docs give the command.
    std::string substituted = command;
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{{"$JOB_COMPLETION_INDEX", "3"},
                                                          {"${{ matrix.shard }}", "3"},
                                                          {"$PREDICT_URL", "http://127.0.0.1:9/predict"}}) {
      for (size_t at; (at = substituted.find(from)) != std::string::npos;) {
        substituted.replace(at, from.size(), to);
      }
    }
    std::vector<std::string> words = shell_words(substituted);
    const auto start = std::find_if(words.begin(), words.end(), [](const std::string& w) {
      return w == "replay" || (w.size() > 7 && w.compare(w.size() - 7, 7, "/replay") == 0);
    });
    ASSERT_NE(start, words.end()) << command;
    words.erase(words.begin(), start + 1);
    const bool merge = !words.empty() && words[0] == "merge";
    merged |= merge;
    TempDir scratch;
    std::vector<std::string> argv = {replay_binary()};
    for (std::string word : words) {
      if (word.rfind("--", 0) == 0) {
        const std::string flag = word.substr(0, word.find('='));
        const std::regex listed("(^|[\\s,])" + flag + "([\\s,=]|$)");
        EXPECT_TRUE(std::regex_search(merge ? merge_help : help, listed))
            << relative << ": " << flag << " is not a flag of replay" << (merge ? " merge" : "");
        if (flag == "--shard") sharded = true;
      }
      ASSERT_EQ(word.find('$'), std::string::npos) << relative << ": an unknown variable in " << word;
      // Files under a scratch directory: absolute paths moved there, relative ones made so.
      const size_t colon = word.find(':');
      const bool report = word.rfind("json:", 0) == 0 || word.rfind("md:", 0) == 0 ||
                          word.rfind("html:", 0) == 0 || word.rfind("junit:", 0) == 0;
      if (report) {
        word = word.substr(0, colon + 1) + scratch.path() + "/" + word.substr(colon + 1);
      } else if (word.rfind("/", 0) == 0) {
        word = scratch.path() + word;
      } else if (word.rfind("--", 0) != 0 && word.find("://") == std::string::npos &&
                 word.find('=') == std::string::npos && word != "merge" &&
                 word.find('/') != std::string::npos && word.find(".") != std::string::npos) {
        word = scratch.path() + "/" + word;
      } else if (word.find(".jsonl") != std::string::npos || word.find(".json") != std::string::npos ||
                 word.find(".pt") != std::string::npos) {
        word = scratch.path() + "/" + word;
      }
      argv.push_back(word);
    }
    RunResult run = run_process(argv, 30000, {"PREDICT_TOKEN=Bearer test-token"});
    EXPECT_EQ(run.err.find("[replay.usage"), std::string::npos) << relative << ": " << command << "\n" << run.err;
    EXPECT_EQ(run.exit_code, 2) << relative << ": " << command << "\n" << run.err;
    // The first missing input stops it: the config or the captures (a run), a results file (merge).
    static const std::regex run_input(R"(\[replay\.(config|capture)\.read\])");
    static const std::regex merge_input(R"(\[replay\.results\.read\])");
    EXPECT_TRUE(std::regex_search(run.err, merge ? merge_input : run_input))
        << relative << ": " << command << "\n" << run.err;
  }
  EXPECT_TRUE(sharded) << relative << " uses no --shard";
  EXPECT_TRUE(merged) << relative << " has no replay merge";
}

TEST(NightlyDocs, KubernetesIndexedJobCommandsParse) {
  check_doc("docs/k8s-nightly-job.yaml");
  const std::string text = read_file(source_path("docs/k8s-nightly-job.yaml"));
  EXPECT_NE(text.find("completionMode: Indexed"), std::string::npos);
  EXPECT_NE(text.find("--shard \"$JOB_COMPLETION_INDEX/8\""), std::string::npos);
  EXPECT_NE(text.find("completions: 8"), std::string::npos);
}

TEST(NightlyDocs, CiWorkflowCommandsParse) {
  check_doc("docs/nightly-workflow.yml");
  const std::string text = read_file(source_path("docs/nightly-workflow.yml"));
  EXPECT_NE(text.find("schedule:"), std::string::npos);
  EXPECT_NE(text.find("shard: [0, 1, 2, 3, 4, 5, 6, 7]"), std::string::npos);
  EXPECT_NE(text.find(">> \"$GITHUB_STEP_SUMMARY\""), std::string::npos);
}

}  // namespace
}  // namespace replay::testing
