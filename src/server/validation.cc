#include "server/validation.h"

#include "absl/strings/str_cat.h"

namespace mx::server {
namespace {

using model_express::p2p::PublishMetadataRequest;
using model_express::p2p::SourceIdentity;
using model_express::p2p::UpdateStatusRequest;

absl::Status CheckSize(std::string_view field, size_t size, size_t max) {
  if (size <= max) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(field), " is ", size, " bytes; the limit is ", max));
}

absl::Status CheckLength(std::string_view field, const std::string& value, size_t max) {
  return CheckSize(field, value.size(), max);
}

absl::Status CheckIdentity(const SourceIdentity& id, const RequestLimits& limits) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"identity.mx_version", &id.mx_version()},
      {"identity.model_name", &id.model_name()},
      {"identity.dtype", &id.dtype()},
      {"identity.quantization", &id.quantization()},
      {"identity.revision", &id.revision()},
      {"identity.backend_framework_version", &id.backend_framework_version()},
      {"identity.torch_version", &id.torch_version()},
      {"identity.cuda_version", &id.cuda_version()},
      {"identity.triton_version", &id.triton_version()},
      {"identity.gpu_arch", &id.gpu_arch()},
      {"identity.compile_config_digest", &id.compile_config_digest()},
  };
  for (const auto& [name, value] : fields) {
    if (auto s = CheckLength(name, *value, limits.max_identity_field_bytes); !s.ok()) return s;
  }
  if (static_cast<size_t>(id.extra_parameters_size()) > limits.max_extra_parameters) {
    return absl::InvalidArgumentError(absl::StrCat("identity.extra_parameters has ",
                                                   id.extra_parameters_size(),
                                                   " entries; the limit is ",
                                                   limits.max_extra_parameters));
  }
  for (const auto& [key, value] : id.extra_parameters()) {
    if (auto s = CheckLength("an identity.extra_parameters key", key,
                             limits.max_identity_field_bytes);
        !s.ok()) {
      return s;
    }
    if (auto s = CheckLength("an identity.extra_parameters value", value,
                             limits.max_identity_field_bytes);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTensors(const google::protobuf::RepeatedPtrField<
                              model_express::p2p::TensorDescriptor>& tensors,
                          const RequestLimits& limits) {
  for (const auto& t : tensors) {
    if (t.name().size() > limits.max_tensor_name_bytes) {
      return CheckTensorNameBytes(t.name().size(), limits);
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsKnownStatus(int status) { return status >= 0 && status <= 3; }

std::string MissingPublishField(const PublishMetadataRequest& request) {
  if (!request.has_identity()) return "identity is required";
  if (request.identity().model_name().empty()) return "identity.model_name is required";
  if (request.worker_id().empty()) return "worker_id is required";
  if (!request.has_worker()) return "worker is required";
  return "";
}

std::string InvalidUpdateStatus(const UpdateStatusRequest& request) {
  if (request.mx_source_id().empty()) return "mx_source_id is required";
  if (request.worker_id().empty()) return "worker_id is required";
  if (!IsKnownStatus(request.status()) ||
      request.status() == model_express::p2p::SOURCE_STATUS_UNKNOWN) {
    return absl::StrCat("status ", static_cast<int>(request.status()),
                        " is out of range (expected INITIALIZING=1, READY=2 or STALE=3)");
  }
  return "";
}

absl::Status CheckPublishLimits(const PublishMetadataRequest& request,
                                const RequestLimits& limits) {
  if (auto s = CheckLength("worker_id", request.worker_id(), limits.max_id_bytes); !s.ok()) {
    return s;
  }
  if (auto s = CheckIdentity(request.identity(), limits); !s.ok()) return s;
  const auto& w = request.worker();
  if (!IsKnownStatus(w.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker.status ", static_cast<int>(w.status()), " is not a SourceStatus"));
  }
  const std::pair<const char*, const std::string*> fields[] = {
      {"worker.metadata_endpoint", &w.metadata_endpoint()},
      {"worker.agent_name", &w.agent_name()},
      {"worker.worker_grpc_endpoint", &w.worker_grpc_endpoint()},
      {"worker.accelerator", &w.accelerator()},
      {"worker.transfer_engine_session_id", &w.transfer_engine_session_id()},
      {"pod_name", &request.pod_name()},
      {"pod_uid", &request.pod_uid()},
      {"pod_namespace", &request.pod_namespace()},
  };
  for (const auto& [name, value] : fields) {
    if (auto s = CheckLength(name, *value, limits.max_endpoint_bytes); !s.ok()) return s;
  }
  const size_t tensors =
      static_cast<size_t>(w.tensors_size()) + static_cast<size_t>(w.tensor_source().tensors_size());
  if (auto s = CheckTensorCount(tensors, limits); !s.ok()) return s;
  if (auto s = CheckTensors(w.tensors(), limits); !s.ok()) return s;
  return CheckTensors(w.tensor_source().tensors(), limits);
}

absl::Status CheckTensorCount(size_t tensors, const RequestLimits& limits) {
  if (tensors <= limits.max_tensors) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("worker has ", tensors, " tensors; the limit is ", limits.max_tensors));
}

absl::Status CheckTensorNameBytes(size_t name_bytes, const RequestLimits& limits) {
  return CheckSize("a tensor name", name_bytes, limits.max_tensor_name_bytes);
}

absl::Status CheckListLimits(const model_express::p2p::ListSourcesRequest& request,
                             const RequestLimits& limits) {
  if (auto s = CheckIdentity(request.identity(), limits); !s.ok()) return s;
  return CheckLength("model_name_filter", request.model_name_filter(),
                     limits.max_identity_field_bytes);
}

absl::Status CheckReplySize(size_t reply_bytes, const RequestLimits& limits) {
  if (limits.max_reply_bytes == 0 || reply_bytes <= limits.max_reply_bytes) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "this worker's GetMetadata reply would be ", reply_bytes,
      " bytes (its tensors are sent twice: tensor_source and the legacy list), over the "
      "server's maximum send size of ",
      limits.max_reply_bytes,
      " bytes (--max-message-bytes); the record would be unreadable, so it is not stored. "
      "Publish fewer tensors per worker or raise --max-message-bytes"));
}

absl::Status CheckLookupId(std::string_view field, const std::string& id,
                           const RequestLimits& limits) {
  return CheckLength(field, id, limits.max_id_bytes);
}

}  // namespace mx::server
