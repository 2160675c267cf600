// Base64 (harness/base64.h): the test vectors of RFC 4648 section 10, round trips of every byte
// value, and the malformed inputs a capture or a TF Serving body can hold.
#include "harness/base64.h"

#include <gtest/gtest.h>

namespace replay {
namespace {

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), std::optional<std::string>(plain));
  }
}

TEST(Base64, EveryByteRoundTrips) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (size_t length = 0; length <= bytes.size(); length += 37) {
    const std::string part = bytes.substr(0, length);
    EXPECT_EQ(base64_decode(base64_encode(part)), std::optional<std::string>(part));
  }
}

TEST(Base64, WhitespaceIsSkipped) {
  EXPECT_EQ(base64_decode("Zm9v\r\nYmFy\n"), std::optional<std::string>("foobar"));
}

TEST(Base64, MalformedIsRefused) {
  for (const char* bad : {"Zm9", "Zg=", "Z===", "Zm9v=", "Zg==Zg==", "Zm*v", "Zh==", "Zm9=x"}) {
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace replay
