#include "biomero_reactor/failure_policy.hpp"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "biomero_reactor/errors.hpp"

using namespace biomero_reactor;
using namespace std::chrono_literals;

namespace {

std::exception_ptr system_error(int e) {
  return std::make_exception_ptr(std::system_error(e, std::generic_category(), "cannot create \"/data/x\""));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(failure_policy_test)

// Item 7: disk full, quota, read-only, permission denied and descriptor exhaustion are
// storage faults, whichever way the file-system layer reports them.
BOOST_AUTO_TEST_CASE(storage_errnos_are_storage_faults_others_stay_as_they_were) {
  for (const int e : {ENOSPC, EDQUOT, EROFS, EACCES, EPERM, EMFILE, ENFILE}) {
    BOOST_TEST((classify_failure(system_error(e)) == FailureKind::storage), e);
    const auto fs_error = std::make_exception_ptr(
        std::filesystem::filesystem_error("create_directories", "/data/x", std::error_code(e, std::system_category())));
    BOOST_TEST((classify_failure(fs_error) == FailureKind::storage), e);
  }
  BOOST_TEST((classify_failure(system_error(ENOTDIR)) == FailureKind::transient));
  BOOST_TEST((classify_failure(system_error(EIO)) == FailureKind::transient));
  BOOST_TEST((classify_failure(std::make_exception_ptr(std::runtime_error("x"))) == FailureKind::transient));
  BOOST_TEST((classify_failure(std::make_exception_ptr(PermanentError("x"))) == FailureKind::permanent));
  BOOST_TEST((classify_failure(std::make_exception_ptr(ServiceUnavailable("OMERO.web"))) == FailureKind::unavailable));
}

BOOST_AUTO_TEST_CASE(storage_faults_are_retried_for_the_total_transient_ones_for_max_attempts) {
  // Defaults: 1 s doubling to 60 s, 30 minutes in all: the shortest delays must add up to 30 min.
  const int limit = storage_retry_limit(1s, 60s, 30min);
  std::int64_t floor_ms = 0;
  Duration step = 1s;
  for (int i = 0; i + 1 < limit; ++i) {
    floor_ms += std::min<Duration>(step, 60s).count() / 2;
    step *= 2;
  }
  BOOST_TEST(floor_ms >= Duration(30min).count() - limit);  // +1 ms per step in the limit's sum
  BOOST_TEST(limit > 50);
  BOOST_TEST(limit < 80);
  BOOST_TEST(!ends_the_job(FailureKind::storage, 10, 5, limit));
  BOOST_TEST(ends_the_job(FailureKind::storage, limit - 1, 5, limit));
  BOOST_TEST(ends_the_job(FailureKind::transient, 4, 5, limit));
  BOOST_TEST(!ends_the_job(FailureKind::transient, 3, 5, limit));
  BOOST_TEST(ends_the_job(FailureKind::permanent, 0, 5, limit));
  // A service that is down (OMERO.web) never ends the job, however long it stays down.
  BOOST_TEST(!ends_the_job(FailureKind::unavailable, 1000, 5, limit));
  // A total shorter than max_attempts' retries never shortens them.
  BOOST_TEST(!ends_the_job(FailureKind::storage, 3, 5, storage_retry_limit(1s, 60s, 1ms)));
}

BOOST_AUTO_TEST_CASE(the_gate_closes_on_a_report_and_opens_when_the_folder_is_writable) {
  const auto root = std::filesystem::temp_directory_path() / ("gate-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(root);
  const auto blocker = root / "afile";
  { std::ofstream(blocker) << "not a directory"; }
  StorageGate gate(0ms);
  BOOST_TEST(gate.open());
  gate.report(blocker / "Demo", "read-only file system");
  BOOST_TEST(!gate.open());  // still a file where the folder's parent must be
  BOOST_TEST(gate.blocked().size() == 1u);
  std::filesystem::remove(blocker);
  BOOST_TEST(gate.open());
  BOOST_TEST(gate.blocked().empty());
  std::filesystem::remove_all(root);
}

BOOST_AUTO_TEST_SUITE_END()
