#include "store/refit_records.h"

namespace mx::store {

model_express::refit::WeightVersion NewWeightVersion(
    const model_express::refit::CreateWeightVersionRequest& request, const std::string& uid) {
  model_express::refit::WeightVersion record;
  record.set_uid(uid);
  record.set_model_name(request.model_name());
  if (request.has_version_number()) record.set_version_number(request.version_number());
  record.set_idempotency_key(request.idempotency_key());
  record.set_payload_format(request.payload_format());
  if (request.has_base_version_id()) record.set_base_version_id(request.base_version_id());
  *record.mutable_expected_source_slots() = request.expected_source_slots();
  return record;
}

}  // namespace mx::store
