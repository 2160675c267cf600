#pragma once
/// multipart/form-data bodies (RFC 7578), as `curl -F "data=@kitten.jpg"` sends them to
/// TorchServe: the parts, by form field name, byte for byte. Never reads past the body.

#include <string>
#include <vector>

namespace replay {

struct FormPart {
  std::string name;          ///< the form field name (Content-Disposition name="...")
  std::string filename;      ///< the file name, when the part is a file upload
  std::string content_type;  ///< the part's Content-Type, if any
  std::string body;          ///< its bytes
};

/// True when `content_type` is multipart/form-data (any case, any parameters).
bool is_multipart_form(const std::string& content_type);

/// The parts of a multipart/form-data body; `content_type` carries the boundary. Throws Error
/// kInput "<area>.parse" naming `where` when the body is not well formed (no boundary, no
/// closing delimiter, a part without Content-Disposition or a name).
std::vector<FormPart> parse_multipart_form(const std::string& body, const std::string& content_type,
                                           const std::string& where, const std::string& area);

}  // namespace replay
