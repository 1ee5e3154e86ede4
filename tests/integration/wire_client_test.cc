// A client written only from the contract's field tables: it encodes and
// decodes protobuf wire bytes by hand (no generated code, no .proto) and
// calls mxd by method name. If mxd's proto drifted from the contract, this
// client would see it.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>

#include "integration/child_process.h"

namespace mx::testing {
namespace {

// --- minimal protobuf wire format ---------------------------------------
class Msg {
 public:
  Msg& Varint(int field, uint64_t v) {
    Key(field, 0);
    PutVarint(v);
    return *this;
  }
  Msg& Bytes(int field, const std::string& s) {
    Key(field, 2);
    PutVarint(s.size());
    out_ += s;
    return *this;
  }
  Msg& Sub(int field, const Msg& m) { return Bytes(field, m.out_); }
  const std::string& str() const { return out_; }

 private:
  void Key(int field, int wire_type) { PutVarint((static_cast<uint64_t>(field) << 3) | wire_type); }
  void PutVarint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

// Decoded fields: number -> list of raw values (varints as numbers, length-
// delimited as bytes).
struct Fields {
  std::multimap<int, uint64_t> varints;
  std::multimap<int, std::string> bytes;
  uint64_t U(int f) const { auto it = varints.find(f); return it == varints.end() ? 0 : it->second; }
  std::string S(int f) const { auto it = bytes.find(f); return it == bytes.end() ? "" : it->second; }
  bool Has(int f) const { return varints.count(f) || bytes.count(f); }
  std::vector<std::string> All(int f) const {
    std::vector<std::string> out;
    for (auto [it, end] = bytes.equal_range(f); it != end; ++it) out.push_back(it->second);
    return out;
  }
};

bool ReadVarint(const std::string& s, size_t* pos, uint64_t* v) {
  *v = 0;
  for (int shift = 0; *pos < s.size() && shift < 64; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(s[(*pos)++]);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

Fields Parse(const std::string& s) {
  Fields f;
  size_t pos = 0;
  while (pos < s.size()) {
    uint64_t key = 0, v = 0;
    if (!ReadVarint(s, &pos, &key)) break;
    const int field = static_cast<int>(key >> 3);
    switch (key & 7) {
      case 0:
        ReadVarint(s, &pos, &v);
        f.varints.emplace(field, v);
        break;
      case 2:
        ReadVarint(s, &pos, &v);
        f.bytes.emplace(field, s.substr(pos, v));
        pos += v;
        break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      default: ADD_FAILURE() << "unexpected wire type"; return f;
    }
  }
  return f;
}

// --- calls by method name -----------------------------------------------
class WireClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("wire_client_test");
    port_ = StartMxd(&mxd_, {"--heartbeat-timeout-secs", "60"}, dir_ + "/mxd.log");
    ASSERT_NE(port_, 0) << mxd_.ReadLog();
    stub_ = std::make_unique<grpc::GenericStub>(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
  }

  grpc::Status Call(const std::string& method, const Msg& request, Fields* response) {
    grpc::Slice slice(request.str());
    grpc::ByteBuffer in(&slice, 1), out;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    stub_->UnaryCall(&context, "/model_express.p2p.P2pService/" + method, {}, &in, &out,
                     [&](grpc::Status s) {
                       std::lock_guard<std::mutex> lock(mu);
                       status = s;
                       done = true;
                       cv.notify_all();
                     });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    if (status.ok()) {
      std::vector<grpc::Slice> slices;
      (void)out.Dump(&slices);
      std::string bytes;
      for (const auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
      *response = Parse(bytes);
    }
    return status;
  }

  std::string dir_;
  ChildProcess mxd_;
  int port_ = 0;
  std::unique_ptr<grpc::GenericStub> stub_;
};

// SourceIdentity from the contract's "Check" example.
Msg Identity() {
  return Msg()
      .Bytes(1, "0.5.0")                    // mx_version
      .Bytes(3, "deepseek-ai/DeepSeek-V3")  // model_name
      .Varint(4, 1)                         // backend_framework = VLLM
      .Varint(5, 8)                         // tensor_parallel_size
      .Varint(6, 1)                         // pipeline_parallel_size
      .Bytes(8, "bfloat16");                // dtype
}

Msg Tensor(const std::string& name, uint64_t addr) {
  return Msg().Bytes(1, name).Varint(2, addr).Varint(3, 4096).Varint(4, 3).Bytes(5, "bfloat16");
}

TEST_F(WireClientTest, PublishListGetAndHeartbeatSpeakTheContractWireFormat) {
  const Msg worker = Msg()
                         .Varint(1, 3)                        // worker_rank
                         .Bytes(2, std::string("\x01\x00nixl", 6))  // nixl_metadata
                         .Varint(4, 2)                        // status READY
                         .Varint(5, 12345)                    // updated_at: ignored
                         .Bytes(7, "agent-3")                 // agent_name
                         .Bytes(9, "H100")                    // accelerator
                         .Sub(20, Msg()                       // tensor_source
                                      .Sub(1, Tensor("a.weight", 1ULL << 40))
                                      .Sub(1, Tensor("b.weight", (1ULL << 40) + 4096)));
  Fields published;
  ASSERT_TRUE(Call("PublishMetadata",
                   Msg().Sub(1, Identity()).Sub(2, worker).Bytes(3, "pod-a-gpu3").Bytes(4, "pod-a"),
                   &published)
                  .ok());
  EXPECT_EQ(published.U(1), 1u);                       // success
  EXPECT_EQ(published.S(3), "5a5f555570065064");       // the contract's vector
  EXPECT_EQ(published.S(4), "pod-a-gpu3");             // worker_id echoed

  Fields listed;
  ASSERT_TRUE(Call("ListSources", Msg().Sub(1, Identity()).Varint(2, 2).Varint(4, 3), &listed).ok());
  auto refs = listed.All(1);
  ASSERT_EQ(refs.size(), 1u);
  Fields ref = Parse(refs[0]);
  EXPECT_EQ(ref.S(1), "5a5f555570065064");
  EXPECT_EQ(ref.S(2), "pod-a-gpu3");
  EXPECT_EQ(ref.S(3), "deepseek-ai/DeepSeek-V3");
  EXPECT_EQ(ref.U(4), 3u);
  EXPECT_EQ(ref.S(5), "H100");
  EXPECT_GT(ref.U(6), 1'600'000'000'000u);  // server-stamped, not 12345
  EXPECT_FALSE(ref.Has(7));                 // no training_step

  Fields got;
  ASSERT_TRUE(Call("GetMetadata", Msg().Bytes(1, "5a5f555570065064").Bytes(2, "pod-a-gpu3"), &got)
                  .ok());
  EXPECT_EQ(got.U(1), 1u);  // found
  EXPECT_EQ(got.S(3), "5a5f555570065064");
  EXPECT_EQ(got.S(4), "pod-a-gpu3");
  EXPECT_EQ(Parse(got.S(5)).S(3), "deepseek-ai/DeepSeek-V3");
  Fields w = Parse(got.S(2));
  EXPECT_EQ(w.U(1), 3u);
  EXPECT_EQ(w.S(2), std::string("\x01\x00nixl", 6));
  EXPECT_EQ(w.U(4), 2u);
  EXPECT_GT(w.U(5), 1'600'000'000'000u);
  EXPECT_EQ(w.S(7), "agent-3");
  auto legacy = w.All(3);
  auto current = Parse(w.S(20)).All(1);
  ASSERT_EQ(legacy.size(), 2u);
  ASSERT_EQ(current.size(), 2u);
  EXPECT_EQ(Parse(current[1]).S(1), "b.weight");
  EXPECT_EQ(Parse(current[1]).U(2), (1ULL << 40) + 4096);
  EXPECT_EQ(Parse(legacy[0]).S(1), "a.weight");
  EXPECT_EQ(Parse(legacy[0]).U(4), 3u);

  Fields updated;
  ASSERT_TRUE(Call("UpdateStatus",
                   Msg().Bytes(1, "5a5f555570065064").Varint(2, 3).Varint(3, 3).Bytes(4, "pod-a-gpu3"),
                   &updated)
                  .ok());
  EXPECT_EQ(updated.U(1), 1u);
  ASSERT_TRUE(Call("GetMetadata", Msg().Bytes(1, "5a5f555570065064").Bytes(2, "pod-a-gpu3"), &got)
                  .ok());
  EXPECT_EQ(Parse(got.S(2)).U(4), 3u);  // STALE now
}

TEST_F(WireClientTest, ContractErrorsReachAClientThatOnlyKnowsTheTables) {
  Fields response;
  // Missing worker: in-band success=false with a message.
  ASSERT_TRUE(Call("PublishMetadata", Msg().Sub(1, Identity()).Bytes(3, "w"), &response).ok());
  EXPECT_EQ(response.U(1), 0u);
  EXPECT_NE(response.S(2).find("worker"), std::string::npos);
  // Heartbeat for a worker that does not exist: NOT_FOUND.
  auto status = Call("UpdateStatus",
                     Msg().Bytes(1, "5a5f555570065064").Varint(3, 2).Bytes(4, "ghost"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  // An unknown pair: found=false.
  ASSERT_TRUE(Call("GetMetadata", Msg().Bytes(1, "0000000000000000").Bytes(2, "x"), &response).ok());
  EXPECT_EQ(response.U(1), 0u);
  // status_filter out of range: INVALID_ARGUMENT.
  status = Call("ListSources", Msg().Varint(2, 9), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mx::testing
