#include "store/redis/redis_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"

#include "server/encoded_reply.h"
#include "store/redis/redis_connection.h"

namespace mx::store::redis {
namespace {

namespace p2p = model_express::p2p;
using model_express::p2p::SOURCE_STATUS_READY;

TEST(RedisCodecTest, StatesRoundTripAndCorruptOnesAreDataLoss) {
  const WorkerState state{SOURCE_STATUS_READY, 1767225600123};
  EXPECT_EQ(FormatState(state), "2:1767225600123");
  EXPECT_EQ(*ParseState("2:1767225600123"), state);
  for (const char* bad : {"", "2", "2:", ":5", "x:5", "2:5x", "99:5", "2:5:6"}) {
    EXPECT_EQ(ParseState(bad).status().code(), absl::StatusCode::kDataLoss) << bad;
  }
}

TEST(RedisCodecTest, StatesCarryANonZeroLoadAsAThirdPart) {
  const WorkerState loaded{SOURCE_STATUS_READY, 1767225600123, 0.25f};
  EXPECT_EQ(FormatState(loaded), "2:1767225600123:0.25");
  EXPECT_EQ(*ParseState("2:1767225600123:0.25"), loaded);
  for (float load : {0.1f, 1.0f / 3.0f, 1e-7f, 1.0f}) {
    const WorkerState state{SOURCE_STATUS_READY, 5, load};
    auto back = ParseState(FormatState(state));
    ASSERT_TRUE(back.ok()) << FormatState(state);
    EXPECT_EQ(*back, state) << FormatState(state);  // exact: the reaper compares strings
  }
  for (const char* bad : {"2:5:", "2:5:x", "2:5:1.5", "2:5:-0.5", "2:5:nan", "2:5:inf",
                          "2:5:0.5:1", "2:5:0.5x"}) {
    EXPECT_EQ(ParseState(bad).status().code(), absl::StatusCode::kDataLoss) << bad;
  }
}

TEST(RedisCodecTest, AZeroLoadWritesTheOldTwoPartStateAndOldStatesReadAsLoadZero) {
  // Layout 1 as written before source_load existed: "<status>:<ms>".
  EXPECT_EQ(FormatState({SOURCE_STATUS_READY, 7, 0.0f}), "2:7");
  auto old = ParseState("2:7");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->source_load, 0.0f);
  EXPECT_EQ(FormatLoadSuffix(0), "");
  EXPECT_EQ(FormatLoadSuffix(0.5f), ":0.5");
}

TEST(RedisCodecTest, RecordsRoundTripWithoutIdsOrOwnerInThePayload) {
  WorkerRecord record;
  record.source_id = "sid";
  record.worker_id = "wid";
  record.identity.set_model_name("m");
  record.worker.set_worker_rank(3);
  record.worker.set_nixl_metadata(std::string("\0\1\2", 3));
  record.worker.mutable_tensor_source()->add_tensors()->set_name("t0");
  record.pod_name = "pod";
  record.owner = "alice";
  const std::string bytes = EncodeRecord(record);
  EXPECT_EQ(bytes.find("alice"), std::string::npos);
  EXPECT_EQ(bytes.find("wid"), std::string::npos);
  auto back = DecodeRecord("sid", "wid", bytes, "alice");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->worker.SerializeAsString(), record.worker.SerializeAsString());
  EXPECT_EQ((*back)->identity.model_name(), "m");
  EXPECT_EQ((*back)->pod_name, "pod");
  EXPECT_EQ((*back)->owner, "alice");
  EXPECT_EQ(DecodeRecord("s", "w", "\xff\xff\xff", "").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(RedisCodecTest, AReplyReadyRecordIsReadAsItsReplyPartsWithoutDecodingTensors) {
  // Layout pinned by hand (redis_format.proto): identity {model_name "m"};
  // worker = payload (tensor_source {tensors {name "t"}}) | head
  // (worker_rank 1, nixl tag and length 2) | blob "ab"; pod_name "p";
  // reply_layout {payload_size 8, head_size 4, tensor_entries 3}.
  const std::string payload("\xa2\x01\x05\x0a\x03\x0a\x01t", 8);
  const std::string head("\x08\x01\x12\x02", 4);
  const std::string bytes = std::string("\x0a\x03\x1a\x01m\x12\x0e", 7) + payload + head + "ab" +
                            std::string("\x1a\x01p\x32\x06\x08\x08\x10\x04\x18\x03", 11);
  auto record = DecodeRecord("sid", "wid", bytes, "alice");
  ASSERT_TRUE(record.ok()) << record.status();
  ASSERT_NE((*record)->encoded, nullptr);
  EXPECT_EQ((*record)->encoded->worker_payload, payload);
  EXPECT_EQ((*record)->encoded->worker_head, head);
  EXPECT_EQ((*record)->encoded->tensor_entries, 3u);
  EXPECT_FALSE((*record)->encoded->reused_across_reads);
  EXPECT_EQ((*record)->worker.worker_rank(), 1u);
  EXPECT_EQ((*record)->worker.nixl_metadata(), "ab");
  EXPECT_EQ((*record)->worker.tensor_source().tensors_size(), 0);  // never decoded
  EXPECT_EQ((*record)->identity.model_name(), "m");
  EXPECT_EQ((*record)->pod_name, "p");
  EXPECT_EQ((*record)->owner, "alice");
  model_express::p2p::GetMetadataResponse tail;  // ids from the key, identity
  ASSERT_TRUE(tail.ParseFromString((*record)->encoded->reply_tail));
  EXPECT_EQ(tail.mx_source_id(), "sid");
  EXPECT_EQ(tail.worker_id(), "wid");
  EXPECT_EQ(tail.identity().model_name(), "m");
  // Written again, the same bytes.
  EXPECT_EQ(EncodeRecord(**record), bytes);
  // An older reader, ignoring the layout, decodes the whole worker.
  model_express::p2p::WorkerMetadata whole;
  ASSERT_TRUE(whole.ParseFromString(payload + head + "ab"));
  EXPECT_EQ(whole.tensor_source().tensors(0).name(), "t");
  EXPECT_EQ(whole.nixl_metadata(), "ab");
}

// The hand-pinned reply-ready value of the test above.
std::string PinnedReplyReadyValue() {
  const std::string payload("\xa2\x01\x05\x0a\x03\x0a\x01t", 8);
  const std::string head("\x08\x01\x12\x02", 4);
  return std::string("\x0a\x03\x1a\x01m\x12\x0e", 7) + payload + head + "ab" +
         std::string("\x1a\x01p\x32\x06\x08\x08\x10\x04\x18\x03", 11);
}

// `bytes` in a buffer of their own, as the Redis store reads a value.
std::shared_ptr<const char> Backing(const std::string& bytes) {
  std::shared_ptr<char> buffer(new char[bytes.size() + 1], std::default_delete<char[]>());
  std::copy(bytes.begin(), bytes.end(), buffer.get());
  return buffer;
}

TEST(RedisCodecTest, AReplyReadyRecordReadIntoABufferKeepsItsPayloadAndBlobThereUncopied) {
  const std::string bytes = PinnedReplyReadyValue();
  const auto backing = Backing(bytes);
  const char* begin = backing.get();
  auto record = DecodeRecord("sid", "wid", absl::string_view(begin, bytes.size()), "alice",
                             backing);
  ASSERT_TRUE(record.ok()) << record.status();
  const server::EncodedReply& encoded = *(*record)->encoded;
  EXPECT_EQ(encoded.backing, backing);  // kept alive by the record
  EXPECT_EQ(encoded.payload().data(), begin + 7);  // a view, not a copy
  EXPECT_EQ(encoded.payload(), std::string("\xa2\x01\x05\x0a\x03\x0a\x01t", 8));
  EXPECT_TRUE(encoded.worker_payload.empty());
  EXPECT_EQ(server::NixlBlob(**record).data(), begin + 7 + 8 + 4);
  EXPECT_EQ(server::NixlBlob(**record), "ab");
  EXPECT_FALSE((*record)->worker.has_nixl_metadata());  // only in the buffer
  EXPECT_EQ((*record)->worker.worker_rank(), 1u);
  EXPECT_EQ(encoded.worker_head, std::string("\x08\x01\x12\x02", 4));
  EXPECT_EQ(encoded.tensor_entries, 3u);
  EXPECT_EQ(EncodeRecord(**record), bytes);  // written again: the same bytes
}

// Every one-byte change and every truncation of a reply-ready value: the
// read into a buffer (views) takes exactly what the copying read takes and
// yields the same reply parts, so every DATA_LOSS check holds for both.
TEST(RedisCodecTest, ReadingIntoABufferAcceptsAndRefusesExactlyWhatCopyingDoes) {
  const std::string valid = PinnedReplyReadyValue();
  std::vector<std::string> damaged;
  for (size_t i = 0; i < valid.size(); ++i) {
    damaged.push_back(valid.substr(0, i));
    for (int b = 0; b < 256; ++b) {
      std::string d = valid;
      d[i] = static_cast<char>(b);
      if (d != valid) damaged.push_back(d);
    }
  }
  int accepted = 0;
  for (const std::string& bytes : damaged) {
    auto copied = DecodeRecord("s", "w", bytes, "o");
    auto backed = DecodeRecord("s", "w", bytes, "o", Backing(bytes));
    ASSERT_EQ(copied.ok(), backed.ok()) << absl::CHexEscape(bytes);
    if (!copied.ok()) {
      EXPECT_EQ(backed.status().code(), absl::StatusCode::kDataLoss);
      continue;
    }
    ++accepted;
    const WorkerRecord& c = **copied;
    const WorkerRecord& k = **backed;
    ASSERT_EQ(c.encoded == nullptr, k.encoded == nullptr);
    EXPECT_EQ(EncodeRecord(c), EncodeRecord(k)) << absl::CHexEscape(bytes);
    EXPECT_EQ(c.identity.SerializeAsString(), k.identity.SerializeAsString());
    if (c.encoded == nullptr) continue;  // the damage removed the layout: decoded in full
    EXPECT_EQ(c.encoded->payload(), k.encoded->payload());
    EXPECT_EQ(c.encoded->worker_head, k.encoded->worker_head);
    EXPECT_EQ(c.encoded->tensor_entries, k.encoded->tensor_entries);
    EXPECT_EQ(c.encoded->reply_tail, k.encoded->reply_tail);
    EXPECT_EQ(server::NixlBlob(c), server::NixlBlob(k)) << absl::CHexEscape(bytes);
    p2p::WorkerMetadata without_blob = c.worker;
    without_blob.clear_nixl_metadata();
    EXPECT_EQ(without_blob.SerializeAsString(), k.worker.SerializeAsString());
  }
  EXPECT_GT(accepted, 0);  // some damage (e.g. to the blob's bytes) is still a record
}

TEST(RedisCodecTest, SummariesCarryTheListingFieldsOnly) {
  WorkerRecord record;
  record.identity.set_model_name("m");
  (*record.identity.mutable_extra_parameters())["training_step"] = "42";
  record.worker.set_worker_rank(5);
  record.worker.set_accelerator("H100");
  for (int i = 0; i < 100; ++i) record.worker.mutable_tensor_source()->add_tensors()->set_name("t");
  record.owner = "bob";
  const std::string bytes = EncodeSummary(record);
  EXPECT_LT(bytes.size(), 40u);  // no tensors
  WorkerRef ref;
  ASSERT_TRUE(DecodeSummary(bytes, &ref).ok());
  EXPECT_EQ(ref.model_name, "m");
  EXPECT_EQ(ref.worker_rank, 5u);
  EXPECT_EQ(ref.accelerator, "H100");
  EXPECT_EQ(ref.training_step, std::optional<uint64_t>(42));
  EXPECT_FALSE(ref.layout_signature.has_value());
  EXPECT_EQ(ref.owner, "bob");
  EXPECT_TRUE(ref.topology.empty());
}

TEST(RedisCodecTest, SummariesCarryTheTopology) {
  WorkerRecord record;
  record.identity.set_model_name("m");
  (*record.worker.mutable_topology())["zone"] = "z1";
  (*record.worker.mutable_topology())["rack"] = "r2";
  WorkerRef ref;
  ASSERT_TRUE(DecodeSummary(EncodeSummary(record), &ref).ok());
  const std::map<std::string, std::string> expected{{"zone", "z1"}, {"rack", "r2"}};
  EXPECT_EQ(ref.topology, expected);
}

TEST(RedisCodecTest, ASummaryWrittenBeforeTopologyExistedReadsWithAnEmptyOne) {
  // The bytes an older mxd wrote: model_name "m" (field 1), worker_rank 5
  // (field 2), owner "o" (field 6), and no field 7.
  const std::string old_bytes("\x0a\x01m\x10\x05\x32\x01o", 8);
  WorkerRef ref;
  ASSERT_TRUE(DecodeSummary(old_bytes, &ref).ok());
  EXPECT_EQ(ref.model_name, "m");
  EXPECT_EQ(ref.worker_rank, 5u);
  EXPECT_EQ(ref.owner, "o");
  EXPECT_TRUE(ref.topology.empty());
}

TEST(RedisCodecTest, ErrorRepliesMapToStatusCodes) {
  EXPECT_TRUE(absl::IsUnavailable(ErrorReplyStatus("x", "LOADING Redis is loading")));
  EXPECT_TRUE(absl::IsUnavailable(ErrorReplyStatus("x", "READONLY You can't write")));
  EXPECT_TRUE(absl::IsUnavailable(ErrorReplyStatus("x", "NOAUTH Authentication required.")));
  EXPECT_TRUE(absl::IsUnavailable(ErrorReplyStatus("x", "BUSY Redis is busy running a script")));
  EXPECT_TRUE(absl::IsResourceExhausted(ErrorReplyStatus("x", "OOM command not allowed")));
  EXPECT_TRUE(absl::IsInternal(ErrorReplyStatus("x", "ERR unknown command")));
}

}  // namespace
}  // namespace mx::store::redis
