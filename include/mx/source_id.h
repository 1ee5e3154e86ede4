// Content address of a SourceIdentity: the mx_source_id every ModelExpress
// implementation derives the same way. Pure functions, thread-safe.
#ifndef MX_SOURCE_ID_H_
#define MX_SOURCE_ID_H_

#include <string>

#include "p2p.pb.h"

namespace mx {

// The canonical JSON text that is hashed: compact, keys in byte order,
// strings lowercased (ASCII letters only; other bytes are kept as they are),
// optional version fields present only when non-empty.
std::string CanonicalIdentityJson(const model_express::p2p::SourceIdentity& identity);

// First 16 lowercase hex characters of SHA-256(CanonicalIdentityJson()).
std::string ComputeSourceId(const model_express::p2p::SourceIdentity& identity);

}  // namespace mx

#endif  // MX_SOURCE_ID_H_
