#include "biomero_reactor/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace biomero_reactor {

namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size(), 0) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::observe(double value) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) ++counts_[i];
  }
  sum_ += value;
  ++count_;
}

Histogram step_duration_histogram() {
  return Histogram({0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600});
}

void MetricsText::family(const std::string& name, const std::string& help, const char* type) {
  if (name == last_family_) return;
  last_family_ = name;
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void MetricsText::sample(const std::string& name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first + "=\"" + escape_label(labels[i].second) + '"';
    }
    out_ += '}';
  }
  out_ += ' ' + number(value) + '\n';
}

void MetricsText::counter(const std::string& name, const std::string& help, double value, const Labels& labels) {
  family(name, help, "counter");
  sample(name, labels, value);
}

void MetricsText::gauge(const std::string& name, const std::string& help, double value, const Labels& labels) {
  family(name, help, "gauge");
  sample(name, labels, value);
}

void MetricsText::histogram(const std::string& name, const std::string& help, const Histogram& h,
                            const Labels& labels) {
  family(name, help, "histogram");
  for (std::size_t i = 0; i < h.upper_bounds().size(); ++i) {
    Labels with_le = labels;
    with_le.emplace_back("le", number(h.upper_bounds()[i]));
    sample(name + "_bucket", with_le, static_cast<double>(h.cumulative_counts()[i]));
  }
  Labels inf = labels;
  inf.emplace_back("le", "+Inf");
  sample(name + "_bucket", inf, static_cast<double>(h.count()));
  sample(name + "_sum", labels, h.sum());
  sample(name + "_count", labels, static_cast<double>(h.count()));
}

}  // namespace biomero_reactor
