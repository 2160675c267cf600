// Integration: the HTML report as a browser shows it. A real run (the fixture server with a
// category skew, against a baseline) writes --report html: and --report json:; headless Chromium
// (Debian's `chromium`) loads the HTML from a file:// URL with no network and dumps the DOM it
// rendered; the verdict, the counts, the stage, tensor, feature-column, latency and baseline
// tables, and the links from each failing capture to its details are checked against the JSON
// report of the same run. Skipped only when chromium is absent and CI is unset: in CI it runs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace replay::testing {
namespace {

using nlohmann::json;

std::string find_chromium() {
  for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

std::string strip_tags(const std::string& html) {
  std::string out;
  bool in_tag = false;
  for (char c : html) {
    if (c == '<') in_tag = true;
    else if (c == '>') in_tag = false;
    else if (!in_tag) out += c;
  }
  return out;
}

// The text of each cell of each row of <table id="ID"> (the header row included).
std::vector<std::vector<std::string>> table_rows(const std::string& dom, const std::string& id) {
  std::vector<std::vector<std::string>> rows;
  const size_t start = dom.find("<table id=\"" + id + "\"");
  if (start == std::string::npos) return rows;
  const size_t end = dom.find("</table>", start);
  const std::string table = dom.substr(start, end - start);
  static const std::regex row_re("<tr>(.*?)</tr>");
  static const std::regex cell_re("<t[dh][^>]*>(.*?)</t[dh]>");
  for (auto row = std::sregex_iterator(table.begin(), table.end(), row_re); row != std::sregex_iterator(); ++row) {
    const std::string inner = (*row)[1];
    std::vector<std::string> cells;
    for (auto cell = std::sregex_iterator(inner.begin(), inner.end(), cell_re); cell != std::sregex_iterator(); ++cell) {
      cells.push_back(strip_tags((*cell)[1]));
    }
    rows.push_back(cells);
  }
  return rows;
}

std::string make_captures(int count, const std::function<bool(int)>& unknown_country) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    json rows = json::array();
    const char* countries[] = {"DE", "FR", "US", "GB"};
    rows.push_back({{"age", 20 + i % 50}, {"income", 1000.0 * (i % 90)}, {"amount", 12345.5 * i},
                    {"country", unknown_country(i) ? "XX" : countries[i % 4]},
                    {"device", i % 2 ? "ios" : "web"}, {"tenure_months", i % 100}});
    json capture = {{"id", "cap-" + std::to_string(i)},
                    {"request", {{"method", "POST"}, {"path", "/predict"},
                                 {"headers", {{"Content-Type", "application/json"}}},
                                 {"body", json{{"instances", rows}}.dump()}}}};
    out += capture.dump() + "\n";
  }
  return out;
}

TEST(HtmlReportInChromium, ShowsTheVerdictCountsTablesAndLinks) {
  REPLAY_REQUIRE_TORCH();
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    const char* ci = std::getenv("CI");
    if (ci == nullptr || *ci == '\0') GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
    FAIL() << "CI is set and chromium is not installed: scripts/setup.sh installs it";
  }
  FixtureServer server = start_fixture_server({"--model", fixture_path("tabular_mlp.pt"), "--config",
                                               fixture_path("tabular.json"), "--skew", "unknown-category"});
  ASSERT_GT(server.port, 0);
  TempDir dir;
  const std::string last = dir.write("last.jsonl", make_captures(30, [](int i) { return i % 6 == 0; }));
  const std::string tonight = dir.write("tonight.jsonl", make_captures(30, [](int i) { return i % 6 == 0 || i == 7; }));
  std::vector<std::string> common = {"--local", fixture_path("tabular_mlp.pt"), "--remote",
                                     server.url() + "/predict", "--config", fixture_path("tabular.json")};
  std::vector<std::string> base = {replay_binary(), "--capture", last, "--results", dir.file("base.jsonl")};
  base.insert(base.end(), common.begin(), common.end());
  ASSERT_EQ(run_process(base).exit_code, 1);
  std::vector<std::string> argv = {replay_binary(), "--capture", tonight, "--baseline", dir.file("base.jsonl"),
                                   "--report", "html:" + dir.file("r.html"), "--report", "json:" + dir.file("r.json")};
  argv.insert(argv.end(), common.begin(), common.end());
  RunResult run = run_process(argv);
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  const json report = json::parse(read_file(dir.file("r.json")));
  const std::string html = read_file(dir.file("r.html"));
  // Self-contained: nothing is fetched.
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);

  RunResult dumped = run_process({chromium, "--headless", "--disable-gpu", "--no-sandbox",
                                  "--no-first-run", "--user-data-dir=" + dir.file("profile"),
                                  "--virtual-time-budget=3000", "--dump-dom",
                                  "file://" + dir.file("r.html")},
                                 90000, {"HOME=" + dir.path()});
  ASSERT_EQ(dumped.exit_code, 0) << dumped.err;
  const std::string& dom = dumped.out;
  ASSERT_NE(dom.find("</html>"), std::string::npos) << dumped.err.substr(0, 2000);

  // The verdict and the counts.
  EXPECT_NE(dom.find("id=\"verdict\">diverged</span>"), std::string::npos);
  const size_t summary = dom.find("id=\"summary\"");
  ASSERT_NE(summary, std::string::npos);
  const std::string summary_text = strip_tags(dom.substr(summary, dom.find("</p>", summary) - summary));
  EXPECT_NE(summary_text.find("30 captures"), std::string::npos) << summary_text;
  EXPECT_NE(summary_text.find(std::to_string(report["summary"]["equivalent"].get<int>()) + " equivalent"),
            std::string::npos) << summary_text;
  EXPECT_NE(summary_text.find("6 diverged"), std::string::npos) << summary_text;
  EXPECT_NE(summary_text.find("Exit code 1"), std::string::npos) << summary_text;

  // Stages: the same counts as the JSON report.
  const auto stages = table_rows(dom, "stages");
  ASSERT_EQ(stages.size(), 1 + report["stages"].size());
  for (size_t i = 0; i < report["stages"].size(); ++i) {
    const json& s = report["stages"][i];
    EXPECT_EQ(stages[i + 1][0], s["stage"].get<std::string>());
    EXPECT_EQ(stages[i + 1][1], std::to_string(s["equal"].get<int>()));
    EXPECT_EQ(stages[i + 1][3], std::to_string(s["diverged"].get<int>()));
    EXPECT_EQ(stages[i + 1][5], std::to_string(s["first_divergence"].get<int>()));
  }
  // The divergent tensor, the inline SVG charts.
  const auto tensors = table_rows(dom, "tensors");
  ASSERT_GE(tensors.size(), 2u);
  EXPECT_EQ(tensors[1][0], "features/features");
  EXPECT_EQ(tensors[1][1], "6");
  EXPECT_NE(dom.find("<svg"), std::string::npos);
  // Feature columns: the one-hot column that differs, with its category skew (L-infinity).
  bool country_shown = false;
  for (const auto& row : table_rows(dom, "columns")) {
    if (row.size() < 8 || row[0].rfind("country", 0) != 0) continue;
    country_shown = true;
    EXPECT_FALSE(row[7].empty()) << "no L-infinity distance for " << row[0];
  }
  EXPECT_TRUE(country_shown);
  // Latency percentiles for both sides.
  const auto latency = table_rows(dom, "latency");
  ASSERT_EQ(latency.size(), 3u);
  EXPECT_EQ(latency[1][0], "local");
  EXPECT_EQ(latency[2][0], "remote");
  // Against the baseline: cap-7 is new, the five others known.
  const auto baseline = table_rows(dom, "baseline");
  ASSERT_EQ(baseline.size(), 4u);
  EXPECT_EQ(baseline[1][0], "new");
  EXPECT_EQ(baseline[1][1], "1");
  EXPECT_EQ(baseline[1][2], "cap-7");
  EXPECT_EQ(baseline[2][0], "known");
  EXPECT_EQ(baseline[2][1], "5");
  // Every failing capture links to a section that exists.
  const size_t failing = dom.find("id=\"failing\"");
  ASSERT_NE(failing, std::string::npos);
  const std::string list = dom.substr(failing, dom.find("</ul>", failing) - failing);
  static const std::regex link_re("href=\"#([^\"]+)\"");
  std::set<std::string> targets;
  for (auto link = std::sregex_iterator(list.begin(), list.end(), link_re); link != std::sregex_iterator(); ++link) {
    targets.insert((*link)[1]);
  }
  EXPECT_EQ(targets.size(), 6u);
  for (const std::string& target : targets) {
    EXPECT_NE(dom.find("id=\"" + target + "\""), std::string::npos) << target;
  }
}

}  // namespace
}  // namespace replay::testing
