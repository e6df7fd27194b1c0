// The Prometheus text format as a scraper reads it: one HELP/TYPE per family, cumulative
// histogram buckets ending in +Inf, escaped label values.
#include "biomero_reactor/metrics.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;

BOOST_AUTO_TEST_SUITE(metrics_test)

BOOST_AUTO_TEST_CASE(a_family_with_several_label_sets_is_introduced_once) {
  MetricsText m;
  m.counter("biomero_reactor_jobs_total", "Jobs by outcome.", 3, {{"outcome", "imported"}});
  m.counter("biomero_reactor_jobs_total", "", 1, {{"outcome", "failed"}});
  m.gauge("biomero_reactor_orders_waiting", "Orders waiting.", 0);
  BOOST_TEST(m.str() ==
             "# HELP biomero_reactor_jobs_total Jobs by outcome.\n"
             "# TYPE biomero_reactor_jobs_total counter\n"
             "biomero_reactor_jobs_total{outcome=\"imported\"} 3\n"
             "biomero_reactor_jobs_total{outcome=\"failed\"} 1\n"
             "# HELP biomero_reactor_orders_waiting Orders waiting.\n"
             "# TYPE biomero_reactor_orders_waiting gauge\n"
             "biomero_reactor_orders_waiting 0\n");
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative_and_end_in_inf) {
  Histogram h({1, 0.1, 10});
  for (const double v : {0.05, 0.5, 0.5, 20.0}) h.observe(v);
  MetricsText m;
  m.histogram("step_seconds", "Step durations.", h, {{"state", "archived"}});
  BOOST_TEST(m.str() ==
             "# HELP step_seconds Step durations.\n"
             "# TYPE step_seconds histogram\n"
             "step_seconds_bucket{state=\"archived\",le=\"0.1\"} 1\n"
             "step_seconds_bucket{state=\"archived\",le=\"1\"} 3\n"
             "step_seconds_bucket{state=\"archived\",le=\"10\"} 3\n"
             "step_seconds_bucket{state=\"archived\",le=\"+Inf\"} 4\n"
             "step_seconds_sum{state=\"archived\"} 21.05\n"
             "step_seconds_count{state=\"archived\"} 4\n");
}

BOOST_AUTO_TEST_CASE(label_values_with_quotes_backslashes_and_newlines_are_escaped) {
  MetricsText m;
  m.gauge("g", "h", 1, {{"detail", "a \"b\" c\\d\ne"}});
  BOOST_TEST(m.str().find("g{detail=\"a \\\"b\\\" c\\\\d\\ne\"} 1\n") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
