// Secrets (harness/redact.h): every occurrence and every cut-off quotation of a registered
// value masked in text and in JSON (values and keys), its JSON- and XML-escaped forms too, URL
// passwords found and masked the way RFC 3986 reads the authority, and concurrent use.
#include "harness/redact.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace replay {
namespace {

TEST(Redact, EveryOccurrenceIsMasked) {
  Redactor redactor;
  redactor.add("Bearer s3cr3t-value");
  EXPECT_EQ(redactor.redact("a Bearer s3cr3t-value b Bearer s3cr3t-value"), "a *** b ***");
  EXPECT_EQ(redactor.redact("nothing here"), "nothing here");
}

TEST(Redact, NothingRegisteredChangesNothing) {
  Redactor redactor;
  EXPECT_TRUE(redactor.empty());
  redactor.add("");  // an empty value hides nothing
  EXPECT_TRUE(redactor.empty());
  EXPECT_EQ(redactor.redact("Bearer s3cr3t"), "Bearer s3cr3t");
}

TEST(Redact, ACutOffSecretAtTheEndOfAQuotationIsMasked) {
  Redactor redactor;
  redactor.add("Bearer s3cr3t-value");
  // nlohmann's "last read" of a body truncated inside the secret.
  EXPECT_EQ(redactor.redact("syntax error; last read: '\"Bearer s3cr3t-va'"),
            "syntax error; last read: '\"***'");
  // A quoter that cuts at N bytes and appends "...".
  EXPECT_EQ(redactor.redact("HTTP 500: {\"auth\": \"Bearer s3c..."),
            "HTTP 500: {\"auth\": \"***...");
  // At the very end of the text.
  EXPECT_EQ(redactor.redact("echo: Bearer s3cr"), "echo: ***");
  // A prefix that goes on with other text is an ordinary word, not a cut.
  EXPECT_EQ(redactor.redact("Bearer s3cX"), "Bearer s3cX");
  // Shorter than 4 characters at a cut: left alone (the secret is longer).
  EXPECT_EQ(redactor.redact("'Bea'"), "'Bea'");
}

TEST(Redact, ShortSecretsAreMaskedWhole) {
  Redactor redactor;
  redactor.add("k9");
  EXPECT_EQ(redactor.redact("key=k9;"), "key=***;");
}

TEST(Redact, OverlappingSecretsGiveOneMask) {
  Redactor redactor;
  redactor.add("abcdef");
  redactor.add("defghi");
  EXPECT_EQ(redactor.redact("xxabcdefghixx"), "xx***xx");
}

TEST(Redact, EscapedFormsAreFound) {
  Redactor redactor;
  redactor.add("p\"w\\d<&>");
  // As json::dump writes it inside a string, and as XML escapes it.
  const std::string dumped = nlohmann::json("p\"w\\d<&>").dump();
  EXPECT_EQ(redactor.redact("value " + dumped), "value \"***\"");
  EXPECT_EQ(redactor.redact("message=\"p&quot;w\\d&lt;&amp;&gt;\""), "message=\"***\"");
}

TEST(Redact, JsonValuesAndKeysAreMasked) {
  Redactor redactor;
  redactor.add("s3cr3t");
  const nlohmann::json in = {
      {"a", "token s3cr3t"}, {"s3cr3t", 1}, {"list", {"x", "s3cr3t", 2}}, {"n", 3.5}};
  const nlohmann::json out = redactor.redact_json(in);
  EXPECT_EQ(out.dump().find("s3cr3t"), std::string::npos) << out.dump();
  EXPECT_EQ(out["a"], "token ***");
  EXPECT_EQ(out["***"], 1);
  EXPECT_EQ(out["list"][1], "***");
  EXPECT_EQ(out["n"], 3.5);
}

TEST(Redact, UrlPasswordsAreFoundByTheLastAtOfTheAuthority) {
  EXPECT_EQ(redact_url("http://alice:hunter2@example.com:8080/predict"),
            "http://alice:***@example.com:8080/predict");
  EXPECT_EQ(redact_url("http://a:p@x@host/"), "http://a:***@host/");
  // A password with an unencoded '/': the authority ends early, the '@' is in the path.
  EXPECT_EQ(redact_url("http://u:pa/ss@host/x"), "http://u:***@host/x");
  // No password, or an '@' that belongs to the path of a valid authority: unchanged.
  EXPECT_EQ(redact_url("http://alice@example.com/"), "http://alice@example.com/");
  EXPECT_EQ(redact_url("http://host:8080/models/m@latest"), "http://host:8080/models/m@latest");
  EXPECT_EQ(redact_url("http://[::1]:8080/a@b"), "http://[::1]:8080/a@b");
  EXPECT_EQ(redact_url("not a url"), "not a url");
}

TEST(Redact, UrlSecretsAreRegisteredAsWrittenAndDecoded) {
  secrets().clear();
  register_url_secrets("https://bob:p%40ss%2Fw0rd@example.com/");
  EXPECT_EQ(redact("raw p%40ss%2Fw0rd decoded p@ss/w0rd"), "raw *** decoded ***");
  secrets().clear();
}

TEST(Redact, ConcurrentAddAndRedact) {
  Redactor redactor;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&redactor, t] {
      for (int i = 0; i < 200; ++i) {
        redactor.add("secret-" + std::to_string(t) + "-" + std::to_string(i));
        const std::string text =
            redactor.redact("x secret-" + std::to_string(t) + "-" + std::to_string(i) + " y");
        EXPECT_EQ(text, "x *** y");
      }
    });
  }
  for (auto& thread : threads) thread.join();
}

}  // namespace
}  // namespace replay
