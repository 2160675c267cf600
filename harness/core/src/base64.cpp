#include "harness/base64.h"

#include <array>
#include <cstdint>

namespace replay {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_decode_table() {
  std::array<int8_t, 256> table{};
  for (auto& entry : table) entry = -1;
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return table;
}
constexpr std::array<int8_t, 256> kDecode = make_decode_table();

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                       uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t quantum = 0;
  int held = 0;     // sextets in `quantum`
  int padding = 0;  // '=' seen
  for (char c : text) {
    if (is_space(c)) continue;
    if (c == '=') {
      if (held < 2 || ++padding > 2) return std::nullopt;
      continue;
    }
    if (padding > 0) return std::nullopt;  // data after padding
    const int8_t value = kDecode[static_cast<unsigned char>(c)];
    if (value < 0) return std::nullopt;
    quantum = (quantum << 6) | static_cast<uint32_t>(value);
    if (++held == 4) {
      out += static_cast<char>((quantum >> 16) & 0xff);
      out += static_cast<char>((quantum >> 8) & 0xff);
      out += static_cast<char>(quantum & 0xff);
      quantum = 0;
      held = 0;
    }
  }
  if (held == 0) return padding == 0 ? std::optional<std::string>(out) : std::nullopt;
  if (held + padding != 4) return std::nullopt;
  if (held == 2) {
    if ((quantum & 0xf) != 0) return std::nullopt;  // non-canonical trailing bits
    out += static_cast<char>((quantum >> 4) & 0xff);
  } else {  // held == 3
    if ((quantum & 0x3) != 0) return std::nullopt;
    out += static_cast<char>((quantum >> 10) & 0xff);
    out += static_cast<char>((quantum >> 2) & 0xff);
  }
  return out;
}

}  // namespace replay
