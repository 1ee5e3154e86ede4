// Typed configuration of the Redis store (filled from flags/env by the server).
#ifndef MX_STORE_REDIS_REDIS_OPTIONS_H_
#define MX_STORE_REDIS_REDIS_OPTIONS_H_

#include <chrono>
#include <string>
#include <vector>

namespace mx::store {

struct RedisHostPort {
  std::string host;
  int port = 0;
  bool operator==(const RedisHostPort& o) const { return host == o.host && port == o.port; }
  bool operator!=(const RedisHostPort& o) const { return !(*this == o); }
};

struct RedisOptions {
  // The one Redis server; ignored when `sentinels` is not empty.
  std::string host = "localhost";
  int port = 6379;
  int db = 0;
  std::string username;  // ACL user; empty for password-only AUTH
  std::string password;  // never logged
  std::string key_prefix = "mx";
  // Connections shared by store calls; health checks have one of their own.
  int pool_size = 16;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};

  // Sentinel mode: when `sentinels` is not empty the primary of
  // `master_name` is asked from them (SENTINEL get-master-addr-by-name),
  // checked with ROLE, and asked again after a connection failure or a
  // READONLY answer. `sentinel_password` is AUTH for the sentinels
  // themselves (empty: none); username/password above are for the data nodes.
  std::vector<RedisHostPort> sentinels;
  std::string master_name;
  std::string sentinel_password;  // never logged

  // Every write succeeds only after WAIT reports this many replicas
  // acknowledged it within `replica_ack_timeout` (0: no WAIT).
  int min_replica_acks = 0;
  std::chrono::milliseconds replica_ack_timeout{1000};

  // Entries the change log keeps (XADD MAXLEN ~): how far behind a
  // replica's change feed may fall before it has to list everything again.
  int change_log_length = 10000;
};

}  // namespace mx::store

#endif  // MX_STORE_REDIS_REDIS_OPTIONS_H_
