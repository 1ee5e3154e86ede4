// Ids the refit store issues: version uids and lease ids, both 8 lowercase
// hex characters (the reference's format).
#ifndef MX_STORE_REFIT_IDS_H_
#define MX_STORE_REFIT_IDS_H_

#include <string>
#include <string_view>

namespace mx::store {

// 8 lowercase hex characters from a cryptographic random source.
std::string RandomRefitUid();

// The lease id of (version, worker): hex of the first 4 bytes of
// SHA-256(version_id || 0x00 || worker_id) for attempt 0 (the reference's
// derivation); attempt n > 0 appends 0x00 and the decimal n, giving the
// alternative ids a store uses when the derived one is already taken.
std::string DeriveLeaseId(std::string_view version_id, std::string_view worker_id,
                          int attempt = 0);

}  // namespace mx::store

#endif  // MX_STORE_REFIT_IDS_H_
