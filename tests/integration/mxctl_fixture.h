// The fixture of every mxctl test: the real mxctl binary (MXCTL_PATH) run
// against an in-process mxd (memory store) on loopback.
#ifndef MX_TESTS_INTEGRATION_MXCTL_FIXTURE_H_
#define MX_TESTS_INTEGRATION_MXCTL_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/server.h"
#include "test_support.h"

namespace mx::testing {

class MxctlFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerConfig config;
    config.reflection = false;
    StartMxd(config);
  }

  // Starts mxd with `config` on a free loopback port, without a metrics
  // listener. Fixtures with TLS or tokens call it from their
  // own SetUp.
  void StartMxd(server::ServerConfig config);

  // Runs `mxctl --server=<this mxd> <global_flags_...> <args...>` with
  // `input` on stdin.
  ProcessResult Mxctl(std::vector<std::string> args, const std::string& input = "") const;

  int port() const { return server_->port(); }

  std::unique_ptr<server::Server> server_;
  std::vector<std::string> global_flags_;  // TLS files, a token, --timeout
};

}  // namespace mx::testing

#endif  // MX_TESTS_INTEGRATION_MXCTL_FIXTURE_H_
