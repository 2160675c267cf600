// multipart/form-data bodies (adapters/protocols/multipart.h): parts by name as curl -F sends
// them, file names and content types, quoted boundaries, preambles, binary content holding
// CRLF and dashes, parts without headers, and every malformed body refused with what is wrong.
#include "protocols/multipart.h"

#include <gtest/gtest.h>

#include "harness/error.h"

namespace replay {
namespace {

std::string error_of(const std::string& body, const std::string& content_type) {
  try {
    parse_multipart_form(body, content_type, "cap.json: request body", "capture.payload");
  } catch (const Error& error) {
    EXPECT_EQ(error.id(), "capture.payload.parse");
    return error.what();
  }
  return "";
}

TEST(Multipart, CurlFormUpload) {
  const std::string binary("\xff\xd8\r\n--not-the-boundary\r\n\x00\x01", 24);
  const std::string body =
      "--b1\r\nContent-Disposition: form-data; name=\"data\"; "
      "filename=\"kitten.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" +
      binary +
      "\r\n--b1\r\ncontent-disposition: form-data; name=text\r\n\r\n"
      "hello\r\n--b1--\r\n";
  const auto parts = parse_multipart_form(body, "multipart/form-data; boundary=b1", "w", "a");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "data");
  EXPECT_EQ(parts[0].filename, "kitten.jpg");
  EXPECT_EQ(parts[0].content_type, "image/jpeg");
  EXPECT_EQ(parts[0].body, binary);
  EXPECT_EQ(parts[1].name, "text");
  EXPECT_EQ(parts[1].body, "hello");
}

TEST(Multipart, QuotedBoundaryPreambleAndEmptyHeaders) {
  const std::string body =
      "preamble\r\n--a;b\r\nContent-Disposition: form-data; name=\"x;y\"\r\n\r\n"
      "1\r\n--a;b  \r\nContent-Disposition: form-data; name=\"z\"\r\n\r\n"
      "\r\n--a;b--";
  const auto parts =
      parse_multipart_form(body, "Multipart/Form-Data; boundary=\"a;b\"; charset=x", "w", "a");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "x;y");
  EXPECT_EQ(parts[0].body, "1");
  EXPECT_EQ(parts[1].name, "z");
  EXPECT_EQ(parts[1].body, "");
  EXPECT_TRUE(is_multipart_form(" multipart/form-data; boundary=q"));
  EXPECT_FALSE(is_multipart_form("multipart/mixed; boundary=q"));
}

TEST(Multipart, MalformedBodiesSayWhat) {
  const std::string type = "multipart/form-data; boundary=B";
  EXPECT_NE(error_of("x", "multipart/form-data").find("names no boundary"), std::string::npos);
  EXPECT_NE(error_of("no delimiter here", type).find("no delimiter line --B"), std::string::npos);
  EXPECT_NE(error_of("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ndata", type)
                .find("no closing delimiter --B--"),
            std::string::npos);
  EXPECT_NE(error_of("--B\r\nContent-Type: text/plain\r\n\r\nv\r\n--B--", type)
                .find("part 1 has no Content-Disposition form-data name"),
            std::string::npos);
  EXPECT_NE(error_of("--Bjunk\r\n", type).find("not followed by a line break"), std::string::npos);
  EXPECT_NE(error_of("--B\r\nContent-Disposition: form-data; name=a\r\n--B--", type)
                .find("headers do not end with a blank line"),
            std::string::npos);
  EXPECT_NE(error_of("--B--", type).find("no part"), std::string::npos);
  // Truncated anywhere: an error, never a read past the end.
  const std::string whole = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--B--";
  for (size_t cut = 0; cut + 2 < whole.size(); ++cut) {
    EXPECT_FALSE(error_of(whole.substr(0, cut), type).empty()) << cut;
  }
}

}  // namespace
}  // namespace replay
