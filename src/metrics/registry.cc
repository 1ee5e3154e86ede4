#include "metrics/registry.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace mx::metrics {
namespace {

template <typename T>
std::unique_ptr<T> MakeChild(const std::vector<double>*) {
  return std::make_unique<T>();
}
template <>
std::unique_ptr<Histogram> MakeChild<Histogram>(const std::vector<double>* bounds) {
  return std::make_unique<Histogram>(bounds);
}

std::string FormatNumber(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  // Shortest text that reads back as the same double (0.00025, not 0.00025000000000000001).
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// {a="x",b="y"} plus an optional extra label (histogram "le").
std::string LabelText(const std::vector<std::string>& names,
                      const std::vector<std::string>& values, const std::string& extra_name = "",
                      const std::string& extra_value = "") {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    absl::StrAppend(&out, extra_name, "=\"", extra_value, "\"");
  }
  out += '}';
  return out;
}

void Header(std::string* out, const std::string& name, const std::string& help,
            const char* type) {
  absl::StrAppend(out, "# HELP ", name, " ", EscapeHelp(help), "\n# TYPE ", name, " ", type,
                  "\n");
}

void AddDouble(std::atomic<double>* target, double v) {
  double old = target->load(std::memory_order_relaxed);
  while (!target->compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

}  // namespace

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_->size() && v > (*bounds_)[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AddDouble(&sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  // Concurrent observations may land between loads; +Inf must equal count.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

template <typename T>
T* Family<T>::With(const std::vector<std::string>& values) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return it->second.get();
  }
  absl::MutexLock lock(&mu_);
  auto& slot = children_[values];
  if (slot == nullptr) slot = MakeChild<T>(&bounds_);
  return slot.get();
}

template <typename T>
void Family<T>::ForEach(
    const std::function<void(const std::vector<std::string>&, const T&)>& f) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [values, child] : children_) f(values, *child);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

CounterFamily* Registry::AddCounter(const std::string& name, const std::string& help,
                                    std::vector<std::string> label_names) {
  absl::MutexLock lock(&mu_);
  Entry e{Type::kCounter, std::make_unique<CounterFamily>(name, help, std::move(label_names)),
          nullptr, nullptr};
  entries_.push_back(std::move(e));
  return entries_.back().counter.get();
}

GaugeFamily* Registry::AddGauge(const std::string& name, const std::string& help,
                                std::vector<std::string> label_names) {
  absl::MutexLock lock(&mu_);
  Entry e{Type::kGauge, nullptr, std::make_unique<GaugeFamily>(name, help, std::move(label_names)),
          nullptr};
  entries_.push_back(std::move(e));
  return entries_.back().gauge.get();
}

HistogramFamily* Registry::AddHistogram(const std::string& name, const std::string& help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds) {
  absl::MutexLock lock(&mu_);
  Entry e{Type::kHistogram, nullptr, nullptr,
          std::make_unique<HistogramFamily>(name, help, std::move(label_names),
                                            std::move(bounds))};
  entries_.push_back(std::move(e));
  return entries_.back().histogram.get();
}

void Registry::AddCollector(std::function<void()> collect) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::Render() const {
  // Collectors may be slow (they can read the store): run them unlocked.
  std::vector<std::function<void()>> collectors;
  {
    absl::ReaderMutexLock lock(&mu_);
    collectors = collectors_;
  }
  for (const auto& c : collectors) c();

  std::string out;
  absl::ReaderMutexLock lock(&mu_);
  for (const Entry& e : entries_) {
    switch (e.type) {
      case Type::kCounter: {
        const auto& f = *e.counter;
        Header(&out, f.name(), f.help(), "counter");
        f.ForEach([&](const std::vector<std::string>& v, const Counter& c) {
          absl::StrAppend(&out, f.name(), LabelText(f.label_names(), v), " ", c.value(), "\n");
        });
        break;
      }
      case Type::kGauge: {
        const auto& f = *e.gauge;
        Header(&out, f.name(), f.help(), "gauge");
        f.ForEach([&](const std::vector<std::string>& v, const Gauge& g) {
          absl::StrAppend(&out, f.name(), LabelText(f.label_names(), v), " ",
                          FormatNumber(g.value()), "\n");
        });
        break;
      }
      case Type::kHistogram: {
        const auto& f = *e.histogram;
        Header(&out, f.name(), f.help(), "histogram");
        f.ForEach([&](const std::vector<std::string>& v, const Histogram& h) {
          const Histogram::Snapshot s = h.Read();
          for (size_t i = 0; i < s.cumulative.size(); ++i) {
            const std::string le =
                i + 1 == s.cumulative.size() ? "+Inf" : FormatNumber(f.bound(i));
            absl::StrAppend(&out, f.name(), "_bucket", LabelText(f.label_names(), v, "le", le),
                            " ", s.cumulative[i], "\n");
          }
          absl::StrAppend(&out, f.name(), "_sum", LabelText(f.label_names(), v), " ",
                          FormatNumber(s.sum), "\n", f.name(), "_count",
                          LabelText(f.label_names(), v), " ", s.count, "\n");
        });
        break;
      }
    }
  }
  return out;
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace mx::metrics
