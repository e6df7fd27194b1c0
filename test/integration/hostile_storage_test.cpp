// Storage that refuses writes for a while (a full disk, a read-only remount, a lost
// permission) must not fail jobs: they wait, and go on once the storage takes writes again.
// Tests run as root, where permission bits stop nothing: a read-only bind mount of the
// group folder gives the real EROFS.
#include <sys/mount.h>

#include <boost/test/unit_test.hpp>
#include <csignal>
#include <thread>

#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

// `dir` bind-mounted read-only onto itself until writable() or the end of the scope.
class ReadOnlyBind {
 public:
  explicit ReadOnlyBind(fs::path dir) : dir_(std::move(dir)) {
    if (::mount(dir_.c_str(), dir_.c_str(), nullptr, MS_BIND, nullptr) != 0) return;
    mounted_ = true;
    if (::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) writable();
  }
  ~ReadOnlyBind() { writable(); }
  ReadOnlyBind(const ReadOnlyBind&) = delete;
  ReadOnlyBind& operator=(const ReadOnlyBind&) = delete;
  [[nodiscard]] bool active() const { return mounted_; }
  void writable() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    mounted_ = false;
  }

 private:
  fs::path dir_;
  bool mounted_ = false;
};

std::string state(TestDb& db) {
  return db.scalar("SELECT string_agg(state, ',') FROM biomero_reactor.jobs");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_storage_test)

// Item 7: with jobs.max_attempts = 2 a read-only group folder once failed the job in about
// a second. Now it is a storage fault: the job waits (no new job is claimed meanwhile)
// and is imported once the folder is writable again.
BOOST_AUTO_TEST_CASE(a_read_only_group_folder_delays_the_job_instead_of_failing_it) {
  TestDb db;
  TempTree tree;
  const fs::path group = tree.path() / "data" / "Demo";
  fs::create_directories(group);
  ReadOnlyBind ro(group);
  if (!ro.active()) {
    BOOST_TEST_MESSAGE("cannot bind-mount here (no CAP_SYS_ADMIN): skipped");
    return;
  }
  const fs::path config = write_reactor_config(
      tree.path(), db.conninfo(),
      pipeline_yaml(tree.path()) +
          "import:\n  degraded_poll_interval: 200ms\njobs:\n  max_attempts: 2\n  retry_initial: 100ms\n  retry_max: 500ms\n");
  auto importer = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  SampleWorkflow wf;
  write_completed_workflow(db, tree.path() / "results", wf);
  BOOST_REQUIRE_MESSAGE(eventually([&] {
                          return reactor->output().find("storage not writable") != std::string::npos;
                        }),
                        reactor->output());
  std::this_thread::sleep_for(3s);  // max_attempts' retries would all be spent by now
  BOOST_TEST(state(db) != "failed", reactor->output());
  BOOST_TEST(db.scalar("SELECT error FROM biomero_reactor.jobs").find("Read-only file system") != std::string::npos);
  BOOST_TEST(db.count("SELECT count(*) FROM public.imports") == 0);

  ro.writable();
  BOOST_TEST(eventually([&] { return state(db) == "imported"; }), reactor->output());
  BOOST_TEST(reactor->output().find("storage writable again") != std::string::npos);
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
