// Redaction (harness/redaction.h): specs, headers dropped, payload values dropped or hashed in
// place with every other byte kept, HMAC-SHA256 against RFC 4231's test vector, JSON pointer
// patterns, and the check that a preprocessing does not read a redacted field.
#include "harness/redaction.h"

#include <gtest/gtest.h>

#include "harness/error.h"
#include "harness/json_text.h"
#include "harness/pipeline.h"

namespace replay {
namespace {

using nlohmann::json;

RedactionPolicy policy_of(std::initializer_list<const char*> specs, std::string key = "k") {
  RedactionPolicy policy;
  for (const char* spec : specs) add_redaction_spec(spec, &policy);
  policy.hmac_key = std::move(key);
  return policy;
}

Capture capture_with_body(const std::string& body) {
  Capture capture;
  capture.request.body = body;
  return capture;
}

std::string redacted_body(const std::string& body, std::initializer_list<const char*> specs) {
  Capture capture = capture_with_body(body);
  redact_capture(policy_of(specs), &capture);
  return capture.request.body;
}

TEST(Redaction, HmacMatchesRfc4231TestCase2) {
  // RFC 4231 section 4.3: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(redaction_hash("Jefe", "what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Redaction, SpecsAndTheirErrors) {
  RedactionPolicy policy;
  add_redaction_spec("header:X-Customer", &policy);
  add_redaction_spec("header:x-customer", &policy);  // once, whatever the case
  add_redaction_spec("pointer:/instances/*/email", &policy);
  add_redaction_spec("hash:/instances/*/user_id", &policy);
  EXPECT_EQ(policy.headers, std::vector<std::string>{"X-Customer"});
  ASSERT_EQ(policy.pointers.size(), 2u);
  EXPECT_FALSE(policy.pointers[0].hash);
  EXPECT_TRUE(policy.pointers[1].hash);
  for (const char* bad : {"email", "pointer:email", "pointer:", "hash:", "header:", "blur:/a"}) {
    try {
      add_redaction_spec(bad, &policy);
      FAIL() << bad;
    } catch (const Error& error) {
      EXPECT_EQ(error.id(), "usage.redact") << bad;
    }
  }
  // A hash rule needs a key.
  policy.hmac_key.clear();
  EXPECT_THROW(check_redaction_policy(policy), Error);
  policy.hmac_key = "secret";
  EXPECT_NO_THROW(check_redaction_policy(policy));
}

TEST(Redaction, DefaultHeadersAreDroppedFromRequestAndResponse) {
  Capture capture = capture_with_body("{}");
  capture.request.headers = {{"authorization", "Bearer secret"},
                             {"Content-Type", "application/json"},
                             {"Cookie", "s=1"},
                             {"X-API-KEY", "k"},
                             {"Proxy-Authorization", "Basic x"}};
  capture.response = CapturedResponse{};
  capture.response->headers = {{"Set-Cookie", "s=2"}, {"Content-Type", "application/json"}};
  redact_capture(default_redaction_policy(), &capture);
  ASSERT_EQ(capture.request.headers.size(), 1u);
  EXPECT_EQ(capture.request.headers[0].first, "Content-Type");
  ASSERT_EQ(capture.response->headers.size(), 1u);
  EXPECT_EQ(capture.redacted.headers,
            (std::vector<std::string>{"authorization", "Cookie", "X-API-KEY", "Proxy-Authorization",
                                      "Set-Cookie"}));
  EXPECT_TRUE(capture.redacted.pointers.empty());
}

TEST(Redaction, DropKeepsEveryOtherByte) {
  // Number spellings and spacing stay as they were: the body is edited, not re-serialised.
  const std::string body =
      R"({"instances": [{"age": 1.50, "email": "a@b.c", "x": 1e3}, {"email": "d@e.f" , "age":2}]})";
  EXPECT_EQ(redacted_body(body, {"pointer:/instances/*/email"}),
            R"({"instances": [{"age": 1.50, "x": 1e3}, {"age":2}]})");
  // First, last and only members; array elements.
  EXPECT_EQ(redacted_body(R"({"a": 1, "b": 2, "c": 3})", {"pointer:/a"}), R"({"b": 2, "c": 3})");
  EXPECT_EQ(redacted_body(R"({"a": 1, "b": 2, "c": 3})", {"pointer:/c"}), R"({"a": 1, "b": 2})");
  EXPECT_EQ(redacted_body(R"({"a": 1, "b": 2, "c": 3})", {"pointer:/b", "pointer:/c"}),
            R"({"a": 1})");
  EXPECT_EQ(redacted_body(R"({"a": 1, "b": 2, "c": 3})", {"pointer:/*"}), R"({})");
  EXPECT_EQ(redacted_body(R"({"a": [10, 20, 30]})", {"pointer:/a/1"}), R"({"a": [10, 30]})");
  EXPECT_EQ(redacted_body(R"({"only": {"deep": true}})", {"pointer:/only"}), R"({})");
  // Keys with escapes and the pointer's own escapes.
  EXPECT_EQ(redacted_body(R"({"a/b": 1, "q\"k": 2, "z": 3})", {"pointer:/a~1b", "pointer:/q\"k"}),
            R"({"z": 3})");
  // Nothing matched: nothing changed, nothing recorded.
  Capture capture = capture_with_body(R"({"a": 1})");
  redact_capture(policy_of({"pointer:/missing"}), &capture);
  EXPECT_EQ(capture.request.body, R"({"a": 1})");
  EXPECT_TRUE(capture.redacted.pointers.empty());
  // A body that is not JSON is left alone.
  EXPECT_EQ(redacted_body("1,2,3\n", {"pointer:/a"}), "1,2,3\n");
  // The result is JSON.
  EXPECT_TRUE(json::accept(redacted_body(R"({"i": [{"e": 1, "f": {"e": 2}}, {"e": 3}], "e": 4})",
                                         {"pointer:/i/*/e", "pointer:/e"})));
}

TEST(Redaction, HashIsStableAcrossCapturesAndKeyed) {
  const std::string body = R"({"instances": [{"user_id": "u-42", "n": 7}, {"user_id": 42}]})";
  Capture one = capture_with_body(body);
  Capture two = capture_with_body(R"({"instances": [{"user_id": "u-42"}]})");
  const RedactionPolicy policy = policy_of({"hash:/instances/*/user_id"}, "key-1");
  redact_capture(policy, &one);
  redact_capture(policy, &two);
  const json first = json::parse(one.request.body);
  const json second = json::parse(two.request.body);
  EXPECT_EQ(first["instances"][0]["user_id"], redaction_hash("key-1", "u-42"));
  EXPECT_EQ(first["instances"][0]["user_id"], second["instances"][0]["user_id"]);
  EXPECT_EQ(first["instances"][1]["user_id"], redaction_hash("key-1", "42"));
  EXPECT_EQ(first["instances"][0]["n"], 7);
  ASSERT_EQ(one.redacted.pointers.size(), 1u);
  EXPECT_EQ(one.redacted.pointers[0].pattern, "/instances/*/user_id");
  EXPECT_EQ(one.redacted.pointers[0].action, "hash");
  // Another key, another hash.
  Capture three = capture_with_body(R"({"instances": [{"user_id": "u-42"}]})");
  redact_capture(policy_of({"hash:/instances/*/user_id"}, "key-2"), &three);
  EXPECT_NE(json::parse(three.request.body)["instances"][0]["user_id"],
            second["instances"][0]["user_id"]);
}

TEST(Redaction, LoggedPayloadAndResponseEchoesToo) {
  Capture capture = capture_with_body(R"({"email": "a@b.c", "x": 1})");
  capture.logged_payload = json::parse(R"({"email": "a@b.c", "x": 1})");
  capture.response = CapturedResponse{};
  capture.response->body = R"({"prediction": [1], "debug": {"payload": {"email": "a@b.c"}}})";
  redact_capture(policy_of({"pointer:/email"}), &capture);
  EXPECT_EQ(capture.request.body, R"({"x": 1})");
  EXPECT_EQ(*capture.logged_payload, json::parse(R"({"x": 1})"));
  EXPECT_EQ(capture.response->body, R"({"prediction": [1], "debug": {"payload": {}}})");
}

TEST(JsonPointerPattern, TokensAndWildcards) {
  EXPECT_EQ(*json_pointer_tokens("/a~1b/~0c/0"), (std::vector<std::string>{"a/b", "~c", "0"}));
  EXPECT_TRUE(json_pointer_tokens("")->empty());
  EXPECT_FALSE(json_pointer_tokens("a/b").has_value());
  EXPECT_TRUE(json_pointer_matches("/instances/*/email", "/instances/3/email", false));
  EXPECT_FALSE(json_pointer_matches("/instances/*/email", "/instances/3/name", false));
  EXPECT_FALSE(json_pointer_matches("/instances/*/email", "/instances/3/email/x", false));
  EXPECT_TRUE(json_pointer_matches("/instances/*/email", "/instances/3/email/x", true));
  EXPECT_FALSE(json_pointer_matches("/instances/*/email", "/instances", true));
}

// A stand-in for the user's step: reads what its spec says, like the tabular one does.
nlohmann::json churn_spec(bool impute_email) {
  json column = {
      {"field", "email_domain"},
      {"transform",
       {{"type", "onehot"}, {"categories", {"a.com", "b.com"}}, {"handle_unknown", "ignore"}}}};
  if (impute_email) column["impute"] = "a.com";
  return json{{"rows", "/instances"},
              {"columns", {{{"field", "age"}, {"transform", {{"type", "passthrough"}}}}, column}}};
}

TEST(Redaction, PreprocessingThatReadsARedactedFieldIsAnError) {
  const auto preprocessor = make_preprocessor(churn_spec(/*impute_email=*/true));
  // The field was dropped; the imputation would silently fill it in.
  const json payload = json::parse(R"({"instances": [{"age": 30}]})");
  CaptureRedactions redacted;
  redacted.pointers.push_back({"/instances/*/email_domain", "drop"});
  try {
    run_preprocessor_on_redacted(*preprocessor, payload, redacted);
    FAIL() << "the preprocessing reads the dropped field";
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "preprocess.redacted");
    EXPECT_NE(error.message().find("/instances/*/email_domain: dropped"), std::string::npos);
  }
  // Hashed: one-hot with handle_unknown=ignore would give zeros, silently.
  const json hashed =
      json::parse(R"({"instances": [{"age": 30, "email_domain": "hmac-sha256:00"}]})");
  CaptureRedactions hash;
  hash.pointers.push_back({"/instances/*/email_domain", "hash"});
  EXPECT_THROW(run_preprocessor_on_redacted(*preprocessor, hashed, hash), Error);
}

TEST(Redaction, PreprocessingThatIgnoresARedactedFieldRuns) {
  const auto preprocessor = make_preprocessor(churn_spec(true));
  const json payload = json::parse(
      R"({"instances": [{"age": 30, "email_domain": "b.com"}, {"age": 31, "email_domain": "a.com"}]})");
  CaptureRedactions redacted;
  redacted.pointers.push_back({"/instances/*/email", "drop"});  // not a column
  const auto tensors = run_preprocessor_on_redacted(*preprocessor, payload, redacted);
  ASSERT_EQ(tensors.size(), 1u);
  EXPECT_EQ(tensors[0].to_doubles(), (std::vector<double>{30, 0, 1, 31, 1, 0}));
  // Without redactions it is the preprocessor itself, errors included.
  EXPECT_EQ(run_preprocessor_on_redacted(*preprocessor, payload, {})[0].to_doubles(),
            tensors[0].to_doubles());
  try {
    run_preprocessor_on_redacted(*preprocessor, json::parse(R"({"instances": [{}]})"), redacted);
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "preprocess.missing_field");
  }
}

}  // namespace
}  // namespace replay
