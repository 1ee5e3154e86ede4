#include "store/redis/resp_reader.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace mx::store::redis {
namespace {

// Bytes read per read() into the buffer; a line (status, error, length)
// may grow it up to kMaxLineBytes.
constexpr size_t kBufferBytes = 64 << 10;
constexpr size_t kMaxLineBytes = 1 << 20;

absl::Status NotResp(absl::string_view why) {
  return absl::InternalError(absl::StrCat("redis: reply is not RESP2: ", why));
}

// The decimal integer `text` is, exactly.
bool ParseInteger(std::string_view text, int64_t* out) {
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, *out);
  return !text.empty() && ec == std::errc() && p == end;
}

}  // namespace

absl::Status RespReader::Fill() {
  if (buffer_ == nullptr) {
    buffer_ = std::make_unique<char[]>(kBufferBytes);
    capacity_ = kBufferBytes;
  }
  if (pos_ > 0) {  // keep the unread bytes at the front
    std::memmove(buffer_.get(), buffer_.get() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  if (end_ == capacity_) {  // one line fills the buffer: grow it
    if (capacity_ >= kMaxLineBytes) return NotResp("a line longer than 1 MiB");
    auto bigger = std::make_unique<char[]>(capacity_ * 2);
    std::memcpy(bigger.get(), buffer_.get(), end_);
    buffer_ = std::move(bigger);
    capacity_ *= 2;
  }
  while (true) {
    const ssize_t n = ::read(fd_, buffer_.get() + end_, capacity_ - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return absl::OkStatus();
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return absl::UnavailableError("redis: server closed the connection");
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return absl::UnavailableError("redis: command timed out");
    }
    return absl::UnavailableError(absl::StrCat("redis: read failed: ", std::strerror(errno)));
  }
}

absl::StatusOr<std::string_view> RespReader::ReadLine() {
  size_t searched = pos_;
  while (true) {
    const char* begin = buffer_ != nullptr ? buffer_.get() : nullptr;
    for (size_t i = searched; i + 1 < end_; ++i) {
      const char* cr = static_cast<const char*>(std::memchr(begin + i, '\r', end_ - i - 1));
      if (cr == nullptr) break;
      i = static_cast<size_t>(cr - begin);
      if (cr[1] == '\n') {
        std::string_view line(begin + pos_, i - pos_);
        pos_ = i + 2;
        return line;
      }
    }
    const size_t unread_before = end_ - pos_;
    // Resume the search at the last byte, which may be a '\r'.
    const size_t resume = unread_before > 0 ? unread_before - 1 : 0;
    if (absl::Status s = Fill(); !s.ok()) return s;
    searched = pos_ + resume;  // Fill() moved the unread bytes to pos_ == 0
  }
}

absl::Status RespReader::ReadExact(char* out, size_t size) {
  const size_t buffered_bytes = std::min(size, end_ - pos_);
  if (buffered_bytes > 0) std::memcpy(out, buffer_.get() + pos_, buffered_bytes);
  pos_ += buffered_bytes;
  size_t done = buffered_bytes;
  while (done < size) {
    if (size - done < kBufferBytes / 2) {  // a short rest: through the buffer
      if (absl::Status s = Fill(); !s.ok()) return s;
      const size_t n = std::min(size - done, end_ - pos_);
      std::memcpy(out + done, buffer_.get() + pos_, n);
      pos_ += n;
      done += n;
      continue;
    }
    const ssize_t n = ::read(fd_, out + done, size - done);  // straight into `out`
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n == 0) {
      return absl::UnavailableError("redis: server closed the connection mid-reply");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return absl::UnavailableError("redis: command timed out");
    } else {
      return absl::UnavailableError(absl::StrCat("redis: read failed: ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RespReply> RespReader::Read() { return ReadValue(0); }

absl::StatusOr<RespReply> RespReader::ReadValue(int depth) {
  auto line = ReadLine();
  if (!line.ok()) return line.status();
  if (line->empty()) return NotResp("an empty line");
  const char type = line->front();
  const std::string_view rest = line->substr(1);
  RespReply reply;
  switch (type) {
    case '+':
    case '-':
      reply.type = type == '+' ? RespReply::Type::kStatus : RespReply::Type::kError;
      reply.small.assign(rest.data(), rest.size());
      return reply;
    case ':':
      reply.type = RespReply::Type::kInteger;
      if (!ParseInteger(rest, &reply.integer)) return NotResp("a malformed integer");
      return reply;
    case '$': {
      int64_t length = 0;
      if (!ParseInteger(rest, &length) || length < -1) return NotResp("a malformed bulk length");
      if (length == -1) return reply;  // nil
      if (length > kMaxBulkBytes) return NotResp("a bulk string over 512 MB");
      const size_t size = static_cast<size_t>(length);
      reply.type = RespReply::Type::kString;
      char* out = nullptr;
      if (size >= own_buffer_bytes_) {
        std::shared_ptr<char> owned(new char[size], std::default_delete<char[]>());
        out = owned.get();
        reply.owned = std::move(owned);
        reply.owned_size = size;
      } else {
        reply.small.resize(size);
        out = reply.small.data();
      }
      if (absl::Status s = ReadExact(out, size); !s.ok()) return s;
      char crlf[2];
      if (absl::Status s = ReadExact(crlf, 2); !s.ok()) return s;
      if (crlf[0] != '\r' || crlf[1] != '\n') return NotResp("a bulk string without its CRLF");
      return reply;
    }
    case '*': {
      int64_t count = 0;
      if (!ParseInteger(rest, &count) || count < -1) return NotResp("a malformed array length");
      if (count == -1) return reply;  // nil
      if (depth >= kMaxDepth) return NotResp("arrays nested too deep");
      reply.type = RespReply::Type::kArray;
      reply.elements.reserve(static_cast<size_t>(std::min<int64_t>(count, 1024)));
      for (int64_t i = 0; i < count; ++i) {
        auto element = ReadValue(depth + 1);
        if (!element.ok()) return element.status();
        reply.elements.push_back(*std::move(element));
      }
      return reply;
    }
    default:
      return NotResp(absl::StrCat("an unknown type byte 0x",
                                  absl::Hex(static_cast<unsigned char>(type))));
  }
}

}  // namespace mx::store::redis
