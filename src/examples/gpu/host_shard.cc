// Host-memory shards: the seed's buffer is a POSIX shared-memory object the
// target maps read-only; the target copies with one thread per lane.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gpu/shard_memory.h"

namespace mx::examples {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// First word of `ranges` in `buffer` that differs from its pattern.
absl::Status CheckWords(const char* buffer, const CopyRange& range) {
  const char* data = buffer + range.dst_offset;
  for (uint64_t word = 0; word < range.size / 4; ++word) {
    uint32_t value;
    std::memcpy(&value, data + word * 4, 4);
    if (value != range.pattern) {
      return absl::DataLossError(absl::StrCat("tensor ", range.name, " word ", word, " is 0x",
                                              absl::Hex(value), ", expected 0x",
                                              absl::Hex(range.pattern)));
    }
  }
  return absl::OkStatus();
}

class HostSeedShard : public SeedShard {
 public:
  HostSeedShard(std::string name, char* data, uint64_t bytes)
      : name_(std::move(name)), data_(data), bytes_(bytes) {}
  ~HostSeedShard() override {
    munmap(data_, bytes_);
    shm_unlink(name_.c_str());
  }
  uint64_t base() const override { return reinterpret_cast<uint64_t>(data_); }
  absl::Status Fill(const std::vector<TensorSpec>& tensors) override {
    for (const auto& t : tensors) {
      if (t.offset + t.size > bytes_) return absl::InvalidArgumentError("tensor outside the shard");
      const uint32_t word = PatternWord(t.name);
      for (uint64_t i = 0; i < t.size; i += 4) std::memcpy(data_ + t.offset + i, &word, 4);
    }
    return absl::OkStatus();
  }
  absl::Status Corrupt(const TensorSpec& t) override {
    const uint32_t wrong = ~PatternWord(t.name);
    std::memcpy(data_ + t.offset + t.size - 4, &wrong, 4);
    return absl::OkStatus();
  }
  ShardHandle Handle() const override {
    ShardHandle handle;
    handle.kind = ShardHandle::Kind::kHostShm;
    handle.base = base();
    handle.bytes = bytes_;
    handle.shm_name = name_;
    return handle;
  }

 private:
  const std::string name_;
  char* const data_;
  const uint64_t bytes_;
};

class HostTargetShard : public TargetShard {
 public:
  HostTargetShard(char* own, uint64_t bytes, int lanes) : own_(own), bytes_(bytes), lanes_(lanes) {}
  ~HostTargetShard() override {
    if (remote_ != nullptr) munmap(remote_, remote_bytes_);
    munmap(own_, bytes_);
  }
  absl::Status Open(const ShardHandle& handle) override {
    if (handle.kind != ShardHandle::Kind::kHostShm) {
      return absl::InvalidArgumentError("the seed's shard is not host-shm (run both in one mode)");
    }
    if (handle.bytes < bytes_) return absl::InvalidArgumentError("the seed's shard is too small");
    const int fd = shm_open(handle.shm_name.c_str(), O_RDONLY, 0);
    if (fd < 0) return Errno("shm_open " + handle.shm_name);
    struct stat st {};
    if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < handle.bytes) {
      close(fd);
      return absl::InvalidArgumentError("the shared-memory object is smaller than announced");
    }
    void* map = mmap(nullptr, handle.bytes, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return Errno("mmap " + handle.shm_name);
    remote_ = static_cast<char*>(map);
    remote_bytes_ = handle.bytes;
    return absl::OkStatus();
  }
  absl::Status Copy(const std::vector<CopyRange>& ranges) override {
    if (remote_ == nullptr) return absl::FailedPreconditionError("Open() first");
    for (const auto& r : ranges) {
      if (r.src_offset + r.size > remote_bytes_ || r.dst_offset + r.size > bytes_) {
        return absl::InvalidArgumentError(absl::StrCat("tensor ", r.name, " outside the buffers"));
      }
    }
    const std::vector<int> lane_of = AssignLanes(ranges, lanes_);
    std::vector<std::thread> threads;
    for (int lane = 0; lane < lanes_; ++lane) {
      threads.emplace_back([&, lane] {
        for (size_t i = 0; i < ranges.size(); ++i) {
          if (lane_of[i] != lane) continue;
          std::memcpy(own_ + ranges[i].dst_offset, remote_ + ranges[i].src_offset, ranges[i].size);
        }
      });
    }
    for (auto& t : threads) t.join();
    return absl::OkStatus();
  }
  absl::Status Verify(const std::vector<CopyRange>& ranges) override {
    for (const auto& r : ranges) {
      if (r.dst_offset + r.size > bytes_) return absl::InvalidArgumentError("range outside the buffer");
      if (auto s = CheckWords(own_, r); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  char* const own_;
  const uint64_t bytes_;
  const int lanes_;
  char* remote_ = nullptr;
  uint64_t remote_bytes_ = 0;
};

}  // namespace

std::vector<int> AssignLanes(const std::vector<CopyRange>& ranges, int lanes) {
  std::vector<size_t> order(ranges.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return ranges[a].size > ranges[b].size; });
  std::vector<uint64_t> load(std::max(lanes, 1), 0);
  std::vector<int> lane_of(ranges.size(), 0);
  for (size_t i : order) {
    const int lane = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    lane_of[i] = lane;
    load[lane] += ranges[i].size;
  }
  return lane_of;
}

absl::StatusOr<std::unique_ptr<SeedShard>> CreateHostSeedShard(uint64_t bytes) {
  if (bytes == 0) return absl::InvalidArgumentError("empty shard");
  const std::string name = absl::StrCat("/mx-gpu-seed-", getpid());
  shm_unlink(name.c_str());  // a leftover of a killed process that had our pid; never a live one's
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return Errno("shm_open " + name);
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    auto status = Errno("ftruncate " + name);
    close(fd);
    shm_unlink(name.c_str());
    return status;
  }
  void* map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    auto status = Errno("mmap " + name);
    shm_unlink(name.c_str());
    return status;
  }
  return std::make_unique<HostSeedShard>(name, static_cast<char*>(map), bytes);
}

absl::StatusOr<std::unique_ptr<TargetShard>> CreateHostTargetShard(uint64_t bytes, int lanes) {
  if (bytes == 0 || lanes < 1) return absl::InvalidArgumentError("empty shard or no lanes");
  void* map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) return Errno("mmap of the target buffer");
  std::memset(map, 0, bytes);  // touched up front, as an engine's preallocated weights are
  return std::make_unique<HostTargetShard>(static_cast<char*>(map), bytes, lanes);
}

}  // namespace mx::examples
