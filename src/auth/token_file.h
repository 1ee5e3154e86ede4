// Static bearer tokens: a file mapping each token to a caller name and role,
// re-read when it changes on disk. Only SHA-256 digests of tokens are kept
// in memory, and no error message ever contains a token.
//
// Format (like kube-apiserver's --token-auth-file): one entry per line,
//   <token>,<name>,<role>[,<models>]
// role is reader, publisher or admin; models (optional) limits what the
// token may publish: model-name patterns separated by ';', each a name or a
// prefix ending in '*' (e.g. "team-a/*;shared/llama-3-8b"); blank lines and lines starting with
// '#' are ignored; spaces around fields are trimmed. Tokens are 16..4096
// printable ASCII characters without ',' or spaces; names are 1..253 of
// [A-Za-z0-9._:@/-]. Duplicate tokens are an error.
#ifndef MX_AUTH_TOKEN_FILE_H_
#define MX_AUTH_TOKEN_FILE_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "auth/roles.h"

namespace mx::auth {

using TokenTable = absl::flat_hash_map<std::string, Identity>;  // SHA-256 digest → identity

// Parses the file text. InvalidArgument names the line and what is wrong.
absl::StatusOr<TokenTable> ParseTokenFile(std::string_view text);

// SHA-256 of `token`, raw bytes.
std::string TokenDigest(std::string_view token);

// Thread-safe. A file that stops parsing keeps the last good table (and is
// logged and counted), so a half-written edit never locks everybody out; a
// file that is deleted or cannot be read revokes every token (fail closed).
class TokenFile {
 public:
  TokenFile(std::string path, std::chrono::milliseconds check_interval);

  // Reads the file now; fails when it is missing or invalid (startup).
  absl::Status Load();

  // The identity for `token`, or nullopt. Re-reads the file first when it
  // changed (checked at most once per check_interval).
  std::optional<Identity> Lookup(std::string_view token);

  size_t size() const;

  struct State {
    bool revoked = false;        // the file is gone or unreadable: no token is valid
    bool invalid = false;        // the file on disk does not parse; the last good table is used
    int64_t syntax_errors = 0;   // bad edits seen since start
  };
  State state() const;

 private:
  struct Stamp {
    int64_t mtime_ns = -1;
    int64_t size = -1;
    uint64_t inode = 0;
    bool operator==(const Stamp& o) const {
      return mtime_ns == o.mtime_ns && size == o.size && inode == o.inode;
    }
  };
  absl::Status Reload(const Stamp& stamp) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeReload();

  const std::string path_;
  const std::chrono::milliseconds check_interval_;
  mutable absl::Mutex mu_;
  TokenTable table_ ABSL_GUARDED_BY(mu_);
  Stamp stamp_ ABSL_GUARDED_BY(mu_);
  bool revoked_ ABSL_GUARDED_BY(mu_) = false;
  bool invalid_ ABSL_GUARDED_BY(mu_) = false;
  int64_t syntax_errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point next_check_ ABSL_GUARDED_BY(mu_);
};

}  // namespace mx::auth

#endif  // MX_AUTH_TOKEN_FILE_H_
