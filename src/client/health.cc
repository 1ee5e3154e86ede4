// grpc.health.v1.Health/Check through a generic stub: the two messages are
// one field each, and encoding them by hand keeps a second copy of
// health.proto's generated code (and its descriptor registration) out of
// every engine that links this library.
#include <string>

#include <grpcpp/support/byte_buffer.h>

#include "absl/synchronization/notification.h"
#include "client/call.h"

namespace mx {
namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

bool ReadVarint(const std::string& in, size_t* pos, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in[(*pos)++]);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// HealthCheckRequest { string service = 1; }
std::string EncodeRequest(const std::string& service) {
  std::string out;
  if (service.empty()) return out;
  out.push_back(0x0a);
  AppendVarint(service.size(), &out);
  out += service;
  return out;
}

// HealthCheckResponse { ServingStatus status = 1; } (other fields skipped).
absl::StatusOr<uint64_t> DecodeStatus(const std::string& in) {
  uint64_t status = 0;
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t tag = 0, value = 0;
    if (!ReadVarint(in, &pos, &tag)) break;
    const uint64_t wire_type = tag & 7;
    if (wire_type == 0) {
      if (!ReadVarint(in, &pos, &value)) break;
      if ((tag >> 3) == 1) status = value;
    } else if (wire_type == 2) {
      if (!ReadVarint(in, &pos, &value) || value > in.size() - pos) break;
      pos += value;
    } else {
      return absl::InternalError("health response has an unexpected wire type");
    }
  }
  if (pos != in.size()) return absl::InternalError("health response is truncated");
  return status;
}

}  // namespace

absl::StatusOr<HealthStatus> Client::CheckHealth(const std::string& service,
                                                 const CallOptions& call) const {
  const std::string encoded = EncodeRequest(service);
  std::string reply;
  absl::Status status = client::RunCall(
      options_, call, "Health/Check", [&](grpc::ClientContext* context) {
        grpc::Slice slice(encoded);
        grpc::ByteBuffer request(&slice, 1);
        grpc::ByteBuffer response;
        grpc::Status result;
        absl::Notification done;
        impl_->generic->UnaryCall(context, kCheckMethod, grpc::StubOptions(), &request,
                                  &response, [&](grpc::Status s) {
                                    result = std::move(s);
                                    done.Notify();
                                  });
        done.WaitForNotification();
        reply.clear();
        if (result.ok()) {
          std::vector<grpc::Slice> slices;
          if (!response.Dump(&slices).ok()) {
            return grpc::Status(grpc::StatusCode::INTERNAL, "unreadable health response");
          }
          for (const auto& s : slices) {
            reply.append(reinterpret_cast<const char*>(s.begin()), s.size());
          }
        }
        return result;
      });
  if (absl::IsNotFound(status)) return HealthStatus::kServiceUnknown;
  if (!status.ok()) return status;
  auto value = DecodeStatus(reply);
  if (!value.ok()) return value.status();
  switch (*value) {
    case 1: return HealthStatus::kServing;
    case 2: return HealthStatus::kNotServing;
    case 3: return HealthStatus::kServiceUnknown;
    default: return HealthStatus::kUnknown;
  }
}

}  // namespace mx
