// GPU seed: allocates a synthetic DeepSeek-V3 shard (one buffer, ~2,700
// tensors), fills each tensor with its pattern word, exports the buffer
// (a CUDA VMM allocation's fd, a CUDA IPC handle with --handle-kind ipc, or a
// shared-memory name in --mode host) in nixl_metadata and keeps the worker
// published READY until SIGINT/SIGTERM or --seconds.
//   mx_gpu_seed --server 127.0.0.1:8001 --mode cuda --device 0 [--scale 1] [--handle-kind vmm|ipc]
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "gpu/gpu_flags.h"
#include "gpu/shard_memory.h"
#include "mx/publisher.h"

namespace mx::examples {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "mx_gpu_seed: " << status << std::endl;
  return 1;
}

int Run(const FlagMap& flags, const sigset_t& signals) {
  auto shard_options = ShardFlags(flags);
  if (!shard_options.ok()) return Fail(shard_options.status());
  const std::string mode = Flag(flags, "mode", "cuda");
  auto device = IntFlag(flags, "device", 0, 0, 1023);
  if (!device.ok()) return Fail(device.status());
  if (mode != "cuda" && mode != "host") return Fail(absl::InvalidArgumentError("--mode: cuda or host"));
  const std::string handle_kind = Flag(flags, "handle-kind", "vmm");
  if (handle_kind != "vmm" && handle_kind != "ipc") {
    return Fail(absl::InvalidArgumentError("--handle-kind: vmm or ipc"));
  }

  const std::vector<TensorSpec> tensors = DeepSeekV3Shard(*shard_options);
  const uint64_t bytes = ShardBytes(tensors);
  std::string accelerator = "host";
  absl::StatusOr<std::unique_ptr<SeedShard>> shard;
  if (mode == "host") {
    shard = CreateHostSeedShard(bytes);
  } else {
    auto driver = cuda::Driver::Load();
    if (!driver.ok()) return Fail(driver.status());
    char name[128] = {};
    cuda::CUdevice handle = 0;
    if ((*driver)->cuDeviceGet(&handle, *device) == 0 &&
        (*driver)->cuDeviceGetName(name, sizeof(name) - 1, handle) == 0) {
      accelerator = name;
    }
    shard = CreateCudaSeedShard(*driver, *device, bytes, handle_kind == "vmm");
  }
  if (!shard.ok()) return Fail(shard.status());
  const auto fill_start = std::chrono::steady_clock::now();
  if (auto s = (*shard)->Fill(tensors); !s.ok()) return Fail(s);
  const double fill_ms = std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - fill_start).count();
  if (auto corrupt = flags.find("corrupt"); corrupt != flags.end()) {
    auto it = std::find_if(tensors.begin(), tensors.end(),
                           [&](const TensorSpec& t) { return t.name == corrupt->second; });
    if (it == tensors.end()) return Fail(absl::InvalidArgumentError("--corrupt: no such tensor"));
    if (auto s = (*shard)->Corrupt(*it); !s.ok()) return Fail(s);
  }
  std::cout << "shard: " << tensors.size() << " tensors, " << bytes << " bytes (" << Gb(bytes)
            << " GB) on " << accelerator << ", " << KindName((*shard)->Handle().kind)
            << ", filled in " << fill_ms << " ms" << std::endl;
  if (const ShardHandle exported = (*shard)->Handle(); exported.kind == ShardHandle::Kind::kCudaVmm) {
    std::cout << "cuda-vmm allocation " << exported.alloc_bytes << " bytes, fd " << exported.fd
              << ", also served on " << exported.socket << std::endl;
  }

  mx::ClientOptions client_options = mx::ClientOptions::FromEnvironment();
  client_options.address = Flag(flags, "server", client_options.address);
  auto client = mx::Client::Create(client_options);
  if (!client.ok()) return Fail(client.status());

  p2p::PublishMetadataRequest request;
  *request.mutable_identity() = GpuIdentity(flags);
  request.set_worker_id(Flag(flags, "worker-id", "gpu-seed-0"));
  auto* worker = request.mutable_worker();
  worker->set_worker_rank(0);
  worker->set_accelerator(accelerator);
  const ShardHandle handle = (*shard)->Handle();
  worker->set_nixl_metadata(EncodeShardHandle(handle));
  for (const auto& t : tensors) {
    auto* tensor = worker->mutable_tensor_source()->add_tensors();
    tensor->set_name(t.name);
    tensor->set_addr(handle.base + t.offset);
    tensor->set_size(t.size);
    tensor->set_dtype(t.dtype);
    tensor->set_device_id(static_cast<uint32_t>(handle.device));
  }
  auto interval = IntFlag(flags, "interval-ms", 30000, 10, 3600000);
  if (!interval.ok()) return Fail(interval.status());
  mx::PublisherOptions publisher_options;
  publisher_options.heartbeat_interval = std::chrono::milliseconds(*interval);
  mx::SourcePublisher publisher(std::shared_ptr<mx::Client>(std::move(*client)), request,
                                publisher_options);
  if (auto s = publisher.Start(); !s.ok()) return Fail(s);
  if (auto s = publisher.WaitPublished(std::chrono::seconds(30)); !s.ok()) return Fail(s);
  std::cout << "published " << tensors.size() << " tensors as source "
            << publisher.stats().mx_source_id << " worker " << request.worker_id() << std::endl;

  auto seconds = IntFlag(flags, "seconds", 0, 0, 86400);
  if (!seconds.ok()) return Fail(seconds.status());
  if (*seconds > 0) {
    timespec wait{*seconds, 0};
    sigtimedwait(&signals, nullptr, &wait);
  } else {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
  }
  publisher.Stop();  // STALE before the buffer goes away
  std::cout << "stopped; worker marked STALE" << std::endl;
  return 0;
}

}  // namespace
}  // namespace mx::examples

int main(int argc, char** argv) {
  sigset_t signals;  // blocked before any thread exists, so only sigwait sees them
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return mx::examples::Run(mx::examples::ParseFlags(argc, argv), signals);
}
