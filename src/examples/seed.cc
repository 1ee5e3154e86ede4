// Example seed: publishes a fake model's tensor table for one worker and
// keeps it READY until SIGINT/SIGTERM (or --seconds), then marks it STALE.
//   mx_example_seed --server localhost:8001 --model demo/tiny --rank 0 --worker-id seed-0
#include <csignal>
#include <iostream>

#include "example_flags.h"
#include "mx/client.h"
#include "mx/publisher.h"

int main(int argc, char** argv) {
  const auto flags = mx::examples::ParseFlags(argc, argv);
  sigset_t signals;  // before any thread exists, so only sigwait sees them
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  mx::ClientOptions options = mx::ClientOptions::FromEnvironment();
  options.address = mx::examples::Flag(flags, "server", options.address);
  auto client = mx::Client::Create(options);
  if (!client.ok()) {
    std::cerr << "seed: " << client.status() << "\n";
    return 1;
  }

  mx::p2p::PublishMetadataRequest request;
  auto* identity = request.mutable_identity();
  identity->set_mx_version("0.5.0");
  identity->set_model_name(mx::examples::Flag(flags, "model", "demo/tiny-model"));
  identity->set_backend_framework(mx::p2p::BACKEND_FRAMEWORK_SGLANG);
  identity->set_tensor_parallel_size(1);
  identity->set_pipeline_parallel_size(1);
  identity->set_dtype("bfloat16");
  request.set_worker_id(mx::examples::Flag(flags, "worker-id", "seed-0"));
  auto* worker = request.mutable_worker();
  worker->set_worker_rank(std::stoul(mx::examples::Flag(flags, "rank", "0")));
  worker->set_accelerator(mx::examples::Flag(flags, "accelerator", "H100"));
  worker->set_transfer_engine_session_id("10.0.0.1:17000");
  const int layers = std::stoi(mx::examples::Flag(flags, "layers", "4"));
  uint64_t addr = 0x7f0000000000;
  for (int layer = 0; layer < layers; ++layer) {
    for (const char* part : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
      auto* tensor = worker->mutable_tensor_source()->add_tensors();
      tensor->set_name("model.layers." + std::to_string(layer) + ".self_attn." + part + ".weight");
      tensor->set_addr(addr);
      tensor->set_size(4096 * 4096 * 2);
      tensor->set_dtype("bfloat16");
      addr += tensor->size();
    }
  }

  mx::PublisherOptions publisher_options;
  publisher_options.heartbeat_interval =
      std::chrono::milliseconds(std::stoi(mx::examples::Flag(flags, "interval-ms", "30000")));
  mx::SourcePublisher publisher(std::shared_ptr<mx::Client>(std::move(*client)), request,
                                publisher_options);
  if (auto s = publisher.Start(); !s.ok()) {
    std::cerr << "seed: " << s << "\n";
    return 1;
  }
  if (auto s = publisher.WaitPublished(std::chrono::seconds(30)); !s.ok()) {
    std::cerr << "seed: " << s << "\n";
    return 1;
  }
  std::cout << "published " << worker->tensor_source().tensors_size() << " tensors as source "
            << publisher.stats().mx_source_id << " worker " << request.worker_id() << std::endl;

  const int seconds = std::stoi(mx::examples::Flag(flags, "seconds", "0"));
  if (seconds > 0) {
    timespec wait{seconds, 0};
    sigtimedwait(&signals, nullptr, &wait);
  } else {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
  }
  publisher.Stop();
  std::cout << "stopped; worker marked STALE" << std::endl;
  return 0;
}
