// Reply-ready records in Redis (issue 16, item 2): mxd publishes compact
// records, the Redis store keeps their reply bytes and GetMetadata hands
// them out without decoding a tensor; values an older mxd wrote are still
// served, an older mxd still decodes the new ones, and corrupt layouts are
// refused (DATA_LOSS), never sent as a reply that does not parse.
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "contract_reply.h"
#include "mx/source_id.h"
#include "redis_format.pb.h"
#include "redis_server.h"
#include "server/get_reply.h"
#include "server/metadata_service.h"
#include "store/redis/redis_codec.h"
#include "store/redis/redis_connection.h"
#include "store/redis/redis_keys.h"
#include "store/redis/redis_store.h"
#include "store/redis/resp_reader.h"

namespace mx::store::testing {
namespace {

namespace p2p = model_express::p2p;
using google::protobuf::util::MessageDifferencer;
using ::mx::testing::SharedRedisServer;
using ::mx::testing::UniqueKeyPrefix;

p2p::PublishMetadataRequest Request(int tensors) {
  p2p::PublishMetadataRequest req;
  req.mutable_identity()->set_mx_version("0.5.0");
  req.mutable_identity()->set_model_name("org/reply-ready");
  req.mutable_identity()->set_tensor_parallel_size(8);
  req.set_worker_id("pod-1-rank3");
  req.set_pod_name("pod-1");
  auto* w = req.mutable_worker();
  w->set_worker_rank(3);
  w->set_nixl_metadata(std::string("nixl\0agent\xff", 11));
  w->set_metadata_endpoint("10.0.0.1:5555");
  w->set_accelerator("H100");
  w->set_status(p2p::SOURCE_STATUS_READY);
  (*w->mutable_topology())["zone"] = "z1";
  for (int i = 0; i < tensors; ++i) {
    auto* t = w->mutable_tensor_source()->add_tensors();
    t->set_name("model.layers." + std::to_string(i) + ".mlp.down_proj.weight");
    t->set_addr(0x7f0000000000ULL + static_cast<uint64_t>(i) * 4096);
    t->set_size(4096);
    t->set_dtype("bfloat16");
  }
  return req;
}

p2p::GetMetadataResponse Parse(const grpc::ByteBuffer& bytes) {
  p2p::GetMetadataResponse reply;
  EXPECT_TRUE(::mx::testing::ParseReplyBytes(bytes, &reply));
  return reply;
}

class RedisReplyReadyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = SharedRedisServer().StoreOptions(UniqueKeyPrefix());
    auto store = ConnectRedisStore(options_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->TakesCompactRecords());
    service_ = std::make_unique<server::MetadataService>(
        store_.get(), std::chrono::seconds(90), server::RequestLimits{},
        store_->TakesCompactRecords());
    auto raw = redis::RedisConnection::Open(options_);
    ASSERT_TRUE(raw.ok()) << raw.status();
    raw_ = *std::move(raw);
  }

  // Publishes `req` through the service, as mxd does.
  void Publish(const p2p::PublishMetadataRequest& req) {
    auto published = service_->Publish(req, {});
    ASSERT_TRUE(published.ok() && published->success()) << published.status();
    published_ = req;
    get_.set_mx_source_id(published->mx_source_id());
    get_.set_worker_id(req.worker_id());
  }

  std::string RecordKey() const {
    return redis::KeySpace(options_.key_prefix)
        .Record(redis::EscapeId(get_.mx_source_id()), get_.worker_id());
  }

  std::string ReadValue() {
    auto reply = raw_->Command({"GET", RecordKey()});
    EXPECT_TRUE(reply.ok() && (*reply)->type == REDIS_REPLY_STRING);
    return reply.ok() ? std::string((*reply)->str, (*reply)->len) : "";
  }

  void WriteValue(const std::string& bytes) {
    auto reply = raw_->Command({"SET", RecordKey(), bytes});
    ASSERT_TRUE(reply.ok() && (*reply)->type != REDIS_REPLY_ERROR);
  }

  // GetMetadata as mxd serves it must be exactly the contract's reply.
  void ExpectContractReply() {
    auto stored = store_->Get({get_.mx_source_id(), get_.worker_id()});
    ASSERT_TRUE(stored.ok()) << stored.status();
    auto bytes = server::GetMetadataReply(*service_, get_, nullptr);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    const p2p::GetMetadataResponse got = Parse(*bytes);
    const p2p::GetMetadataResponse expected = mx::testing::ContractReply(
        published_, get_.mx_source_id(), stored->state.status, stored->state.updated_at_ms);
    EXPECT_TRUE(MessageDifferencer::Equals(got, expected))
        << "got:\n" << got.ShortDebugString().substr(0, 1500) << "\nexpected:\n"
        << expected.ShortDebugString().substr(0, 1500);
  }

  void ExpectCorruptLayoutsRefused(int tensors);
  void ExpectOldFormatServed(int tensors);

  RedisOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<server::MetadataService> service_;
  std::unique_ptr<redis::RedisConnection> raw_;
  p2p::PublishMetadataRequest published_;
  p2p::GetMetadataRequest get_;
};

TEST_F(RedisReplyReadyTest, APublishedWorkerIsStoredReplyReadyAndReadWithoutDecodingItsTensors) {
  Publish(Request(300));
  redisfmt::RecordValue value;
  ASSERT_TRUE(value.ParseFromString(ReadValue()));
  EXPECT_TRUE(value.has_reply_layout());

  auto stored = store_->Get({get_.mx_source_id(), get_.worker_id()});
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_NE(stored->record->encoded, nullptr);  // the reply bytes, as stored
  EXPECT_EQ(stored->record->worker.tensor_source().tensors_size(), 0);  // not decoded
  EXPECT_EQ(stored->record->worker.nixl_metadata(), std::string("nixl\0agent\xff", 11));
  EXPECT_EQ(stored->record->worker.worker_rank(), 3u);
  EXPECT_EQ(stored->record->identity.model_name(), "org/reply-ready");
  EXPECT_EQ(stored->record->pod_name, "pod-1");
  ExpectContractReply();

  // A heartbeat changes only the live fields of the reply.
  p2p::UpdateStatusRequest beat;
  beat.set_mx_source_id(get_.mx_source_id());
  beat.set_worker_id(get_.worker_id());
  beat.set_worker_rank(3);
  beat.set_status(p2p::SOURCE_STATUS_STALE);
  ASSERT_TRUE(service_->UpdateStatus(beat, {})->success());
  ExpectContractReply();
  EXPECT_EQ(Parse(*server::GetMetadataReply(*service_, get_, nullptr)).worker().status(),
            p2p::SOURCE_STATUS_STALE);
}

// Values from 64 KiB up (RespReader::kDefaultOwnBufferBytes) are read into
// a buffer of their own, and the reply sends the payload and the blob from
// it: the record holds views, not copies.
TEST_F(RedisReplyReadyTest, AWorkerLargerThanTheReadBufferIsServedFromTheBytesAsRead) {
  auto req = Request(3000);
  req.mutable_worker()->set_nixl_metadata(std::string(100000, '\x07') + "end");
  Publish(req);
  ASSERT_GE(ReadValue().size(), redis::RespReader::kDefaultOwnBufferBytes);
  auto stored = store_->Get({get_.mx_source_id(), get_.worker_id()});
  ASSERT_TRUE(stored.ok()) << stored.status();
  const auto& encoded = stored->record->encoded;
  ASSERT_NE(encoded, nullptr);
  ASSERT_NE(encoded->backing, nullptr);
  EXPECT_TRUE(encoded->worker_payload.empty());
  EXPECT_FALSE(stored->record->worker.has_nixl_metadata());
  EXPECT_TRUE(server::NixlBlob(*stored->record) == req.worker().nixl_metadata());
  EXPECT_GE(encoded->payload().data(), encoded->backing.get());  // a view into the buffer
  EXPECT_EQ(stored->record->worker.worker_rank(), 3u);
  EXPECT_EQ(stored->record->worker.metadata_endpoint(), "10.0.0.1:5555");
  ExpectContractReply();
  // Written through again (e.g. copied between stores), the same value.
  EXPECT_TRUE(redis::EncodeRecord(*stored->record) == ReadValue());
}

TEST_F(RedisReplyReadyTest, ArtifactAndLegacyOnlyWorkersAreServedAsTheContractSays) {
  auto artifact = Request(0);
  artifact.mutable_worker()->mutable_artifact_source()->set_artifact_id("triton-cache");
  artifact.mutable_worker()->set_transfer_engine_session_id("mooncake-1");  // replaces nixl
  Publish(artifact);
  ExpectContractReply();

  auto legacy = Request(7);
  legacy.set_worker_id("legacy-publisher");
  legacy.mutable_worker()->mutable_tensors()->Swap(
      legacy.mutable_worker()->mutable_tensor_source()->mutable_tensors());
  legacy.mutable_worker()->clear_tensor_source();
  Publish(legacy);
  ExpectContractReply();
  EXPECT_EQ(Parse(*server::GetMetadataReply(*service_, get_, nullptr)).worker().tensors_size(), 7);
}

TEST_F(RedisReplyReadyTest, RecordsAnOlderMxdWroteAreStillServed) {
  for (int tensors : {40, 3000}) {  // copied out of the read buffer; read into one of its own
    SCOPED_TRACE(tensors);
    ExpectOldFormatServed(tensors);
  }
}

void RedisReplyReadyTest::ExpectOldFormatServed(int tensors) {
  // Rolling upgrade: the value an older mxd wrote for this worker, by hand:
  // identity, the serialized worker, pod fields; no reply layout.
  auto req = Request(tensors);
  Publish(req);
  p2p::WorkerMetadata worker = req.worker();
  worker.clear_status();
  redisfmt::RecordValue old;
  req.identity().SerializeToString(old.mutable_identity());
  worker.SerializeToString(old.mutable_worker());
  old.set_pod_name("pod-1");
  WriteValue(old.SerializeAsString());

  auto stored = store_->Get({get_.mx_source_id(), get_.worker_id()});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->record->encoded, nullptr);  // decoded, as before
  EXPECT_EQ(stored->record->worker.tensor_source().tensors_size(), tensors);
  ExpectContractReply();
}

TEST_F(RedisReplyReadyTest, AnOlderMxdDecodesAReplyReadyRecordInFull) {
  // An older reader knows no reply_layout: it decodes `worker` whole.
  auto req = Request(25);
  Publish(req);
  redisfmt::RecordValue value;
  ASSERT_TRUE(value.ParseFromString(ReadValue()));
  value.clear_reply_layout();
  auto old_read = redis::DecodeRecord(get_.mx_source_id(), get_.worker_id(),
                                      value.SerializeAsString(), "");
  ASSERT_TRUE(old_read.ok()) << old_read.status();
  p2p::WorkerMetadata expected = req.worker();
  expected.clear_status();
  EXPECT_TRUE(MessageDifferencer::Equals((*old_read)->worker, expected))
      << (*old_read)->worker.ShortDebugString().substr(0, 1000);
}

TEST_F(RedisReplyReadyTest, CorruptReplyLayoutsAreDataLossAndTheListingGoesOn) {
  // Small (copied out of the read buffer) and large (read into a buffer of
  // its own, served from views): the same checks.
  for (int tensors : {20, 2000}) {
    SCOPED_TRACE(tensors);
    ExpectCorruptLayoutsRefused(tensors);
  }
}

void RedisReplyReadyTest::ExpectCorruptLayoutsRefused(int tensors) {
  Publish(Request(tensors));
  redisfmt::RecordValue good;
  ASSERT_TRUE(good.ParseFromString(ReadValue()));
  const redisfmt::ReplyLayout layout = good.reply_layout();
  const std::string bytes = good.worker();

  std::vector<std::pair<std::string, redisfmt::RecordValue>> corrupt;
  auto variant = [&](const std::string& name) -> redisfmt::RecordValue& {
    corrupt.emplace_back(name, good);
    return corrupt.back().second;
  };
  variant("payload past the end").mutable_reply_layout()->set_payload_size(bytes.size() + 1);
  variant("head past the end").mutable_reply_layout()->set_head_size(bytes.size());
  variant("entries off by one")
      .mutable_reply_layout()
      ->set_tensor_entries(layout.tensor_entries() + 1);
  variant("head one byte short")
      .mutable_reply_layout()
      ->set_head_size(layout.head_size() - 1);
  variant("blob cut short").mutable_worker()->pop_back();
  variant("payload one byte longer")
      .mutable_reply_layout()
      ->set_payload_size(layout.payload_size() + 1);
  variant("a tensor_source said to have no entries").mutable_reply_layout()->set_tensor_entries(0);
  {
    redisfmt::ReplyLayout* cut = variant("payload cut mid-field").mutable_reply_layout();
    cut->set_tensor_entries(0);
    cut->set_payload_size(layout.payload_size() - 1);
    cut->set_head_size(layout.head_size() + 1);
  }
  for (const auto& [name, value] : corrupt) {
    WriteValue(value.SerializeAsString());
    auto stored = store_->Get({get_.mx_source_id(), get_.worker_id()});
    EXPECT_EQ(stored.status().code(), absl::StatusCode::kDataLoss) << name;
    EXPECT_EQ(server::GetMetadataReply(*service_, get_, nullptr).status().code(),
              absl::StatusCode::kDataLoss)
        << name;
    ListQuery query;
    query.source_id = get_.mx_source_id();
    auto listed = store_->List(query);
    ASSERT_TRUE(listed.ok()) << listed.status();
    EXPECT_EQ(listed->size(), 1u) << name;  // the summary is intact
  }
  WriteValue(good.SerializeAsString());
  ExpectContractReply();
}

}  // namespace
}  // namespace mx::store::testing
