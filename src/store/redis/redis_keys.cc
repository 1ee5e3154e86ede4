#include "store/redis/redis_keys.h"

#include "absl/strings/str_cat.h"
#include "common/hex.h"

namespace mx::store::redis {
namespace {

bool IsPlain(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

// Lowercase is never produced, so never accepted.
int HexValue(char c) { return HexDigitValue(c, HexCase::kUpper); }

}  // namespace

std::string EscapeId(absl::string_view id) {
  std::string out;
  out.reserve(id.size());
  for (unsigned char c : id) {
    if (IsPlain(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      AppendHexByte(c, HexCase::kUpper, &out);
    }
  }
  return out;
}

std::optional<std::string> UnescapeId(absl::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    const unsigned char c = escaped[i];
    if (IsPlain(c)) {
      out.push_back(static_cast<char>(c));
      continue;
    }
    if (c != '%' || i + 2 >= escaped.size()) return std::nullopt;
    const int hi = HexValue(escaped[i + 1]);
    const int lo = HexValue(escaped[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const char decoded = static_cast<char>(hi << 4 | lo);
    if (IsPlain(static_cast<unsigned char>(decoded))) return std::nullopt;  // not canonical
    out.push_back(decoded);
    i += 2;
  }
  return out;
}

absl::Status ValidateKeyPrefix(absl::string_view prefix) {
  if (prefix.empty() || prefix.size() > 64) {
    return absl::InvalidArgumentError("redis key prefix must be 1 to 64 characters");
  }
  for (unsigned char c : prefix) {
    if (!IsPlain(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "redis key prefix '", prefix, "' may only use letters, digits, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace mx::store::redis
