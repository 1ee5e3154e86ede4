// Value encoding of layout version 1: protobuf binary for records and
// summaries (redis_format.proto), "<status>:<unix ms>[:<load>]" for the
// live state.
#ifndef MX_STORE_REDIS_REDIS_CODEC_H_
#define MX_STORE_REDIS_REDIS_CODEC_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "store/record.h"

namespace mx::store::redis {

// The record value: identity, worker metadata (tensors included), pod
// fields. A compact record (record.encoded set) is written reply-ready: its
// reply parts as they are, which any reader can still decode as a whole
// WorkerMetadata (redis_format.proto, RecordValue.reply_layout).
std::string EncodeRecord(const WorkerRecord& record);
// Rebuilds the record stored under (source_id, worker_id): a compact record
// for reply-ready bytes (the tensors never decoded; record->encoded holds
// the reply parts), else a fully decoded one (values an older mxd wrote).
// DataLoss when the bytes do not parse or the reply layout does not fit
// them. With `backing`, the buffer `bytes` lie in, a compact record keeps
// its payload and NIXL blob there (server::EncodedReply::backing: viewed,
// not copied; its worker.nixl_metadata is then unset, server::NixlBlob
// reads it); without, they are copied.
absl::StatusOr<std::shared_ptr<const WorkerRecord>> DecodeRecord(
    std::string source_id, std::string worker_id, absl::string_view bytes, std::string owner,
    std::shared_ptr<const char> backing = nullptr);

// The listing summary of a record (MakeRef's fields without ids and state).
std::string EncodeSummary(const WorkerRecord& record);
// Fills every WorkerRef field the summary carries. DataLoss when corrupt.
absl::Status DecodeSummary(absl::string_view bytes, WorkerRef* ref);

// "<status>:<unix ms>", with ":<source_load>" appended when the load is not
// 0 (shortest decimal that reads back as the same float). States written
// before the load existed have two parts and read as load 0.
std::string FormatState(const WorkerState& state);
// The ":<source_load>" suffix FormatState appends ("" for 0).
std::string FormatLoadSuffix(float source_load);
absl::StatusOr<WorkerState> ParseState(absl::string_view text);

}  // namespace mx::store::redis

#endif  // MX_STORE_REDIS_REDIS_CODEC_H_
