#include "store/redis/redis_url.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

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

// "host[:port]" or "[v6][:port]"; a missing port leaves out->port as is.
absl::Status ParseHostPort(absl::string_view hostport, RedisHostPort* out) {
  absl::string_view port_text;
  if (absl::StartsWith(hostport, "[")) {  // [v6]:port
    const size_t close = hostport.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("unclosed '[' in the host");
    }
    out->host = std::string(hostport.substr(1, close - 1));
    absl::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return absl::InvalidArgumentError("junk after ']'");
      port_text = after.substr(1);
      if (port_text.empty()) return absl::InvalidArgumentError("empty port");
    }
  } else {
    const size_t colon = hostport.find(':');
    out->host = std::string(hostport.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty()) return absl::InvalidArgumentError("empty port");
    }
  }
  if (out->host.empty()) return absl::InvalidArgumentError("no host");
  if (!port_text.empty()) {
    int port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("bad port '", port_text, "'"));
    }
    out->port = port;
  }
  return absl::OkStatus();
}

absl::Status ParseDb(absl::string_view text, RedisOptions* out) {
  if (text.empty()) return absl::OkStatus();
  int db = 0;
  if (!absl::SimpleAtoi(text, &db) || db < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad db index '", text, "'"));
  }
  out->db = db;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<RedisHostPort>> ParseSentinelList(std::string_view list_in) {
  const absl::string_view list(list_in.data(), list_in.size());
  std::vector<RedisHostPort> out;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    RedisHostPort hp{"", kDefaultSentinelPort};
    if (absl::Status s = ParseHostPort(absl::StripAsciiWhitespace(part), &hp); !s.ok()) return s;
    out.push_back(std::move(hp));
  }
  if (out.empty()) return absl::InvalidArgumentError("no sentinel address (host[:port],...)");
  return out;
}

absl::StatusOr<RedisOptions> ParseRedisUrl(std::string_view url_in, RedisOptions base) {
  const absl::string_view url(url_in.data(), url_in.size());
  constexpr absl::string_view kScheme = "redis://";
  constexpr absl::string_view kSentinelScheme = "redis-sentinel://";
  const bool sentinel = absl::StartsWith(url, kSentinelScheme);
  if (!sentinel && !absl::StartsWith(url, kScheme)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the URL must start with redis:// or redis-sentinel:// (",
                     absl::StartsWith(url, "rediss://") ? "TLS is not supported"
                                                        : "no other scheme is supported",
                     ")"));
  }
  absl::string_view rest = url.substr(sentinel ? kSentinelScheme.size() : kScheme.size());
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
  if (!sentinel) {
    RedisHostPort hp{"", base.port};
    if (absl::Status s = ParseHostPort(hostport, &hp); !s.ok()) return s;
    base.host = hp.host;
    base.port = hp.port;
    base.sentinels.clear();
    base.master_name.clear();
    if (absl::Status s = ParseDb(path, &base); !s.ok()) return s;
    return base;
  }
  // redis-sentinel://[user:password@]s1[:port],s2[:port],.../master-name[/db]
  auto sentinels = ParseSentinelList(std::string_view(hostport.data(), hostport.size()));
  if (!sentinels.ok()) {
    return absl::InvalidArgumentError(sentinels.status().message());
  }
  const size_t slash = path.find('/');
  const absl::string_view name = path.substr(0, slash);
  if (name.empty()) {
    return absl::InvalidArgumentError(
        "redis-sentinel:// needs the master name: "
        "redis-sentinel://host:port,.../master-name[/db]");
  }
  auto master = PercentDecode(name, "master name");
  if (!master.ok()) return master.status();
  base.sentinels = *std::move(sentinels);
  base.master_name = *master;
  if (slash != absl::string_view::npos) {
    if (absl::Status s = ParseDb(path.substr(slash + 1), &base); !s.ok()) return s;
  }
  return base;
}

}  // namespace mx::store
