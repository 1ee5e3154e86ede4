// ListSourcesResponse wire bytes built from listing refs, for stores that
// answer a listing as bytes (Store::AppendListReply): each worker's ref is
// encoded once when it is stored, and a listing concatenates them.
#ifndef MX_STORE_REF_ENCODING_H_
#define MX_STORE_REF_ENCODING_H_

#include <string>

#include "store/record.h"

namespace mx::store {

// The SourceInstanceRef fields of `ref` that only a publish changes (every
// field but updated_at and source_load), as wire bytes.
std::string EncodeRefHead(const WorkerRef& ref);

// Appends one ListSourcesResponse.instances entry: `head` (EncodeRefHead)
// followed by updated_at and source_load of `state`. Protobuf accepts
// fields in any order, so this parses to the full SourceInstanceRef.
void AppendInstance(const std::string& head, const WorkerState& state, std::string* out);

}  // namespace mx::store

#endif  // MX_STORE_REF_ENCODING_H_
