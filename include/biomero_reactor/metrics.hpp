#pragma once
// The Prometheus text exposition format (version 0.0.4) for GET /metrics: counters,
// gauges and histograms with labels, each family introduced once by # HELP and # TYPE.
// The reactor owns the numbers; this only writes them out.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace biomero_reactor {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Cumulative buckets, as Prometheus expects; the +Inf bucket is `count`.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  [[nodiscard]] const std::vector<double>& upper_bounds() const { return bounds_; }
  [[nodiscard]] const std::vector<std::uint64_t>& cumulative_counts() const { return counts_; }
  [[nodiscard]] double sum() const { return sum_; }
  [[nodiscard]] std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Seconds, from a quick step (a database round trip) to a long copy.
Histogram step_duration_histogram();

class MetricsText {
 public:
  // Samples of one family must be added one after another.
  void counter(const std::string& name, const std::string& help, double value, const Labels& labels = {});
  void gauge(const std::string& name, const std::string& help, double value, const Labels& labels = {});
  void histogram(const std::string& name, const std::string& help, const Histogram& h, const Labels& labels = {});
  [[nodiscard]] const std::string& str() const { return out_; }

  static constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

 private:
  void family(const std::string& name, const std::string& help, const char* type);
  void sample(const std::string& name, const Labels& labels, double value);

  std::string out_;
  std::string last_family_;
};

}  // namespace biomero_reactor
