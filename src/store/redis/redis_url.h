// REDIS_URL parsing: redis://[user:password@]host[:port][/db] into options.
#ifndef MX_STORE_REDIS_REDIS_URL_H_
#define MX_STORE_REDIS_REDIS_URL_H_

#include <string_view>

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
absl::StatusOr<RedisOptions> ParseRedisUrl(std::string_view url, RedisOptions base);

}  // namespace mx::store

#endif  // MX_STORE_REDIS_REDIS_URL_H_
