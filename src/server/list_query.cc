#include "server/list_query.h"

#include "absl/strings/str_cat.h"
#include "mx/source_id.h"
#include "server/validation.h"

namespace mx::server {

namespace p2p = model_express::p2p;

absl::StatusOr<store::ListQuery> ListQueryFrom(const p2p::ListSourcesRequest& request) {
  store::ListQuery query;
  if (request.has_identity() && !request.identity().model_name().empty()) {
    query.source_id = ComputeSourceId(request.identity());
  }
  if (request.has_status_filter()) {
    if (!IsKnownStatus(request.status_filter())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "status_filter ", static_cast<int>(request.status_filter()), " is not a SourceStatus"));
    }
    query.status = request.status_filter();
  }
  if (request.has_model_name_filter()) query.model_name = request.model_name_filter();
  if (request.has_worker_rank_filter()) query.worker_rank = request.worker_rank_filter();
  if (request.has_min_training_step()) query.min_training_step = request.min_training_step();
  if (request.has_min_updated_at()) query.min_updated_at_ms = request.min_updated_at();
  if (request.has_limit() && request.limit() > 0) query.limit = request.limit();
  return query;
}

void ToInstanceRef(store::WorkerRef&& ref, p2p::SourceInstanceRef* out) {
  out->set_mx_source_id(std::move(ref.source_id));
  out->set_worker_id(std::move(ref.worker_id));
  out->set_model_name(std::move(ref.model_name));
  out->set_worker_rank(ref.worker_rank);
  out->set_accelerator(std::move(ref.accelerator));
  out->set_updated_at(ref.state.updated_at_ms);
  if (ref.training_step) out->set_training_step(*ref.training_step);
  if (ref.layout_signature) out->set_layout_signature(std::move(*ref.layout_signature));
  out->mutable_topology()->insert(ref.topology.begin(), ref.topology.end());
  out->set_source_load(ref.state.source_load);
}

}  // namespace mx::server
