#include "integration/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace mx::testing {

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool ChildProcess::Start(const std::vector<std::string>& argv, const std::string& log_path,
                         const std::vector<std::string>& extra_env) {
  log_path_ = log_path;
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    for (const auto& kv : extra_env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  pid_ = pid;
  return true;
}

void ChildProcess::Signal(int signal_number) {
  if (pid_ > 0) kill(pid_, signal_number);
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  WaitFor([&] { return !running(); }, timeout);
  return exit_status_;
}

std::string ChildProcess::ReadLog() const {
  std::ifstream in(log_path_);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string BinaryPath(const std::string& name) {
  // Overridable for binaries carried to another machine (benchmarks).
  const char* dir = std::getenv("MX_TEST_BINARY_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : MX_BINARY_DIR) + "/" + name;
}

namespace {

// The port in mxd's "serving model_express.p2p.P2pService on port N" line;
// 0 until that line is complete. (No <regex>: it costs this file seconds of
// compile time on every CI run.)
int ServingPort(const std::string& log) {
  static constexpr char kServing[] = "serving model_express.p2p.P2pService on port ";
  const size_t at = log.find(kServing);
  if (at == std::string::npos) return 0;
  size_t i = at + sizeof(kServing) - 1;
  int port = 0;
  for (; i < log.size() && log[i] >= '0' && log[i] <= '9' && port <= 65535; ++i) {
    port = port * 10 + (log[i] - '0');
  }
  if (i == log.size()) return 0;  // the number may still be being written
  return port > 65535 ? 0 : port;
}

}  // namespace

int StartMxd(ChildProcess* process, const std::vector<std::string>& args,
             const std::string& log_path, std::chrono::milliseconds timeout,
             const std::vector<std::string>& extra_env) {
  // A free metrics port too: the default 9401 would collide between tests.
  std::vector<std::string> argv = {BinaryPath("mxd"), "--listen", "127.0.0.1:0",
                                   "--metrics-listen", "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  if (!process->Start(argv, log_path, extra_env)) return 0;
  int port = 0;
  WaitFor(
      [&] {
        port = ServingPort(process->ReadLog());
        return port != 0 || !process->running();
      },
      timeout);
  return port;
}

std::string MakeTempDir(const std::string& prefix) {
  std::string pattern = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
  pattern += "/" + prefix + "XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  const char* dir = mkdtemp(buffer.data());
  return dir ? dir : "";
}

}  // namespace mx::testing
