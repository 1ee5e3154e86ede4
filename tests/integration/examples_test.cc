// The seed and target examples find each other through a real mxd.
#include <signal.h>
#include <sys/wait.h>

#include "gtest/gtest.h"
#include "test_support.h"

namespace mx::testing {
namespace {

TEST(ExamplesTest, TheTargetFindsTheSeedAndTheSeedGoesStaleOnSigterm) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string address = "127.0.0.1:" + std::to_string(server->port());
  auto client = MakeClient(server->port());
  ChildProcess seed;
  ASSERT_TRUE(seed.Start({SEED_PATH, "--server", address, "--model", "demo/example",
                          "--worker-id", "seed-7", "--interval-ms", "500"},
                         ::testing::TempDir() + "/example_seed.log"));
  auto target = RunProcess(TARGET_PATH, {"--server", address, "--model", "demo/example",
                                         "--worker-id", "target-0", "--timeout-ms", "10000"});
  ASSERT_EQ(target.exit_code, 0) << target.err;
  EXPECT_NE(target.out.find("would transfer 16 tensors"), std::string::npos) << target.out;
  EXPECT_NE(target.out.find("from worker seed-7"), std::string::npos) << target.out;

  seed.Signal(SIGTERM);  // graceful: the publisher marks the worker STALE on the way out
  auto exit_status = seed.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(exit_status.has_value());
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0);
  ListFilter stale;
  stale.status = p2p::SOURCE_STATUS_STALE;
  auto refs = client->ListSources(stale);
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].worker_id(), "seed-7");
}

}  // namespace
}  // namespace mx::testing
