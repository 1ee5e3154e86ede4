// GPU target: finds a READY GPU seed of the same model through mxd, reads its
// metadata, maps the seed's shard buffer, copies every tensor into its own
// buffer (matched by name) on a few streams, verifies every word and prints
// how long each phase took.
//   mx_gpu_target --server 127.0.0.1:8001 --mode cuda --device 1 [--streams 4]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <unordered_map>

#include "gpu/copy_plan.h"
#include "gpu/gpu_flags.h"
#include "gpu/shard_memory.h"
#include "absl/strings/str_format.h"
#include "mx/find_source.h"

namespace mx::examples {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int Fail(const absl::Status& status) {
  std::cerr << "mx_gpu_target: " << status << std::endl;
  return 1;
}

int Run(const FlagMap& flags) {
  auto shard_options = ShardFlags(flags);
  if (!shard_options.ok()) return Fail(shard_options.status());
  const std::string mode = Flag(flags, "mode", "cuda");
  if (mode != "cuda" && mode != "host") return Fail(absl::InvalidArgumentError("--mode: cuda or host"));
  auto device = IntFlag(flags, "device", 1, 0, 1023);
  auto streams = IntFlag(flags, "streams", 4, 1, 64);
  auto repeats = IntFlag(flags, "repeat", 0, 0, 100);
  auto timeout_ms = IntFlag(flags, "timeout-ms", 60000, 0, 3600000);
  for (const auto* s : {&device.status(), &streams.status(), &repeats.status(), &timeout_ms.status()}) {
    if (!s->ok()) return Fail(*s);
  }
  const std::string refetch_flag = Flag(flags, "refetch", "true");
  if (refetch_flag != "true" && refetch_flag != "false") {
    return Fail(absl::InvalidArgumentError("--refetch: true or false"));
  }
  const bool refetch = refetch_flag == "true";
  const std::string coalesce_flag = Flag(flags, "coalesce", "true");
  if (coalesce_flag != "true" && coalesce_flag != "false") {
    return Fail(absl::InvalidArgumentError("--coalesce: true or false"));
  }
  const bool coalesce = coalesce_flag == "true";
  const std::string connect_flag = Flag(flags, "connect-first", "true");
  if (connect_flag != "true" && connect_flag != "false") {
    return Fail(absl::InvalidArgumentError("--connect-first: true or false"));
  }
  auto probes = IntFlag(flags, "probe-rpcs", 0, 0, 1000);
  if (!probes.ok()) return Fail(probes.status());
  const std::string engine = Flag(flags, "copy-engine", "target");
  if (engine != "target" && engine != "source") {
    return Fail(absl::InvalidArgumentError("--copy-engine: target or source"));
  }

  // The engine's own model: its layout and its (preallocated) weight buffer.
  const std::vector<TensorSpec> layout = DeepSeekV3Shard(*shard_options);
  std::unordered_map<std::string, const TensorSpec*> own;
  for (const auto& t : layout) own.emplace(t.name, &t);
  const uint64_t bytes = ShardBytes(layout);
  std::string accelerator = "host";
  absl::StatusOr<std::unique_ptr<TargetShard>> shard;
  const auto setup_start = Clock::now();
  if (mode == "host") {
    shard = CreateHostTargetShard(bytes, *streams);
  } else {
    auto driver = cuda::Driver::Load();
    if (!driver.ok()) return Fail(driver.status());
    char name[128] = {};
    cuda::CUdevice handle = 0;
    if ((*driver)->cuDeviceGet(&handle, *device) == 0 &&
        (*driver)->cuDeviceGetName(name, sizeof(name) - 1, handle) == 0) {
      accelerator = name;
    }
    shard = CreateCudaTargetShard(*driver, *device, bytes, *streams, engine == "source");
  }
  if (!shard.ok()) return Fail(shard.status());
  const double setup_ms = MsSince(setup_start);
  // An engine connects to mxd when it starts, long before it loads weights:
  // --connect-first (default) opens the channel with a health check here,
  // outside the timed phases; --connect-first false leaves the connection to
  // the first discovery call.
  const auto connect_start = Clock::now();
  mx::ClientOptions client_options = mx::ClientOptions::FromEnvironment();
  client_options.address = Flag(flags, "server", client_options.address);
  auto client = mx::Client::Create(client_options);
  if (!client.ok()) return Fail(client.status());
  if (connect_flag == "true") {
    auto health = (*client)->CheckHealth();
    if (!health.ok()) return Fail(health.status());
  }
  const double connect_ms = MsSince(connect_start);

  mx::FindSourceOptions find;
  find.identity = GpuIdentity(flags);
  find.worker_rank = 0;
  find.own_worker_id = Flag(flags, "worker-id", "gpu-target-0");
  find.accelerator = accelerator;
  find.timeout = std::chrono::milliseconds(*timeout_ms);

  // Phase 1: discovery (ListSources, then the chosen candidate's record).
  const auto t0 = Clock::now();
  auto source = mx::FindSource(**client, find);
  if (!source.ok()) return Fail(source.status());
  const double discovery_ms = MsSince(t0);

  // Phase 2: the worker's metadata, fetched again with GetMetadata as an
  // engine does right before loading (--refetch, the default; with
  // --refetch=false the record FindSource returned is used), decoded into a
  // handle and a copy plan.
  const auto t1 = Clock::now();
  p2p::GetMetadataResponse fetched;
  if (refetch) {
    auto metadata = (*client)->GetMetadata(source->mx_source_id, source->worker_id);
    if (!metadata.ok()) return Fail(metadata.status());
    fetched = std::move(*metadata);
  }
  const p2p::WorkerMetadata& worker = refetch ? fetched.worker() : source->worker;
  auto handle = DecodeShardHandle(worker.nixl_metadata());
  if (!handle.ok()) return Fail(handle.status());
  auto plan = PlanCopies(worker, *handle, own);
  if (!plan.ok()) return Fail(plan.status());
  // --coalesce (default): tensors adjacent in both buffers move as one copy
  // (alignment padding included), in runs of about 1/4 of a stream's share.
  const uint64_t max_run = (bytes / (4 * *streams) + (1 << 20) - 1) / (1 << 20) * (1 << 20);
  const std::vector<CopyRange> copies = coalesce ? CoalesceRanges(*plan, 4096, max_run) : *plan;
  const double metadata_ms = MsSince(t1);

  // Phase 3: map the seed's buffer (one handle for the whole shard: cuda-vmm
  // fd obtained + imported + mapped, or cuda-ipc opened).
  const auto t2 = Clock::now();
  if (auto s = (*shard)->Open(*handle); !s.ok()) return Fail(s);
  const double open_ms = MsSince(t2);

  // Phase 4: copy every tensor.
  const auto t3 = Clock::now();
  if (auto s = (*shard)->Copy(copies); !s.ok()) return Fail(s);
  const double copy_ms = MsSince(t3);

  const auto t4 = Clock::now();
  const absl::Status verified = (*shard)->Verify(*plan);
  const double verify_ms = MsSince(t4);

  std::vector<double> repeat_ms;
  for (int i = 0; i < *repeats && verified.ok(); ++i) {
    const auto start = Clock::now();
    if (auto s = (*shard)->Copy(copies); !s.ok()) return Fail(s);
    repeat_ms.push_back(MsSince(start));
  }

  // --probe-rpcs N: after everything, time the metadata plane's two calls
  // again N times each on the warm channel (medians printed), to show which
  // one the discovery and fetch phases spend their time in.
  std::vector<double> list_ms, get_ms;
  for (int i = 0; i < *probes; ++i) {
    mx::ListFilter filter;
    filter.identity = find.identity;
    filter.status = p2p::SOURCE_STATUS_READY;
    filter.worker_rank = 0;
    auto start = Clock::now();
    if (auto listed = (*client)->ListSources(filter); !listed.ok()) return Fail(listed.status());
    list_ms.push_back(MsSince(start));
    start = Clock::now();
    auto got = (*client)->GetMetadata(source->mx_source_id, source->worker_id);
    if (!got.ok()) return Fail(got.status());
    get_ms.push_back(MsSince(start));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };

  const double e2e_ms = discovery_ms + metadata_ms + open_ms + copy_ms;
  const double metadata_plane_ms = discovery_ms + metadata_ms;
  const double gbps = Gb(bytes) / (copy_ms / 1000.0);
  std::printf("source %s worker %s, %s shard from device %d to %s device %d\n",
              source->mx_source_id.c_str(), source->worker_id.c_str(),
              KindName(handle->kind), handle->device,
              accelerator.c_str(), *device);
  std::printf("tensors %zu, bytes %llu (%.2f GB), worker record %zu bytes, %d streams\n",
              plan->size(), static_cast<unsigned long long>(bytes), Gb(bytes), worker.ByteSizeLong(),
              *streams);
  std::printf("copies %zu (%s), by the %s device's copy engines\n", copies.size(),
              coalesce ? "tensors adjacent in both buffers merged" : "one per tensor", engine.c_str());
  if (!(*shard)->opened_how().empty()) std::printf("mapped with the %s\n", (*shard)->opened_how().c_str());
  std::printf("  %-28s %10.2f ms\n", "setup (not in total)", setup_ms);
  std::printf("  %-28s %10.2f ms\n",
              connect_flag == "true" ? "connect + health (not in total)" : "client (not in total)",
              connect_ms);
  std::printf("  %-28s %10.2f ms\n", "discovery (FindSource)", discovery_ms);
  std::printf("  %-28s %10.2f ms\n", refetch ? "metadata fetch + decode" : "metadata decode",
              metadata_ms);
  std::printf("  %-28s %10.2f ms\n", "mapping (open/import + map)", open_ms);
  std::printf("  %-28s %10.2f ms  %.1f GB/s\n", "copy", copy_ms, gbps);
  std::printf("  %-28s %10.2f ms\n", "end to end", e2e_ms);
  std::printf("  %-28s %10.2f %%\n", "metadata plane share", 100.0 * metadata_plane_ms / e2e_ms);
  std::printf("  %-28s %10.2f ms\n", "verify (not in total)", verify_ms);
  for (size_t i = 0; i < repeat_ms.size(); ++i) {
    std::printf("  copy again #%zu %25.2f ms  %.1f GB/s\n", i + 1, repeat_ms[i],
                Gb(bytes) / (repeat_ms[i] / 1000.0));
  }
  if (*probes > 0) {
    std::printf("PROBE rpcs=%d list_sources_p50_ms=%.3f get_metadata_p50_ms=%.3f record_bytes=%zu\n",
                *probes, median(list_ms), median(get_ms), worker.ByteSizeLong());
  }
  std::string again;
  for (double ms : repeat_ms) {
    absl::StrAppend(&again, again.empty() ? "" : ",", absl::StrFormat("%.1f", Gb(bytes) / (ms / 1000.0)));
  }
  if (again.empty()) again = "-";
  std::printf("RESULT tensors=%zu bytes=%llu discovery_ms=%.3f metadata_ms=%.3f open_ms=%.3f "
              "copy_ms=%.3f copy_gbps=%.1f e2e_ms=%.3f metadata_share_pct=%.2f refetch=%d copies=%zu engine=%s "
              "kind=%s streams=%d connect_first=%d again_gbps=%s verified=%s\n",
              plan->size(), static_cast<unsigned long long>(bytes), discovery_ms, metadata_ms,
              open_ms, copy_ms, gbps, e2e_ms, 100.0 * metadata_plane_ms / e2e_ms, refetch ? 1 : 0,
              copies.size(), engine.c_str(), KindName(handle->kind), *streams, connect_flag == "true" ? 1 : 0,
              again.c_str(),
              verified.ok() ? "all" : "FAILED");
  std::fflush(stdout);
  if (!verified.ok()) return Fail(verified);
  std::cout << "verified " << plan->size() << "/" << plan->size() << " tensors" << std::endl;
  return 0;
}

}  // namespace
}  // namespace mx::examples

int main(int argc, char** argv) {
  return mx::examples::Run(mx::examples::ParseFlags(argc, argv));
}
