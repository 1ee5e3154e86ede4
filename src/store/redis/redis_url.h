// REDIS_URL parsing into options: redis://[user:password@]host[:port][/db]
// for one server, redis-sentinel://[user:password@]s1[:port],s2[:port],.../
// master-name[/db] for a primary found through Sentinel.
#ifndef MX_STORE_REDIS_REDIS_URL_H_
#define MX_STORE_REDIS_REDIS_URL_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "store/redis/redis_options.h"

namespace mx::store {

// Returns `base` with host, port, db, username and password taken from the
// URL. Parts the URL leaves out keep base's values (no port: base.port; no
// "/db": base.db; no credentials: base's). User and password are
// percent-decoded; "redis://:secret@h" is a password without a user, and
// "redis://name@h" a user without a password. IPv6 hosts go in brackets.
// InvalidArgument for anything else (other schemes, rediss:// included,
// query strings, bad port or db); the message never repeats the password.
//
// redis-sentinel:// sets `sentinels` (port 26379 where none is given) and
// `master_name` (percent-decoded); its credentials are the data nodes'
// (the sentinels' own password is a separate option). redis:// clears both.
absl::StatusOr<RedisOptions> ParseRedisUrl(std::string_view url, RedisOptions base);

inline constexpr int kDefaultSentinelPort = 26379;

// "host[:port],host[:port],..." (IPv6 in brackets; port 26379 when left
// out). InvalidArgument when empty or malformed.
absl::StatusOr<std::vector<RedisHostPort>> ParseSentinelList(std::string_view list);

}  // namespace mx::store

#endif  // MX_STORE_REDIS_REDIS_URL_H_
