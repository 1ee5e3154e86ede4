// Typed configuration of the Redis store (filled from flags/env by the server).
#ifndef MX_STORE_REDIS_REDIS_OPTIONS_H_
#define MX_STORE_REDIS_REDIS_OPTIONS_H_

#include <chrono>
#include <string>

namespace mx::store {

struct RedisOptions {
  std::string host = "localhost";
  int port = 6379;
  int db = 0;
  std::string username;  // ACL user; empty for password-only AUTH
  std::string password;  // never logged
  std::string key_prefix = "mx";
  int pool_size = 4;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
};

}  // namespace mx::store

#endif  // MX_STORE_REDIS_REDIS_OPTIONS_H_
