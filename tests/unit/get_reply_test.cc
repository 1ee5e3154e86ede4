// GetMetadata as mxd serves it (GetMetadataReply: bytes encoded once at
// publish for compact records, encoded per read otherwise) must parse to
// exactly what the wire contract says, written out independently here.
#include "server/get_reply.h"

#include <atomic>
#include <vector>

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "server/metadata_service.h"
#include "server/reply_encoding.h"
#include "contract_reply.h"
#include "fault_store.h"
#include "store/memory/memory_store.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;
using google::protobuf::util::MessageDifferencer;

p2p::GetMetadataResponse ParseReply(const grpc::ByteBuffer& bytes) {
  p2p::GetMetadataResponse reply;
  EXPECT_TRUE(::mx::testing::ParseReplyBytes(bytes, &reply));
  return reply;
}

p2p::PublishMetadataRequest Request(int tensors) {
  p2p::PublishMetadataRequest req;
  req.mutable_identity()->set_mx_version("0.5.0");
  req.mutable_identity()->set_model_name("deepseek-ai/DeepSeek-V3");
  req.mutable_identity()->set_tensor_parallel_size(8);
  (*req.mutable_identity()->mutable_extra_parameters())["training_step"] = "7";
  req.set_worker_id("pod-1-rank3");
  req.set_pod_name("pod-1");
  auto* w = req.mutable_worker();
  w->set_worker_rank(3);
  w->set_nixl_metadata(std::string("nixl\0agent\xff", 11));
  w->set_metadata_endpoint("10.0.0.1:5555");
  w->set_agent_name("agent-3");
  w->set_accelerator("H100");
  w->set_status(p2p::SOURCE_STATUS_READY);
  for (int i = 0; i < tensors; ++i) {
    auto* t = w->mutable_tensor_source()->add_tensors();
    t->set_name("model.layers." + std::to_string(i) + ".mlp.experts.255.down_proj.weight");
    t->set_addr(0x7f0000000000ULL + static_cast<uint64_t>(i) * 4096);
    t->set_size(4096 + static_cast<uint64_t>(i));
    t->set_device_id(3);
    t->set_dtype("bfloat16");
  }
  return req;
}

p2p::GetMetadataResponse Expected(const p2p::PublishMetadataRequest& req,
                                  const std::string& source_id, p2p::SourceStatus status,
                                  int64_t updated_at) {
  return mx::testing::ContractReply(req, source_id, status, updated_at);
}

// Two services over stores with the same fixed clock: one publishing
// compact records (what mxd does for the memory and Redis stores), one
// plain (the Kubernetes store: records encoded per read).
class GetReplyTest : public ::testing::Test {
 protected:
  GetReplyTest()
      : compact_store_([this] { return now_.load(); }),
        plain_store_([this] { return now_.load(); }),
        compact_(&compact_store_, std::chrono::seconds(90), RequestLimits{}, true),
        plain_(&plain_store_, std::chrono::seconds(90)) {}

  void PublishBoth(const p2p::PublishMetadataRequest& req) {
    auto compact = compact_.Publish(req, {});
    ASSERT_TRUE(compact.ok() && compact->success());
    ASSERT_TRUE(plain_.Publish(req, {})->success());
    get_.set_mx_source_id(compact->mx_source_id());
    get_.set_worker_id(req.worker_id());
    published_ = req;
  }

  // GetMetadata as mxd serves it, parsed.
  p2p::GetMetadataResponse Reply(MetadataService& service, const p2p::GetMetadataRequest& get) {
    auto bytes = GetMetadataReply(service, get, nullptr);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() ? ParseReply(*bytes) : p2p::GetMetadataResponse();
  }

  // Both services answer exactly what the contract says for the last
  // published request in state (`status`, `updated_at`).
  void ExpectContractReply(p2p::SourceStatus status = p2p::SOURCE_STATUS_READY,
                           int64_t updated_at = 1700000000123) {
    const p2p::GetMetadataResponse expected =
        Expected(published_, get_.mx_source_id(), status, updated_at);
    for (MetadataService* service : {&compact_, &plain_}) {
      const p2p::GetMetadataResponse got = Reply(*service, get_);
      EXPECT_TRUE(MessageDifferencer::Equals(got, expected))
          << (service == &compact_ ? "compact" : "plain") << "\ngot:\n"
          << got.ShortDebugString().substr(0, 2000) << "\nexpected:\n"
          << expected.ShortDebugString().substr(0, 2000);
    }
  }

  std::atomic<int64_t> now_{1700000000123};
  store::MemoryStore compact_store_;
  store::MemoryStore plain_store_;
  MetadataService compact_;
  MetadataService plain_;
  p2p::GetMetadataRequest get_;
  p2p::PublishMetadataRequest published_;
};

TEST_F(GetReplyTest, RawReplyOfATensorSourceParsesToTheMessageReply) {
  PublishBoth(Request(300));
  ExpectContractReply();
  const p2p::GetMetadataResponse raw = Reply(compact_, get_);
  EXPECT_TRUE(raw.found());
  EXPECT_EQ(raw.worker().tensor_source().tensors_size(), 300);
  EXPECT_EQ(raw.worker().tensors_size(), 300);  // legacy readers see them too
  EXPECT_EQ(raw.worker().tensors(299).name(), "model.layers.299.mlp.experts.255.down_proj.weight");
  EXPECT_EQ(raw.worker().status(), p2p::SOURCE_STATUS_READY);
  EXPECT_EQ(raw.worker().updated_at(), 1700000000123);
  EXPECT_EQ(raw.identity().model_name(), "deepseek-ai/DeepSeek-V3");
}

TEST_F(GetReplyTest, RawReplyOfAnArtifactSourceParsesToTheMessageReply) {
  auto req = Request(0);
  auto* a = req.mutable_worker()->mutable_artifact_source();
  a->set_artifact_id("triton-cache-abc");
  a->set_total_size(1 << 30);
  a->set_file_count(12);
  a->set_chunk_count(40);
  a->set_node_rank(1);
  req.mutable_worker()->set_transfer_engine_session_id("mooncake-session-9");
  PublishBoth(req);
  ExpectContractReply();
  const p2p::GetMetadataResponse raw = Reply(compact_, get_);
  EXPECT_EQ(raw.worker().artifact_source().artifact_id(), "triton-cache-abc");
  EXPECT_EQ(raw.worker().transfer_engine_session_id(), "mooncake-session-9");
  EXPECT_EQ(raw.worker().tensors_size(), 0);
}

TEST_F(GetReplyTest, RawReplyOfALegacyOnlyPublisherFillsBothTensorLists) {
  auto req = Request(5);
  req.mutable_worker()->mutable_tensors()->Swap(
      req.mutable_worker()->mutable_tensor_source()->mutable_tensors());
  req.mutable_worker()->clear_tensor_source();
  PublishBoth(req);
  ExpectContractReply();
  const p2p::GetMetadataResponse raw = Reply(compact_, get_);
  EXPECT_EQ(raw.worker().tensor_source().tensors_size(), 5);
  EXPECT_EQ(raw.worker().tensors_size(), 5);
}

TEST_F(GetReplyTest, RawReplyCarriesStatusAndUpdatedAtOfTheLatestHeartbeat) {
  PublishBoth(Request(3));
  now_ = 1700000999000;
  p2p::UpdateStatusRequest beat;
  beat.set_mx_source_id(get_.mx_source_id());
  beat.set_worker_id(get_.worker_id());
  beat.set_worker_rank(3);
  beat.set_status(p2p::SOURCE_STATUS_STALE);
  ASSERT_TRUE(compact_.UpdateStatus(beat, {})->success());
  ASSERT_TRUE(plain_.UpdateStatus(beat, {})->success());
  ExpectContractReply(p2p::SOURCE_STATUS_STALE, 1700000999000);
  const p2p::GetMetadataResponse raw = Reply(compact_, get_);
  EXPECT_EQ(raw.worker().status(), p2p::SOURCE_STATUS_STALE);
  EXPECT_EQ(raw.worker().updated_at(), 1700000999000);
}

TEST_F(GetReplyTest, CompactRecordsKeepTheTensorsOnlyAsReplyBytes) {
  PublishBoth(Request(50));
  auto compact = compact_.Find(get_);
  ASSERT_NE(compact->record->encoded, nullptr);
  EXPECT_EQ(compact->record->worker.tensor_source().tensors_size(), 0);
  auto plain = plain_.Find(get_);
  EXPECT_EQ(plain->record->encoded, nullptr);
  EXPECT_EQ(plain->record->worker.tensor_source().tensors_size(), 50);
  EXPECT_EQ(Reply(compact_, get_).worker().tensor_source().tensors_size(), 50);
}

TEST_F(GetReplyTest, RecordsWithoutCachedBytesAreEncodedPerRead) {
  // What a network store hands back: a plain, fully parsed record.
  PublishBoth(Request(20));
  auto plain = plain_.Find(get_);
  ASSERT_EQ(plain->record->encoded, nullptr);
  const p2p::GetMetadataResponse raw = ParseReply(FoundReplyBytes(*plain));
  EXPECT_TRUE(MessageDifferencer::Equals(
      raw, Expected(published_, get_.mx_source_id(), p2p::SOURCE_STATUS_READY, 1700000000123)));
}

TEST_F(GetReplyTest, UnnormalizedRecordsFromOtherWritersAreRepliedAsStored) {
  // A record not written by Publish (e.g. another tool writing the store):
  // legacy tensors only, next to an artifact source.
  auto record = std::make_shared<store::WorkerRecord>();
  record->source_id = "0123456789abcdef";
  record->worker_id = "w";
  record->identity.set_model_name("m");
  record->worker.mutable_artifact_source()->set_artifact_id("a");
  record->worker.add_tensors()->set_name("legacy.weight");
  ASSERT_TRUE(plain_store_.Upsert(record, {}).ok());
  p2p::GetMetadataRequest get;
  get.set_mx_source_id("0123456789abcdef");
  get.set_worker_id("w");
  const p2p::GetMetadataResponse raw = Reply(plain_, get);
  EXPECT_EQ(raw.worker().tensors_size(), 1);
  EXPECT_EQ(raw.worker().artifact_source().artifact_id(), "a");
  // As stored: the legacy list is not copied into a tensor_source.
  p2p::GetMetadataResponse expected;
  expected.set_found(true);
  expected.set_mx_source_id("0123456789abcdef");
  expected.set_worker_id("w");
  expected.mutable_identity()->set_model_name("m");
  *expected.mutable_worker() = record->worker;
  expected.mutable_worker()->set_status(p2p::SOURCE_STATUS_INITIALIZING);
  expected.mutable_worker()->set_updated_at(1700000000123);
  EXPECT_TRUE(MessageDifferencer::Equals(raw, expected)) << raw.ShortDebugString();
}

TEST_F(GetReplyTest, UnknownFieldsOfNewerPublishersSurviveBothPaths) {
  auto req = Request(2);
  // Field 99 (a future WorkerMetadata field) as unknown bytes.
  req.mutable_worker()->GetReflection()->MutableUnknownFields(req.mutable_worker())
      ->AddLengthDelimited(99, "future");
  PublishBoth(req);
  ExpectContractReply();
  EXPECT_EQ(Reply(compact_, get_).worker().GetReflection()->GetUnknownFields(
                Reply(compact_, get_).worker()).field_count(),
            1);
}

TEST_F(GetReplyTest, NotFoundReplyEchoesTheIdsWithFoundFalse) {
  p2p::GetMetadataRequest missing;
  missing.set_mx_source_id("0123456789abcdef");
  missing.set_worker_id("nobody");
  auto stored = compact_.Find(missing);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->record, nullptr);
  for (MetadataService* service : {&compact_, &plain_}) {
    const p2p::GetMetadataResponse raw = Reply(*service, missing);
    EXPECT_FALSE(raw.found());
    EXPECT_EQ(raw.worker_id(), "nobody");
    p2p::GetMetadataResponse expected;  // the ids echoed, nothing else
    expected.set_mx_source_id("0123456789abcdef");
    expected.set_worker_id("nobody");
    EXPECT_TRUE(MessageDifferencer::Equals(raw, expected)) << raw.ShortDebugString();
  }
}

}  // namespace
}  // namespace mx::server

namespace mx::server {
namespace {

TEST_F(GetReplyTest, RepliesInFlightShareOneLegacyCopyThatDiesWithTheLast) {
  PublishBoth(Request(100));
  auto stored = compact_.Find(get_);
  const server::EncodedReply& encoded = *stored->record->encoded;
  auto legacy_of = [](const grpc::ByteBuffer& reply) {
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(reply.Dump(&slices).ok());
    EXPECT_GE(slices.size(), 4u);
    return slices[slices.size() - 2].begin();  // the slice before status/tail
  };
  {
    grpc::ByteBuffer first = FoundReplyBytes(*stored);
    grpc::ByteBuffer second = FoundReplyBytes(*stored);
    EXPECT_EQ(legacy_of(first), legacy_of(second));
    absl::MutexLock lock(&encoded.legacy_mu);
    EXPECT_FALSE(encoded.legacy.expired());
  }
  absl::MutexLock lock(&encoded.legacy_mu);
  EXPECT_TRUE(encoded.legacy.expired());
}

}  // namespace
}  // namespace mx::server

namespace mx::server {
namespace {

TEST_F(GetReplyTest, RecentlyServedLegacyListsOutliveTheirRepliesWithinTheBudget) {
  PublishBoth(Request(100));
  auto first = compact_.Find(get_);
  auto expired = [](const server::EncodedReply& e) {
    absl::MutexLock lock(&e.legacy_mu);
    return e.legacy.expired();
  };
  const size_t one_list = [&] {
    grpc::ByteBuffer reply = FoundReplyBytes(*first);  // size of one legacy list
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(reply.Dump(&slices).ok());
    return slices[slices.size() - 2].size();
  }();
  RecentLegacyLists recent(one_list);  // room for exactly one list
  { grpc::ByteBuffer reply = FoundReplyBytes(*first, &recent); }
  EXPECT_FALSE(expired(*first->record->encoded));  // kept after its reply is gone

  auto req = Request(100);
  req.set_worker_id("another-worker");
  auto published = compact_.Publish(req, {});
  ASSERT_TRUE(published.ok());
  p2p::GetMetadataRequest other;
  other.set_mx_source_id(published->mx_source_id());
  other.set_worker_id("another-worker");
  auto second = compact_.Find(other);
  { grpc::ByteBuffer reply = FoundReplyBytes(*second, &recent); }
  EXPECT_FALSE(expired(*second->record->encoded));
  EXPECT_TRUE(expired(*first->record->encoded));  // the oldest left the budget
}

}  // namespace
}  // namespace mx::server

namespace mx::server {
namespace {

TEST(GetMetadataReplyTest, AnOverlongIdIsInvalidArgumentAndAStoreOutageIsUnavailable) {
  store::MemoryStore memory;
  store::testing::FaultStore faulty(&memory, /*may_block=*/false);
  RequestLimits limits;
  limits.max_id_bytes = 8;
  MetadataService service(&faulty, std::chrono::seconds(90), limits, true);
  p2p::GetMetadataRequest get;
  get.set_mx_source_id("0123456789abcdef0");  // 17 bytes
  get.set_worker_id("w");
  EXPECT_EQ(GetMetadataReply(service, get, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  get.set_mx_source_id("01234567");
  EXPECT_TRUE(GetMetadataReply(service, get, nullptr).ok());  // found=false
  faulty.set_down(true);
  // Never an empty found=false answer when the store cannot be read.
  EXPECT_EQ(GetMetadataReply(service, get, nullptr).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace mx::server
