// mxd's own reader of RESP2 replies, for reads of large values (a
// GetMetadata record of ~0.5 MB): hiredis reads a socket 16 KiB at a time
// into its buffer and copies every bulk string out of it again, so a large
// value costs ~30 read()s and two copies. This reader reads in large chunks
// and reads a large bulk string straight into a buffer of its own, which
// the caller may keep (no copy but the kernel's). Not thread-safe: one per
// connection, used by one caller at a time.
#ifndef MX_STORE_REDIS_RESP_READER_H_
#define MX_STORE_REDIS_RESP_READER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mx::store::redis {

// One reply (RESP2). Strings at least RespReader's own_buffer_bytes long
// live in `owned` (a buffer the caller may share), shorter ones in `small`.
struct RespReply {
  enum class Type { kString, kStatus, kError, kInteger, kNil, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;                    // kInteger
  std::vector<RespReply> elements;        // kArray
  std::string small;                      // kString (short), kStatus, kError
  std::shared_ptr<const char> owned;      // kString of own_buffer_bytes or more
  size_t owned_size = 0;

  // The bytes of a string, status or error ("" for other types).
  std::string_view text() const {
    return owned != nullptr ? std::string_view(owned.get(), owned_size) : std::string_view(small);
  }
};

class RespReader {
 public:
  // Reads from `fd`, a blocking socket whose SO_RCVTIMEO bounds each read
  // (hiredis sets it from the command timeout). Does no I/O here.
  explicit RespReader(int fd, size_t own_buffer_bytes = kDefaultOwnBufferBytes)
      : fd_(fd), own_buffer_bytes_(own_buffer_bytes) {}

  static constexpr size_t kDefaultOwnBufferBytes = 64 << 10;

  // Reads one whole reply. Unavailable when the socket fails, times out or
  // closes before the reply is complete; Internal when the bytes are not
  // RESP2 (or exceed the limits below). After any error the connection's
  // stream position is unknown: the caller must drop it.
  absl::StatusOr<RespReply> Read();

  // Bytes read from the socket beyond the replies returned so far. A
  // request/response connection has none after reading every reply it
  // asked for.
  size_t buffered() const { return end_ - pos_; }

  // Limits: a bulk string may be as long as Redis allows by default
  // (proto-max-bulk-len, 512 MB); arrays nest at most this deep.
  static constexpr int64_t kMaxBulkBytes = 512LL << 20;
  static constexpr int kMaxDepth = 8;

 private:
  absl::StatusOr<RespReply> ReadValue(int depth);
  // The next line without its CRLF, a view into the buffer valid until the
  // next read.
  absl::StatusOr<std::string_view> ReadLine();
  // Copies `size` bytes to `out`: what is buffered, then straight from the
  // socket into `out`.
  absl::Status ReadExact(char* out, size_t size);
  // Reads more bytes into the buffer (compacting it first). Unavailable on
  // EOF, timeout or error.
  absl::Status Fill();

  const int fd_;
  const size_t own_buffer_bytes_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t pos_ = 0;  // next unread byte
  size_t end_ = 0;  // end of the bytes read
};

}  // namespace mx::store::redis

#endif  // MX_STORE_REDIS_RESP_READER_H_
