#include "server/config.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <functional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/listen_address.h"
#include "server/request_budget.h"

#ifdef MX_WITH_REDIS
#include "store/redis/redis_url.h"
#endif
#ifdef MX_WITH_KUBERNETES
#include "store/kubernetes/kubernetes_store.h"
#endif

extern char** environ;

namespace mx::server {
namespace {

using Apply = std::function<absl::Status(const std::string& value, ServerConfig* config)>;

struct Option {
  std::string flag;              // without the leading "--"
  std::vector<std::string> env;  // first one present wins
  std::string default_text;
  std::string help;
  Apply apply;
  bool is_bool = false;
};

absl::StatusOr<int64_t> ParseInt(const std::string& text, int64_t min, int64_t max) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not an integer"));
  }
  if (value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(value, " is out of range [", min, ", ", max, "]"));
  }
  return value;
}

absl::StatusOr<bool> ParseBool(const std::string& text) {
  const std::string v = absl::AsciiStrToLower(text);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a boolean"));
}

Apply ReaperSeconds(std::chrono::seconds ReaperConfig::*field) {
  return [=](const std::string& v, ServerConfig* c) -> absl::Status {
    auto n = ParseInt(v, 1, 10LL * 365 * 24 * 3600);
    if (!n.ok()) return n.status();
    c->reaper.*field = std::chrono::seconds(*n);
    return absl::OkStatus();
  };
}

Apply Text(std::function<std::string*(ServerConfig*)> field) {
  return [=](const std::string& v, ServerConfig* c) {
    *field(c) = std::string(v);
    return absl::OkStatus();
  };
}

Apply OneOf(std::function<std::string*(ServerConfig*)> field, std::vector<std::string> allowed) {
  return [=](const std::string& v, ServerConfig* c) -> absl::Status {
    for (const auto& a : allowed) {
      if (v == a) {
        *field(c) = a;
        return absl::OkStatus();
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("'", v, "' is not one of ", absl::StrJoin(allowed, ", ")));
  };
}

Apply Integer(std::function<void(ServerConfig*, int64_t)> set, int64_t min, int64_t max) {
  return [=](const std::string& v, ServerConfig* c) -> absl::Status {
    auto n = ParseInt(v, min, max);
    if (!n.ok()) return n.status();
    set(c, *n);
    return absl::OkStatus();
  };
}

Apply List(std::function<std::vector<std::string>*(ServerConfig*)> field) {
  return [=](const std::string& v, ServerConfig* c) {
    std::vector<std::string>* out = field(c);
    out->clear();
    for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipWhitespace())) {
      out->emplace_back(absl::StripAsciiWhitespace(part));
    }
    return absl::OkStatus();
  };
}

Apply Boolean(std::function<void(ServerConfig*, bool)> set) {
  return [=](const std::string& v, ServerConfig* c) -> absl::Status {
    auto b = ParseBool(v);
    if (!b.ok()) return b.status();
    set(c, *b);
    return absl::OkStatus();
  };
}

absl::Status ReadSecretFile(const std::string& path, std::string* out) {
  auto text = ReadFileToString(path, "file");
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  *out = std::string(absl::StripTrailingAsciiWhitespace(*text));
  return absl::OkStatus();
}

const std::vector<Option>& Options() {
  static const std::vector<Option> kOptions = {
      {"listen", {"MX_LISTEN"}, "0.0.0.0:8001", "gRPC listen address HOST:PORT or [IPV6]:PORT (port 1-65535; 0 picks a free one)",
       Text([](ServerConfig* c) { return &c->listen; })},
      {"store", {"MX_METADATA_BACKEND"}, "memory", "metadata store: memory, redis or kubernetes",
       OneOf([](ServerConfig* c) { return &c->store.backend; }, {"memory", "redis", "kubernetes"})},
      {"heartbeat-timeout-secs", {"MX_HEARTBEAT_TIMEOUT_SECS"}, "90",
       "a READY/INITIALIZING worker not updated for this long is STALE",
       ReaperSeconds(&ReaperConfig::heartbeat_timeout)},
      {"reaper-scan-interval-secs", {"MX_REAPER_SCAN_INTERVAL_SECS"}, "30",
       "how often the reaper scans", ReaperSeconds(&ReaperConfig::scan_interval)},
      {"gc-timeout-secs", {"MX_GC_TIMEOUT_SECS"}, "3600",
       "a STALE worker not updated for this long is deleted",
       ReaperSeconds(&ReaperConfig::gc_timeout)},
      {"max-message-bytes", {"MX_MAX_MESSAGE_BYTES"}, "268435456",
       "largest gRPC message accepted or sent",
       Integer([](ServerConfig* c, int64_t v) { c->max_message_bytes = v; }, 4LL << 20,
               2047LL << 20)},
      {"max-concurrent-streams", {"MX_MAX_CONCURRENT_STREAMS"}, "1024",
       "concurrent calls allowed on one client connection (HTTP/2 streams)",
       Integer([](ServerConfig* c, int64_t v) { c->max_concurrent_streams = static_cast<int>(v); },
               1, 1 << 20)},
      {"memory-budget-bytes", {"MX_MEMORY_BUDGET_BYTES"}, "0",
       "bytes of requests mxd holds at once (read, queued or running) and the gRPC memory "
       "quota; beyond it calls get RESOURCE_EXHAUSTED. 0: half the cgroup memory limit "
       "(1 GiB without one), at least 2 x --max-message-bytes",
       Integer([](ServerConfig* c, int64_t v) { c->memory_budget_bytes = v; }, 0, 1LL << 50)},
      {"http2-stream-window-bytes", {"MX_HTTP2_STREAM_WINDOW_BYTES"}, "4194304",
       "receive window per HTTP/2 stream (what a caller can send before mxd reads); 0: gRPC's "
       "adaptive sizing, which lets a refused caller push far more",
       Integer([](ServerConfig* c, int64_t v) { c->http2_stream_window_bytes = v; }, 0,
               1LL << 30)},
      {"memory-store-max-records", {"MX_MEMORY_STORE_MAX_RECORDS"}, "100000",
       "memory store: most workers held; beyond it publishes get RESOURCE_EXHAUSTED (0: no cap)",
       Integer([](ServerConfig* c, int64_t v) { c->store.memory.max_records = v; }, 0,
               1LL << 40)},
      {"memory-store-max-bytes", {"MX_MEMORY_STORE_MAX_BYTES"}, "0",
       "memory store: most bytes of records held; beyond it publishes get RESOURCE_EXHAUSTED. "
       "0: half the cgroup memory limit (1 GiB without one)",
       Integer([](ServerConfig* c, int64_t v) { c->store.memory.max_bytes = v; }, 0, 1LL << 50)},
      {"metrics-listen", {"MX_METRICS_LISTEN"}, "0.0.0.0:9401",
       "HTTP HOST:PORT for /metrics, /healthz and /readyz (port 0 picks a free one); 0 or "
       "empty disables it",
       Text([](ServerConfig* c) { return &c->metrics_listen; })},
      {"tls-cert-file", {"MX_TLS_CERT_FILE"}, "",
       "PEM certificate chain for the gRPC port; enables TLS (with --tls-key-file); re-read "
       "when it changes",
       Text([](ServerConfig* c) { return &c->tls.cert_file; })},
      {"tls-key-file", {"MX_TLS_KEY_FILE"}, "", "PEM private key of --tls-cert-file; never logged",
       Text([](ServerConfig* c) { return &c->tls.key_file; })},
      {"tls-client-ca-file", {"MX_TLS_CLIENT_CA_FILE"}, "",
       "PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS)",
       Text([](ServerConfig* c) { return &c->tls.client_ca_file; })},
      {"tls-reload-interval-secs", {"MX_TLS_RELOAD_INTERVAL_SECS"}, "60",
       "how often the TLS files are re-read (certificate rotation without restart)",
       Integer([](ServerConfig* c, int64_t v) { c->tls.reload_interval = std::chrono::seconds(v); },
               1, 86400)},
      {"auth-token-file", {"MX_AUTH_TOKEN_FILE"}, "",
       "enables bearer-token auth: lines 'token,name,role' (role reader, publisher or admin); "
       "re-read when it changes; tokens are never logged",
       Text([](ServerConfig* c) { return &c->auth.token_file; })},
      {"auth-tokenreview", {"MX_AUTH_TOKENREVIEW"}, "false",
       "enables bearer-token auth with Kubernetes ServiceAccount tokens, checked by TokenReview "
       "(API server from the --k8s-* flags; needs RBAC create on tokenreviews)",
       Boolean([](ServerConfig* c, bool v) { c->auth.tokenreview = v; }), true},
      {"auth-tokenreview-audiences", {"MX_AUTH_TOKENREVIEW_AUDIENCES"}, "",
       "comma-separated audiences a ServiceAccount token must be valid for (empty: the API "
       "server's default)",
       List([](ServerConfig* c) { return &c->auth.tokenreview_audiences; })},
      {"auth-tokenreview-allow", {"MX_AUTH_TOKENREVIEW_ALLOW"}, "",
       "comma-separated namespace:serviceaccount[=role] allowed in (role reader, publisher or "
       "admin; default publisher; namespace:* for a whole namespace)",
       List([](ServerConfig* c) { return &c->auth.tokenreview_allow; })},
      {"auth-tokenreview-cache-ttl-secs", {"MX_AUTH_TOKENREVIEW_CACHE_TTL_SECS"}, "60",
       "how long an accepted ServiceAccount token is trusted without asking again",
       Integer([](ServerConfig* c, int64_t v) {
         c->auth.tokenreview_cache_ttl = std::chrono::seconds(v);
       }, 1, 3600)},
      {"auth-tokenreview-rate", {"MX_AUTH_TOKENREVIEW_RATE"}, "20",
       "TokenReviews per second for tokens not accepted before; beyond it (and the burst) such "
       "calls are RESOURCE_EXHAUSTED without asking the API server",
       Integer([](ServerConfig* c, int64_t v) { c->auth.tokenreview_rate = static_cast<int>(v); },
               1, 100000)},
      {"auth-tokenreview-burst", {"MX_AUTH_TOKENREVIEW_BURST"}, "40",
       "how many reviews of unknown tokens may be sent at once before --auth-tokenreview-rate "
       "applies",
       Integer([](ServerConfig* c, int64_t v) { c->auth.tokenreview_burst = static_cast<int>(v); },
               1, 100000)},
      {"reflection", {"MX_REFLECTION"}, "true",
       "serve gRPC server reflection (not covered by auth: disable it when that matters)",
       Boolean([](ServerConfig* c, bool v) { c->reflection = v; }), true},
      {"reflection-requires-auth", {"MX_REFLECTION_REQUIRES_AUTH"}, "false",
       "with auth on, reflection calls need a valid token too (any role)",
       Boolean([](ServerConfig* c, bool v) { c->reflection_requires_auth = v; }), true},
      {"shutdown-grace-secs", {"MX_SHUTDOWN_GRACE_SECS"}, "10",
       "on SIGTERM/SIGINT, how long in-flight calls may take to finish",
       Integer([](ServerConfig* c, int64_t v) { c->shutdown_grace = std::chrono::seconds(v); },
               0, 3600)},
      {"store-threads", {"MX_STORE_THREADS"}, "16",
       "threads running calls to network stores (redis, kubernetes)",
       Integer([](ServerConfig* c, int64_t v) { c->store_threads = static_cast<int>(v); }, 1,
               1024)},
      {"refit-retention-secs", {"MX_REFIT_RETENTION_SECS"}, "0",
       "purge a released refit version this long after release once it has no shards and no "
       "live lease (0: keep every version forever)",
       Integer([](ServerConfig* c, int64_t v) { c->refit_retention = std::chrono::seconds(v); },
               0, 10LL * 365 * 86400)},
      {"log-level", {"MX_LOG_LEVEL"}, "info", "trace, debug, info, warn or error",
       OneOf([](ServerConfig* c) { return &c->log_level; },
             {"trace", "debug", "info", "warn", "error"})},
      {"log-format", {"MX_LOG_FORMAT"}, "text", "text or json (one JSON object per line)",
       OneOf([](ServerConfig* c) { return &c->log_format; }, {"text", "json"})},
      {"redis-url", {"REDIS_URL", "MX_REDIS_URL"}, "",
       "redis://[user:password@]host:port[/db]; wins over --redis-host/--redis-port/--redis-db; "
       "or redis-sentinel://[user:password@]s1[:port],s2[:port],.../master-name[/db]",
       Text([](ServerConfig* c) { return &c->redis_url; })},
      {"redis-host", {"MX_REDIS_HOST", "REDIS_HOST"}, "localhost", "Redis host",
       Text([](ServerConfig* c) { return &c->store.redis.host; })},
      {"redis-port", {"MX_REDIS_PORT", "REDIS_PORT"}, "6379", "Redis port",
       Integer([](ServerConfig* c, int64_t v) { c->store.redis.port = static_cast<int>(v); }, 1,
               65535)},
      {"redis-db", {"MX_REDIS_DB"}, "0", "Redis database index",
       Integer([](ServerConfig* c, int64_t v) { c->store.redis.db = static_cast<int>(v); }, 0,
               1 << 20)},
      {"redis-username", {"MX_REDIS_USERNAME"}, "", "Redis ACL user (password-only AUTH if empty)",
       Text([](ServerConfig* c) { return &c->store.redis.username; })},
      {"redis-password-file", {"MX_REDIS_PASSWORD_FILE"}, "",
       "file holding the Redis password (or the password itself in env MX_REDIS_PASSWORD or "
       "REDIS_PASSWORD); never logged",
       [](const std::string& v, ServerConfig* c) {
         return v.empty() ? absl::OkStatus() : ReadSecretFile(v, &c->store.redis.password);
       }},
      {"redis-key-prefix", {"MX_REDIS_KEY_PREFIX"}, "mx",
       "prefix of every Redis key (several deployments on one Redis)",
       Text([](ServerConfig* c) { return &c->store.redis.key_prefix; })},
      {"redis-sentinels", {"MX_REDIS_SENTINELS"}, "",
       "host[:port],... of Redis Sentinels (port 26379 by default); the primary of "
       "--redis-master-name is asked from them and followed across failovers (same as "
       "--redis-url=redis-sentinel://...)",
       Text([](ServerConfig* c) { return &c->redis_sentinels; })},
      {"redis-master-name", {"MX_REDIS_MASTER_NAME"}, "",
       "Sentinel master name of the Redis primary (with --redis-sentinels)",
       Text([](ServerConfig* c) { return &c->store.redis.master_name; })},
      {"redis-sentinel-password-file", {"MX_REDIS_SENTINEL_PASSWORD_FILE"}, "",
       "file holding the password of the sentinels themselves (env MX_REDIS_SENTINEL_PASSWORD "
       "also works); never logged",
       [](const std::string& v, ServerConfig* c) {
         return v.empty() ? absl::OkStatus()
                          : ReadSecretFile(v, &c->store.redis.sentinel_password);
       }},
      {"redis-min-replica-acks", {"MX_REDIS_MIN_REPLICA_ACKS"}, "0",
       "a write succeeds only after this many Redis replicas acknowledged it (WAIT); "
       "otherwise UNAVAILABLE saying it was not replicated",
       Integer([](ServerConfig* c, int64_t v) {
         c->store.redis.min_replica_acks = static_cast<int>(v);
       }, 0, 64)},
      {"redis-replica-ack-timeout-ms", {"MX_REDIS_REPLICA_ACK_TIMEOUT_MS"}, "1000",
       "how long a write waits for --redis-min-replica-acks replicas",
       Integer([](ServerConfig* c, int64_t v) {
         c->store.redis.replica_ack_timeout = std::chrono::milliseconds(v);
       }, 1, 60000)},
      {"redis-pool-size", {"MX_REDIS_POOL_SIZE"}, "0",
       "Redis connections shared by store calls (0: as many as --store-threads); health "
       "checks use one more of their own",
       Integer([](ServerConfig* c, int64_t v) { c->redis_pool_size = static_cast<int>(v); }, 0,
               1024)},
      {"redis-connect-timeout-ms", {"MX_REDIS_CONNECT_TIMEOUT_MS"}, "1000",
       "timeout of one connection attempt to Redis or a sentinel",
       Integer([](ServerConfig* c, int64_t v) {
         c->store.redis.connect_timeout = std::chrono::milliseconds(v);
       }, 1, 60000)},
      {"redis-command-timeout-ms", {"MX_REDIS_COMMAND_TIMEOUT_MS"}, "1000",
       "timeout of one Redis command (WAIT gets --redis-replica-ack-timeout-ms on top)",
       Integer([](ServerConfig* c, int64_t v) {
         c->store.redis.command_timeout = std::chrono::milliseconds(v);
       }, 1, 60000)},
      {"k8s-api-url", {"MX_K8S_API_URL"}, "",
       "Kubernetes API server URL (empty: in-cluster from KUBERNETES_SERVICE_HOST/_PORT)",
       Text([](ServerConfig* c) { return &c->store.kubernetes.api_url; })},
      {"k8s-token-file", {"MX_K8S_TOKEN_FILE"},
       "/var/run/secrets/kubernetes.io/serviceaccount/token",
       "bearer token file (re-read when it changes)",
       Text([](ServerConfig* c) { return &c->store.kubernetes.token_file; })},
      {"k8s-ca-file", {"MX_K8S_CA_FILE"}, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
       "CA bundle for the API server",
       Text([](ServerConfig* c) { return &c->store.kubernetes.ca_file; })},
      {"k8s-insecure-skip-tls-verify", {"MX_K8S_INSECURE_SKIP_TLS_VERIFY"}, "false",
       "do not verify the API server certificate (development only; logs a warning)",
       Boolean([](ServerConfig* c, bool v) { c->store.kubernetes.insecure_skip_tls_verify = v; }),
       true},
      {"namespace", {"MX_METADATA_NAMESPACE", "POD_NAMESPACE"}, "",
       "namespace for ConfigMaps (empty: the service account's namespace)",
       Text([](ServerConfig* c) { return &c->store.kubernetes.namespace_name; })},
      {"k8s-watchdog-secs", {"MX_K8S_WATCHDOG_SECS"}, "60",
       "watchdog window: a cache watch that shows no event or bookmark for this long is cut "
       "and the cache relists (1-3600)",
       Integer([](ServerConfig* c, int64_t v) {
         c->store.kubernetes.watch_idle_timeout = std::chrono::seconds(v);
       }, 1, 3600)},
      {"k8s-max-staleness-secs", {"MX_K8S_MAX_STALENESS_SECS"}, "90",
       "staleness bound: a cache not confirmed in sync for this long turns health NOT_SERVING "
       "and its reads UNAVAILABLE; must exceed --k8s-watchdog-secs (2-86400)",
       Integer([](ServerConfig* c, int64_t v) {
         c->store.kubernetes.max_staleness = std::chrono::seconds(v);
       }, 2, 86400)},
      {"k8s-sweep-interval-secs", {"MX_K8S_SWEEP_INTERVAL_SECS"}, "300",
       "how often the sweeper deletes chunk ConfigMaps no head references and abandoned "
       "pending heads (0: never; else 1-86400)",
       Integer([](ServerConfig* c, int64_t v) {
         c->store.kubernetes.sweep_interval = std::chrono::seconds(v);
       }, 0, 86400)},
      {"k8s-sweep-grace-secs", {"MX_K8S_SWEEP_GRACE_SECS"}, "600",
       "the sweeper deletes only what is older than this; at least --k8s-sweep-interval-secs "
       "and longer than the slowest publish (1-604800)",
       Integer([](ServerConfig* c, int64_t v) {
         c->store.kubernetes.sweep_grace = std::chrono::seconds(v);
       }, 1, 604800)},
  };
  return kOptions;
}

const Option* FindOption(std::string_view flag) {
  for (const auto& o : Options()) {
    if (o.flag == flag) return &o;
  }
  return nullptr;
}

// Where each option's value came from: "--flag" or the environment
// variable's name, so errors found after parsing name what the user wrote.
using Sources = std::map<std::string, std::string>;

std::string SourceOf(const Sources& sources, const std::string& flag) {
  auto it = sources.find(flag);
  return it != sources.end() ? it->second : "--" + flag;
}

// The Kubernetes cache and sweeper timers, against each other.
absl::Status CheckKubernetesTimers(const Sources& sources, const store::KubernetesOptions& k) {
  if (k.max_staleness <= k.watch_idle_timeout) {
    return absl::InvalidArgumentError(absl::StrCat(
        SourceOf(sources, "k8s-max-staleness-secs"), ": the staleness bound (",
        k.max_staleness.count() / 1000, " s) must exceed the watchdog window (",
        SourceOf(sources, "k8s-watchdog-secs"), ", ", k.watch_idle_timeout.count() / 1000,
        " s), or a quiet, healthy watch would turn health NOT_SERVING before it is checked"));
  }
  if (k.sweep_interval.count() > 0 && k.sweep_grace < k.sweep_interval) {
    return absl::InvalidArgumentError(absl::StrCat(
        SourceOf(sources, "k8s-sweep-grace-secs"), ": the sweep grace (",
        k.sweep_grace.count() / 1000, " s) is below the sweep interval (",
        SourceOf(sources, "k8s-sweep-interval-secs"), ", ", k.sweep_interval.count() / 1000,
        " s)"));
  }
  return absl::OkStatus();
}

absl::Status CheckListen(const Sources& sources, const std::string& flag,
                         const std::string& value) {
  auto parsed = ParseListenAddress(value);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(SourceOf(sources, flag), ": ", parsed.status().message()));
  }
  return absl::OkStatus();
}

absl::Status Finish(ServerConfig* config, const Environment& env, const Sources& sources) {
  if (config->store.redis.password.empty()) {
    for (const char* name : {"MX_REDIS_PASSWORD", "REDIS_PASSWORD"}) {
      if (auto it = env.find(name); it != env.end() && !it->second.empty()) {
        config->store.redis.password = it->second;
        break;
      }
    }
  }
  if (config->store.redis.sentinel_password.empty()) {
    if (auto it = env.find("MX_REDIS_SENTINEL_PASSWORD"); it != env.end()) {
      config->store.redis.sentinel_password = it->second;
    }
  }
  config->store.redis.pool_size =
      config->redis_pool_size > 0 ? config->redis_pool_size : config->store_threads;
  if (!config->redis_sentinels.empty()) {
#ifdef MX_WITH_REDIS
    auto sentinels = store::ParseSentinelList(config->redis_sentinels);
    if (!sentinels.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--redis-sentinels: ", sentinels.status().message()));
    }
    config->store.redis.sentinels = *std::move(sentinels);
#endif
  }
  if (!config->redis_url.empty()) {
#ifdef MX_WITH_REDIS
    auto parsed = store::ParseRedisUrl(config->redis_url, config->store.redis);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(SourceOf(sources, "redis-url"), ": ", parsed.status().message()));
    }
    config->store.redis = *parsed;
    if (!config->redis_sentinels.empty() && config->store.redis.sentinels.empty()) {
      return absl::InvalidArgumentError(
          "--redis-sentinels and a redis:// --redis-url contradict each other");
    }
#else
    if (config->store.backend == "redis") {
      return absl::InvalidArgumentError("--redis-url given but this mxd has no redis store");
    }
#endif
  }
  if (config->store.backend == "redis") {
    const auto& r = config->store.redis;
    if (!r.sentinels.empty() && r.master_name.empty()) {
      return absl::InvalidArgumentError("--redis-sentinels needs --redis-master-name");
    }
    if (r.sentinels.empty() && !r.master_name.empty()) {
      return absl::InvalidArgumentError("--redis-master-name needs --redis-sentinels");
    }
  }
  if (config->memory_budget_bytes != 0 &&
      config->memory_budget_bytes < 2 * config->max_message_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--memory-budget-bytes: ", config->memory_budget_bytes,
        " cannot hold one maximum-size publish; it must be at least 2 x --max-message-bytes = ",
        2 * config->max_message_bytes));
  }
  if (config->store.memory.max_bytes == 0) {
    config->store.memory.max_bytes = static_cast<size_t>(DefaultMemoryBudget(0));
  }
  if (config->metrics_listen == "0") config->metrics_listen.clear();
  if (!config->metrics_listen.empty()) {
    if (absl::Status s = CheckListen(sources, "metrics-listen", config->metrics_listen); !s.ok()) {
      return s;
    }
  }
  if (config->tls.cert_file.empty() != config->tls.key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert-file and --tls-key-file go together");
  }
  if (!config->tls.client_ca_file.empty() && config->tls.cert_file.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca-file needs --tls-cert-file/--tls-key-file");
  }
  if (absl::Status s = CheckKubernetesTimers(sources, config->store.kubernetes); !s.ok()) {
    return s;
  }
  if (config->http2_stream_window_bytes > 0 && config->http2_stream_window_bytes < 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http2-stream-window-bytes ", config->http2_stream_window_bytes,
        " is below HTTP/2's initial window (65535); use 0 for gRPC's adaptive sizing"));
  }
  if (config->auth.tokenreview && config->auth.tokenreview_allow.empty()) {
    return absl::InvalidArgumentError(
        "--auth-tokenreview needs --auth-tokenreview-allow (namespace:serviceaccount,...)");
  }
  return CheckListen(sources, "listen", config->listen);
}

}  // namespace

Environment ProcessEnvironment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

absl::StatusOr<ServerConfig> ParseConfig(const std::vector<std::string>& args,
                                         const Environment& env) {
  ServerConfig config;
  Sources sources;
  for (const auto& option : Options()) {
    for (const auto& name : option.env) {
      auto it = env.find(name);
      if (it == env.end() || it->second.empty()) continue;
      if (absl::Status s = option.apply(it->second, &config); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("environment ", name, ": ", s.message()));
      }
      sources[option.flag] = name;
      break;
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      config.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    const Option* option = FindOption(name);
    if (option == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (option->is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
    }
    if (absl::Status s = option->apply(value, &config); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", s.message()));
    }
    sources[option->flag] = "--" + option->flag;
  }
  if (absl::Status s = Finish(&config, env, sources); !s.ok()) return s;
  return config;
}

std::string UsageText() {
  std::string out =
      "mxd: P2P model-weight metadata server (model_express.p2p.P2pService)\n\n"
      "Usage: mxd [--flag=value ...]\n"
      "Flags override environment variables, which override defaults.\n\n";
  for (const auto& o : Options()) {
    absl::StrAppend(&out, "  --", o.flag, o.is_bool ? "[=BOOL]" : "=VALUE", "\n      ", o.help,
                    "\n      env: ", absl::StrJoin(o.env, ", "), "; default: ",
                    o.default_text.empty() ? "(empty)" : o.default_text, "\n");
  }
  absl::StrAppend(&out, "  --help\n      print this text\n",
                  "  --version\n      print the version, git commit and build type\n");
  return out;
}

std::string DescribeConfig(const ServerConfig& c) {
  std::string out = absl::StrCat(
      "listen=", c.listen, " store=", c.store.backend,
      " heartbeat_timeout=", c.reaper.heartbeat_timeout.count(),
      "s scan_interval=", c.reaper.scan_interval.count(), "s gc_timeout=",
      c.reaper.gc_timeout.count(), "s max_message_bytes=", c.max_message_bytes,
      " reflection=", c.reflection ? "on" : "off", " shutdown_grace=", c.shutdown_grace.count(),
      "s log_format=", c.log_format, " max_concurrent_streams=", c.max_concurrent_streams,
      " transport=", DescribeTransport(c.tls), " auth=",
      c.auth.enabled()
          ? absl::StrCat(c.auth.token_file.empty() ? "" : "token-file",
                         !c.auth.token_file.empty() && c.auth.tokenreview ? "+" : "",
                         c.auth.tokenreview ? "tokenreview" : "")
          : std::string("off"),
      " metrics=", c.metrics_listen.empty() ? "off" : c.metrics_listen);
  if (c.store.backend == "redis") {
    const auto& r = c.store.redis;
    if (r.sentinels.empty()) {
      absl::StrAppend(&out, " redis=", r.host, ":", r.port, "/", r.db);
    } else {
      absl::StrAppend(&out, " redis_sentinels=",
                      absl::StrJoin(r.sentinels, ",",
                                    [](std::string* o, const store::RedisHostPort& h) {
                                      absl::StrAppend(o, h.host, ":", h.port);
                                    }),
                      " redis_master=", r.master_name, " redis_db=", r.db,
                      " redis_sentinel_password=", r.sentinel_password.empty() ? "unset" : "set");
    }
    absl::StrAppend(&out, " redis_pool=", r.pool_size, "+1 redis_min_replica_acks=",
                    r.min_replica_acks, " redis_user=",
                    r.username.empty() ? "(none)" : r.username,
                    " redis_password=", r.password.empty() ? "unset" : "set",
                    " redis_key_prefix=", r.key_prefix);
  }
  if (c.store.backend == "kubernetes") {
    const auto& k = c.store.kubernetes;
    absl::StrAppend(&out, " k8s_api=", k.api_url.empty() ? "(in-cluster)" : k.api_url,
                    " namespace=", k.namespace_name.empty() ? "(service account)" : k.namespace_name,
                    k.insecure_skip_tls_verify ? " tls_verify=OFF" : "",
                    " k8s_watchdog=", k.watch_idle_timeout.count() / 1000,
                    "s k8s_max_staleness=", k.max_staleness.count() / 1000,
                    "s k8s_sweep_interval=", k.sweep_interval.count() / 1000,
                    "s k8s_sweep_grace=", k.sweep_grace.count() / 1000, "s");
  }
  return out;
}

}  // namespace mx::server
