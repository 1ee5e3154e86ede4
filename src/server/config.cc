#include "server/config.h"

#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

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

Apply Boolean(std::function<void(ServerConfig*, bool)> set) {
  return [=](const std::string& v, ServerConfig* c) -> absl::Status {
    auto b = ParseBool(v);
    if (!b.ok()) return b.status();
    set(c, *b);
    return absl::OkStatus();
  };
}

absl::Status ReadSecretFile(const std::string& path, std::string* out) {
  std::ifstream in{std::string(path)};
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read file ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  *out = std::string(absl::StripTrailingAsciiWhitespace(buffer.str()));
  return absl::OkStatus();
}

const std::vector<Option>& Options() {
  static const std::vector<Option> kOptions = {
      {"listen", {"MX_LISTEN"}, "0.0.0.0:8001", "gRPC listen address HOST:PORT",
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
      {"reflection", {"MX_REFLECTION"}, "true", "serve gRPC server reflection",
       Boolean([](ServerConfig* c, bool v) { c->reflection = v; }), true},
      {"shutdown-grace-secs", {"MX_SHUTDOWN_GRACE_SECS"}, "10",
       "on SIGTERM/SIGINT, how long in-flight calls may take to finish",
       Integer([](ServerConfig* c, int64_t v) { c->shutdown_grace = std::chrono::seconds(v); },
               0, 3600)},
      {"store-threads", {"MX_STORE_THREADS"}, "16",
       "threads running calls to network stores (redis, kubernetes)",
       Integer([](ServerConfig* c, int64_t v) { c->store_threads = static_cast<int>(v); }, 1,
               1024)},
      {"log-level", {"MX_LOG_LEVEL"}, "info", "trace, debug, info, warn or error",
       OneOf([](ServerConfig* c) { return &c->log_level; },
             {"trace", "debug", "info", "warn", "error"})},
      {"log-format", {"MX_LOG_FORMAT"}, "text", "text or json (one JSON object per line)",
       OneOf([](ServerConfig* c) { return &c->log_format; }, {"text", "json"})},
      {"redis-url", {"REDIS_URL", "MX_REDIS_URL"}, "",
       "redis://[user:password@]host:port[/db]; wins over --redis-host/--redis-port/--redis-db",
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
       "file holding the Redis password (env MX_REDIS_PASSWORD also works); never logged",
       [](const std::string& v, ServerConfig* c) {
         return v.empty() ? absl::OkStatus() : ReadSecretFile(v, &c->store.redis.password);
       }},
      {"redis-key-prefix", {"MX_REDIS_KEY_PREFIX"}, "mx",
       "prefix of every Redis key (several deployments on one Redis)",
       Text([](ServerConfig* c) { return &c->store.redis.key_prefix; })},
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
  };
  return kOptions;
}

const Option* FindOption(std::string_view flag) {
  for (const auto& o : Options()) {
    if (o.flag == flag) return &o;
  }
  return nullptr;
}

absl::Status Finish(ServerConfig* config, const Environment& env) {
  if (config->store.redis.password.empty()) {
    for (const char* name : {"MX_REDIS_PASSWORD", "REDIS_PASSWORD"}) {
      if (auto it = env.find(name); it != env.end() && !it->second.empty()) {
        config->store.redis.password = it->second;
        break;
      }
    }
  }
  if (!config->redis_url.empty()) {
#ifdef MX_WITH_REDIS
    auto parsed = store::ParseRedisUrl(config->redis_url, config->store.redis);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--redis-url: ", parsed.status().message()));
    }
    config->store.redis = *parsed;
#else
    if (config->store.backend == "redis") {
      return absl::InvalidArgumentError("--redis-url given but this mxd has no redis store");
    }
#endif
  }
  if (config->listen.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: '", config->listen, "' is not HOST:PORT"));
  }
  return absl::OkStatus();
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
  for (const auto& option : Options()) {
    for (const auto& name : option.env) {
      auto it = env.find(name);
      if (it == env.end() || it->second.empty()) continue;
      if (absl::Status s = option.apply(it->second, &config); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("environment ", name, ": ", s.message()));
      }
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
  }
  if (absl::Status s = Finish(&config, env); !s.ok()) return s;
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
  absl::StrAppend(&out, "  --help\n      print this text\n");
  return out;
}

std::string DescribeConfig(const ServerConfig& c) {
  std::string out = absl::StrCat(
      "listen=", c.listen, " store=", c.store.backend,
      " heartbeat_timeout=", c.reaper.heartbeat_timeout.count(),
      "s scan_interval=", c.reaper.scan_interval.count(), "s gc_timeout=",
      c.reaper.gc_timeout.count(), "s max_message_bytes=", c.max_message_bytes,
      " reflection=", c.reflection ? "on" : "off", " shutdown_grace=", c.shutdown_grace.count(),
      "s log_format=", c.log_format);
  if (c.store.backend == "redis") {
    const auto& r = c.store.redis;
    absl::StrAppend(&out, " redis=", r.host, ":", r.port, "/", r.db, " redis_user=",
                    r.username.empty() ? "(none)" : r.username,
                    " redis_password=", r.password.empty() ? "unset" : "set",
                    " redis_key_prefix=", r.key_prefix);
  }
  if (c.store.backend == "kubernetes") {
    const auto& k = c.store.kubernetes;
    absl::StrAppend(&out, " k8s_api=", k.api_url.empty() ? "(in-cluster)" : k.api_url,
                    " namespace=", k.namespace_name.empty() ? "(service account)" : k.namespace_name,
                    k.insecure_skip_tls_verify ? " tls_verify=OFF" : "");
  }
  return out;
}

}  // namespace mx::server
