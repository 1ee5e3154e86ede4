#include "server/metadata_service.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/roles.h"
#include "mx/source_id.h"
#include "server/list_query.h"
#include "server/reply_encoding.h"
#include "spdlog/spdlog.h"

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;

// Ids are caller-controlled bytes: escape them before they reach a log line.
std::string Printable(const std::string& id) {
  constexpr size_t kMax = 128;
  std::string escaped = absl::CHexEscape(id.size() > kMax ? id.substr(0, kMax) : id);
  return id.size() > kMax ? escaped + "..." : escaped;
}

// Moves legacy `tensors` into `tensor_source` so every stored tensor worker
// has one canonical list; replies fill both again.
void NormalizeTensors(p2p::WorkerMetadata* worker) {
  if (worker->tensors_size() > 0 && !worker->has_artifact_source()) {
    auto* source = worker->mutable_tensor_source();
    if (source->tensors_size() == 0) {
      source->mutable_tensors()->Swap(worker->mutable_tensors());
    }
  }
  worker->clear_tensors();
  worker->clear_status();
  worker->clear_updated_at();
}

}  // namespace

MetadataService::MetadataService(store::Store* store, std::chrono::seconds heartbeat_timeout,
                                 RequestLimits limits, bool encode_replies)
    : store_(store),
      heartbeat_timeout_(heartbeat_timeout),
      limits_(limits),
      encode_replies_(encode_replies) {}

absl::StatusOr<p2p::PublishMetadataResponse> MetadataService::Publish(
    const p2p::PublishMetadataRequest& request, const Caller& caller) {
  p2p::PublishMetadataRequest copy = request;
  return Publish(std::move(copy), caller);
}

absl::StatusOr<p2p::PublishMetadataResponse> MetadataService::Publish(
    p2p::PublishMetadataRequest&& request, const Caller& caller) {
  return PublishRequest(request, nullptr, caller);
}

absl::StatusOr<p2p::PublishMetadataResponse> MetadataService::Publish(WirePublish&& request,
                                                                      const Caller& caller) {
  if (!encode_replies_) {  // the record would lose its tensors
    return absl::InternalError("a scanned publish needs a service that encodes replies");
  }
  return PublishRequest(request.request, &request, caller);
}

absl::StatusOr<p2p::PublishMetadataResponse> MetadataService::PublishRequest(
    p2p::PublishMetadataRequest& request, WirePublish* wire, const Caller& caller) {
  p2p::PublishMetadataResponse response;
  response.set_worker_id(request.worker_id());
  if (std::string missing = MissingPublishField(request); !missing.empty()) {
    response.set_success(false);
    response.set_message(missing);
    return response;
  }
  if (absl::Status s = CheckPublishLimits(request, limits_); !s.ok()) return s;
  if (wire != nullptr) {
    // The checks CheckPublishLimits makes last, on the lists `request` lacks.
    if (absl::Status s = CheckTensorCount(wire->received_tensors, limits_); !s.ok()) return s;
    if (wire->first_long_name != 0) return CheckTensorNameBytes(wire->first_long_name, limits_);
  }

  store::UpsertOptions options;
  options.status = request.worker().status() == p2p::SOURCE_STATUS_UNKNOWN
                       ? p2p::SOURCE_STATUS_INITIALIZING
                       : request.worker().status();
  if (!caller.may_touch_any) options.required_owner = caller.principal;
  if (!auth::ModelInScope(caller.models, request.identity().model_name())) {
    return absl::PermissionDeniedError(absl::StrCat(
        "'", caller.principal, "' may publish only models matching ",
        absl::StrJoin(caller.models, ";"), "; '", Printable(request.identity().model_name()),
        "' is not one of them"));
  }

  auto record = std::make_shared<store::WorkerRecord>();
  record->source_id = ComputeSourceId(request.identity());
  record->worker_id = request.worker_id();
  p2p::WorkerMetadata* worker = request.mutable_worker();
  NormalizeTensors(worker);
  const bool wire_tensors = wire != nullptr && worker->has_tensor_source();
  const size_t tensors = wire != nullptr
                             ? wire->stored_tensors
                             : static_cast<size_t>(worker->tensor_source().tensors_size());
  if (limits_.max_reply_bytes > 0) {
    // The reply carries the worker (tensors in tensor_source), the tensors
    // again as the legacy list, the identity, both ids and the live fields.
    size_t worker_bytes = worker->ByteSizeLong();
    size_t entry_bytes = worker->tensor_source().ByteSizeLong();
    if (wire_tensors) {  // worker holds an empty tensor_source (3 bytes)
      worker_bytes += wire->tensor_payload.size() - 3;
      entry_bytes = wire->tensor_payload.size() - wire->entries_offset;
    }
    const size_t reply_bytes = worker_bytes + entry_bytes + request.identity().ByteSizeLong() +
                               record->source_id.size() + record->worker_id.size() + 64;
    if (absl::Status s = CheckReplySize(reply_bytes, limits_); !s.ok()) return s;
  }
  if (encode_replies_) {
    // Compact record: the tensors live only as reply bytes.
    record->encoded =
        wire_tensors
            ? EncodeReply(record->source_id, record->worker_id, request.identity(), *worker,
                          std::move(wire->tensor_payload), wire->entries_offset)
            : EncodeReply(record->source_id, record->worker_id, request.identity(), *worker);
    record->encoded_bytes = record->encoded->worker_head.size() +
                            record->encoded->worker_payload.size() +
                            record->encoded->reply_tail.size();
    if (worker->has_tensor_source()) {
      worker->clear_tensor_source();  // frees the descriptors (clear_tensors() keeps them)
      worker->mutable_tensor_source();
    }
  }
  // Takes the request's parts (a copy when it lives on another arena).
  record->identity.Swap(request.mutable_identity());
  record->worker.Swap(worker);
  record->pod_name = std::move(*request.mutable_pod_name());
  record->pod_uid = std::move(*request.mutable_pod_uid());
  record->pod_namespace = std::move(*request.mutable_pod_namespace());
  record->owner = caller.principal;
  if (caller.may_touch_any && !caller.transfer_owner && !caller.principal.empty()) {
    // An admin override keeps the worker's owner, so the real publisher can
    // still heartbeat it.
    auto existing = store_->Get({record->source_id, record->worker_id});
    if (existing.ok() && existing->record != nullptr) record->owner = existing->record->owner;
  }

  const std::string source_id = record->source_id;
  const std::string model_name = record->identity.model_name();
  const uint32_t rank = record->worker.worker_rank();
  auto state = store_->Upsert(std::move(record), options);
  if (!state.ok()) return state.status();

  spdlog::info("publish source={} worker={} rank={} model={} tensors={} status={}", source_id,
               Printable(request.worker_id()), rank, Printable(model_name), tensors,
               p2p::SourceStatus_Name(state->status));
  response.set_success(true);
  response.set_message("published");
  response.set_mx_source_id(source_id);
  return response;
}

absl::StatusOr<store::ListQuery> MetadataService::ListQueryOf(
    const p2p::ListSourcesRequest& request) {
  if (absl::Status s = CheckListLimits(request, limits_); !s.ok()) return s;
  auto parsed = ListQueryFrom(request);
  if (!parsed.ok()) return parsed.status();
  store::ListQuery& query = *parsed;
  if (query.status == p2p::SOURCE_STATUS_READY) {
    // A READY worker that stopped heart-beating is not ready.
    auto now = store_->NowMs();
    if (!now.ok()) return now.status();
    const int64_t fresh_after =
        *now - std::chrono::duration_cast<std::chrono::milliseconds>(heartbeat_timeout_).count();
    query.min_updated_at_ms = std::max(query.min_updated_at_ms.value_or(fresh_after), fresh_after);
  }
  return parsed;
}

absl::Status MetadataService::ListBytes(const p2p::ListSourcesRequest& request, std::string* out) {
  auto query = ListQueryOf(request);
  if (!query.ok()) return query.status();
  absl::Status encoded = store_->AppendListReply(*query, out);
  if (!absl::IsUnimplemented(encoded)) return encoded;
  auto response = List(request);
  if (!response.ok()) return response.status();
  if (!response->AppendToString(out)) return absl::InternalError("cannot encode the listing");
  return absl::OkStatus();
}

absl::StatusOr<p2p::ListSourcesResponse> MetadataService::List(
    const p2p::ListSourcesRequest& request) {
  auto query = ListQueryOf(request);
  if (!query.ok()) return query.status();
  auto refs = store_->List(*query);
  if (!refs.ok()) return refs.status();
  p2p::ListSourcesResponse response;
  response.mutable_instances()->Reserve(static_cast<int>(refs->size()));
  for (auto& ref : *refs) ToInstanceRef(std::move(ref), response.add_instances());
  return response;
}

absl::StatusOr<store::StoredWorker> MetadataService::Find(const p2p::GetMetadataRequest& request) {
  if (auto s = CheckLookupId("mx_source_id", request.mx_source_id(), limits_); !s.ok()) return s;
  if (auto s = CheckLookupId("worker_id", request.worker_id(), limits_); !s.ok()) return s;
  auto stored = store_->Get({request.mx_source_id(), request.worker_id()});
  if (absl::IsNotFound(stored.status())) return store::StoredWorker{};
  return stored;
}

absl::StatusOr<p2p::UpdateStatusResponse> MetadataService::UpdateStatus(
    const p2p::UpdateStatusRequest& request, const Caller& caller) {
  p2p::UpdateStatusResponse response;
  if (std::string invalid = InvalidUpdateStatus(request); !invalid.empty()) {
    response.set_success(false);
    response.set_message(invalid);
    return response;
  }
  if (auto s = CheckLookupId("mx_source_id", request.mx_source_id(), limits_); !s.ok()) return s;
  if (auto s = CheckLookupId("worker_id", request.worker_id(), limits_); !s.ok()) return s;
  store::StatusUpdate update;
  update.status = request.status();
  update.rank = request.worker_rank();
  update.source_load = store::ClampLoad(request.source_load());
  if (!caller.may_touch_any) update.required_owner = caller.principal;
  auto state = store_->UpdateStatus({request.mx_source_id(), request.worker_id()}, update);
  if (absl::IsNotFound(state.status())) {
    return absl::NotFoundError(absl::StrCat("no worker ", Printable(request.worker_id()),
                                            " with rank ", request.worker_rank(), " in source ",
                                            Printable(request.mx_source_id()),
                                            "; publish it again"));
  }
  if (!state.ok()) return state.status();
  spdlog::info("update_status source={} worker={} rank={} status={}",
               Printable(request.mx_source_id()), Printable(request.worker_id()),
               request.worker_rank(), p2p::SourceStatus_Name(state->status));
  response.set_success(true);
  response.set_message("updated");
  return response;
}

}  // namespace mx::server
