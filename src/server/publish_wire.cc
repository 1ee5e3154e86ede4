#include "server/publish_wire.h"

#include <cstdint>
#include <cstring>
#include <vector>

namespace mx::server {
namespace {

using Ptr = const uint8_t*;

// Wire types and field numbers of the contract (proto/p2p.proto).
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kBytes = 2;
constexpr uint32_t kFixed32 = 5;
constexpr uint32_t kRequestWorker = 2;
constexpr uint32_t kWorkerNixl = 2;
constexpr uint32_t kWorkerLegacyTensors = 3;
constexpr uint32_t kWorkerSession = 10;
constexpr uint32_t kWorkerTensorSource = 20;
constexpr uint32_t kWorkerArtifactSource = 21;
// One-byte tags inside a TensorDescriptor and a TensorSourceMetadata.
constexpr uint8_t kEntryTag = 0x0a;  // TensorSourceMetadata.tensors (1, bytes)
constexpr uint8_t kNameTag = 0x0a;   // name (1, bytes)
constexpr uint8_t kAddrTag = 0x10;   // addr (2, varint)
constexpr uint8_t kSizeTag = 0x18;   // size (3, varint)
constexpr uint8_t kDeviceTag = 0x20; // device_id (4, varint)
constexpr uint8_t kDtypeTag = 0x2a;  // dtype (5, bytes)

// A varint as protobuf reads it; false when truncated or longer than 10
// bytes, and (stricter than protobuf) when a 10th byte carries more than
// the 64th bit.
bool ReadVarint(Ptr* p, Ptr end, uint64_t* value) {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (*p == end) return false;
    const uint8_t byte = *(*p)++;
    if (i == 9 && byte > 1) return false;
    v |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      *value = v;
      return true;
    }
  }
  return false;
}

// A length that fits in what is left.
bool ReadLength(Ptr* p, Ptr end, size_t* length) {
  uint64_t v = 0;
  if (!ReadVarint(p, end, &v) || v > static_cast<uint64_t>(end - *p)) return false;
  *length = static_cast<size_t>(v);
  return true;
}

bool ReadTag(Ptr* p, Ptr end, uint32_t* field, uint32_t* wire) {
  uint64_t tag = 0;
  if (!ReadVarint(p, end, &tag) || tag > UINT32_MAX || (tag >> 3) == 0) return false;
  *field = static_cast<uint32_t>(tag >> 3);
  *wire = static_cast<uint32_t>(tag & 7);
  return true;
}

// Steps over a field's value. Groups (wire types 3, 4) are not taken.
bool SkipValue(uint32_t wire, Ptr* p, Ptr end) {
  uint64_t ignored = 0;
  size_t length = 0;
  switch (wire) {
    case kVarint:
      return ReadVarint(p, end, &ignored);
    case kFixed64:
      length = 8;
      break;
    case kFixed32:
      length = 4;
      break;
    case kBytes:
      if (!ReadLength(p, end, &length)) return false;
      break;
    default:
      return false;
  }
  if (length > static_cast<size_t>(end - *p)) return false;
  *p += length;
  return true;
}

// ASCII is valid UTF-8 (what proto3 requires of strings); anything else is
// left to protobuf's own check.
bool IsAscii(Ptr p, size_t n) {
  uint64_t high = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    high |= word;
  }
  for (; i < n; ++i) high |= p[i];
  return (high & 0x8080808080808080ULL) == 0;
}

// One list's descriptors: how many, and the first name over the limit.
struct ListScan {
  size_t count = 0;
  size_t first_long_name = 0;
};

// A TensorDescriptor's bytes: only its five fields, with their wire types,
// strings in ASCII. Protobuf parses any such bytes (last name wins).
bool CheckDescriptor(Ptr p, Ptr end, size_t max_name, ListScan* list) {
  size_t name = 0;
  while (p < end) {
    const uint8_t tag = *p++;
    switch (tag) {
      case kNameTag:
      case kDtypeTag: {
        size_t length = 0;
        if (!ReadLength(&p, end, &length) || !IsAscii(p, length)) return false;
        if (tag == kNameTag) name = length;
        p += length;
        break;
      }
      case kAddrTag:
      case kSizeTag:
      case kDeviceTag: {
        uint64_t ignored = 0;
        if (!ReadVarint(&p, end, &ignored)) return false;
        break;
      }
      default:
        return false;
    }
  }
  ++list->count;
  if (list->first_long_name == 0 && name > max_name) list->first_long_name = name;
  return true;
}

// A TensorSourceMetadata's bytes: descriptor entries and nothing else.
bool ScanTensorSource(Ptr p, Ptr end, size_t max_name, ListScan* list) {
  while (p < end) {
    size_t length = 0;
    if (*p++ != kEntryTag || !ReadLength(&p, end, &length)) return false;
    if (!CheckDescriptor(p, p + length, max_name, list)) return false;
    p += length;
  }
  return true;
}

struct WorkerScan {
  std::string skeleton;  // every field but the blob and the tensor lists
  bool has_nixl = false;
  std::string_view nixl;
  bool has_session = false;
  bool has_source = false;
  std::string_view source_entries;
  ListScan source;
  bool has_artifact = false;
  std::vector<std::string_view> legacy;  // each entry's TensorDescriptor bytes
  ListScan legacy_list;
};

std::string_view View(Ptr p, size_t n) {
  return std::string_view(reinterpret_cast<const char*>(p), n);
}

bool ScanWorker(Ptr p, Ptr end, size_t max_name, WorkerScan* w) {
  while (p < end) {
    const Ptr start = p;
    uint32_t field = 0;
    uint32_t wire = 0;
    if (!ReadTag(&p, end, &field, &wire)) return false;
    const bool split = field == kWorkerNixl || field == kWorkerLegacyTensors ||
                       field == kWorkerTensorSource;
    const bool oneof = field == kWorkerSession || field == kWorkerArtifactSource;
    if ((split || oneof) && wire != kBytes) return false;  // protobuf: an unknown field
    if (split) {
      size_t length = 0;
      if (!ReadLength(&p, end, &length)) return false;
      if (field == kWorkerNixl) {
        if (w->has_nixl || w->has_session) return false;
        w->has_nixl = true;
        w->nixl = View(p, length);
      } else if (field == kWorkerLegacyTensors) {
        if (!CheckDescriptor(p, p + length, max_name, &w->legacy_list)) return false;
        w->legacy.push_back(View(p, length));
      } else {
        if (w->has_source || w->has_artifact) return false;  // merge, or oneof switch
        if (!ScanTensorSource(p, p + length, max_name, &w->source)) return false;
        w->has_source = true;
        w->source_entries = View(p, length);
      }
      p += length;
      continue;
    }
    if (!SkipValue(wire, &p, end)) return false;
    if (field == kWorkerSession) {
      if (w->has_nixl) return false;
      w->has_session = true;
    } else if (field == kWorkerArtifactSource) {
      if (w->has_source) return false;
      w->has_artifact = true;
    }
    w->skeleton.append(reinterpret_cast<const char*>(start), static_cast<size_t>(p - start));
  }
  return true;
}

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

size_t VarintSize(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

void AppendTag(uint32_t field, uint32_t wire, std::string* out) {
  AppendVarint((static_cast<uint64_t>(field) << 3) | wire, out);
}

}  // namespace

std::optional<WirePublish> ScanPublish(std::string_view bytes, size_t max_tensor_name_bytes) {
  Ptr p = reinterpret_cast<Ptr>(bytes.data());
  const Ptr end = p + bytes.size();
  std::string skeleton;
  bool has_worker = false;
  WorkerScan w;
  while (p < end) {
    const Ptr start = p;
    uint32_t field = 0;
    uint32_t wire = 0;
    if (!ReadTag(&p, end, &field, &wire)) return std::nullopt;
    if (field == kRequestWorker) {
      size_t length = 0;
      if (wire != kBytes || has_worker || !ReadLength(&p, end, &length)) return std::nullopt;
      if (!ScanWorker(p, p + length, max_tensor_name_bytes, &w)) return std::nullopt;
      has_worker = true;
      p += length;
      continue;
    }
    if (!SkipValue(wire, &p, end)) return std::nullopt;
    skeleton.append(reinterpret_cast<const char*>(start), static_cast<size_t>(p - start));
  }

  WirePublish out;
  out.received_tensors = w.legacy_list.count + w.source.count;
  out.first_long_name = w.legacy_list.first_long_name != 0 ? w.legacy_list.first_long_name
                                                           : w.source.first_long_name;
  // Normalization, as MetadataService does it on a parsed request: legacy
  // tensors move into an empty or absent tensor_source (not beside an
  // artifact_source); the legacy list is dropped either way.
  const bool from_source = w.has_source && w.source.count > 0;
  const bool from_legacy = !from_source && w.legacy_list.count > 0 && !w.has_artifact;
  const bool has_tensor_source = from_source || from_legacy || w.has_source;
  if (has_worker) {
    if (has_tensor_source) {
      AppendTag(kWorkerTensorSource, kBytes, &w.skeleton);  // present, empty
      w.skeleton.push_back('\0');
    }
    AppendTag(kRequestWorker, kBytes, &skeleton);
    AppendVarint(w.skeleton.size(), &skeleton);
    skeleton.append(w.skeleton);
  }
  if (!out.request.ParseFromString(skeleton)) return std::nullopt;  // e.g. bad UTF-8
  if (w.has_nixl) out.request.mutable_worker()->set_nixl_metadata(w.nixl.data(), w.nixl.size());
  if (!has_tensor_source) return out;

  size_t entries = 0;
  if (from_source) {
    entries = w.source_entries.size();
  } else if (from_legacy) {
    for (std::string_view t : w.legacy) entries += 1 + VarintSize(t.size()) + t.size();
  }
  out.tensor_payload.reserve(entries + 8);
  AppendTag(kWorkerTensorSource, kBytes, &out.tensor_payload);
  AppendVarint(entries, &out.tensor_payload);
  out.entries_offset = out.tensor_payload.size();
  if (from_source) {
    out.tensor_payload.append(w.source_entries);
    out.stored_tensors = w.source.count;
  } else if (from_legacy) {
    for (std::string_view t : w.legacy) {
      out.tensor_payload.push_back(static_cast<char>(kEntryTag));
      AppendVarint(t.size(), &out.tensor_payload);
      out.tensor_payload.append(t);
    }
    out.stored_tensors = w.legacy_list.count;
  }
  return out;
}

}  // namespace mx::server
