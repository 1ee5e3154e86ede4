// The GPU example's pure parts: the synthetic shard, the handle format and
// the lane assignment.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <unordered_map>

#include "gpu/copy_plan.h"
#include "gpu/fd_passing.h"
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

TEST(ShardHandleTest, ACudaVmmHandleRoundTripsWithEveryWayToItsFd) {
  ShardHandle handle;
  handle.kind = ShardHandle::Kind::kCudaVmm;
  handle.device = 0;
  handle.base = 0x7f0000000000;
  handle.bytes = 29'302'031'872ull;
  handle.alloc_bytes = 29'303'554'048ull;
  handle.pid = 4242;
  handle.fd = 17;
  handle.socket = "@mx-gpu-seed-4242";
  const std::string blob = EncodeShardHandle(handle);
  EXPECT_NE(blob.find("kind=cuda-vmm\n"), std::string::npos) << blob;
  auto decoded = DecodeShardHandle(blob);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->kind, ShardHandle::Kind::kCudaVmm);
  EXPECT_EQ(decoded->base, handle.base);
  EXPECT_EQ(decoded->bytes, handle.bytes);
  EXPECT_EQ(decoded->alloc_bytes, handle.alloc_bytes);
  EXPECT_EQ(decoded->pid, 4242);
  EXPECT_EQ(decoded->fd, 17);
  EXPECT_EQ(decoded->socket, "@mx-gpu-seed-4242");
  EXPECT_STREQ(KindName(decoded->kind), "cuda-vmm");
}

TEST(ShardHandleTest, MalformedCudaVmmHandlesAreRejectedWithTheReason) {
  const std::string head = "mx-shard/1\nkind=cuda-vmm\ndevice=0\nbase=0x1000\nbytes=4096\n";
  const std::string ok = head + "alloc=2097152\npid=10\nfd=5\nsocket=@s-1\n";
  ASSERT_TRUE(DecodeShardHandle(ok).ok()) << DecodeShardHandle(ok).status();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {head + "pid=10\nfd=5\nsocket=@s\n", "lacks alloc"},
      {head + "alloc=2097152\nfd=5\nsocket=@s\n", "lacks pid"},
      {head + "alloc=2097152\npid=10\nsocket=@s\n", "lacks fd"},
      {head + "alloc=2097152\npid=10\nfd=5\n", "bad socket"},
      {head + "alloc=2048\npid=10\nfd=5\nsocket=@s\n", "alloc is below bytes"},
      {head + "alloc=18446744073709551615\npid=10\nfd=5\nsocket=@s\n", "base+alloc overflows"},
      {head + "alloc=2097152\npid=0\nfd=5\nsocket=@s\n", "pid out of range"},
      {head + "alloc=2097152\npid=-3\nfd=5\nsocket=@s\n", "bad pid"},
      {head + "alloc=2097152\npid=10\nfd=99999999\nsocket=@s\n", "fd out of range"},
      {head + "alloc=2097152\npid=10\nfd=5\nsocket=/tmp/s\n", "bad socket"},
      {head + "alloc=2097152\npid=10\nfd=5\nsocket=@a/b\n", "bad socket"},
      {head + "alloc=2097152\npid=10\nfd=5\nsocket=@\n", "bad socket"},
      {ok + "fd=6\n", "given twice"},
  };
  for (const auto& [blob, reason] : cases) {
    auto decoded = DecodeShardHandle(blob);
    ASSERT_FALSE(decoded.ok()) << blob;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(decoded.status().message().find(reason), std::string::npos)
        << decoded.status() << " for " << blob;
  }
}

// A file to pass around: an anonymous memory file holding `text`.
int MemoryFileWith(const std::string& text) {
  const int fd = memfd_create("mx-fd-test", MFD_CLOEXEC);
  if (fd >= 0 && write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    close(fd);
    return -1;
  }
  return fd;
}

// True when both fds name the same open file.
bool SameFile(int a, int b) {
  struct stat sa, sb;
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

TEST(FdPassingTest, AnFdServedOnAnAbstractSocketArrivesAsTheSameFileForEveryClient) {
  const int fd = MemoryFileWith("weights");
  ASSERT_GE(fd, 0);
  const std::string name = "@mx-fd-test-" + std::to_string(getpid());
  auto offer = FdOffer::Start(name, fd);
  ASSERT_TRUE(offer.ok()) << offer.status();
  for (int client = 0; client < 2; ++client) {
    auto received = ReceiveFd(name, 10000);
    ASSERT_TRUE(received.ok()) << received.status();
    EXPECT_NE(*received, fd);
    EXPECT_TRUE(SameFile(*received, fd));
    char text[8] = {};
    EXPECT_EQ(pread(*received, text, 7, 0), 7);
    EXPECT_STREQ(text, "weights");
    close(*received);
  }
  offer->reset();
  auto gone = ReceiveFd(name, 1000);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kUnavailable) << gone.status();
  close(fd);
}

TEST(FdPassingTest, BadSocketNamesAreRefusedBeforeAnySocketIsMade) {
  EXPECT_EQ(FdOffer::Start("/tmp/x", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReceiveFd("@a b", 10).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidSocketName("@mx-gpu-seed-12.a_b"));
  EXPECT_FALSE(ValidSocketName("@"));
  EXPECT_FALSE(ValidSocketName("@" + std::string(101, 'a')));
}

TEST(FdPassingTest, TakeFdCopiesAnFdOutOfAProcessOrSaysWhyNot) {
  const int fd = MemoryFileWith("x");
  ASSERT_GE(fd, 0);
  auto taken = TakeFd(getpid(), fd);
  if (!taken.ok()) {
    // Kernels before 5.6, or sandboxes refusing pidfd_getfd: the reason is
    // given, and the seed's socket is the way then.
    EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(taken.status().message().find("pidfd_"), std::string::npos) << taken.status();
  } else {
    EXPECT_NE(*taken, fd);
    EXPECT_TRUE(SameFile(*taken, fd));
    close(*taken);
  }
  const int unused = fd + 1000;
  auto missing = TakeFd(getpid(), unused);
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  close(fd);
}

// The seed's record for `layout` with its buffer at `base`.
p2p::WorkerMetadata PublishedAt(const std::vector<TensorSpec>& layout, uint64_t base) {
  p2p::WorkerMetadata worker;
  for (const auto& t : layout) {
    auto* tensor = worker.mutable_tensor_source()->add_tensors();
    tensor->set_name(t.name);
    tensor->set_addr(base + t.offset);
    tensor->set_size(t.size);
  }
  return worker;
}

TEST(PlanCopiesTest, TheCopyPlanIsTheSameForEveryHandleKind) {
  ShardOptions small;
  small.scale = 1.0 / 8192;
  const auto layout = DeepSeekV3Shard(small);
  std::unordered_map<std::string, const TensorSpec*> own;
  for (const auto& t : layout) own.emplace(t.name, &t);
  const uint64_t base = 0x7f0000000000;
  const auto worker = PublishedAt(layout, base);
  ShardHandle ipc;
  ipc.kind = ShardHandle::Kind::kCudaIpc;
  ipc.base = base;
  ipc.bytes = ShardBytes(layout);
  ShardHandle vmm = ipc;
  vmm.kind = ShardHandle::Kind::kCudaVmm;
  vmm.alloc_bytes = (ipc.bytes + (2 << 20) - 1) / (2 << 20) * (2 << 20);
  auto from_ipc = PlanCopies(worker, ipc, own);
  auto from_vmm = PlanCopies(worker, vmm, own);
  ASSERT_TRUE(from_ipc.ok()) << from_ipc.status();
  ASSERT_TRUE(from_vmm.ok()) << from_vmm.status();
  ASSERT_EQ(from_ipc->size(), layout.size());
  ASSERT_EQ(from_vmm->size(), from_ipc->size());
  for (size_t i = 0; i < from_ipc->size(); ++i) {
    const auto& a = (*from_ipc)[i];
    const auto& b = (*from_vmm)[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.src_offset, b.src_offset);
    EXPECT_EQ(a.dst_offset, b.dst_offset);
    EXPECT_EQ(a.size, b.size);
    EXPECT_EQ(a.pattern, PatternWord(a.name));
    EXPECT_EQ(a.src_offset, own.at(a.name)->offset);  // same layout on both sides
  }
}

TEST(PlanCopiesTest, ATensorOutsideTheSeedsBufferOrOfAnotherSizeIsRefused) {
  ShardOptions small;
  small.scale = 1.0 / 8192;
  const auto layout = DeepSeekV3Shard(small);
  std::unordered_map<std::string, const TensorSpec*> own;
  for (const auto& t : layout) own.emplace(t.name, &t);
  ShardHandle handle;
  handle.kind = ShardHandle::Kind::kCudaVmm;
  handle.base = 0x10000;
  handle.bytes = layout.back().offset + layout.back().size - 4;  // its last word falls outside
  auto outside = PlanCopies(PublishedAt(layout, handle.base), handle, own);
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument) << outside.status();
  EXPECT_NE(outside.status().message().find("outside the seed's buffer"), std::string::npos);
  handle.bytes = ShardBytes(layout);
  auto worker = PublishedAt(layout, handle.base);
  worker.mutable_tensor_source()->mutable_tensors(0)->set_size(layout[0].size + 4);
  auto resized = PlanCopies(worker, handle, own);
  EXPECT_EQ(resized.status().code(), absl::StatusCode::kFailedPrecondition) << resized.status();
  EXPECT_NE(resized.status().message().find("size mismatch"), std::string::npos);
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
