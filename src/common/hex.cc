#include "common/hex.h"

namespace mx {
namespace {

const char* Digits(HexCase hex_case) {
  return hex_case == HexCase::kLower ? "0123456789abcdef" : "0123456789ABCDEF";
}

}  // namespace

void AppendHexByte(unsigned char byte, HexCase hex_case, std::string* out) {
  const char* digits = Digits(hex_case);
  out->push_back(digits[byte >> 4]);
  out->push_back(digits[byte & 0xf]);
}

std::string ToHex(std::string_view bytes, HexCase hex_case) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) AppendHexByte(b, hex_case, &out);
  return out;
}

int HexDigitValue(char c, HexCase hex_case) {
  if (c >= '0' && c <= '9') return c - '0';
  const char first = hex_case == HexCase::kLower ? 'a' : 'A';
  if (c >= first && c < first + 6) return c - first + 10;
  return -1;
}

}  // namespace mx
