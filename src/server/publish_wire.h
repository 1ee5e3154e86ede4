// PublishMetadataRequest read from its wire bytes in one pass, for services
// that keep tensors only as reply bytes (compact records, memory store).
//
// The tensor lists (worker.tensor_source and the legacy worker.tensors) are
// checked descriptor by descriptor and kept as the bytes received, never
// built into thousands of messages; everything else (identity, ids,
// endpoints, topology, unknown fields) is parsed by protobuf from a small
// "skeleton" message that leaves them out, and the NIXL blob is copied once.
//
// Exactly as strict as parsing: the scanner accepts only input that
// protobuf parses, in the shapes publishers send (each tensor a
// TensorDescriptor with known fields and ASCII strings, one worker, one
// tensor_source). Anything else (malformed or truncated bytes, non-ASCII
// names, unknown fields inside the lists, repeated or conflicting oneof
// fields) returns nullopt, and the caller parses the request the ordinary
// way, which then accepts or refuses it as before.
#ifndef MX_SERVER_PUBLISH_WIRE_H_
#define MX_SERVER_PUBLISH_WIRE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "p2p.pb.h"

namespace mx::server {

struct WirePublish {
  // Every field of the request but the tensor lists. After normalization
  // (legacy tensors moved into tensor_source): worker.tensors is empty, and
  // worker.tensor_source is present but empty when the tensors were in one.
  model_express::p2p::PublishMetadataRequest request;
  // When request.worker() has a tensor_source: the whole WorkerMetadata
  // field 20 as wire bytes (tag, length, then one field-1 TensorDescriptor
  // entry per tensor, as received), entries starting at `entries_offset`.
  std::string tensor_payload;
  size_t entries_offset = 0;
  size_t stored_tensors = 0;   // entries in tensor_payload
  size_t received_tensors = 0; // both lists as received (the limit counts these)
  // Byte size of the first tensor name over the limit given to the scan:
  // the legacy list's first, else tensor_source's first; 0 when none is.
  size_t first_long_name = 0;
};

// Scans a serialized PublishMetadataRequest. `max_tensor_name_bytes` is the
// name limit (RequestLimits); names over it are reported, not refused here.
// nullopt: not a shape the scanner takes; parse the bytes instead.
std::optional<WirePublish> ScanPublish(std::string_view bytes, size_t max_tensor_name_bytes);

}  // namespace mx::server

#endif  // MX_SERVER_PUBLISH_WIRE_H_
