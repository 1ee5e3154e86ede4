// A strict parser for the Prometheus text exposition format 0.0.4, for
// tests: fails on anything a scraper could misread.
#ifndef MX_TESTS_SUPPORT_PROMETHEUS_TEXT_H_
#define MX_TESTS_SUPPORT_PROMETHEUS_TEXT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace mx::testing {

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped, in order
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> help;  // family → unescaped help
  std::map<std::string, std::string> type;  // family → counter|gauge|histogram|...
  std::vector<Sample> samples;

  // Sum of samples named `name` whose labels include every pair in `match`.
  double Sum(const std::string& name,
             const std::vector<std::pair<std::string, std::string>>& match = {}) const;
  // Like Sum but also says whether any sample matched.
  bool Has(const std::string& name,
           const std::vector<std::pair<std::string, std::string>>& match = {}) const;
};

// Checks: line syntax, HELP and TYPE at most once per family and before its
// samples, samples only of declared families (histogram suffixes
// _bucket/_sum/_count), label escaping (\\, \", \n only), unique series,
// counters named *_total, histogram buckets cumulative with +Inf == _count.
absl::StatusOr<Exposition> ParseExposition(const std::string& text);

}  // namespace mx::testing

#endif  // MX_TESTS_SUPPORT_PROMETHEUS_TEXT_H_
