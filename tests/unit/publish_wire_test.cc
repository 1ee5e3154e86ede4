// A publish read off the wire by ScanPublish must be answered and stored
// exactly as the same bytes parsed into a message; bytes the scanner does
// not take must be left to the parser (never accepted when it refuses).
#include "server/publish_wire.h"

#include <functional>
#include <random>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "contract_reply.h"
#include "server/get_reply.h"
#include "server/metadata_service.h"
#include "spdlog/spdlog.h"
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
  w->set_accelerator("H100");
  w->set_status(p2p::SOURCE_STATUS_READY);
  (*w->mutable_topology())["rack"] = "r7";
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

enum class Path { kScanned, kParser, kRefused };

// Thousands of damaged publishes: keep protobuf's UTF-8 complaints and the
// publish log lines out of the test output.
class Quiet {
 public:
  Quiet() { spdlog::set_level(spdlog::level::warn); }
  ~Quiet() { spdlog::set_level(spdlog::level::info); }

 private:
  google::protobuf::LogSilencer silence_;
};

// Publishes `bytes` through ScanPublish on one compact service and through
// the parser on another (same limits, same fixed clock) and expects the
// same answer and the same stored worker. Returns which path the scanner
// chose.
Path ExpectSameOutcome(const std::string& bytes, const RequestLimits& limits = {}) {
  const auto clock = [] { return int64_t{1700000000123}; };
  store::MemoryStore wire_store(clock);
  store::MemoryStore parsed_store(clock);
  MetadataService wire(&wire_store, std::chrono::seconds(90), limits, true);
  MetadataService parsed(&parsed_store, std::chrono::seconds(90), limits, true);

  p2p::PublishMetadataRequest message;
  const bool parses = message.ParseFromString(bytes);
  auto scanned = ScanPublish(bytes, limits.max_tensor_name_bytes);
  if (!parses) {
    EXPECT_FALSE(scanned.has_value()) << "scanner took bytes protobuf refuses";
    return Path::kRefused;
  }
  if (!scanned.has_value()) return Path::kParser;

  auto a = wire.Publish(*std::move(scanned), {});
  auto b = parsed.Publish(std::move(message), {});
  EXPECT_EQ(a.status(), b.status());
  if (!a.ok() || !b.ok()) return Path::kScanned;
  EXPECT_TRUE(MessageDifferencer::Equals(*a, *b)) << a->ShortDebugString() << "\n"
                                                  << b->ShortDebugString();
  EXPECT_EQ(wire_store.records(), parsed_store.records());
  if (!a->success()) return Path::kScanned;
  auto from_wire = wire_store.Get({a->mx_source_id(), a->worker_id()});
  auto from_parse = parsed_store.Get({b->mx_source_id(), b->worker_id()});
  EXPECT_TRUE(from_wire.ok() && from_parse.ok());
  if (!from_wire.ok() || !from_parse.ok()) return Path::kScanned;
  const auto reply_a = ParseReply(FoundReplyBytes(*from_wire));
  const auto reply_b = ParseReply(FoundReplyBytes(*from_parse));
  EXPECT_TRUE(MessageDifferencer::Equals(reply_a, reply_b))
      << reply_a.ShortDebugString().substr(0, 1500) << "\n"
      << reply_b.ShortDebugString().substr(0, 1500);
  const store::WorkerRecord& ra = *from_wire->record;
  const store::WorkerRecord& rb = *from_parse->record;
  EXPECT_TRUE(MessageDifferencer::Equals(ra.worker, rb.worker));
  EXPECT_TRUE(MessageDifferencer::Equals(ra.identity, rb.identity));
  EXPECT_EQ(ra.pod_name, rb.pod_name);
  EXPECT_EQ(ra.pod_uid, rb.pod_uid);
  EXPECT_EQ(ra.pod_namespace, rb.pod_namespace);
  EXPECT_EQ(from_wire->state, from_parse->state);
  return Path::kScanned;
}

Path SameOutcome(const p2p::PublishMetadataRequest& request, const RequestLimits& limits = {}) {
  return ExpectSameOutcome(request.SerializeAsString(), limits);
}

TEST(PublishWireTest, ATensorSourceWorkerIsScannedAndStoredAsTheParserStoresIt) {
  EXPECT_EQ(SameOutcome(Request(3000)), Path::kScanned);
  EXPECT_EQ(SameOutcome(Request(0)), Path::kScanned);
}

TEST(PublishWireTest, LegacyTensorsMoveIntoTheTensorSourceAsWhenParsed) {
  auto legacy_only = Request(0);
  auto both = Request(5);
  auto empty_source = Request(0);
  empty_source.mutable_worker()->mutable_tensor_source();  // present, empty
  for (auto* r : {&legacy_only, &both, &empty_source}) {
    for (int i = 0; i < 4; ++i) {
      auto* t = r->mutable_worker()->add_tensors();
      t->set_name("legacy." + std::to_string(i));
      t->set_size(i);
    }
    EXPECT_EQ(SameOutcome(*r), Path::kScanned);
  }
}

TEST(PublishWireTest, ArtifactSourcesSessionIdsAndBareWorkersMatchTheParser) {
  auto artifact = Request(0);
  artifact.mutable_worker()->mutable_artifact_source()->set_artifact_id("a1");
  artifact.mutable_worker()->mutable_artifact_source()->set_total_size(99);
  artifact.mutable_worker()->add_tensors()->set_name("dropped.beside.an.artifact");
  EXPECT_EQ(SameOutcome(artifact), Path::kScanned);

  auto session = Request(3);
  session.mutable_worker()->set_transfer_engine_session_id("mooncake-1");
  EXPECT_EQ(SameOutcome(session), Path::kScanned);

  auto bare = Request(0);
  bare.mutable_worker()->clear_nixl_metadata();
  bare.mutable_worker()->clear_status();
  EXPECT_EQ(SameOutcome(bare), Path::kScanned);
}

TEST(PublishWireTest, UnknownFieldsOutsideTheTensorListsAreKeptAsWhenParsed) {
  std::string bytes = Request(2).SerializeAsString();
  bytes += std::string("\xf8\x06\x2a", 3);  // top level: field 111 = 42
  EXPECT_EQ(ExpectSameOutcome(bytes), Path::kScanned);

  auto request = Request(2);
  request.mutable_worker()->GetReflection()->MutableUnknownFields(request.mutable_worker())
      ->AddLengthDelimited(99, "from a newer publisher");
  EXPECT_EQ(SameOutcome(request), Path::kScanned);
}

TEST(PublishWireTest, EveryLimitIsEnforcedWithTheParsersAnswer) {
  RequestLimits small;
  small.max_id_bytes = 8;
  small.max_identity_field_bytes = 16;
  small.max_extra_parameters = 1;
  small.max_tensors = 5;
  small.max_tensor_name_bytes = 24;
  small.max_endpoint_bytes = 8;
  const std::vector<std::function<void(p2p::PublishMetadataRequest*)>> breaks = {
      [](auto* r) { r->set_worker_id("a-worker-id-longer-than-eight"); },
      [](auto* r) { r->mutable_identity()->set_dtype(std::string(17, 'd')); },
      [](auto* r) { (*r->mutable_identity()->mutable_extra_parameters())["b"] = "2"; },
      [](auto* r) { r->mutable_worker()->set_agent_name("agent-name-too-long"); },
      [](auto* r) { r->set_pod_namespace("namespace-too-long"); },
      [](auto* r) { r->mutable_worker()->set_status(static_cast<p2p::SourceStatus>(7)); },
      [](auto* r) {  // 6 in all, over both lists
        r->mutable_worker()->add_tensors()->set_name("x");
        r->mutable_worker()->add_tensors()->set_name("y");
      },
      [](auto* r) {  // a legacy name reported before a tensor_source one
        r->mutable_worker()->mutable_tensor_source()->mutable_tensors(1)->set_name(
            std::string(30, 's'));
        r->mutable_worker()->add_tensors()->set_name(std::string(26, 'l'));
      },
      [](auto* r) {
        r->mutable_worker()->mutable_tensor_source()->mutable_tensors(2)->set_name(
            std::string(25, 'n'));
      },
      [](auto* r) { r->clear_identity(); },
      [](auto* r) { r->mutable_identity()->clear_model_name(); },
      [](auto* r) { r->clear_worker_id(); },
      [](auto* r) { r->clear_worker(); },
  };
  for (size_t i = 0; i < breaks.size(); ++i) {
    auto request = Request(4);
    request.set_worker_id("w");
    request.set_pod_name("p");
    request.mutable_identity()->set_mx_version("0.5");
    request.mutable_identity()->set_model_name("m");
    request.mutable_worker()->set_metadata_endpoint("e");
    request.mutable_worker()->set_accelerator("H100");
    for (auto& t : *request.mutable_worker()->mutable_tensor_source()->mutable_tensors()) {
      t.set_name("t");
    }
    ASSERT_EQ(SameOutcome(request, small), Path::kScanned) << "unbroken, case " << i;
    breaks[i](&request);
    SCOPED_TRACE(i);
    EXPECT_EQ(SameOutcome(request, small), Path::kScanned);
    // The answer is a refusal, not a stored worker.
    store::MemoryStore memory;
    MetadataService service(&memory, std::chrono::seconds(90), small, true);
    auto scanned = ScanPublish(request.SerializeAsString(), small.max_tensor_name_bytes);
    ASSERT_TRUE(scanned.has_value());
    auto answer = service.Publish(*std::move(scanned), {});
    EXPECT_TRUE(!answer.ok() || !answer->success());
    EXPECT_EQ(memory.records(), 0u);
  }
}

TEST(PublishWireTest, AReplyOverTheSendLimitIsRefusedLikeTheParsedOne) {
  RequestLimits limits;
  const auto request = Request(100);
  limits.max_reply_bytes = 2 * request.ByteSizeLong();  // fits
  EXPECT_EQ(SameOutcome(request, limits), Path::kScanned);
  limits.max_reply_bytes = request.ByteSizeLong();  // the tensors twice do not
  EXPECT_EQ(SameOutcome(request, limits), Path::kScanned);
  store::MemoryStore memory;
  MetadataService service(&memory, std::chrono::seconds(90), limits, true);
  auto answer = service.Publish(*ScanPublish(request.SerializeAsString(), 4096), {});
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(PublishWireTest, ShapesOnlyTheParserTakesAreLeftToIt) {
  auto non_ascii = Request(2);
  non_ascii.mutable_worker()->mutable_tensor_source()->mutable_tensors(0)->set_name("caf\xc3\xa9");
  EXPECT_EQ(SameOutcome(non_ascii), Path::kParser);

  {
    p2p::PublishMetadataRequest r = Request(1);
    r.mutable_worker()->mutable_tensor_source()->mutable_tensors(0)->GetReflection()
        ->MutableUnknownFields(r.mutable_worker()->mutable_tensor_source()->mutable_tensors(0))
        ->AddVarint(9, 1);
    EXPECT_EQ(SameOutcome(r), Path::kParser);
  }
  // Two worker fields (protobuf merges them), two tensor_sources, a blob
  // and a session id (a oneof: the last one wins).
  const std::string worker_a = Request(1).SerializeAsString();
  EXPECT_EQ(ExpectSameOutcome(worker_a + worker_a), Path::kParser);
  p2p::PublishMetadataRequest extra;
  extra.mutable_worker()->mutable_tensor_source()->add_tensors()->set_name("second");
  EXPECT_EQ(ExpectSameOutcome(worker_a + extra.SerializeAsString()), Path::kParser);
  p2p::PublishMetadataRequest session;
  session.mutable_worker()->set_transfer_engine_session_id("s");
  EXPECT_EQ(ExpectSameOutcome(worker_a + session.SerializeAsString()), Path::kParser);
}

TEST(PublishWireTest, BadUtf8AndTruncatedBytesAreNeverTaken) {
  Quiet quiet;
  std::string bad = Request(2).SerializeAsString();
  const size_t at = bad.find("model.layers.1");
  ASSERT_NE(at, std::string::npos);
  bad[at] = '\xff';
  EXPECT_EQ(ExpectSameOutcome(bad), Path::kRefused);

  // Every prefix: either protobuf parses it too, with the same outcome, or
  // the scanner refuses it.
  const std::string whole = Request(3).SerializeAsString();
  int scanned = 0;
  for (size_t n = 0; n < whole.size(); ++n) {
    if (ExpectSameOutcome(whole.substr(0, n)) == Path::kScanned) ++scanned;
  }
  EXPECT_GT(scanned, 0);
}

TEST(PublishWireTest, RandomlyDamagedRequestsAreTakenOnlyWhenTheParserAgrees) {
  Quiet quiet;
  const std::string whole = Request(6).SerializeAsString();
  std::mt19937 random(16);
  int paths[3] = {0, 0, 0};
  for (int i = 0; i < 1500; ++i) {
    std::string damaged = whole;
    const int flips = 1 + static_cast<int>(random() % 3);
    for (int f = 0; f < flips; ++f) {
      damaged[random() % damaged.size()] = static_cast<char>(random() & 0xff);
    }
    ++paths[static_cast<int>(ExpectSameOutcome(damaged))];
  }
  // All three outcomes occur, so each comparison above ran.
  EXPECT_GT(paths[static_cast<int>(Path::kScanned)], 0);
  EXPECT_GT(paths[static_cast<int>(Path::kRefused)], 0);
}

}  // namespace
}  // namespace mx::server
