#include "gpu/handle_blob.h"

#include <map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/hex.h"
#include "gpu/fd_passing.h"

namespace mx::examples {
namespace {

constexpr char kHeader[] = "mx-shard/1";

absl::StatusOr<uint64_t> ParseU64(const std::map<std::string, std::string>& fields,
                                  const std::string& key, int base) {
  auto it = fields.find(key);
  if (it == fields.end()) return absl::InvalidArgumentError(absl::StrCat("shard handle lacks ", key));
  uint64_t value = 0;
  std::string text = it->second;
  if (base == 16) {
    if (text.rfind("0x", 0) != 0 || !absl::SimpleHexAtoi(text.substr(2), &value)) {
      return absl::InvalidArgumentError(absl::StrCat("shard handle: bad ", key, " '", text, "'"));
    }
  } else if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("shard handle: bad ", key, " '", text, "'"));
  }
  return value;
}

// cuda-vmm's own fields: alloc, pid, fd, socket.
absl::Status DecodeVmmFields(const std::map<std::string, std::string>& fields, ShardHandle* handle) {
  auto alloc = ParseU64(fields, "alloc", 10);
  auto pid = ParseU64(fields, "pid", 10);
  auto fd = ParseU64(fields, "fd", 10);
  for (const auto* s : {&alloc.status(), &pid.status(), &fd.status()}) {
    if (!s->ok()) return *s;
  }
  if (*alloc < handle->bytes) return absl::InvalidArgumentError("shard handle: alloc is below bytes");
  if (handle->base + *alloc < handle->base) {
    return absl::InvalidArgumentError("shard handle: base+alloc overflows");
  }
  if (*pid < 1 || *pid > (1u << 22)) return absl::InvalidArgumentError("shard handle: pid out of range");
  if (*fd > (1u << 20)) return absl::InvalidArgumentError("shard handle: fd out of range");
  auto socket = fields.find("socket");
  if (socket == fields.end() || !ValidSocketName(socket->second)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shard handle: bad socket '", socket == fields.end() ? "" : socket->second, "'"));
  }
  handle->alloc_bytes = *alloc;
  handle->pid = static_cast<int>(*pid);
  handle->fd = static_cast<int>(*fd);
  handle->socket = socket->second;
  return absl::OkStatus();
}

}  // namespace

const char* KindName(ShardHandle::Kind kind) {
  switch (kind) {
    case ShardHandle::Kind::kCudaIpc:
      return "cuda-ipc";
    case ShardHandle::Kind::kCudaVmm:
      return "cuda-vmm";
    case ShardHandle::Kind::kHostShm:
      return "host-shm";
  }
  return "?";
}

std::string EncodeShardHandle(const ShardHandle& handle) {
  std::string out = absl::StrCat(kHeader, "\n");
  absl::StrAppend(&out, "kind=", KindName(handle.kind), "\n");
  absl::StrAppend(&out, "device=", handle.device, "\n");
  absl::StrAppend(&out, "base=0x", absl::Hex(handle.base), "\n");
  absl::StrAppend(&out, "bytes=", handle.bytes, "\n");
  switch (handle.kind) {
    case ShardHandle::Kind::kCudaIpc:
      absl::StrAppend(&out, "handle=", ToHex(handle.ipc_handle), "\n");
      break;
    case ShardHandle::Kind::kCudaVmm:
      absl::StrAppend(&out, "alloc=", handle.alloc_bytes, "\n", "pid=", handle.pid, "\n",
                      "fd=", handle.fd, "\n", "socket=", handle.socket, "\n");
      break;
    case ShardHandle::Kind::kHostShm:
      absl::StrAppend(&out, "shm=", handle.shm_name, "\n");
      break;
  }
  return out;
}

absl::StatusOr<ShardHandle> DecodeShardHandle(const std::string& blob) {
  std::vector<std::string> lines = absl::StrSplit(blob, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kHeader) {
    return absl::InvalidArgumentError(absl::StrCat("shard handle does not start with ", kHeader));
  }
  std::map<std::string, std::string> fields;
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto eq = lines[i].find('=');
    const std::string key = lines[i].substr(0, eq);
    if (eq == std::string::npos ||
        (key != "kind" && key != "device" && key != "base" && key != "bytes" && key != "handle" &&
         key != "shm" && key != "alloc" && key != "pid" && key != "fd" && key != "socket")) {
      return absl::InvalidArgumentError(absl::StrCat("shard handle: unexpected line '", lines[i], "'"));
    }
    if (!fields.emplace(key, lines[i].substr(eq + 1)).second) {
      return absl::InvalidArgumentError(absl::StrCat("shard handle: ", key, " given twice"));
    }
  }
  ShardHandle handle;
  const std::string kind = fields.count("kind") ? fields["kind"] : "";
  if (kind == "cuda-ipc") {
    handle.kind = ShardHandle::Kind::kCudaIpc;
  } else if (kind == "cuda-vmm") {
    handle.kind = ShardHandle::Kind::kCudaVmm;
  } else if (kind == "host-shm") {
    handle.kind = ShardHandle::Kind::kHostShm;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("shard handle: unknown kind '", kind, "'"));
  }
  auto device = ParseU64(fields, "device", 10);
  auto base = ParseU64(fields, "base", 16);
  auto bytes = ParseU64(fields, "bytes", 10);
  for (const auto* s : {&device.status(), &base.status(), &bytes.status()}) {
    if (!s->ok()) return *s;
  }
  if (*device > 1024) return absl::InvalidArgumentError("shard handle: device out of range");
  if (*bytes == 0) return absl::InvalidArgumentError("shard handle: bytes is 0");
  if (*base + *bytes < *base) return absl::InvalidArgumentError("shard handle: base+bytes overflows");
  handle.device = static_cast<int>(*device);
  handle.base = *base;
  handle.bytes = *bytes;
  if (handle.kind == ShardHandle::Kind::kCudaIpc) {
    const std::string hex = fields.count("handle") ? fields["handle"] : "";
    if (hex.size() != 128) {
      return absl::InvalidArgumentError("shard handle: handle must be 128 hex digits");
    }
    for (size_t i = 0; i < hex.size(); i += 2) {
      const int high = HexDigitValue(hex[i], HexCase::kLower);
      const int low = HexDigitValue(hex[i + 1], HexCase::kLower);
      if (high < 0 || low < 0) {
        return absl::InvalidArgumentError("shard handle: handle must be 128 hex digits");
      }
      handle.ipc_handle.push_back(static_cast<char>(high * 16 + low));
    }
  } else if (handle.kind == ShardHandle::Kind::kCudaVmm) {
    if (auto s = DecodeVmmFields(fields, &handle); !s.ok()) return s;
  } else {
    handle.shm_name = fields.count("shm") ? fields["shm"] : "";
    if (handle.shm_name.size() < 2 || handle.shm_name[0] != '/' ||
        handle.shm_name.find('/', 1) != std::string::npos || handle.shm_name.size() > 200) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard handle: bad shm name '", handle.shm_name, "'"));
    }
  }
  return handle;
}

}  // namespace mx::examples
