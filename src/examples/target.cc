// Example target: waits for a READY seed of the same model and rank and
// prints what it would transfer from it.
//   mx_example_target --server localhost:8001 --model demo/tiny-model --rank 0
#include <iostream>

#include "example_flags.h"
#include "mx/client.h"
#include "mx/find_source.h"

int main(int argc, char** argv) {
  const auto flags = mx::examples::ParseFlags(argc, argv);
  mx::ClientOptions options = mx::ClientOptions::FromEnvironment();
  options.address = mx::examples::Flag(flags, "server", options.address);
  auto client = mx::Client::Create(options);
  if (!client.ok()) {
    std::cerr << "target: " << client.status() << "\n";
    return 1;
  }

  mx::FindSourceOptions find;
  find.identity.set_mx_version("0.5.0");
  find.identity.set_model_name(mx::examples::Flag(flags, "model", "demo/tiny-model"));
  find.identity.set_backend_framework(mx::p2p::BACKEND_FRAMEWORK_SGLANG);
  find.identity.set_tensor_parallel_size(1);
  find.identity.set_pipeline_parallel_size(1);
  find.identity.set_dtype("bfloat16");
  find.worker_rank = std::stoul(mx::examples::Flag(flags, "rank", "0"));
  find.own_worker_id = mx::examples::Flag(flags, "worker-id", "target-0");
  find.accelerator = mx::examples::Flag(flags, "accelerator", "H100");
  find.timeout = std::chrono::milliseconds(std::stoi(mx::examples::Flag(flags, "timeout-ms", "60000")));

  auto source = mx::FindSource(**client, find);
  if (!source.ok()) {
    std::cerr << "target: " << source.status() << "\n";
    return 1;
  }
  uint64_t total = 0;
  const auto& tensors = mx::WorkerTensors(source->worker);
  for (const auto& t : tensors) {
    std::cout << "  " << t.name() << " " << t.dtype() << " " << t.size() << " bytes @0x" << std::hex
              << t.addr() << std::dec << "\n";
    total += t.size();
  }
  std::cout << "would transfer " << tensors.size() << " tensors (" << total << " bytes) from worker "
            << source->worker_id << " of source " << source->mx_source_id << " via session "
            << source->worker.transfer_engine_session_id() << std::endl;
  return 0;
}
