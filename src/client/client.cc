#include "mx/client.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/call.h"
#include "client/channel.h"

namespace mx {

ClientOptions ClientOptions::FromEnvironment() {
  ClientOptions options;
  if (const char* address = std::getenv("MX_SERVER_ADDRESS"); address != nullptr && *address) {
    options.address = address;
  }
  if (const char* selector = std::getenv("MX_P2P_SOURCE_SELECTOR"); selector != nullptr && *selector) {
    auto parsed = ParseSourceSelector(selector);
    if (parsed.ok()) {
      options.source_selector = *parsed;
    } else {
      options.source_selector_error = std::string(parsed.status().message());
    }
  }
  return options;
}

const char* HealthStatusName(HealthStatus status) {
  switch (status) {
    case HealthStatus::kServing: return "SERVING";
    case HealthStatus::kNotServing: return "NOT_SERVING";
    case HealthStatus::kServiceUnknown: return "SERVICE_UNKNOWN";
    case HealthStatus::kUnknown: break;
  }
  return "UNKNOWN";
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  auto channel = client::MakeChannel(options);
  if (!channel.ok()) return channel.status();
  auto impl = std::make_unique<Impl>();
  impl->channel = *channel;
  impl->stub = p2p::P2pService::NewStub(impl->channel);
  impl->generic = std::make_unique<grpc::GenericStub>(impl->channel);
  impl->discovery = mxd::discovery::v1::Discovery::NewStub(impl->channel);
  return std::unique_ptr<Client>(new Client(std::move(options), std::move(impl)));
}

Client::Client(ClientOptions options, std::unique_ptr<Impl> impl)
    : options_(std::move(options)), impl_(std::move(impl)) {}

Client::~Client() = default;

absl::StatusOr<std::string> Client::Publish(const p2p::PublishMetadataRequest& request,
                                            const CallOptions& call) const {
  p2p::PublishMetadataResponse response;
  absl::Status status =
      client::RunCall(options_, call, "PublishMetadata", [&](grpc::ClientContext* context) {
        return impl_->stub->PublishMetadata(context, request, &response);
      });
  if (!status.ok()) return status;
  if (!response.success()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PublishMetadata rejected: ", response.message()));
  }
  return response.mx_source_id();
}

absl::StatusOr<std::vector<p2p::SourceInstanceRef>> Client::ListSources(
    const ListFilter& filter, const CallOptions& call) const {
  p2p::ListSourcesRequest request;
  if (filter.identity) *request.mutable_identity() = *filter.identity;
  if (filter.status) request.set_status_filter(*filter.status);
  if (filter.model_name) request.set_model_name_filter(*filter.model_name);
  if (filter.worker_rank) request.set_worker_rank_filter(*filter.worker_rank);
  if (filter.min_training_step) request.set_min_training_step(*filter.min_training_step);
  if (filter.min_updated_at_ms) request.set_min_updated_at(*filter.min_updated_at_ms);
  if (filter.limit) request.set_limit(*filter.limit);
  p2p::ListSourcesResponse response;
  absl::Status status =
      client::RunCall(options_, call, "ListSources", [&](grpc::ClientContext* context) {
        return impl_->stub->ListSources(context, request, &response);
      });
  if (!status.ok()) return status;
  return std::vector<p2p::SourceInstanceRef>(response.instances().begin(),
                                             response.instances().end());
}

absl::StatusOr<p2p::GetMetadataResponse> Client::GetMetadata(const std::string& mx_source_id,
                                                             const std::string& worker_id,
                                                             const CallOptions& call) const {
  p2p::GetMetadataRequest request;
  request.set_mx_source_id(mx_source_id);
  request.set_worker_id(worker_id);
  p2p::GetMetadataResponse response;
  absl::Status status =
      client::RunCall(options_, call, "GetMetadata", [&](grpc::ClientContext* context) {
        return impl_->stub->GetMetadata(context, request, &response);
      });
  if (!status.ok()) return status;
  if (!response.found()) {
    return absl::NotFoundError(
        absl::StrCat("GetMetadata: no worker ", worker_id, " in source ", mx_source_id));
  }
  return response;
}

absl::Status Client::UpdateStatus(const std::string& mx_source_id, const std::string& worker_id,
                                  uint32_t worker_rank, p2p::SourceStatus status,
                                  const CallOptions& call) const {
  return UpdateStatus(mx_source_id, worker_id, worker_rank, status, 0.0f, call);
}

absl::Status Client::UpdateStatus(const std::string& mx_source_id, const std::string& worker_id,
                                  uint32_t worker_rank, p2p::SourceStatus status,
                                  float source_load, const CallOptions& call) const {
  p2p::UpdateStatusRequest request;
  request.set_mx_source_id(mx_source_id);
  request.set_worker_id(worker_id);
  request.set_worker_rank(worker_rank);
  request.set_status(status);
  request.set_source_load(source_load);
  p2p::UpdateStatusResponse response;
  absl::Status result =
      client::RunCall(options_, call, "UpdateStatus", [&](grpc::ClientContext* context) {
        return impl_->stub->UpdateStatus(context, request, &response);
      });
  if (!result.ok()) return result;
  if (!response.success()) {
    // Servers that predate NOT_FOUND say so in-band; keep re-publish working with them.
    if (absl::StrContains(absl::AsciiStrToLower(response.message()), "not found")) {
      return absl::NotFoundError(absl::StrCat("UpdateStatus: ", response.message()));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("UpdateStatus rejected: ", response.message()));
  }
  return absl::OkStatus();
}

}  // namespace mx
