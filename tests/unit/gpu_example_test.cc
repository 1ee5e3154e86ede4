// The GPU example's pure parts: the synthetic shard, the handle format and
// the lane assignment.
#include <set>

#include "gpu/copy_plan.h"
#include "gpu/handle_blob.h"
#include "gpu/shard_layout.h"
#include "gpu/shard_memory.h"
#include "gtest/gtest.h"

namespace mx::examples {
namespace {

TEST(GpuShardLayoutTest, TheFullShardHasAboutThreeThousandTensorsAndAtLeastSixteenGigabytes) {
  const auto tensors = DeepSeekV3Shard({});
  EXPECT_EQ(tensors.size(), 2731u);
  EXPECT_GE(ShardBytes(tensors), 16'000'000'000ull);
  std::set<std::string> names;
  uint64_t end = 0;
  for (const auto& t : tensors) {
    EXPECT_TRUE(names.insert(t.name).second) << t.name;
    EXPECT_EQ(t.size % 4, 0u) << t.name;
    EXPECT_EQ(t.offset % 256, 0u) << t.name;
    EXPECT_GE(t.offset, end) << t.name << " overlaps the previous tensor";
    end = t.offset + t.size;
  }
  EXPECT_LE(end, ShardBytes(tensors));
}

TEST(GpuShardLayoutTest, ScalingShrinksBytesButKeepsEveryTensor) {
  ShardOptions small;
  small.scale = 1.0 / 8192;
  const auto tensors = DeepSeekV3Shard(small);
  EXPECT_EQ(tensors.size(), 2731u);
  EXPECT_LT(ShardBytes(tensors), 8'000'000ull);
  EXPECT_EQ(tensors.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(tensors.back().name, "lm_head.weight");
}

TEST(GpuShardLayoutTest, EachRankHoldsItsOwnExperts) {
  ShardOptions rank3;
  rank3.ep_rank = 3;
  bool found = false;
  for (const auto& t : DeepSeekV3Shard(rank3)) {
    EXPECT_EQ(t.name.find(".experts.0."), std::string::npos) << t.name;
    found = found || t.name == "model.layers.3.mlp.experts.12.gate_proj.weight";
  }
  EXPECT_TRUE(found);
}

TEST(GpuShardLayoutTest, PatternWordsDifferBetweenTensorsAndAreNeverZero) {
  EXPECT_NE(PatternWord("a.weight"), PatternWord("b.weight"));
  EXPECT_EQ(PatternWord("a.weight"), PatternWord("a.weight"));
  EXPECT_NE(PatternWord(""), 0u);
}

TEST(ShardHandleTest, ACudaIpcHandleRoundTrips) {
  ShardHandle handle;
  handle.kind = ShardHandle::Kind::kCudaIpc;
  handle.device = 1;
  handle.base = 0x7f0012340000;
  handle.bytes = 29'000'000'000ull;
  for (int i = 0; i < 64; ++i) handle.ipc_handle.push_back(static_cast<char>(i * 7));
  auto decoded = DecodeShardHandle(EncodeShardHandle(handle));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->kind, ShardHandle::Kind::kCudaIpc);
  EXPECT_EQ(decoded->device, 1);
  EXPECT_EQ(decoded->base, handle.base);
  EXPECT_EQ(decoded->bytes, handle.bytes);
  EXPECT_EQ(decoded->ipc_handle, handle.ipc_handle);
}

TEST(ShardHandleTest, AHostShmHandleRoundTrips) {
  ShardHandle handle;
  handle.base = 0x1000;
  handle.bytes = 4096;
  handle.shm_name = "/mx-gpu-seed-42";
  auto decoded = DecodeShardHandle(EncodeShardHandle(handle));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->kind, ShardHandle::Kind::kHostShm);
  EXPECT_EQ(decoded->shm_name, "/mx-gpu-seed-42");
}

TEST(ShardHandleTest, MalformedHandlesAreRejectedWithTheReason) {
  const std::string ok = "mx-shard/1\nkind=host-shm\ndevice=0\nbase=0x10\nbytes=64\nshm=/x\n";
  ASSERT_TRUE(DecodeShardHandle(ok).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "does not start"},
      {"mx-shard/2\nkind=host-shm\n", "does not start"},
      {"mx-shard/1\nkind=rdma\ndevice=0\nbase=0x10\nbytes=64\n", "unknown kind"},
      {"mx-shard/1\nkind=host-shm\ndevice=0\nbase=0x10\nshm=/x\n", "lacks bytes"},
      {"mx-shard/1\nkind=host-shm\ndevice=0\nbase=16\nbytes=64\nshm=/x\n", "bad base"},
      {"mx-shard/1\nkind=host-shm\ndevice=0\nbase=0x10\nbytes=0\nshm=/x\n", "bytes is 0"},
      {"mx-shard/1\nkind=host-shm\ndevice=0\nbase=0xffffffffffffffff\nbytes=2\nshm=/x\n", "overflows"},
      {"mx-shard/1\nkind=host-shm\ndevice=0\nbase=0x10\nbytes=64\nshm=/a/b\n", "bad shm name"},
      {ok + "shm=/y\n", "given twice"},
      {ok + "color=red\n", "unexpected line"},
      {"mx-shard/1\nkind=cuda-ipc\ndevice=0\nbase=0x10\nbytes=64\nhandle=abcd\n", "128 hex"},
      {"mx-shard/1\nkind=cuda-ipc\ndevice=0\nbase=0x10\nbytes=64\nhandle=" + std::string(128, 'z') +
           "\n",
       "128 hex"},
  };
  for (const auto& [blob, reason] : cases) {
    auto decoded = DecodeShardHandle(blob);
    ASSERT_FALSE(decoded.ok()) << blob;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(decoded.status().message().find(reason), std::string::npos)
        << decoded.status() << " for " << blob;
  }
}

TEST(AssignLanesTest, LanesCarryAboutTheSameBytes) {
  std::vector<CopyRange> ranges;
  for (uint64_t size : {100, 90, 80, 10, 10, 10, 5, 5}) ranges.push_back({"t", 0, 0, size, 1});
  const auto lane_of = AssignLanes(ranges, 3);
  std::vector<uint64_t> load(3, 0);
  for (size_t i = 0; i < ranges.size(); ++i) {
    ASSERT_GE(lane_of[i], 0);
    ASSERT_LT(lane_of[i], 3);
    load[lane_of[i]] += ranges[i].size;
  }
  for (uint64_t bytes : load) {
    EXPECT_GE(bytes, 95u);
    EXPECT_LE(bytes, 110u);
  }
}

TEST(CoalesceRangesTest, NeighboursInBothBuffersMergeAndEveryByteIsStillCovered) {
  std::vector<CopyRange> ranges = {
      {"a", 0, 1000, 100, 1},     // a and b: same 156-byte gap on both sides
      {"b", 256, 1256, 60, 2},
      {"c", 512, 5000, 40, 3},    // c: gap differs on the target side
      {"d", 100000, 200000, 8, 4}};  // d: gap too large
  const auto merged = CoalesceRanges(ranges, 4096, 1 << 20);
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].src_offset, 0u);
  EXPECT_EQ(merged[0].size, 316u);
  EXPECT_EQ(merged[0].name, "a");
  EXPECT_EQ(merged[1].name, "c");
  EXPECT_EQ(merged[2].name, "d");
  for (const auto& r : ranges) {
    bool covered = false;
    for (const auto& m : merged) {
      covered = covered || (r.src_offset >= m.src_offset && r.src_offset + r.size <= m.src_offset + m.size &&
                            r.dst_offset - r.src_offset == m.dst_offset - m.src_offset);
    }
    EXPECT_TRUE(covered) << r.name;
  }
}

TEST(CoalesceRangesTest, RunsNeverExceedTheLimitAndLongTensorsAreSplit) {
  std::vector<CopyRange> ranges;
  for (uint64_t i = 0; i < 10; ++i) ranges.push_back({"t", i * 1024, i * 1024, 1024, 1});
  ranges.push_back({"big", 10240, 10240, 10000, 1});
  const auto merged = CoalesceRanges(ranges, 0, 4096);
  uint64_t total = 0;
  for (const auto& m : merged) {
    EXPECT_LE(m.size, 4096u);
    total += m.size;
  }
  EXPECT_EQ(total, 10 * 1024u + 10000u);
}

}  // namespace
}  // namespace mx::examples
