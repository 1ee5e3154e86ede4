#include "server/reply_encoding.h"

#include <cstring>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

namespace mx::server {
namespace {

namespace p2p = model_express::p2p;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::internal::WireFormatLite;

// Field numbers of the wire contract.
constexpr int kReplyFound = 1;
constexpr int kReplyWorker = 2;
constexpr int kWorkerNixl = 2;
constexpr int kWorkerLegacyTensors = 3;
constexpr int kWorkerStatus = 4;
constexpr int kWorkerUpdatedAt = 5;
constexpr int kWorkerTensorSource = 20;
constexpr int kWorkerArtifactSource = 21;
constexpr int kTensorSourceTensors = 1;

constexpr uint32_t Bytes(int field) {
  return WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
}

void AppendVarint(uint64_t value, std::string* out) {
  uint8_t buf[10];
  uint8_t* end = CodedOutputStream::WriteVarint64ToArray(value, buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

void AppendVarintField(int field, uint64_t value, std::string* out) {
  if (value == 0) return;  // proto3 leaves defaults out
  AppendVarint(WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_VARINT), out);
  AppendVarint(value, out);
}

void AppendLengthDelimited(int field, const std::string& bytes, std::string* out) {
  AppendVarint(Bytes(field), out);
  AppendVarint(bytes.size(), out);
  out->append(bytes);
}

bool ReadVarint(std::string_view in, size_t* pos, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in[(*pos)++]);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// `entries` is an encoded TensorSourceMetadata (one field-1 entry per
// tensor). Appends the same descriptors as WorkerMetadata.tensors (field 3)
// by rewriting each entry's one-byte tag: a copy, not a re-encode.
void AppendAsLegacy(std::string_view entries, std::string* out) {
  static_assert(Bytes(kTensorSourceTensors) < 0x80 && Bytes(kWorkerLegacyTensors) < 0x80);
  out->reserve(out->size() + entries.size());
  size_t pos = 0;
  while (pos < entries.size()) {
    const size_t start = pos;
    uint64_t key = 0;
    uint64_t length = 0;
    if (!ReadVarint(entries, &pos, &key) || key != Bytes(kTensorSourceTensors) ||
        !ReadVarint(entries, &pos, &length) || length > entries.size() - pos) {
      // Not an entry as the serializer writes them (unknown fields): decode
      // the rest and re-encode, which keeps only the tensors.
      p2p::TensorSourceMetadata rest;
      const std::string_view tail = entries.substr(start);
      rest.ParseFromArray(tail.data(), static_cast<int>(tail.size()));
      for (const auto& t : rest.tensors()) {
        AppendLengthDelimited(kWorkerLegacyTensors, t.SerializeAsString(), out);
      }
      return;
    }
    out->push_back(static_cast<char>(Bytes(kWorkerLegacyTensors)));
    out->append(entries, start + 1, pos - start - 1 + static_cast<size_t>(length));
    pos += static_cast<size_t>(length);
  }
}

std::string_view EntriesOf(const EncodedReply& encoded) {
  return encoded.tensor_entries == 0 ? std::string_view()
                                     : encoded.payload().substr(encoded.tensor_entries);
}

}  // namespace

std::shared_ptr<const EncodedReply> EncodeReply(const store::WorkerRecord& record) {
  return EncodeReply(record.source_id, record.worker_id, record.identity, record.worker);
}

void LegacyTensors(const EncodedReply& encoded, std::string* out) {
  out->clear();
  AppendAsLegacy(EntriesOf(encoded), out);
}

size_t LegacyTensorsSize(const EncodedReply& encoded) {
  // Same lengths, same one-byte tags: unless an entry is not a tensor.
  const size_t size = encoded.tensor_entries == 0
                          ? 0
                          : encoded.payload().size() - encoded.tensor_entries;
  return size;
}

bool WriteLegacyTensors(const EncodedReply& encoded, char* out) {
  if (encoded.tensor_entries == 0) return true;
  const std::string_view in = encoded.payload();
  const size_t begin = encoded.tensor_entries;
  size_t pos = begin;
  std::memcpy(out, in.data() + begin, in.size() - begin);
  while (pos < in.size()) {
    const size_t start = pos;
    uint64_t key = 0;
    uint64_t length = 0;
    if (!ReadVarint(in, &pos, &key) || key != Bytes(kTensorSourceTensors) ||
        !ReadVarint(in, &pos, &length) || length > in.size() - pos) {
      return false;  // an unknown field among the entries: use LegacyTensors()
    }
    out[start - begin] = static_cast<char>(Bytes(kWorkerLegacyTensors));
    pos += static_cast<size_t>(length);
  }
  return true;
}

namespace {

// worker_head and reply_tail of EncodedReply (reply_encoding.h).
void EncodeHeadAndTail(const std::string& source_id, const std::string& worker_id,
                       const p2p::SourceIdentity& identity, const p2p::WorkerMetadata& w,
                       EncodedReply* encoded) {
  p2p::WorkerMetadata head;  // the small fields only
  head.set_worker_rank(w.worker_rank());
  head.set_metadata_endpoint(w.metadata_endpoint());
  head.set_agent_name(w.agent_name());
  head.set_worker_grpc_endpoint(w.worker_grpc_endpoint());
  head.set_accelerator(w.accelerator());
  *head.mutable_topology() = w.topology();
  if (w.has_transfer_engine_session_id()) {
    head.set_transfer_engine_session_id(w.transfer_engine_session_id());
  }
  head.GetReflection()->MutableUnknownFields(&head)->MergeFrom(
      w.GetReflection()->GetUnknownFields(w));
  head.SerializeToString(&encoded->worker_head);
  if (w.has_nixl_metadata()) {
    AppendVarint(Bytes(kWorkerNixl), &encoded->worker_head);
    AppendVarint(w.nixl_metadata().size(), &encoded->worker_head);
  }

  p2p::GetMetadataResponse tail;
  tail.set_mx_source_id(source_id);
  tail.set_worker_id(worker_id);
  *tail.mutable_identity() = identity;
  tail.SerializeToString(&encoded->reply_tail);
}

}  // namespace

std::shared_ptr<const EncodedReply> EncodeReply(const std::string& source_id,
                                                const std::string& worker_id,
                                                const p2p::SourceIdentity& identity,
                                                const p2p::WorkerMetadata& w) {
  auto encoded = std::make_shared<EncodedReply>();
  EncodeHeadAndTail(source_id, worker_id, identity, w, encoded.get());
  if (w.has_tensor_source()) {
    const std::string entries = w.tensor_source().SerializeAsString();
    encoded->worker_payload.reserve(entries.size() + 8);
    AppendVarint(Bytes(kWorkerTensorSource), &encoded->worker_payload);
    AppendVarint(entries.size(), &encoded->worker_payload);
    encoded->tensor_entries = encoded->worker_payload.size();
    encoded->worker_payload.append(entries);
  } else if (w.has_artifact_source()) {
    AppendLengthDelimited(kWorkerArtifactSource, w.artifact_source().SerializeAsString(),
                          &encoded->worker_payload);
  }
  if (!w.has_tensor_source()) {
    // Records mxd publishes never get here with legacy tensors (they are
    // normalized into tensor_source); a record written by other means keeps
    // them as stored.
    for (const auto& t : w.tensors()) {
      AppendLengthDelimited(kWorkerLegacyTensors, t.SerializeAsString(), &encoded->worker_payload);
    }
  }
  return encoded;
}

std::shared_ptr<const EncodedReply> EncodeReply(const std::string& source_id,
                                                const std::string& worker_id,
                                                const p2p::SourceIdentity& identity,
                                                const p2p::WorkerMetadata& w,
                                                std::string tensor_payload,
                                                size_t entries_offset) {
  auto encoded = std::make_shared<EncodedReply>();
  EncodeHeadAndTail(source_id, worker_id, identity, w, encoded.get());
  encoded->worker_payload = std::move(tensor_payload);
  encoded->tensor_entries = entries_offset;
  return encoded;
}

std::string ReplyPrefix(size_t worker_size) {
  std::string prefix;
  AppendVarintField(kReplyFound, 1, &prefix);
  AppendVarint(Bytes(kReplyWorker), &prefix);
  AppendVarint(worker_size, &prefix);
  return prefix;
}

std::string LiveWorkerFields(const store::WorkerState& state) {
  std::string live;
  AppendVarintField(kWorkerStatus, static_cast<uint64_t>(state.status), &live);
  AppendVarintField(kWorkerUpdatedAt, static_cast<uint64_t>(state.updated_at_ms), &live);
  return live;
}

}  // namespace mx::server
