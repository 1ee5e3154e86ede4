#include "prometheus_text.h"

#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace mx::testing {
namespace {

bool NameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

bool ValidName(const std::string& n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    if (!NameChar(n[i], i == 0)) return false;
  }
  return true;
}

absl::Status Error(int line, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Family a sample belongs to, given the declared types.
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (EndsWith(name, suffix)) {
      std::string base = name.substr(0, name.size() - std::string(suffix).size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<Exposition> ParseExposition(const std::string& text) {
  Exposition out;
  if (!text.empty() && text.back() != '\n') return Error(0, "text must end with a newline");
  std::set<std::string> series;
  std::set<std::string> families_with_samples;
  int line_no = 0;
  for (absl::string_view view : absl::StrSplit(text, '\n')) {
    ++line_no;
    const std::string line(view);
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (parts.size() < 3 || (parts[1] != "HELP" && parts[1] != "TYPE")) continue;  // comment
      const std::string& family = parts[2];
      if (!ValidName(family)) return Error(line_no, "bad metric name " + family);
      if (families_with_samples.count(family)) return Error(line_no, "HELP/TYPE after samples");
      const std::string rest = parts.size() > 3 ? parts[3] : "";
      if (parts[1] == "HELP") {
        if (out.help.count(family)) return Error(line_no, "second HELP for " + family);
        std::string unescaped;
        for (size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] == '\\') {
            if (i + 1 >= rest.size()) return Error(line_no, "dangling escape in HELP");
            const char e = rest[++i];
            if (e == 'n') unescaped += '\n';
            else if (e == '\\') unescaped += '\\';
            else return Error(line_no, "bad escape in HELP");
          } else {
            unescaped += rest[i];
          }
        }
        out.help[family] = unescaped;
      } else {
        if (out.type.count(family)) return Error(line_no, "second TYPE for " + family);
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.count(rest)) return Error(line_no, "unknown type " + rest);
        if (rest == "counter" && !EndsWith(family, "_total")) {
          return Error(line_no, "counter " + family + " does not end in _total");
        }
        out.type[family] = rest;
      }
      continue;
    }
    Sample s;
    size_t i = 0;
    while (i < line.size() && NameChar(line[i], i == 0)) ++i;
    s.name = line.substr(0, i);
    if (s.name.empty()) return Error(line_no, "sample without a name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t start = i;
        while (i < line.size() && NameChar(line[i], i == start)) ++i;
        std::string label = line.substr(start, i - start);
        if (label.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          return Error(line_no, "bad label syntax");
        }
        i += 2;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) return Error(line_no, "dangling escape");
            const char e = line[i++];
            if (e == 'n') value += '\n';
            else if (e == '\\') value += '\\';
            else if (e == '"') value += '"';
            else return Error(line_no, "bad escape in label value");
          } else {
            value += c;
          }
        }
        if (!closed) return Error(line_no, "unterminated label value");
        for (const auto& [k, v] : s.labels) {
          if (k == label) return Error(line_no, "duplicate label " + label);
        }
        s.labels.emplace_back(label, value);
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return Error(line_no, "unterminated label set");
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') return Error(line_no, "no space before value");
    const std::string value_text = line.substr(i + 1);
    if (value_text == "+Inf") {
      s.value = HUGE_VAL;
    } else {
      char* end = nullptr;
      s.value = std::strtod(value_text.c_str(), &end);
      if (value_text.empty() || *end != '\0') {
        return Error(line_no, "bad value '" + value_text + "' (timestamps are not expected)");
      }
    }
    const std::string family = FamilyOf(s.name, out.type);
    if (family.empty()) return Error(line_no, "sample " + s.name + " has no TYPE before it");
    if (!out.help.count(family)) return Error(line_no, "family " + family + " has no HELP");
    families_with_samples.insert(family);
    if (!series.insert(line.substr(0, i)).second) return Error(line_no, "duplicate series");
    out.samples.push_back(std::move(s));
  }
  // Histogram buckets: cumulative, and the +Inf bucket equals _count.
  for (const auto& [family, type] : out.type) {
    if (type != "histogram") continue;
    std::map<std::string, std::vector<double>> buckets;  // label key (minus le) → counts
    std::map<std::string, double> counts;
    for (const Sample& s : out.samples) {
      std::string key;
      std::string le;
      for (const auto& [k, v] : s.labels) {
        if (k == "le") le = v;
        else absl::StrAppend(&key, k, "=", v, ";");
      }
      if (s.name == family + "_bucket") {
        if (le.empty()) return Error(0, family + " bucket without le");
        auto& b = buckets[key];
        if (!b.empty() && s.value < b.back()) return Error(0, family + " buckets not cumulative");
        b.push_back(s.value);
        if (le == "+Inf") counts[key + "inf"] = s.value;
      } else if (s.name == family + "_count") {
        counts[key] = s.value;
      }
    }
    for (const auto& [key, b] : buckets) {
      if (!counts.count(key + "inf")) return Error(0, family + " has no +Inf bucket");
      if (counts[key + "inf"] != counts[key]) return Error(0, family + " +Inf != _count");
    }
  }
  return out;
}

bool Exposition::Has(const std::string& name,
                     const std::vector<std::pair<std::string, std::string>>& match) const {
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& m : match) {
      bool found = false;
      for (const auto& l : s.labels) found = found || l == m;
      all = all && found;
    }
    if (all) return true;
  }
  return false;
}

double Exposition::Sum(const std::string& name,
                       const std::vector<std::pair<std::string, std::string>>& match) const {
  double total = 0;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& m : match) {
      bool found = false;
      for (const auto& l : s.labels) found = found || l == m;
      all = all && found;
    }
    if (all) total += s.value;
  }
  return total;
}

}  // namespace mx::testing
