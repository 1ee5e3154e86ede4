// Runs a program as a child process for tests: start, signal, wait with a
// deadline, and kill on destruction so no test leaves a process behind.
#ifndef MX_TESTS_INTEGRATION_CHILD_PROCESS_H_
#define MX_TESTS_INTEGRATION_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mx::testing {

// Polls `done` every few milliseconds until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout);

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // SIGKILL + reap if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] with stdout+stderr appended to `log_path`.
  bool Start(const std::vector<std::string>& argv, const std::string& log_path,
             const std::vector<std::string>& extra_env = {});
  void Signal(int signal_number);
  // Exit status as from waitpid (use WIFEXITED etc.), or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // False once the child has exited (reaps it; the status stays in Wait()).
  bool running();
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::string log_path_;
};

// Path of a built binary next to the test binaries (set by CMake; the
// environment's MX_TEST_BINARY_DIR, when set, overrides it).
std::string BinaryPath(const std::string& name);

// Starts mxd with --listen 127.0.0.1:0 plus `args` and returns the port it
// logged, or 0 when it did not come up within `timeout`.
int StartMxd(ChildProcess* process, const std::vector<std::string>& args,
             const std::string& log_path,
             std::chrono::milliseconds timeout = std::chrono::seconds(15),
             const std::vector<std::string>& extra_env = {});

// A fresh directory under the system temp dir.
std::string MakeTempDir(const std::string& prefix);

}  // namespace mx::testing

#endif  // MX_TESTS_INTEGRATION_CHILD_PROCESS_H_
