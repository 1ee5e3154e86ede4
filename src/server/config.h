// mxd configuration: parsed once from flags and environment into a typed
// struct (flags win over environment, environment over defaults).
#ifndef MX_SERVER_CONFIG_H_
#define MX_SERVER_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/tls.h"
#include "store/factory.h"

namespace mx::server {

struct ReaperConfig {
  std::chrono::seconds heartbeat_timeout{90};
  std::chrono::seconds scan_interval{30};
  std::chrono::seconds gc_timeout{3600};
};

struct AuthConfig {
  std::string token_file;  // token,name,role lines (see auth/token_file.h)
  std::chrono::milliseconds reload_check{1000};
  // Kubernetes ServiceAccount tokens, checked with a TokenReview through
  // the API server configured by the --k8s-* flags.
  bool tokenreview = false;
  std::vector<std::string> tokenreview_audiences;
  std::vector<std::string> tokenreview_allow;  // namespace:serviceaccount[=role]
  std::chrono::seconds tokenreview_cache_ttl{60};
  int tokenreview_rate = 20;   // reviews/s of tokens not accepted before
  int tokenreview_burst = 40;
  bool enabled() const { return !token_file.empty() || tokenreview; }
};

struct ServerConfig {
  std::string listen = "0.0.0.0:8001";
  store::StoreConfig store;
  std::string redis_url;  // when set, wins over host/port/db/credentials
  std::string redis_sentinels;  // host[:port],...; parsed into store.redis.sentinels
  int redis_pool_size = 0;      // 0: store_threads
  ReaperConfig reaper;
  int64_t max_message_bytes = 256LL << 20;
  int max_concurrent_streams = 1024;  // per HTTP/2 connection
  // (store.memory holds the memory store's caps: --memory-store-max-*.)
  // Bytes of requests held at once (read, queued or running) and the gRPC
  // ResourceQuota; 0: derived from the cgroup memory limit at startup
  // (server/request_budget.h). docs/security.md.
  int64_t memory_budget_bytes = 0;
  // Receive window per HTTP/2 stream; 0: gRPC's adaptive sizing (BDP probe).
  int64_t http2_stream_window_bytes = 4LL << 20;
  bool reflection_requires_auth = false;  // reflection answers only valid tokens
  TlsConfig tls;
  AuthConfig auth;
  std::string metrics_listen = "0.0.0.0:9401";  // empty: no HTTP listener
  bool reflection = true;
  std::chrono::seconds shutdown_grace{10};
  int store_threads = 16;  // workers for stores that block on network I/O
  std::chrono::milliseconds health_poll{250};
  // RELEASING refit versions with no shards and no live lease are purged this
  // long after release; 0 keeps them forever (docs/refit.md).
  std::chrono::seconds refit_retention{0};
  // How long a new WatchSources stream waits (parked, no thread blocked) for
  // this replica's earlier writes to reach the watch hub; tests lengthen it.
  std::chrono::milliseconds watch_catch_up_timeout{1000};
  // Threads besides the watch hub's own that start watchers' writes when
  // one change goes to many (WatchHubOptions::fanout_threads). Not a flag.
  int watch_fanout_threads = 3;
  std::string log_level = "info";
  std::string log_format = "text";  // text | json
  bool help = false;
};

using Environment = std::map<std::string, std::string>;

// The process environment as a map (the only place that reads environ).
Environment ProcessEnvironment();

// Parses argv (without argv[0]) and env. InvalidArgument names the bad flag
// or variable and why; nothing is silently defaulted.
absl::StatusOr<ServerConfig> ParseConfig(const std::vector<std::string>& args,
                                         const Environment& env);

// `mxd --help` text: every flag with its environment names and default.
std::string UsageText();

// One line describing the effective configuration, without secrets.
std::string DescribeConfig(const ServerConfig& config);

}  // namespace mx::server

#endif  // MX_SERVER_CONFIG_H_
