// mxctl end to end: the real binary against an in-process mxd.
#include "gtest/gtest.h"
#include "mx/client.h"
#include "nlohmann/json.hpp"
#include "mxctl_fixture.h"

namespace mx::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

const char kPublishJson[] = R"({
  "identity": {"mx_version": "0.5.0", "model_name": "org/cli-model",
               "backend_framework": "BACKEND_FRAMEWORK_VLLM", "tensor_parallel_size": 8,
               "dtype": "bfloat16", "extra_parameters": {"training_step": "42"}},
  "worker_id": "cli-w0",
  "worker": {"worker_rank": 3, "status": "SOURCE_STATUS_READY", "accelerator": "H100",
             "transfer_engine_session_id": "10.0.0.5:17000",
             "tensor_source": {"tensors": [
               {"name": "w", "addr": "18446744073709551615", "size": 4096, "dtype": "bfloat16"}]}}
})";

class MxctlTest : public MxctlFixture {};

TEST_F(MxctlTest, PublishListGetAndStatusWorkEndToEndWithJsonOutput) {
  auto published = Mxctl({"publish", "--json"}, kPublishJson);
  ASSERT_EQ(published.exit_code, 0) << published.err;
  const json p = json::parse(published.out);
  const std::string id = p["mx_source_id"];
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(p["worker_id"], "cli-w0");

  auto listed = Mxctl({"list", "--json", "--status", "ready", "--rank", "3", "--model-name",
                       "org/cli-model", "--min-training-step", "40", "--limit", "5"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const json l = json::parse(listed.out);
  ASSERT_EQ(l["instances"].size(), 1u);
  EXPECT_EQ(l["instances"][0]["mx_source_id"], id);
  EXPECT_EQ(l["instances"][0]["worker_rank"], 3);
  EXPECT_EQ(l["instances"][0]["training_step"], "42");  // 64-bit integers are strings
  EXPECT_TRUE(l["instances"][0]["updated_at"].is_string());

  auto by_identity = Mxctl({"list", "--json", "--model", "org/cli-model", "--mx-version", "0.5.0",
                            "--framework", "vllm", "--tp", "8", "--dtype", "bfloat16", "--extra",
                            "training_step=42"});
  ASSERT_EQ(by_identity.exit_code, 0) << by_identity.err;
  EXPECT_EQ(json::parse(by_identity.out)["instances"].size(), 1u);
  auto none = Mxctl({"list", "--json", "--rank", "4"});
  EXPECT_EQ(json::parse(none.out)["instances"].size(), 0u);

  auto got = Mxctl({"get", "--json", id, "cli-w0"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  const json g = json::parse(got.out);
  EXPECT_TRUE(g["found"].get<bool>());
  EXPECT_EQ(g["worker"]["status"], "SOURCE_STATUS_READY");
  EXPECT_EQ(g["worker"]["tensor_source"]["tensors"][0]["addr"], "18446744073709551615");
  EXPECT_EQ(g["identity"]["model_name"], "org/cli-model");

  auto human = Mxctl({"get", id, "cli-w0"});
  ASSERT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find("0xffffffffffffffff"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("READY"), std::string::npos);

  auto stale = Mxctl({"status", id, "cli-w0", "stale", "--rank", "3"});
  ASSERT_EQ(stale.exit_code, 0) << stale.err;
  auto after = Mxctl({"list", "--status", "stale"});
  EXPECT_NE(after.out.find("cli-w0"), std::string::npos) << after.out;
  EXPECT_NE(after.out.find("MX_SOURCE_ID"), std::string::npos);
}

TEST_F(MxctlTest, HashMatchesTheContractCheckValueWithoutAServer) {
  auto hashed = RunProcess(MXCTL_PATH, {"--server", "127.0.0.1:1", "hash", "--mx-version", "0.5.0",
                                        "--model", "deepseek-ai/DeepSeek-V3", "--framework", "vllm",
                                        "--tp", "8", "--pp", "1", "--dtype", "bfloat16"});
  ASSERT_EQ(hashed.exit_code, 0) << hashed.err;
  EXPECT_EQ(hashed.out, "5a5f555570065064\n");
  auto from_json = RunProcess(MXCTL_PATH, {"hash", "--json", "--identity", "-"},
                              R"({"mx_version":"0.5.0","model_name":"deepseek-ai/DeepSeek-V3",
                                  "backend_framework":1,"tensor_parallel_size":8,
                                  "pipeline_parallel_size":1,"dtype":"bfloat16"})");
  ASSERT_EQ(from_json.exit_code, 0) << from_json.err;
  const json h = json::parse(from_json.out);
  EXPECT_EQ(h["mx_source_id"], "5a5f555570065064");
  EXPECT_NE(h["canonical_json"].get<std::string>().find("deepseek-ai/deepseek-v3"),
            std::string::npos);
}

TEST_F(MxctlTest, HealthSaysServing) {
  auto health = Mxctl({"health"});
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_EQ(health.out, "SERVING\n");
  auto unknown = Mxctl({"health", "--json", "--service", "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(json::parse(unknown.out)["status"], "SERVICE_UNKNOWN");
}

TEST_F(MxctlTest, FailuresExitNonZeroWithOneErrorLine) {
  auto missing = Mxctl({"get", "0123456789abcdef", "nobody"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err.rfind("mxctl: NOT_FOUND", 0), 0u) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1);
  EXPECT_TRUE(missing.out.empty());

  auto rejected = Mxctl({"publish"}, R"({"worker_id": "w", "identity": {}, "worker": {}})");
  EXPECT_EQ(rejected.exit_code, 1);
  EXPECT_NE(rejected.err.find("model_name"), std::string::npos) << rejected.err;

  auto bad_json = Mxctl({"publish"}, "{not json");
  EXPECT_EQ(bad_json.exit_code, 2);
  auto unknown_flag = Mxctl({"list", "--bogus"});
  EXPECT_EQ(unknown_flag.exit_code, 2);
  EXPECT_NE(unknown_flag.err.find("--bogus"), std::string::npos);
  auto unknown_command = Mxctl({"frobnicate"});
  EXPECT_EQ(unknown_command.exit_code, 2);
  auto bad_status = Mxctl({"status", "a", "b", "sleepy"});
  EXPECT_EQ(bad_status.exit_code, 2);
}

TEST(MxctlDeadServerTest, ADeadServerFailsWithinTheTimeout) {
  auto dead = RunProcess(MXCTL_PATH, {"list", "--timeout", "1"}, "",
                         {{"MX_SERVER_ADDRESS", "127.0.0.1:" + std::to_string(FreePort())}});
  EXPECT_EQ(dead.exit_code, 1);
  EXPECT_EQ(dead.err.rfind("mxctl: UNAVAILABLE", 0), 0u) << dead.err;
  EXPECT_LT(dead.elapsed, milliseconds(10000));  // --timeout 1 ended it, with margin for load
}

TEST(MxctlHelpTest, EverySubcommandHasHelp) {
  auto main_help = RunProcess(MXCTL_PATH, {"--help"});
  EXPECT_EQ(main_help.exit_code, 0);
  for (const char* command : {"list", "get", "publish", "status", "hash", "health"}) {
    EXPECT_NE(main_help.out.find(std::string("  ") + command), std::string::npos) << command;
    auto help = RunProcess(MXCTL_PATH, {command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_EQ(help.out.rfind(std::string("usage: mxctl ") + command, 0), 0u) << help.out;
    EXPECT_NE(help.out.find("--server"), std::string::npos) << command;
  }
  auto bare = RunProcess(MXCTL_PATH, {});
  EXPECT_EQ(bare.exit_code, 2);
}

}  // namespace
}  // namespace mx::testing
