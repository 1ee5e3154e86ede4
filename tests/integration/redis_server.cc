#include "redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "integration/port_reservation.h"
#include "store/redis/redis_connection.h"

namespace mx::testing {

std::string RedisServer::BinaryPath() {
  const char* env = std::getenv("MX_REDIS_SERVER");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/redis-server";
}

int FreeLoopbackPort() { return ReserveLoopbackPort(); }

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(RedisServerOptions options) {
  if (access(BinaryPath().c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        BinaryPath(), " is missing: install Debian's redis-server (apt-get install redis-server)"));
  }
  const std::string dir = MakeTempDir("mx-redis-");
  if (dir.empty()) return absl::InternalError("mkdtemp failed");
  const int port = FreeLoopbackPort();
  if (port <= 0) return absl::InternalError("no free loopback port");
  std::unique_ptr<RedisServer> server(new RedisServer(std::move(options), dir, port));
  if (absl::Status s = server->Launch(); !s.ok()) return s;
  return server;
}

absl::Status RedisServer::Launch() {
  std::vector<std::string> args = {BinaryPath(),
                                   "--port", std::to_string(port_),
                                   "--bind", "127.0.0.1",
                                   "--dir", dir_,
                                   "--save", "",
                                   "--appendonly", options_.appendonly ? "yes" : "no",
                                   "--appendfsync", options_.appendfsync,
                                   "--daemonize", "no",
                                   "--logfile", ""};
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  process_ = std::make_unique<ChildProcess>();
  if (!process_->Start(args, dir_ + "/redis.log")) return absl::InternalError("fork failed");
  store::RedisOptions probe;
  probe.host = "127.0.0.1";
  probe.port = port_;
  probe.connect_timeout = std::chrono::milliseconds(200);
  // Up once it answers PING ("LOADING" means the AOF is still being read)
  // and CONFIG GET dir names our directory.
  std::error_code ignored;
  const std::string real_dir = std::filesystem::canonical(dir_, ignored).string();
  bool answered = false, ours = false;
  const bool up = WaitFor(
      [&] {
        if (!process_->running()) return true;
        auto c = store::redis::RedisConnection::Open(probe);
        if (!c.ok()) return false;
        auto reply = (*c)->Command({"PING"});
        if (!reply.ok() || ((*reply)->type == REDIS_REPLY_ERROR &&
                            absl::StartsWith((*reply)->str, "LOADING"))) {
          return false;
        }
        answered = true;
        if (!options_.password.empty() &&
            !(*c)->Command({"AUTH", options_.password}).ok()) {
          return false;
        }
        // The port is reserved, but check that it is our redis-server that
        // answers: its working directory is this server's own temp dir.
        auto dir = (*c)->Command({"CONFIG", "GET", "dir"});
        if (!dir.ok()) return false;
        if ((*dir)->type == REDIS_REPLY_ERROR) {
          ours = true;  // CONFIG not allowed for this user: nothing to compare
          return true;
        }
        ours = (*dir)->type == REDIS_REPLY_ARRAY && (*dir)->elements == 2 &&
               (*dir)->element[1]->str != nullptr &&
               std::string((*dir)->element[1]->str) == real_dir;
        return ours;
      },
      std::chrono::seconds(10));
  if (!process_->running()) {
    const std::string log = process_->ReadLog();
    process_.reset();
    return absl::InternalError(absl::StrCat("redis-server exited at start: ",
                                            log.size() > 600 ? log.substr(log.size() - 600) : log));
  }
  if (!up) {
    Kill();
    if (answered && !ours) {
      return absl::InternalError(absl::StrCat("port ", port_, " is answered by another redis-server"
                                              " (CONFIG GET dir is not ", real_dir, ")"));
    }
    return absl::DeadlineExceededError("redis-server did not answer within 10 s");
  }
  return absl::OkStatus();
}

void RedisServer::Kill() {
  if (process_ == nullptr) return;
  process_->Signal(SIGKILL);
  process_->Wait(std::chrono::seconds(10));
  process_.reset();
}

void RedisServer::Stop() {
  if (process_ == nullptr) return;
  process_->Signal(SIGTERM);
  process_->Wait(std::chrono::seconds(10));
  process_.reset();  // SIGKILLs it if it did not stop in time
}

absl::Status RedisServer::Restart() {
  if (running()) return absl::FailedPreconditionError("redis-server is still running");
  return Launch();
}

RedisServer::~RedisServer() {
  Kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

store::RedisOptions RedisServer::StoreOptions(const std::string& prefix) const {
  store::RedisOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.password = options_.password;
  o.key_prefix = prefix;
  o.connect_timeout = std::chrono::milliseconds(500);
  o.command_timeout = std::chrono::milliseconds(1000);
  return o;
}

RedisServer& SharedRedisServer() {
  static std::unique_ptr<RedisServer> server = [] {
    auto started = RedisServer::Start();
    if (!started.ok()) {
      std::cerr << "cannot start the shared redis-server: " << started.status() << "\n";
      std::abort();
    }
    return *std::move(started);
  }();
  return *server;
}

std::string UniqueKeyPrefix() {
  static std::atomic<int> counter{0};
  return absl::StrCat("t", getpid(), "x", counter.fetch_add(1));
}

}  // namespace mx::testing
