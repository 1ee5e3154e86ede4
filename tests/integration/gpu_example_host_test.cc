// The GPU seed and target in host-memory mode: the same metadata path as on
// GPUs (mxd, FindSource, GetMetadata, the shard handle in nixl_metadata),
// with POSIX shared memory in place of CUDA IPC.
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>

#include "gtest/gtest.h"
#include "test_support.h"

namespace mx::testing {
namespace {

constexpr char kScale[] = "0.0001";  // 2,731 tensors in ~3.4 MB

class GpuExampleHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(server_->port());
  }

  // Starts a host-mode seed and waits until it has published.
  void StartSeed(const std::string& model, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {GPU_SEED_PATH, "--mode", "host", "--server", address_,
                                     "--model", model, "--scale", kScale, "--interval-ms", "500"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ASSERT_TRUE(seed_.Start(argv, ::testing::TempDir() + "/gpu_seed_" + model.substr(5) + ".log"));
    ASSERT_TRUE(WaitFor([&] { return seed_.ReadLog().find("published ") != std::string::npos ||
                                     !seed_.running(); },
                        std::chrono::seconds(60)))
        << seed_.ReadLog();
    ASSERT_NE(seed_.ReadLog().find("published 2731 tensors"), std::string::npos) << seed_.ReadLog();
  }

  ProcessResult RunTarget(const std::string& model) {
    return RunProcess(GPU_TARGET_PATH, {"--mode", "host", "--server", address_, "--model", model,
                                        "--scale", kScale, "--timeout-ms", "20000"});
  }

  void StopSeed() {
    seed_.Signal(SIGTERM);
    auto status = seed_.Wait(std::chrono::seconds(20));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << seed_.ReadLog();
  }

  std::unique_ptr<server::Server> server_;
  std::string address_;
  ChildProcess seed_;
};

TEST_F(GpuExampleHostTest, TheTargetCopiesAndVerifiesEveryTensorOfTheSeedsShard) {
  StartSeed("test/gpu-host-ok");
  auto target = RunTarget("test/gpu-host-ok");
  ASSERT_EQ(target.exit_code, 0) << target.out << target.err;
  EXPECT_NE(target.out.find("verified 2731/2731 tensors"), std::string::npos) << target.out;
  EXPECT_NE(target.out.find("RESULT tensors=2731 "), std::string::npos) << target.out;
  EXPECT_NE(target.out.find("verified=all"), std::string::npos) << target.out;
  for (const char* phase : {"discovery", "metadata fetch + decode", "mapping (open/import + map)", "copy",
                            "metadata plane share"}) {
    EXPECT_NE(target.out.find(phase), std::string::npos) << phase << "\n" << target.out;
  }
  StopSeed();
}

TEST_F(GpuExampleHostTest, ACorruptedTensorFailsVerificationByName) {
  const std::string bad = "model.layers.40.mlp.experts.2.down_proj.weight";
  StartSeed("test/gpu-host-bad", {"--corrupt", bad});
  auto target = RunTarget("test/gpu-host-bad");
  EXPECT_NE(target.exit_code, 0) << target.out;
  EXPECT_NE(target.err.find("DATA_LOSS"), std::string::npos) << target.err;
  EXPECT_NE(target.err.find(bad), std::string::npos) << target.err;
  EXPECT_NE(target.out.find("verified=FAILED"), std::string::npos) << target.out;
  StopSeed();
}

TEST_F(GpuExampleHostTest, AShardOfAnotherShapeIsRefusedBeforeAnyCopy) {
  StartSeed("test/gpu-host-shape");
  auto target = RunProcess(GPU_TARGET_PATH, {"--mode", "host", "--server", address_, "--model",
                                             "test/gpu-host-shape", "--scale", kScale,
                                             "--experts-per-rank", "8", "--timeout-ms", "20000"});
  EXPECT_NE(target.exit_code, 0) << target.out;
  EXPECT_NE(target.err.find("FAILED_PRECONDITION"), std::string::npos) << target.err;
  EXPECT_EQ(target.out.find("RESULT"), std::string::npos) << target.out;
  StopSeed();
}

TEST(GpuExampleFlagsTest, BadFlagsGetAClearErrorAndNoShardIsMade) {
  auto seed = RunProcess(GPU_SEED_PATH, {"--mode", "host", "--scale", "2"});
  EXPECT_NE(seed.exit_code, 0);
  EXPECT_NE(seed.err.find("--scale must be in (0, 1]"), std::string::npos) << seed.err;
  auto target = RunProcess(GPU_TARGET_PATH, {"--mode", "tape"});
  EXPECT_NE(target.exit_code, 0);
  EXPECT_NE(target.err.find("--mode: cuda or host"), std::string::npos) << target.err;
  auto kind = RunProcess(GPU_SEED_PATH, {"--mode", "cuda", "--handle-kind", "nvlink"});
  EXPECT_NE(kind.exit_code, 0);
  EXPECT_NE(kind.err.find("--handle-kind: vmm or ipc"), std::string::npos) << kind.err;
  auto connect = RunProcess(GPU_TARGET_PATH, {"--mode", "host", "--connect-first", "maybe"});
  EXPECT_NE(connect.exit_code, 0);
  EXPECT_NE(connect.err.find("--connect-first: true or false"), std::string::npos) << connect.err;
  auto probes = RunProcess(GPU_TARGET_PATH, {"--mode", "host", "--probe-rpcs", "-1"});
  EXPECT_NE(probes.exit_code, 0);
  EXPECT_NE(probes.err.find("--probe-rpcs"), std::string::npos) << probes.err;
}

TEST(GpuExampleFlagsTest, WithoutACudaDriverTheCudaModeSaysSo) {
  void* cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (cuda != nullptr) {
    dlclose(cuda);
    GTEST_SKIP() << "this machine has a CUDA driver";
  }
  auto seed = RunProcess(GPU_SEED_PATH, {"--mode", "cuda", "--scale", kScale});
  EXPECT_NE(seed.exit_code, 0);
  EXPECT_NE(seed.err.find("cannot load the CUDA driver"), std::string::npos) << seed.err;
}

}  // namespace
}  // namespace mx::testing
