// The mxd binary as operators run it: reflection for grpcurl, signals, and
// configuration errors at startup.
#include <signal.h>
#include <sys/wait.h>

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <sstream>

#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "integration/child_process.h"
#include "p2p.grpc.pb.h"

namespace mx::testing {
namespace {

namespace refl = grpc::reflection::v1alpha;

class MxdProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("mxd_process_test"); }
  int Start(const std::vector<std::string>& args) {
    return StartMxd(&mxd_, args, dir_ + "/mxd.log");
  }
  std::shared_ptr<grpc::Channel> Channel(int port) {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                               grpc::InsecureChannelCredentials());
  }
  // One request on the reflection stream; false when the stream fails.
  bool Reflect(int port, const refl::ServerReflectionRequest& request,
               refl::ServerReflectionResponse* response, grpc::Status* status) {
    auto stub = refl::ServerReflection::NewStub(Channel(port));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto stream = stub->ServerReflectionInfo(&context);
    stream->Write(request);
    stream->WritesDone();
    const bool read = stream->Read(response);
    *status = stream->Finish();
    return read && status->ok();
  }

  std::string dir_;
  ChildProcess mxd_;
};

TEST_F(MxdProcessTest, ReflectionListsAndDescribesTheServiceWithoutProtoFiles) {
  const int port = Start({});
  ASSERT_NE(port, 0) << mxd_.ReadLog();
  refl::ServerReflectionRequest list;
  list.set_list_services("");
  refl::ServerReflectionResponse response;
  grpc::Status status;
  ASSERT_TRUE(Reflect(port, list, &response, &status)) << status.error_message();
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
  EXPECT_NE(std::find(names.begin(), names.end(), "model_express.p2p.P2pService"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "grpc.health.v1.Health"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "mxd.discovery.v1.Discovery"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "mxd.admin.v1.Admin"), names.end());

  refl::ServerReflectionRequest describe;
  describe.set_file_containing_symbol("model_express.p2p.P2pService");
  ASSERT_TRUE(Reflect(port, describe, &response, &status)) << status.error_message();
  ASSERT_GT(response.file_descriptor_response().file_descriptor_proto_size(), 0);
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(response.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(file.package(), "model_express.p2p");
  ASSERT_EQ(file.service_size(), 1);
  EXPECT_EQ(file.service(0).method_size(), 4);
}

TEST_F(MxdProcessTest, ReflectionCanBeTurnedOff) {
  const int port = Start({"--reflection=false"});
  ASSERT_NE(port, 0) << mxd_.ReadLog();
  refl::ServerReflectionRequest list;
  list.set_list_services("");
  refl::ServerReflectionResponse response;
  grpc::Status status;
  EXPECT_FALSE(Reflect(port, list, &response, &status));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(MxdProcessTest, ReflectionCanRequireAValidToken) {
  const std::string token = "tok-reflection-reader-0123456789";
  std::ofstream(dir_ + "/tokens") << token << ",dash,reader\n";
  const int port = Start({"--auth-token-file=" + dir_ + "/tokens", "--reflection-requires-auth"});
  ASSERT_NE(port, 0) << mxd_.ReadLog();
  auto reflect = [&](const std::string& bearer, grpc::Status* status) {
    auto stub = refl::ServerReflection::NewStub(Channel(port));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!bearer.empty()) context.AddMetadata("authorization", "Bearer " + bearer);
    auto stream = stub->ServerReflectionInfo(&context);
    refl::ServerReflectionRequest list;
    list.set_list_services("");
    stream->Write(list);
    stream->WritesDone();
    refl::ServerReflectionResponse response;
    const bool read = stream->Read(&response);
    *status = stream->Finish();
    return read && status->ok() && response.list_services_response().service_size() > 0;
  };
  grpc::Status status;
  EXPECT_FALSE(reflect("", &status));
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(reflect("tok-not-in-the-file-0123456789", &status));
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(reflect(token, &status)) << status.error_message();
}

TEST_F(MxdProcessTest, SigtermDrainsAndExitsZero) {
  const int port = Start({});
  ASSERT_NE(port, 0) << mxd_.ReadLog();
  auto stub = model_express::p2p::P2pService::NewStub(Channel(port));
  grpc::ClientContext context;
  model_express::p2p::ListSourcesResponse listed;
  ASSERT_TRUE(stub->ListSources(&context, {}, &listed).ok());
  mxd_.Signal(SIGTERM);
  auto status = mxd_.Wait(std::chrono::seconds(15));
  ASSERT_TRUE(status.has_value()) << "mxd did not exit after SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_NE(mxd_.ReadLog().find("mxd stopped"), std::string::npos);
}

TEST_F(MxdProcessTest, SigintAlsoExitsZero) {
  ASSERT_NE(Start({}), 0) << mxd_.ReadLog();
  mxd_.Signal(SIGINT);
  auto status = mxd_.Wait(std::chrono::seconds(15));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

TEST_F(MxdProcessTest, JsonLogsAreOneObjectPerLineWithEscapedIds) {
  const int port = Start({"--log-format", "json"});
  ASSERT_NE(port, 0) << mxd_.ReadLog();
  auto stub = model_express::p2p::P2pService::NewStub(Channel(port));
  model_express::p2p::PublishMetadataRequest request;
  request.mutable_identity()->set_model_name("m\"quoted\"");
  request.set_worker_id("evil\nINFO forged line");
  request.mutable_worker()->set_worker_rank(1);
  grpc::ClientContext context;
  model_express::p2p::PublishMetadataResponse response;
  ASSERT_TRUE(stub->PublishMetadata(&context, request, &response).ok());
  ASSERT_TRUE(response.success());
  mxd_.Signal(SIGTERM);
  ASSERT_TRUE(mxd_.Wait(std::chrono::seconds(15)).has_value());
  std::istringstream lines(mxd_.ReadLog());
  std::string line;
  int count = 0;
  bool saw_publish = false;
  while (std::getline(lines, line)) {
    auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(parsed.is_discarded()) << line;
    ASSERT_TRUE(parsed.contains("ts") && parsed.contains("level") && parsed.contains("msg")) << line;
    const std::string msg = parsed["msg"];
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "a raw newline reached the log: " << line;
    if (msg.find("publish ") == 0) {
      saw_publish = true;
      EXPECT_EQ(parsed["level"], "info");
      EXPECT_NE(msg.find("evil\\nINFO"), std::string::npos) << msg;
    }
    ++count;
  }
  EXPECT_GE(count, 4);
  EXPECT_TRUE(saw_publish);
}

TEST_F(MxdProcessTest, InvalidTimingsAreAStartupErrorNotASilentDefault) {
  ChildProcess bad;
  ASSERT_TRUE(bad.Start({BinaryPath("mxd"), "--listen", "127.0.0.1:0"}, dir_ + "/bad.log",
                        {"MX_HEARTBEAT_TIMEOUT_SECS=soon"}));
  auto status = bad.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_NE(bad.ReadLog().find("MX_HEARTBEAT_TIMEOUT_SECS"), std::string::npos) << bad.ReadLog();
}

TEST_F(MxdProcessTest, AnUnknownStoreIsAClearStartupError) {
  ChildProcess bad;
  ASSERT_TRUE(bad.Start({BinaryPath("mxd"), "--store", "etcd"}, dir_ + "/bad.log"));
  auto status = bad.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_NE(bad.ReadLog().find("etcd"), std::string::npos) << bad.ReadLog();
}

}  // namespace
}  // namespace mx::testing
