#include "redis_sentinel_cluster.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "store/redis/redis_connection.h"

namespace mx::testing {
namespace {

using store::redis::RedisConnection;

absl::StatusOr<store::redis::ReplyPtr> AskSentinel(int port,
                                                   const std::vector<absl::string_view>& args) {
  store::RedisOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.connect_timeout = std::chrono::milliseconds(300);
  o.command_timeout = std::chrono::milliseconds(1000);
  auto c = RedisConnection::Open(o);
  if (!c.ok()) return c.status();
  return (*c)->Command(args);
}

// A field of SENTINEL MASTER's flat name/value array, or -1.
int64_t MasterField(const redisReply* r, absl::string_view name) {
  if (r->type != REDIS_REPLY_ARRAY) return -1;
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    if (absl::string_view(r->element[i]->str, r->element[i]->len) != name) continue;
    int64_t v = -1;
    return absl::SimpleAtoi(absl::string_view(r->element[i + 1]->str, r->element[i + 1]->len), &v)
               ? v
               : -1;
  }
  return -1;
}

// Primary and replicas alike (a replica becomes the primary in a failover):
// a full sync starts at once instead of after the 5 s default delay.
RedisServerOptions DataNodeOptions() {
  RedisServerOptions options;
  options.extra_args = {"--repl-diskless-sync-delay", "0"};
  return options;
}

}  // namespace

std::string SentinelCluster::SentinelBinaryPath() {
  const char* env = std::getenv("MX_REDIS_SENTINEL");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/redis-sentinel";
}

absl::StatusOr<std::unique_ptr<SentinelCluster>> SentinelCluster::Start(int replicas) {
  if (access(SentinelBinaryPath().c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        SentinelBinaryPath(),
        " is missing: install Debian's redis-sentinel (apt-get install redis-sentinel)"));
  }
  std::unique_ptr<SentinelCluster> cluster(new SentinelCluster());
  cluster->dir_ = MakeTempDir("mx-sentinel-");
  auto primary = RedisServer::Start(DataNodeOptions());
  if (!primary.ok()) return primary.status();
  cluster->primary_ = *std::move(primary);
  for (int i = 0; i < replicas; ++i) {
    if (absl::Status s = cluster->AddReplicaOf({"127.0.0.1", cluster->primary_->port()}); !s.ok()) {
      return s;
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (absl::Status s = cluster->StartSentinel(i); !s.ok()) return s;
  }
  if (!WaitFor([&] { return cluster->SentinelsReady(cluster->replicas_.size()); },
               std::chrono::seconds(30))) {
    return absl::DeadlineExceededError(
        "the sentinels did not see every replica and each other within 30 s");
  }
  return cluster;
}

absl::Status SentinelCluster::AddReplicaOf(const store::RedisHostPort& address) {
  RedisServerOptions options = DataNodeOptions();
  options.extra_args.insert(options.extra_args.end(),
                            {"--replicaof", address.host, std::to_string(address.port)});
  auto replica = RedisServer::Start(options);
  if (!replica.ok()) return replica.status();
  const int port = (*replica)->port();
  replicas_.push_back(*std::move(replica));
  // Replicating once the initial sync is done.
  if (!WaitFor(
          [&] {
            auto info = AskSentinel(port, {"INFO", "replication"});
            return info.ok() && (*info)->type == REDIS_REPLY_STRING &&
                   absl::string_view((*info)->str, (*info)->len).find("master_link_status:up") !=
                       absl::string_view::npos;
          },
          std::chrono::seconds(20))) {
    return absl::DeadlineExceededError("the replica did not sync within 20 s");
  }
  return absl::OkStatus();
}

absl::Status SentinelCluster::StartSentinel(int index) {
  const int port = FreeLoopbackPort();
  const std::string conf = absl::StrCat(dir_, "/sentinel", index, ".conf");
  {
    std::ofstream out(conf);
    out << "port " << port << "\n"
        << "bind 127.0.0.1\n"
        << "daemonize no\n"
        << "dir " << dir_ << "\n"
        << "sentinel monitor " << kMasterName << " 127.0.0.1 " << primary_->port() << " 2\n"
        << "sentinel down-after-milliseconds " << kMasterName << " 1000\n"
        << "sentinel failover-timeout " << kMasterName << " 3000\n"
        << "sentinel parallel-syncs " << kMasterName << " 1\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", conf));
  }
  auto process = std::make_unique<ChildProcess>();
  if (!process->Start({SentinelBinaryPath(), conf},
                      absl::StrCat(dir_, "/sentinel", index, ".log"))) {
    return absl::InternalError("fork failed");
  }
  if (!WaitFor([&] { return !process->running() || AskSentinel(port, {"PING"}).ok(); },
               std::chrono::seconds(10)) ||
      !process->running()) {
    return absl::InternalError(
        absl::StrCat("redis-sentinel did not come up: ", process->ReadLog()));
  }
  sentinel_ports_.push_back(port);
  sentinels_.push_back(std::move(process));
  return absl::OkStatus();
}

bool SentinelCluster::SentinelsReady(size_t replicas) const {
  for (int port : sentinel_ports_) {
    auto reply = AskSentinel(port, {"SENTINEL", "MASTER", kMasterName});
    if (!reply.ok()) return false;
    if (MasterField(reply->get(), "num-slaves") < static_cast<int64_t>(replicas) ||
        MasterField(reply->get(), "num-other-sentinels") < 2) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<store::RedisHostPort> SentinelCluster::SentinelPrimary() const {
  for (int port : sentinel_ports_) {
    auto reply = AskSentinel(port, {"SENTINEL", "get-master-addr-by-name", kMasterName});
    if (!reply.ok()) continue;
    const redisReply* r = reply->get();
    int p = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        absl::SimpleAtoi(absl::string_view(r->element[1]->str, r->element[1]->len), &p)) {
      return store::RedisHostPort{std::string(r->element[0]->str, r->element[0]->len), p};
    }
  }
  return absl::UnavailableError("no sentinel answered");
}

std::string SentinelCluster::SentinelList() const {
  return absl::StrJoin(sentinel_ports_, ",", [](std::string* out, int port) {
    absl::StrAppend(out, "127.0.0.1:", port);
  });
}

std::string SentinelCluster::Url() const {
  return absl::StrCat("redis-sentinel://", SentinelList(), "/", kMasterName);
}

store::RedisOptions SentinelCluster::StoreOptions(const std::string& prefix) const {
  store::RedisOptions o;
  for (int port : sentinel_ports_) o.sentinels.push_back({"127.0.0.1", port});
  o.master_name = kMasterName;
  o.key_prefix = prefix;
  o.pool_size = 4;
  o.connect_timeout = std::chrono::milliseconds(300);
  o.command_timeout = std::chrono::milliseconds(1000);
  return o;
}

SentinelCluster::~SentinelCluster() {
  sentinels_.clear();  // SIGKILLs them first: no failover while the servers go
  replicas_.clear();
  primary_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

}  // namespace mx::testing
