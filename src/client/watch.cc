// Client::WatchSources: one server-streaming call, no retries.
#include "absl/strings/str_cat.h"
#include "client/call.h"
#include "mx/client.h"

namespace mx {

absl::Status Client::WatchSources(
    const mxd::discovery::v1::WatchSourcesRequest& request,
    const std::function<bool(const mxd::discovery::v1::SourceEvent&)>& on_event,
    const CallOptions& call) const {
  grpc::ClientContext context;
  if (call.deadline) context.set_deadline(std::chrono::system_clock::now() + *call.deadline);
  if (!options_.bearer_token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.bearer_token));
  }
  auto reader = impl_->discovery->WatchSources(&context, request);
  mxd::discovery::v1::SourceEvent event;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      context.TryCancel();
      while (reader->Read(&event)) {
      }
      (void)reader->Finish();
      return absl::OkStatus();
    }
  }
  return client::FromGrpc(reader->Finish(), "WatchSources", options_.address);
}

}  // namespace mx
