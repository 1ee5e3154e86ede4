// PublishMetadata and GetMetadata are raw (ByteBuffer) methods in mxd; typed
// clients must see exactly the contract behaviour through them.
#include <condition_variable>
#include <mutex>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include "p2p.grpc.pb.h"
#include "server/server.h"
#include "store/memory/memory_store.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;

// A memory store that claims to block, as Redis and Kubernetes stores do.
class BlockingMemoryStore final : public store::Store {
 public:
  std::string_view backend() const override { return "blocking-memory"; }
  bool MayBlock() const override { return true; }
  absl::StatusOr<int64_t> NowMs() override { return inner_.NowMs(); }
  absl::Status CheckHealth() override { return inner_.CheckHealth(); }
  absl::StatusOr<store::WorkerState> Upsert(std::shared_ptr<const store::WorkerRecord> record,
                                            const store::UpsertOptions& options) override {
    return inner_.Upsert(std::move(record), options);
  }
  absl::StatusOr<store::StoredWorker> Get(const store::WorkerKey& key) override {
    return inner_.Get(key);
  }
  absl::StatusOr<std::vector<store::WorkerRef>> List(const store::ListQuery& query) override {
    return inner_.List(query);
  }
  absl::StatusOr<store::WorkerState> UpdateStatus(const store::WorkerKey& key,
                                                  const store::StatusUpdate& update) override {
    return inner_.UpdateStatus(key, update);
  }
  absl::Status Remove(const store::WorkerKey& key,
                      const std::optional<store::WorkerState>& expected) override {
    return inner_.Remove(key, expected);
  }

 private:
  store::MemoryStore inner_;
};

class RawGrpcPathsTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith(std::make_unique<store::MemoryStore>()); }

  void StartWith(std::unique_ptr<store::Store> store) {
    server_.reset();
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.metrics_listen = "";  // no port sharing: 9401 may be another test's
    config.reflection = false;
    auto server = Server::Start(config, std::move(store));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()),
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = p2p::P2pService::NewStub(channel_);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<p2p::P2pService::Stub> stub_;
};

p2p::PublishMetadataRequest Worker(int tensors) {
  p2p::PublishMetadataRequest req;
  req.mutable_identity()->set_model_name("m/raw");
  req.mutable_identity()->set_mx_version("0.5.0");
  req.set_worker_id("w0");
  req.mutable_worker()->set_worker_rank(1);
  req.mutable_worker()->set_nixl_metadata(std::string(240 * 1024, '\x5a'));
  for (int i = 0; i < tensors; ++i) {
    auto* t = req.mutable_worker()->mutable_tensor_source()->add_tensors();
    t->set_name("model.layers." + std::to_string(i) + ".mlp.experts.255.down_proj.weight");
    t->set_addr(static_cast<uint64_t>(i) << 20);
    t->set_size(1 << 20);
  }
  return req;
}

TEST_F(RawGrpcPathsTest, PublishedWorkerComesBackWithBothTensorListsOverGrpc) {
  p2p::PublishMetadataResponse published;
  ASSERT_TRUE(stub_->PublishMetadata(Context().get(), Worker(3000), &published).ok());
  ASSERT_TRUE(published.success());
  EXPECT_EQ(published.worker_id(), "w0");
  EXPECT_EQ(published.mx_source_id().size(), 16u);

  p2p::GetMetadataRequest get;
  get.set_mx_source_id(published.mx_source_id());
  get.set_worker_id("w0");
  p2p::GetMetadataResponse reply;
  ASSERT_TRUE(stub_->GetMetadata(Context().get(), get, &reply).ok());
  EXPECT_TRUE(reply.found());
  EXPECT_EQ(reply.mx_source_id(), published.mx_source_id());
  EXPECT_EQ(reply.identity().model_name(), "m/raw");
  EXPECT_EQ(reply.worker().nixl_metadata().size(), 240u * 1024);
  EXPECT_EQ(reply.worker().tensor_source().tensors_size(), 3000);
  EXPECT_EQ(reply.worker().tensors_size(), 3000);
  EXPECT_EQ(reply.worker().tensors(2999).addr(), 2999ULL << 20);
  EXPECT_EQ(reply.worker().status(), p2p::SOURCE_STATUS_INITIALIZING);
  EXPECT_GT(reply.worker().updated_at(), 1600000000000);
}

TEST_F(RawGrpcPathsTest, MemoryStoreKeepsPublishedTensorsOnlyAsReplyBytes) {
  p2p::PublishMetadataResponse published;
  ASSERT_TRUE(stub_->PublishMetadata(Context().get(), Worker(10), &published).ok());
  auto stored = server_->store()->Get({published.mx_source_id(), "w0"});
  ASSERT_TRUE(stored.ok());
  ASSERT_NE(stored->record->encoded, nullptr);
  EXPECT_EQ(stored->record->worker.tensor_source().tensors_size(), 0);
}

TEST_F(RawGrpcPathsTest, StoresThatBlockGetFullyParsedRecordsAndTheSameReplies) {
  StartWith(std::make_unique<BlockingMemoryStore>());
  p2p::PublishMetadataResponse published;
  ASSERT_TRUE(stub_->PublishMetadata(Context().get(), Worker(10), &published).ok());
  auto stored = server_->store()->Get({published.mx_source_id(), "w0"});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->record->encoded, nullptr);
  EXPECT_EQ(stored->record->worker.tensor_source().tensors_size(), 10);

  p2p::GetMetadataRequest get;
  get.set_mx_source_id(published.mx_source_id());
  get.set_worker_id("w0");
  p2p::GetMetadataResponse reply;
  ASSERT_TRUE(stub_->GetMetadata(Context().get(), get, &reply).ok());
  EXPECT_TRUE(reply.found());
  EXPECT_EQ(reply.worker().tensor_source().tensors_size(), 10);
  EXPECT_EQ(reply.worker().tensors_size(), 10);
  EXPECT_EQ(reply.worker().tensors(9).name(), "model.layers.9.mlp.experts.255.down_proj.weight");
}

TEST_F(RawGrpcPathsTest, UnknownWorkerIsFoundFalseNotAnError) {
  p2p::GetMetadataRequest get;
  get.set_mx_source_id("0000000000000000");
  get.set_worker_id("nobody");
  p2p::GetMetadataResponse reply;
  ASSERT_TRUE(stub_->GetMetadata(Context().get(), get, &reply).ok());
  EXPECT_FALSE(reply.found());
  EXPECT_EQ(reply.worker_id(), "nobody");
}

TEST_F(RawGrpcPathsTest, PublishWithoutWorkerIdIsInBandSuccessFalse) {
  auto req = Worker(1);
  req.clear_worker_id();
  p2p::PublishMetadataResponse reply;
  ASSERT_TRUE(stub_->PublishMetadata(Context().get(), req, &reply).ok());
  EXPECT_FALSE(reply.success());
  EXPECT_EQ(reply.message(), "worker_id is required");
}

TEST_F(RawGrpcPathsTest, OverLongLookupIdIsInvalidArgument) {
  p2p::GetMetadataRequest get;
  get.set_mx_source_id(std::string(600, 'a'));
  get.set_worker_id("w");
  p2p::GetMetadataResponse reply;
  EXPECT_EQ(stub_->GetMetadata(Context().get(), get, &reply).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(RawGrpcPathsTest, UnparsableRequestBytesAreRejected) {
  grpc::GenericStub generic(channel_);
  const char junk[] = "\x0a\xff\xff\xff\xff\x0f";  // a length past the end
  grpc::Slice slice(junk, sizeof(junk) - 1);
  grpc::ByteBuffer request(&slice, 1);
  for (const char* method : {"/model_express.p2p.P2pService/GetMetadata",
                             "/model_express.p2p.P2pService/PublishMetadata"}) {
    auto context = Context();
    grpc::ByteBuffer reply;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    generic.UnaryCall(context.get(), method, grpc::StubOptions(), &request, &reply,
                      [&](grpc::Status s) {
                        std::lock_guard<std::mutex> lock(mu);
                        status = std::move(s);
                        done = true;
                        cv.notify_one();
                      });
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return done; }));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
  }
}

}  // namespace
}  // namespace mx::server
