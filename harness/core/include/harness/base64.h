#pragma once
/// Base64 (RFC 4648, standard alphabet, padded) for binary bodies in captures and the `b64`
/// values of TF Serving's REST API.

#include <optional>
#include <string>
#include <string_view>

namespace replay {

std::string base64_encode(std::string_view bytes);
/// The decoded bytes, or nullopt when `text` is not padded standard base64. ASCII whitespace
/// (line breaks of MIME-wrapped text) is skipped.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace replay
