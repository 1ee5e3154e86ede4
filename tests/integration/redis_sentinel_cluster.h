// Redis with Sentinel for tests: a primary, replicas of it and three
// redis-sentinel processes, all on free loopback ports, with short
// failure-detection timeouts (down-after 1000 ms) so a failover takes a
// few seconds. Every process is killed on destruction.
#ifndef MX_TESTS_INTEGRATION_REDIS_SENTINEL_CLUSTER_H_
#define MX_TESTS_INTEGRATION_REDIS_SENTINEL_CLUSTER_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "integration/child_process.h"
#include "redis_server.h"
#include "store/redis/redis_options.h"

namespace mx::testing {

class SentinelCluster {
 public:
  static constexpr const char* kMasterName = "mx-primary";

  // $MX_REDIS_SENTINEL, else /usr/bin/redis-sentinel.
  static std::string SentinelBinaryPath();

  // Starts the primary, `replicas` replicas and three sentinels, and waits
  // (up to 30 s) until every sentinel sees every replica and the other
  // sentinels, so that a failover can happen at once.
  static absl::StatusOr<std::unique_ptr<SentinelCluster>> Start(int replicas = 1);

  ~SentinelCluster();

  // The server that was primary at Start().
  RedisServer& primary() { return *primary_; }
  RedisServer& replica(int i) { return *replicas_[i]; }

  // Starts one more replica of the current primary `address`.
  absl::Status AddReplicaOf(const store::RedisHostPort& address);

  // What the first reachable sentinel names as primary; Unavailable if none.
  absl::StatusOr<store::RedisHostPort> SentinelPrimary() const;

  // "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3".
  std::string SentinelList() const;
  // redis-sentinel://<SentinelList()>/<kMasterName>
  std::string Url() const;
  // Store options in sentinel mode with short timeouts.
  store::RedisOptions StoreOptions(const std::string& prefix) const;

 private:
  SentinelCluster() = default;
  absl::Status StartSentinel(int index);
  bool SentinelsReady(size_t replicas) const;

  std::string dir_;
  std::unique_ptr<RedisServer> primary_;
  std::vector<std::unique_ptr<RedisServer>> replicas_;
  std::vector<int> sentinel_ports_;
  std::vector<std::unique_ptr<ChildProcess>> sentinels_;
};

}  // namespace mx::testing

#endif  // MX_TESTS_INTEGRATION_REDIS_SENTINEL_CLUSTER_H_
