// Shared helpers for the client integration tests: a real mxd in-process or
// as a child process on loopback, deadline-bounded waiting, and running
// binaries with captured output.
#ifndef MX_TESTS_INTEGRATION_TEST_SUPPORT_H_
#define MX_TESTS_INTEGRATION_TEST_SUPPORT_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "integration/child_process.h"  // ChildProcess, WaitFor
#include "mx/client.h"
#include "server/server.h"
#include "store/store.h"

namespace mx::testing {

// A loopback port nothing listens on, reserved for the rest of this process:
// no other test's server can take it, and a server of this test can listen
// on it, stop and listen again (see integration/port_reservation.h).
int FreePort();

// In-process mxd on 127.0.0.1:`port` (0 = any) over `store` (a MemoryStore
// when null). Aborts the test (ADD_FAILURE + nullptr) when it cannot start.
std::unique_ptr<server::Server> StartServer(int port = 0,
                                            std::chrono::seconds heartbeat_timeout = std::chrono::seconds(90),
                                            std::chrono::seconds scan_interval = std::chrono::seconds(30),
                                            std::unique_ptr<store::Store> store = nullptr);

// A client for 127.0.0.1:`port` with test-friendly (short) retry settings.
std::shared_ptr<Client> MakeClient(int port, ClientOptions options = {});

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
};

// Runs `path args...` to completion with `input` on stdin; `env` entries
// are added to (or replace in) the environment.
ProcessResult RunProcess(const std::string& path, const std::vector<std::string>& args,
                         const std::string& input = "",
                         const std::map<std::string, std::string>& env = {});

// A fresh PublishMetadataRequest for `model`/`worker_id`/`rank` with two tensors.
model_express::p2p::PublishMetadataRequest MakeRequest(const std::string& model,
                                                       const std::string& worker_id,
                                                       uint32_t rank = 0,
                                                       const std::string& accelerator = "");

}  // namespace mx::testing

#endif  // MX_TESTS_INTEGRATION_TEST_SUPPORT_H_
