#include "store/redis/redis_url.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mx::store {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view in, absl::string_view what) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    const int hi = i + 2 < in.size() ? HexDigit(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? HexDigit(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad %-escape in the ", what));
    }
    out.push_back(static_cast<char>(hi << 4 | lo));
    i += 2;
  }
  return out;
}

}  // namespace

absl::StatusOr<RedisOptions> ParseRedisUrl(std::string_view url_in, RedisOptions base) {
  const absl::string_view url(url_in.data(), url_in.size());
  constexpr absl::string_view kScheme = "redis://";
  if (!absl::StartsWith(url, kScheme)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the URL must start with redis:// (",
                     absl::StartsWith(url, "rediss://") ? "TLS is not supported"
                                                        : "no other scheme is supported",
                     ")"));
  }
  absl::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != absl::string_view::npos) {
    return absl::InvalidArgumentError("query strings and fragments are not supported");
  }
  // Credentials end at the last '@', so an unescaped '@' in a password still parses.
  if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    const absl::string_view userinfo = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    const size_t colon = userinfo.find(':');
    auto user = PercentDecode(userinfo.substr(0, colon), "user name");
    if (!user.ok()) return user.status();
    base.username = *user;
    base.password.clear();
    if (colon != absl::string_view::npos) {
      auto password = PercentDecode(userinfo.substr(colon + 1), "password");
      if (!password.ok()) return password.status();
      base.password = *password;
    }
  }
  absl::string_view hostport = rest;
  absl::string_view path;
  if (const size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    hostport = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  absl::string_view port_text;
  if (absl::StartsWith(hostport, "[")) {  // [v6]:port
    const size_t close = hostport.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("unclosed '[' in the host");
    }
    base.host = std::string(hostport.substr(1, close - 1));
    absl::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return absl::InvalidArgumentError("junk after ']'");
      port_text = after.substr(1);
      if (port_text.empty()) return absl::InvalidArgumentError("empty port");
    }
  } else {
    const size_t colon = hostport.find(':');
    base.host = std::string(hostport.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty()) return absl::InvalidArgumentError("empty port");
    }
  }
  if (base.host.empty()) return absl::InvalidArgumentError("no host");
  if (!port_text.empty()) {
    int port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("bad port '", port_text, "'"));
    }
    base.port = port;
  }
  if (!path.empty()) {
    int db = 0;
    if (!absl::SimpleAtoi(path, &db) || db < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad db index '", path, "'"));
    }
    base.db = db;
  }
  return base;
}

}  // namespace mx::store
