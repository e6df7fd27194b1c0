// What the importer's stages mean for a submitted job, table by table.
#include "biomero_reactor/import_outcome.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;
using namespace std::chrono_literals;

namespace {

const ImportPolicy policy{1h, 10min, 3};
constexpr std::int64_t minute = 60'000;

OrderProgress order(std::string uuid, std::optional<std::string> stage, std::optional<std::string> description = {},
                    std::int64_t age_ms = minute, bool alerted = false) {
  OrderProgress o{std::move(uuid), std::nullopt, age_ms, alerted};
  if (stage) o.stage = Stage{*stage, std::move(description)};
  return o;
}

ImportProgress job(std::vector<OrderProgress> orders, std::int64_t waited_ms = minute, int submission = 1) {
  return {std::move(orders), waited_ms, submission};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(import_outcome_test)

BOOST_AUTO_TEST_CASE(every_order_completed_is_imported) {
  const auto d = decide(job({order("a", "Import Completed"), order("b", "Import Completed")}), policy);
  BOOST_TEST(d == (ImportDecision{ImportVerdict::imported, "", {}}));
}

BOOST_AUTO_TEST_CASE(one_order_still_running_waits) {
  for (const char* stage : {"Import Pending", "Import Started", "Import Preprocessing"}) {
    const auto d = decide(job({order("a", "Import Completed"), order("b", stage)}), policy);
    BOOST_TEST(d == (ImportDecision{ImportVerdict::wait, "", {}}), stage);
  }
}

BOOST_AUTO_TEST_CASE(an_order_without_any_row_counts_as_pending) {
  BOOST_TEST(decide(job({order("a", std::nullopt)}), policy) == (ImportDecision{ImportVerdict::wait, "", {}}));
}

BOOST_AUTO_TEST_CASE(a_failure_with_a_description_fails_the_job_with_every_description) {
  const auto d = decide(job({order("a", "Import Failed", "no space left"), order("b", "Import Completed"),
                             order("c", "Import Failed", "corrupt file")}),
                        policy);
  BOOST_TEST(d == (ImportDecision{ImportVerdict::failed, "no space left; corrupt file", {}}));
}

BOOST_AUTO_TEST_CASE(a_failure_without_description_is_an_importer_restart_and_resubmits) {
  const auto d = decide(job({order("a", "Import Failed")}), policy);
  BOOST_TEST(d == (ImportDecision{ImportVerdict::resubmit,
                                  "the importer stopped during the import (Import Failed without a description)",
                                  {}}));
}

BOOST_AUTO_TEST_CASE(a_described_failure_wins_over_a_restart) {
  const auto d = decide(job({order("a", "Import Failed"), order("b", "Import Failed", "bad")}), policy);
  BOOST_TEST(d.verdict == ImportVerdict::failed);
  BOOST_TEST(d.reason == "bad");
}

BOOST_AUTO_TEST_CASE(a_restart_after_the_last_submission_fails_and_says_how_many) {
  const auto d = decide(job({order("a", "Import Failed")}, minute, 3), policy);
  BOOST_TEST(d.verdict == ImportVerdict::failed);
  BOOST_TEST(d.reason ==
             "the importer stopped during the import (Import Failed without a description) (after 3 submissions)");
}

BOOST_AUTO_TEST_CASE(an_order_pending_past_the_alert_is_reported_once_and_resubmitted) {
  const auto fresh = decide(job({order("a", "Import Pending", {}, 11 * minute)}), policy);
  BOOST_TEST(fresh.verdict == ImportVerdict::resubmit);
  BOOST_TEST(fresh.reason == "the order stayed in Import Pending for over 10m");
  BOOST_TEST(fresh.newly_stuck == std::vector<std::string>{"a"});
  const auto known = decide(job({order("a", "Import Pending", {}, 11 * minute, true)}), policy);
  BOOST_TEST(known.newly_stuck.empty());
}

BOOST_AUTO_TEST_CASE(a_started_order_is_never_stuck_however_old) {
  BOOST_TEST(decide(job({order("a", "Import Started", {}, 50 * minute)}), policy).verdict == ImportVerdict::wait);
}

BOOST_AUTO_TEST_CASE(past_the_deadline_the_job_fails_naming_the_last_stage) {
  const auto d = decide(job({order("a", "Import Started")}, 61 * minute), policy);
  BOOST_TEST(d == (ImportDecision{ImportVerdict::failed,
                                  "no result from BIOMERO.importer within 1h (last stage: Import Started)",
                                  {}}));
}

BOOST_AUTO_TEST_CASE(completion_wins_over_the_deadline) {
  BOOST_TEST(decide(job({order("a", "Import Completed")}, 90 * minute), policy).verdict == ImportVerdict::imported);
}

BOOST_AUTO_TEST_CASE(decisions_print_readably) {
  std::ostringstream os;
  os << ImportDecision{ImportVerdict::failed, "bad", {"a"}};
  BOOST_TEST(os.str() == "failed (bad), 1 newly stuck");
}

BOOST_AUTO_TEST_SUITE_END()
