#include "store/redis/redis_codec.h"

#include <charconv>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "absl/strings/str_cat.h"
#include "redis_format.pb.h"
#include "server/encoded_reply.h"

namespace mx::store::redis {
namespace {

namespace p2p = model_express::p2p;
using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

// True when `bytes` is a sequence of whole protobuf fields (their contents
// unread): what a reply may carry without breaking its framing.
bool WholeFields(const char* data, size_t size) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(data), static_cast<int>(size));
  while (const uint32_t tag = in.ReadTag()) {
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
  return in.ConsumedEntireMessage() && static_cast<size_t>(in.CurrentPosition()) == size;
}

constexpr uint32_t kTensorSourceTag =
    WireFormatLite::MakeTag(p2p::WorkerMetadata::kTensorSourceFieldNumber,
                            WireFormatLite::WIRETYPE_LENGTH_DELIMITED);

// True when `payload` is what server/reply_encoding.cc writes for
// `entries`: one tensor_source field whose entries start at `entries` and
// run to its end; for 0, whole fields that are not a tensor_source.
bool PayloadFits(const char* payload, size_t size, size_t entries) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(payload), static_cast<int>(size));
  if (entries == 0) return in.ReadTag() != kTensorSourceTag && WholeFields(payload, size);
  uint32_t length = 0;
  return in.ReadTag() == kTensorSourceTag && in.ReadVarint32(&length) &&
         static_cast<size_t>(in.CurrentPosition()) == entries && length == size - entries;
}

constexpr uint32_t kRecordWorkerTag = WireFormatLite::MakeTag(
    redisfmt::RecordValue::kWorkerFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);

// Splits a RecordValue into its `worker` field, a view into `bytes` (the
// last occurrence, as a parser takes it), and the bytes of every other
// field, copied to `rest`: the megabytes of tensors are not copied to be
// parsed. False when `bytes` are not whole fields.
bool SplitWorker(absl::string_view bytes, absl::string_view* worker, std::string* rest) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  while (true) {
    const size_t start = static_cast<size_t>(in.CurrentPosition());
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    if (tag == kRecordWorkerTag) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return false;
      const size_t at = static_cast<size_t>(in.CurrentPosition());
      if (!in.Skip(static_cast<int>(length))) return false;
      *worker = bytes.substr(at, length);
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return false;
    rest->append(bytes.data() + start, static_cast<size_t>(in.CurrentPosition()) - start);
  }
  return in.ConsumedEntireMessage() && static_cast<size_t>(in.CurrentPosition()) == bytes.size();
}

constexpr uint32_t kNixlTag = WireFormatLite::MakeTag(
    p2p::WorkerMetadata::kNixlMetadataFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);

// The worker fields of `rest` (head | blob) parsed into `worker`, but for
// the blob: the last nixl_metadata field, which must be the blob itself
// (its value starting at `head` and running to the end; with no blob, the
// head is all of `rest`). False when `rest` is not whole fields or the blob
// is not where the layout says. The blob's bytes are not copied.
bool ParseHeadBesideBlob(absl::string_view rest, size_t head, p2p::WorkerMetadata* worker) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(rest.data()),
                      static_cast<int>(rest.size()));
  std::string small;  // every field but the last blob: endpoints, topology, ...
  size_t blob_field = rest.size();  // where the last nixl_metadata field starts
  size_t blob_value = rest.size();  // where its value starts
  while (true) {
    const size_t start = static_cast<size_t>(in.CurrentPosition());
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    if (tag == kNixlTag) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return false;
      const size_t value = static_cast<size_t>(in.CurrentPosition());
      if (!in.Skip(static_cast<int>(length))) return false;
      blob_field = start;  // an earlier blob field, if any, is overwritten, as a parser does
      blob_value = value;
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return false;
    if (blob_field != rest.size()) {  // that blob field was not the last: a field like any
      small.append(rest.data() + blob_field, start - blob_field);
      blob_field = blob_value = rest.size();
    }
    small.append(rest.data() + start, static_cast<size_t>(in.CurrentPosition()) - start);
  }
  if (!in.ConsumedEntireMessage() || static_cast<size_t>(in.CurrentPosition()) != rest.size()) {
    return false;
  }
  if (blob_field == rest.size() ? head != rest.size() : blob_value != head) return false;
  if (!worker->ParseFromString(small)) return false;
  if (blob_field != rest.size()) worker->clear_nixl_metadata();  // the blob is the last field's
  return true;
}

// The reply-ready `worker` bytes laid out by `layout` as a compact record:
// the tensors never decoded; only the head (the small fields) is parsed
// into record->worker. With `backing` (the buffer `bytes` lie in) the
// payload and the blob stay there, viewed, not copied (EncodedReply's
// backing); without, they are copied out. The layout is checked first, so
// bytes that do not fit it are refused here rather than sent in a reply
// that does not parse.
bool DecodeReplyReady(absl::string_view bytes, const redisfmt::ReplyLayout& layout,
                      std::shared_ptr<const char> backing, WorkerRecord* record) {
  const uint64_t payload = layout.payload_size();
  const uint64_t head = layout.head_size();
  const uint64_t entries = layout.tensor_entries();
  if (payload > bytes.size() || head > bytes.size() - payload) return false;
  if (!PayloadFits(bytes.data(), payload, entries)) return false;
  const absl::string_view rest = bytes.substr(payload);  // head | blob
  auto encoded = std::make_shared<server::EncodedReply>();
  if (backing != nullptr) {
    if (!ParseHeadBesideBlob(rest, head, &record->worker)) return false;
    encoded->backing_payload = std::string_view(bytes.data(), payload);
    encoded->backing_blob = std::string_view(rest.data() + head, rest.size() - head);
    encoded->backing = std::move(backing);
  } else {
    if (!record->worker.ParseFromArray(rest.data(), static_cast<int>(rest.size()))) return false;
    // The reply sends the head, then record->worker's blob where the stored
    // blob was: the head must end with the blob's tag and length, and the
    // blob fill the rest.
    const std::string& blob = record->worker.nixl_metadata();
    if (blob.size() != rest.size() - head) return false;
    if (record->worker.has_nixl_metadata()) {
      std::string tag_and_length;
      tag_and_length.push_back(static_cast<char>(kNixlTag));
      uint8_t varint[10];
      tag_and_length.append(reinterpret_cast<const char*>(varint),
                            google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(
                                blob.size(), varint) - varint);
      if (head < tag_and_length.size() ||
          rest.substr(head - tag_and_length.size(), tag_and_length.size()) != tag_and_length) {
        return false;
      }
    }
    encoded->worker_payload.assign(bytes.data(), payload);
  }
  encoded->worker_head.assign(rest.data(), head);
  encoded->tensor_entries = entries;
  encoded->reused_across_reads = false;
  p2p::GetMetadataResponse tail;
  tail.set_mx_source_id(record->source_id);
  tail.set_worker_id(record->worker_id);
  *tail.mutable_identity() = record->identity;
  tail.SerializeToString(&encoded->reply_tail);
  record->encoded_bytes = encoded->worker_head.size() + encoded->payload().size() +
                          (rest.size() - head) + encoded->reply_tail.size();
  record->encoded = std::move(encoded);
  return true;
}

}  // namespace

std::string EncodeRecord(const WorkerRecord& record) {
  redisfmt::RecordValue value;
  record.identity.SerializeToString(value.mutable_identity());
  if (record.encoded != nullptr) {
    // Compact: the reply parts as they are, payload first (see the proto).
    const server::EncodedReply& encoded = *record.encoded;
    const std::string_view blob = server::NixlBlob(record);
    const std::string_view payload = encoded.payload();
    std::string* worker = value.mutable_worker();
    worker->reserve(payload.size() + encoded.worker_head.size() + blob.size());
    worker->append(payload).append(encoded.worker_head).append(blob);
    redisfmt::ReplyLayout* layout = value.mutable_reply_layout();
    layout->set_payload_size(payload.size());
    layout->set_head_size(encoded.worker_head.size());
    layout->set_tensor_entries(encoded.tensor_entries);
  } else {
    record.worker.SerializeToString(value.mutable_worker());
  }
  value.set_pod_name(record.pod_name);
  value.set_pod_uid(record.pod_uid);
  value.set_pod_namespace(record.pod_namespace);
  return value.SerializeAsString();
}

absl::StatusOr<std::shared_ptr<const WorkerRecord>> DecodeRecord(
    std::string source_id, std::string worker_id, absl::string_view bytes, std::string owner,
    std::shared_ptr<const char> backing) {
  auto record = std::make_shared<WorkerRecord>();
  record->source_id = std::move(source_id);
  record->worker_id = std::move(worker_id);
  absl::string_view worker;
  std::string others;  // identity, pod fields, layout: small
  redisfmt::RecordValue value;
  if (!SplitWorker(bytes, &worker, &others) || !value.ParseFromString(others) ||
      !record->identity.ParseFromString(value.identity()) ||
      !(value.has_reply_layout()
            ? DecodeReplyReady(worker, value.reply_layout(), std::move(backing), record.get())
            : record->worker.ParseFromArray(worker.data(), static_cast<int>(worker.size())))) {
    return absl::DataLossError(absl::StrCat("redis record of worker '", record->worker_id,
                                            "' does not parse"));
  }
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
