#include "auth/token_file.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "absl/strings/str_split.h"
#include "spdlog/spdlog.h"

namespace mx::auth {
namespace {

constexpr size_t kMinTokenBytes = 16;
constexpr size_t kMaxTokenBytes = 4096;
constexpr size_t kMaxNameBytes = 253;
constexpr size_t kMaxEntries = 100000;

bool ValidToken(absl::string_view t) {
  if (t.size() < kMinTokenBytes || t.size() > kMaxTokenBytes) return false;
  for (char c : t) {
    if (c <= ' ' || c > '~' || c == ',') return false;
  }
  return true;
}

bool ValidName(absl::string_view n) {
  if (n.empty() || n.size() > kMaxNameBytes) return false;
  for (char c : n) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != ':' && c != '@' && c != '/' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string TokenDigest(std::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

absl::StatusOr<TokenTable> ParseTokenFile(std::string_view text) {
  TokenTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file line ", line_number, ": want token,name,role"));
    }
    for (auto& f : fields) f = absl::StripAsciiWhitespace(f);
    if (!ValidToken(fields[0])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token file line ", line_number, ": token must be ", kMinTokenBytes, "..",
          kMaxTokenBytes, " printable characters without spaces or commas"));
    }
    if (!ValidName(fields[1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file line ", line_number, ": invalid name"));
    }
    auto role = ParseRole(std::string_view(fields[2].data(), fields[2].size()));
    if (!role) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token file line ", line_number, ": role must be reader, publisher or admin"));
    }
    if (table.size() >= kMaxEntries) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file has more than ", kMaxEntries, " entries"));
    }
    auto [it, inserted] = table.emplace(
        TokenDigest(std::string_view(fields[0].data(), fields[0].size())),
        Identity{std::string(fields[1]), *role});
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file line ", line_number, ": duplicate token"));
    }
  }
  return table;
}

TokenFile::TokenFile(std::string path, std::chrono::milliseconds check_interval)
    : path_(std::move(path)), check_interval_(check_interval) {}

absl::Status TokenFile::Reload(const Stamp& stamp) {
  auto text = ReadFileToString(path_, "token file");
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  auto table = ParseTokenFile(*text);
  if (!table.ok()) return table.status();
  table_ = *std::move(table);
  stamp_ = stamp;
  return absl::OkStatus();
}

namespace {
bool StatFile(const std::string& path, int64_t* mtime_ns, int64_t* size, uint64_t* inode) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  *mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  *size = st.st_size;
  *inode = st.st_ino;
  return true;
}
}  // namespace

absl::Status TokenFile::Load() {
  absl::MutexLock lock(&mu_);
  Stamp stamp;
  if (!StatFile(path_, &stamp.mtime_ns, &stamp.size, &stamp.inode)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read token file ", path_));
  }
  next_check_ = std::chrono::steady_clock::now() + check_interval_;
  return Reload(stamp);
}

void TokenFile::MaybeReload() {
  const auto now = std::chrono::steady_clock::now();
  {
    absl::ReaderMutexLock lock(&mu_);
    if (now < next_check_) return;
  }
  absl::MutexLock lock(&mu_);
  if (now < next_check_) return;
  next_check_ = now + check_interval_;
  Stamp stamp;
  if (!StatFile(path_, &stamp.mtime_ns, &stamp.size, &stamp.inode) || stamp == stamp_) return;
  if (absl::Status s = Reload(stamp); !s.ok()) {
    stamp_ = stamp;  // report a bad edit once, not on every call
    spdlog::warn("keeping the previous tokens: {}", s.ToString());
  } else {
    spdlog::info("token file {} reloaded: {} entries", path_, table_.size());
  }
}

std::optional<Identity> TokenFile::Lookup(std::string_view token) {
  MaybeReload();
  const std::string digest = TokenDigest(token);
  absl::ReaderMutexLock lock(&mu_);
  auto it = table_.find(digest);
  if (it == table_.end()) return std::nullopt;
  return it->second;
}

size_t TokenFile::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return table_.size();
}

}  // namespace mx::auth
