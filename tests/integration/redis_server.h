// A real redis-server for tests and benchmarks: started on a free loopback
// port with its own temporary directory, killed (and the directory removed)
// on destruction.
#ifndef MX_TESTS_INTEGRATION_REDIS_SERVER_H_
#define MX_TESTS_INTEGRATION_REDIS_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "integration/child_process.h"
#include "store/redis/redis_options.h"

namespace mx::testing {

struct RedisServerOptions {
  bool appendonly = false;
  // "always": with everysec, Redis postpones writing the file (up to 2 s)
  // while an earlier fsync is slow, yet answers, so a SIGKILL on a busy disk
  // can lose acknowledged writes; tests that kill Redis must not see that.
  std::string appendfsync = "always";
  std::string password;                 // requirepass, when not empty
  std::vector<std::string> extra_args;  // e.g. {"--user", "alice", "on", ">pw", "+@all"}
};

class RedisServer {
 public:
  // $MX_REDIS_SERVER, else /usr/bin/redis-server.
  static std::string BinaryPath();

  // Starts a server and waits (up to 10 s) until it answers.
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(RedisServerOptions options = {});

  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  bool running() const { return process_ != nullptr; }

  // SIGKILL: no shutdown, no final AOF rewrite or save.
  void Kill();
  // SIGTERM and wait (Redis flushes the AOF on shutdown).
  void Stop();
  // Starts again on the same port and directory (AOF reloaded if enabled).
  absl::Status Restart();

  // Options for a store on this server: loopback, this port, `prefix`,
  // the server's password, short timeouts.
  store::RedisOptions StoreOptions(const std::string& prefix) const;

 private:
  RedisServer(RedisServerOptions options, std::string dir, int port)
      : options_(std::move(options)), dir_(std::move(dir)), port_(port) {}
  absl::Status Launch();

  const RedisServerOptions options_;
  const std::string dir_;
  const int port_;
  std::unique_ptr<ChildProcess> process_;
};

// A free TCP port on 127.0.0.1, reserved for the rest of this process
// (see integration/port_reservation.h); Start() and Restart() use one.
int FreeLoopbackPort();

// One server shared by every test of the process, started on first use.
RedisServer& SharedRedisServer();

// A key prefix no other test of any process used: "t<pid>x<counter>".
std::string UniqueKeyPrefix();

}  // namespace mx::testing

#endif  // MX_TESTS_INTEGRATION_REDIS_SERVER_H_
