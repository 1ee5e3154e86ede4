#include "redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "store/redis/redis_connection.h"

namespace mx::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool WaitForExit(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// The end of a log file, for error messages.
std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() > 600 ? all.substr(all.size() - 600) : all;
}

}  // namespace

std::string RedisServer::BinaryPath() {
  const char* env = std::getenv("MX_REDIS_SERVER");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/redis-server";
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(RedisServerOptions options) {
  if (access(BinaryPath().c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        BinaryPath(), " is missing: install Debian's redis-server (apt-get install redis-server)"));
  }
  std::string templ = (std::filesystem::temp_directory_path() / "mx-redis-XXXXXX").string();
  if (mkdtemp(templ.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  const int port = FreeLoopbackPort();
  if (port <= 0) return absl::InternalError("no free loopback port");
  std::unique_ptr<RedisServer> server(new RedisServer(std::move(options), templ, port));
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
  const std::string log = dir_ + "/redis.log";
  std::vector<char*> argv;  // built before fork(): the child only execs
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  store::RedisOptions probe;
  probe.host = "127.0.0.1";
  probe.port = port_;
  probe.connect_timeout = std::chrono::milliseconds(200);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("redis-server exited at start: ", Tail(log)));
    }
    if (auto c = store::redis::RedisConnection::Open(probe); c.ok()) {
      // "PONG", or NOAUTH when a password is set: either way it listens.
      // "LOADING" means the AOF is still being read: wait.
      auto reply = (*c)->Command({"PING"});
      if (reply.ok() && !((*reply)->type == REDIS_REPLY_ERROR &&
                          absl::string_view((*reply)->str).substr(0, 7) == "LOADING")) {
        return absl::OkStatus();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return absl::DeadlineExceededError(absl::StrCat("redis-server did not answer; see ", log));
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  WaitForExit(pid_, std::chrono::seconds(10));
  pid_ = -1;
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  if (!WaitForExit(pid_, std::chrono::seconds(10))) {
    kill(pid_, SIGKILL);
    WaitForExit(pid_, std::chrono::seconds(10));
  }
  pid_ = -1;
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
