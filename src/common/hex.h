// Hexadecimal text: the one encoder behind source ids, script digests,
// JSON \u escapes and percent-encoding.
#ifndef MX_COMMON_HEX_H_
#define MX_COMMON_HEX_H_

#include <string>
#include <string_view>

namespace mx {

enum class HexCase { kLower, kUpper };

// Appends the two hex digits of `byte`.
void AppendHexByte(unsigned char byte, HexCase hex_case, std::string* out);

// Every byte of `bytes` as two hex digits.
std::string ToHex(std::string_view bytes, HexCase hex_case = HexCase::kLower);

// 0-15 for a hex digit of `hex_case`, -1 for anything else (the other case
// included, so a decoder accepts only what the matching encoder writes).
int HexDigitValue(char c, HexCase hex_case);

}  // namespace mx

#endif  // MX_COMMON_HEX_H_
