// Links only mx::client: computes the contract's check id locally and
// shows that a call to a dead server fails fast with UNAVAILABLE.
#include <iostream>

#include "mx/client.h"
#include "mx/find_source.h"
#include "mx/publisher.h"

int main(int argc, char** argv) {
  mx::p2p::SourceIdentity identity;
  identity.set_mx_version("0.5.0");
  identity.set_model_name("deepseek-ai/DeepSeek-V3");
  identity.set_backend_framework(mx::p2p::BACKEND_FRAMEWORK_VLLM);
  identity.set_tensor_parallel_size(8);
  identity.set_pipeline_parallel_size(1);
  identity.set_dtype("bfloat16");
  std::cout << mx::ComputeSourceId(identity) << "\n";

  mx::ClientOptions options;
  options.address = argc > 1 ? argv[1] : "127.0.0.1:1";
  options.deadline = std::chrono::milliseconds(1000);
  auto client = mx::Client::Create(options);
  if (!client.ok()) return 1;
  auto refs = (*client)->ListSources({});
  std::cout << (absl::IsUnavailable(refs.status()) ? "unavailable" : "unexpected") << "\n";
  return 0;
}
