// mxctl remove (the real binary) against an in-process mxd with token auth:
// mxd.admin.v1.Admin removes a worker or a whole source for an admin and
// refuses every other role without touching the record.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "admin.grpc.pb.h"
#include "mxctl_fixture.h"
#include "ops_fixture.h"

namespace mx::testing {
namespace {

constexpr char kAdmin[] = "mxctl-remove-admin-token-0001";
constexpr char kPublisher[] = "mxctl-remove-publisher-tok-1";

std::string PublishJson(const std::string& worker, int rank) {
  return R"({"identity": {"mx_version": "0.5.0", "model_name": "org/remove-model",
                          "tensor_parallel_size": 2},
             "worker_id": ")" + worker + R"(",
             "worker": {"worker_rank": )" + std::to_string(rank) + R"(,
                        "tensor_source": {"tensors": [{"name": "w", "addr": "1", "size": "2"}]}}})";
}

class MxctlRemoveTest : public MxctlFixture {
 protected:
  void SetUp() override {
    dir_ = NewTempDir();
    ASSERT_FALSE(dir_.empty());
    WriteFile(dir_ + "/tokens", std::string(kAdmin) + ",ops,admin\n" + kPublisher +
                                    ",engine,publisher\n");
    server::ServerConfig config;
    config.auth.token_file = dir_ + "/tokens";
    StartMxd(config);
  }
  void TearDown() override {
    server_.reset();
    RunShell("rm -rf " + dir_);
  }

  ProcessResult Mxctl(const std::string& token, std::vector<std::string> args,
                      const std::string& input = "") {
    global_flags_ = {"--timeout=10", "--token=" + token};
    return MxctlFixture::Mxctl(std::move(args), input);
  }
  // Publishes `worker` as the publisher; returns the source id.
  std::string Publish(const std::string& worker, int rank) {
    auto published = Mxctl(kPublisher, {"publish"}, PublishJson(worker, rank));
    EXPECT_EQ(published.exit_code, 0) << published.err;
    const std::string marker = "as source ";
    const size_t at = published.out.find(marker);
    if (at == std::string::npos) return "";
    std::string id = published.out.substr(at + marker.size());
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    return id;
  }

  std::string dir_;
};

TEST_F(MxctlRemoveTest, APublisherIsRefusedAndTheWorkerStays) {
  const std::string source = Publish("rm-w0", 0);
  ASSERT_FALSE(source.empty());
  auto refused = Mxctl(kPublisher, {"remove", source, "--worker", "rm-w0"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("PERMISSION_DENIED"), std::string::npos) << refused.err;
  auto whole = Mxctl(kPublisher, {"remove", source});
  EXPECT_NE(whole.err.find("PERMISSION_DENIED"), std::string::npos) << whole.err;
  auto got = Mxctl(kPublisher, {"get", source, "rm-w0"});
  EXPECT_EQ(got.exit_code, 0) << got.err;
}

TEST_F(MxctlRemoveTest, AnAdminRemovesOneWorkerAndThenItIsNotFound) {
  const std::string source = Publish("rm-w0", 0);
  ASSERT_FALSE(source.empty());
  ASSERT_FALSE(Publish("rm-w1", 1).empty());
  auto removed = Mxctl(kAdmin, {"remove", source, "--worker", "rm-w0", "--json"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_NE(removed.out.find("\"workers_removed\":1"), std::string::npos) << removed.out;
  auto gone = Mxctl(kAdmin, {"get", source, "rm-w0"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("NOT_FOUND"), std::string::npos) << gone.err;
  EXPECT_EQ(Mxctl(kAdmin, {"get", source, "rm-w1"}).exit_code, 0);
  auto again = Mxctl(kAdmin, {"remove", source, "--worker", "rm-w0"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("NOT_FOUND"), std::string::npos) << again.err;
}

TEST_F(MxctlRemoveTest, AnAdminRemovesAWholeSource) {
  const std::string source = Publish("rm-w0", 0);
  ASSERT_FALSE(source.empty());
  ASSERT_FALSE(Publish("rm-w1", 1).empty());
  auto removed = Mxctl(kAdmin, {"remove", source});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_NE(removed.out.find("removed 2 workers"), std::string::npos) << removed.out;
  auto listed = Mxctl(kAdmin, {"list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out.find("rm-w"), std::string::npos) << listed.out;
}

TEST_F(MxctlRemoveTest, BadUsageAndEmptyIdsAreRefusedBeforeTheStore) {
  EXPECT_EQ(Mxctl(kAdmin, {"remove"}).exit_code, 2);
  EXPECT_EQ(Mxctl(kAdmin, {"remove", "a", "b"}).exit_code, 2);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = mxd::admin::v1::Admin::NewStub(channel);
  grpc::ClientContext context;
  context.AddMetadata("authorization", std::string("Bearer ") + kAdmin);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  mxd::admin::v1::RemoveWorkerRequest request;
  request.set_mx_source_id("0123456789abcdef");
  mxd::admin::v1::RemoveWorkerResponse response;
  EXPECT_EQ(stub->RemoveWorker(&context, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mx::testing
