// Key names of layout version 1 (docs/redis-store.md). Every id that goes
// into a key name is escaped so that it cannot contain ':' (the separator),
// hash-tag braces, glob characters or control bytes: any byte outside
// [A-Za-z0-9._-] becomes %XX. The escaping is injective, so two different
// ids never share a key, whatever they look like.
#ifndef MX_STORE_REDIS_REDIS_KEYS_H_
#define MX_STORE_REDIS_REDIS_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace mx::store::redis {

inline constexpr absl::string_view kFormatVersion = "1";

// Field prefixes of the per-source hash (the scripts spell them too).
inline constexpr absl::string_view kSummaryField = "m:";
inline constexpr absl::string_view kStateField = "t:";

// %XX-escapes every byte outside [A-Za-z0-9._-].
std::string EscapeId(absl::string_view id);
// Inverse of EscapeId; nullopt for text EscapeId cannot produce.
std::optional<std::string> UnescapeId(absl::string_view escaped);

// OK for 1-64 characters of [A-Za-z0-9._-]. A prefix without ':' means no
// deployment's keys can be read as another deployment's.
absl::Status ValidateKeyPrefix(absl::string_view prefix);

class KeySpace {
 public:
  explicit KeySpace(std::string prefix) : base_(std::move(prefix) + ":") {}

  std::string Format() const { return base_ + "format"; }
  std::string Sources() const { return base_ + "sources"; }
  // The change log: a stream of {s, w} entries, one per write.
  std::string Changes() const { return base_ + "changes"; }
  std::string Model(absl::string_view model_name) const {
    return base_ + "model:" + EscapeId(model_name);
  }
  // Per-source keys take the escaped source id, as the indexes hold it.
  // Summaries and states of a source's workers, in one hash.
  std::string Source(absl::string_view esc_source) const {
    return base_ + "s:" + std::string(esc_source);
  }
  // Bookkeeping of one worker: owner, rank, the model index it counts in.
  std::string Worker(absl::string_view esc_source, absl::string_view worker_id) const {
    return base_ + "w:" + std::string(esc_source) + ":" + EscapeId(worker_id);
  }
  // The record payload (tensors): a plain string, never read by a script.
  std::string Record(absl::string_view esc_source, absl::string_view worker_id) const {
    return base_ + "r:" + std::string(esc_source) + ":" + EscapeId(worker_id);
  }
  // Where a publish uploads its payload before the script moves it in place.
  std::string Stage(absl::string_view token) const { return base_ + "stage:" + std::string(token); }

 private:
  std::string base_;
};

}  // namespace mx::store::redis

#endif  // MX_STORE_REDIS_REDIS_KEYS_H_
