// The Prometheus text format as a scraper reads it: one HELP/TYPE per family, cumulative
// histogram buckets ending in +Inf, escaped label values.
#include "biomero_reactor/metrics.hpp"

#include <boost/test/unit_test.hpp>

#include "biomero_reactor/process_metrics.hpp"

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

BOOST_AUTO_TEST_CASE(proc_stat_is_read_past_a_command_name_with_spaces_and_parentheses) {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime=250 stime=150 cutime cstime priority nice threads itrealvalue starttime=1000
  // vsize=123456789 rss=2500 ...
  const std::string line =
      "4242 (bio (reactor) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 150 0 0 20 0 3 0 1000 123456789 2500 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto s = parse_proc_stat(line, 100, 4096, 1700000000);
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->cpu_seconds == 4.0);
  BOOST_TEST(s->start_time_seconds == 1700000010.0);
  BOOST_TEST(s->virtual_bytes == 123456789.0);
  BOOST_TEST(s->resident_bytes == 2500.0 * 4096);
  BOOST_TEST(!parse_proc_stat("4242 (truncated) S 1 2 3", 100, 4096, 0).has_value());
  BOOST_TEST(!parse_proc_stat("no parenthesis", 100, 4096, 0).has_value());
}

BOOST_AUTO_TEST_CASE(this_process_reads_its_own_stats) {
  const auto s = read_process_stats();
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->resident_bytes > 0);
  BOOST_TEST(s->open_fds >= 3);
  BOOST_TEST(s->max_fds >= s->open_fds);
  MetricsText m;
  write_process_metrics(m, *s);
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                           "process_max_fds", "process_start_time_seconds"}) {
    BOOST_TEST(m.str().find(std::string("\n") + name + " ") != std::string::npos, name);
  }
}

BOOST_AUTO_TEST_SUITE_END()
