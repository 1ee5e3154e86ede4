// mxctl and discovery: status --load, list's LOAD and TOPOLOGY, watch.
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "mxctl_fixture.h"

namespace mx::testing {
namespace {

using nlohmann::json;

const char kPlacedWorker[] = R"({
  "identity": {"mx_version": "0.5.0", "model_name": "org/placed", "tensor_parallel_size": 1,
               "dtype": "bfloat16"},
  "worker_id": "placed-w0",
  "worker": {"worker_rank": 0, "status": "SOURCE_STATUS_READY",
             "topology": {"zone": "us-east-1a", "rack": "r12"},
             "tensor_source": {"tensors": [{"name": "w", "addr": "4096", "size": 64}]}}
})";

class MxctlDiscoveryTest : public MxctlFixture {};

TEST_F(MxctlDiscoveryTest, ListShowsTheLoadAStatusCallReportedAndTheTopology) {
  auto published = Mxctl({"publish", "--json"}, kPlacedWorker);
  ASSERT_EQ(published.exit_code, 0) << published.err;
  const std::string id = json::parse(published.out)["mx_source_id"];

  auto before = Mxctl({"list"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_NE(before.out.find("LOAD"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("TOPOLOGY"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("rack=r12,zone=us-east-1a"), std::string::npos) << before.out;

  auto status = Mxctl({"status", id, "placed-w0", "ready", "--load", "0.25"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  auto human = Mxctl({"list"});
  EXPECT_NE(human.out.find("0.25"), std::string::npos) << human.out;

  auto listed = Mxctl({"list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const json ref = json::parse(listed.out)["instances"][0];
  EXPECT_DOUBLE_EQ(ref["source_load"].get<double>(), 0.25);
  EXPECT_EQ(ref["topology"]["zone"], "us-east-1a");
  EXPECT_EQ(ref["topology"]["rack"], "r12");

  auto got = Mxctl({"get", "--json", id, "placed-w0"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(json::parse(got.out)["worker"]["topology"]["rack"], "r12");
}

TEST_F(MxctlDiscoveryTest, ALoadOutsideZeroToOneIsAUsageErrorAndChangesNothing) {
  auto published = Mxctl({"publish", "--json"}, kPlacedWorker);
  ASSERT_EQ(published.exit_code, 0) << published.err;
  const std::string id = json::parse(published.out)["mx_source_id"];
  for (const char* bad : {"1.5", "-0.1", "lots", "nan"}) {
    auto status = Mxctl({"status", id, "placed-w0", "stale", "--load", bad});
    EXPECT_EQ(status.exit_code, 2) << bad;
    EXPECT_NE(status.err.find("--load"), std::string::npos) << status.err;
  }
  auto listed = Mxctl({"list", "--json", "--status", "ready"});
  EXPECT_EQ(json::parse(listed.out)["instances"].size(), 1u);  // still READY
}

TEST_F(MxctlDiscoveryTest, WatchPrintsTheSnapshotAsLinesAndAsJson) {
  auto published = Mxctl({"publish", "--json"}, kPlacedWorker);
  ASSERT_EQ(published.exit_code, 0) << published.err;
  const std::string id = json::parse(published.out)["mx_source_id"];

  auto human = Mxctl({"watch", "--status", "ready", "--count", "2"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out.find("SNAPSHOT "), 0u) << human.out;
  EXPECT_NE(human.out.find(id + " placed-w0 rank=0"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("SNAPSHOT_END"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("token="), std::string::npos) << human.out;

  auto lines = Mxctl({"watch", "--json", "--rank", "0", "--count", "2"});
  ASSERT_EQ(lines.exit_code, 0) << lines.err;
  std::vector<json> events;
  size_t start = 0;
  for (size_t end; (end = lines.out.find('\n', start)) != std::string::npos; start = end + 1) {
    events.push_back(json::parse(lines.out.substr(start, end - start)));
  }
  ASSERT_EQ(events.size(), 2u) << lines.out;
  EXPECT_EQ(events[0]["type"], "TYPE_SNAPSHOT");
  EXPECT_EQ(events[0]["source"]["topology"]["rack"], "r12");
  EXPECT_EQ(events[1]["type"], "TYPE_SNAPSHOT_END");

  // Resuming from the end's token prints only what came after it.
  const std::string token = events[1]["resume_token"];
  auto status = Mxctl({"status", id, "placed-w0", "stale"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  auto resumed = Mxctl({"watch", "--json", "--status", "ready", "--resume", token, "--count", "1"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const json removed = json::parse(resumed.out);
  EXPECT_EQ(removed["type"], "TYPE_REMOVED");
  EXPECT_EQ(removed["source"]["worker_id"], "placed-w0");
}

}  // namespace
}  // namespace mx::testing
