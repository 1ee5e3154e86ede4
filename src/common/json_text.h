// Small helpers for writing JSON text by hand where byte-exact output
// matters (the canonical identity) or where a full JSON library is overkill.
#ifndef MX_COMMON_JSON_TEXT_H_
#define MX_COMMON_JSON_TEXT_H_

#include <string>
#include <string_view>

namespace mx {

// Appends `s` as a quoted JSON string: escapes `"`, `\` and control
// characters (short forms where JSON has them, else \u00xx); every other
// byte, UTF-8 included, is written as is.
void AppendJsonString(std::string_view s, std::string* out);

// ASCII-only lowercase copy.
std::string AsciiLower(std::string_view s);

}  // namespace mx

#endif  // MX_COMMON_JSON_TEXT_H_
