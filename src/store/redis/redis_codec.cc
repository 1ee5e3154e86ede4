#include "store/redis/redis_codec.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "redis_format.pb.h"

namespace mx::store::redis {

std::string EncodeRecord(const WorkerRecord& record) {
  redisfmt::RecordValue value;
  record.identity.SerializeToString(value.mutable_identity());
  record.worker.SerializeToString(value.mutable_worker());
  value.set_pod_name(record.pod_name);
  value.set_pod_uid(record.pod_uid);
  value.set_pod_namespace(record.pod_namespace);
  return value.SerializeAsString();
}

absl::StatusOr<std::shared_ptr<const WorkerRecord>> DecodeRecord(std::string source_id,
                                                                 std::string worker_id,
                                                                 absl::string_view bytes,
                                                                 std::string owner) {
  redisfmt::RecordValue value;
  auto record = std::make_shared<WorkerRecord>();
  if (!value.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      !record->identity.ParseFromString(value.identity()) ||
      !record->worker.ParseFromString(value.worker())) {
    return absl::DataLossError(absl::StrCat("redis record of worker '", worker_id,
                                            "' does not parse"));
  }
  record->source_id = std::move(source_id);
  record->worker_id = std::move(worker_id);
  record->pod_name = std::move(*value.mutable_pod_name());
  record->pod_uid = std::move(*value.mutable_pod_uid());
  record->pod_namespace = std::move(*value.mutable_pod_namespace());
  record->owner = std::move(owner);
  return record;
}

std::string EncodeSummary(const WorkerRecord& record) {
  const WorkerRef ref = MakeRef(record, WorkerState{});
  redisfmt::SummaryValue value;
  value.set_model_name(ref.model_name);
  value.set_worker_rank(ref.worker_rank);
  value.set_accelerator(ref.accelerator);
  if (ref.training_step) value.set_training_step(*ref.training_step);
  if (ref.layout_signature) value.set_layout_signature(*ref.layout_signature);
  value.set_owner(ref.owner);
  value.mutable_topology()->insert(ref.topology.begin(), ref.topology.end());
  return value.SerializeAsString();
}

absl::Status DecodeSummary(absl::string_view bytes, WorkerRef* ref) {
  redisfmt::SummaryValue value;
  if (!value.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("redis worker summary does not parse");
  }
  ref->model_name = std::move(*value.mutable_model_name());
  ref->worker_rank = value.worker_rank();
  ref->accelerator = std::move(*value.mutable_accelerator());
  if (value.has_training_step()) ref->training_step = value.training_step();
  if (value.has_layout_signature()) ref->layout_signature = std::move(*value.mutable_layout_signature());
  ref->owner = std::move(*value.mutable_owner());
  ref->topology.insert(value.topology().begin(), value.topology().end());
  return absl::OkStatus();
}

std::string FormatLoadSuffix(float source_load) {
  if (!(source_load > 0)) return "";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), source_load);
  if (ec != std::errc()) return "";
  return absl::StrCat(":", absl::string_view(buf, static_cast<size_t>(end - buf)));
}

std::string FormatState(const WorkerState& state) {
  return absl::StrCat(static_cast<int>(state.status), ":", state.updated_at_ms,
                      FormatLoadSuffix(state.source_load));
}

absl::StatusOr<WorkerState> ParseState(absl::string_view text) {
  auto corrupt = [&] {
    return absl::DataLossError(absl::StrCat("redis worker state '", text, "' is corrupt"));
  };
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) return corrupt();
  const size_t second = text.find(':', colon + 1);
  const char* end = text.data() + text.size();
  const char* ms_end = second == absl::string_view::npos ? end : text.data() + second;
  int status = 0;
  int64_t ms = 0;
  float load = 0;
  auto [p1, e1] = std::from_chars(text.data(), text.data() + colon, status);
  auto [p2, e2] = std::from_chars(text.data() + colon + 1, ms_end, ms);
  if (e1 != std::errc() || p1 != text.data() + colon || e2 != std::errc() || p2 != ms_end ||
      !model_express::p2p::SourceStatus_IsValid(status)) {
    return corrupt();
  }
  if (second != absl::string_view::npos) {
    auto [p3, e3] = std::from_chars(ms_end + 1, end, load);
    if (e3 != std::errc() || p3 != end || ClampLoad(load) != load) return corrupt();
  }
  return WorkerState{static_cast<SourceStatus>(status), ms, load};
}

}  // namespace mx::store::redis
