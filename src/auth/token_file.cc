#include "auth/token_file.h"

#include <cerrno>
#include <cstring>
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
    if (fields.size() != 3 && fields.size() != 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file line ", line_number, ": want token,name,role[,models]"));
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
    std::vector<std::string> models;
    if (fields.size() == 4) {
      auto parsed = ParseModelScopes(std::string_view(fields[3].data(), fields[3].size()));
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("token file line ", line_number, ": ", parsed.status().message()));
      }
      models = *std::move(parsed);
    }
    if (table.size() >= kMaxEntries) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file has more than ", kMaxEntries, " entries"));
    }
    auto [it, inserted] = table.emplace(
        TokenDigest(std::string_view(fields[0].data(), fields[0].size())),
        Identity{std::string(fields[1]), *role, std::move(models)});
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
  // Unreadable is Unavailable: the caller revokes every token (fail closed).
  if (!text.ok()) return absl::UnavailableError(text.status().message());
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
    return absl::InvalidArgumentError(absl::StrCat("cannot read token file ", path_, ": ", std::strerror(errno)));
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
  absl::Status s;
  if (!StatFile(path_, &stamp.mtime_ns, &stamp.size, &stamp.inode)) {
    s = absl::UnavailableError(absl::StrCat("token file ", path_, " is gone"));
  } else if (stamp == stamp_) {
    return;
  } else {
    s = Reload(stamp);
  }
  if (s.ok()) {
    revoked_ = false;
    invalid_ = false;
    spdlog::info("token file {} reloaded: {} entries", path_, table_.size());
    return;
  }
  if (absl::IsUnavailable(s)) {
    // Fail closed: a deleted or unreadable file revokes every token.
    if (!revoked_) {
      spdlog::error("{}: every token is revoked until it can be read", std::string(s.message()));
    }
    table_.clear();
    revoked_ = true;
    stamp_ = Stamp{};  // read it again as soon as it is back
    return;
  }
  stamp_ = stamp;  // report a bad edit once, not on every call
  invalid_ = true;
  ++syntax_errors_;
  spdlog::warn("keeping the previous tokens: {}", s.ToString());
}

std::optional<Identity> TokenFile::Lookup(std::string_view token) {
  MaybeReload();
  const std::string digest = TokenDigest(token);
  absl::ReaderMutexLock lock(&mu_);
  auto it = table_.find(digest);
  if (it == table_.end()) return std::nullopt;
  return it->second;
}

TokenFile::State TokenFile::state() const {
  absl::ReaderMutexLock lock(&mu_);
  return State{revoked_, invalid_, syntax_errors_};
}

size_t TokenFile::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return table_.size();
}

}  // namespace mx::auth
