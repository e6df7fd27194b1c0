// The mission's main path against a real PostgreSQL, real files and the stand-in
// BIOMERO.importer: a completed workflow ends as images imported in place and IMPORTED
// (or IMPORT_FAILED with the reason) in BIOMERO's event store.
#include <boost/test/unit_test.hpp>

#include "biomero_reactor/event_codec.hpp"
#include "biomero_reactor/workflow.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

struct Flow {
  TestDb db;
  TempTree tree;
  fs::path results = tree.path() / "results";
  fs::path data = tree.path() / "data";

  fs::path config(const std::string& import_section = "import:\n  degraded_poll_interval: 200ms\n") {
    return write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()) + import_section);
  }

  SampleWorkflow completed_workflow(std::vector<std::string> jobs = {"1234"}) {
    SampleWorkflow wf;
    wf.job_ids = std::move(jobs);
    write_completed_workflow(db, results, wf);
    return wf;
  }

  std::string job_state(const Uuid& wf) {
    return db.scalar(
        "SELECT string_agg(state, ',' ORDER BY slurm_job_id) FROM biomero_reactor.jobs WHERE workflow_id = $1",
        pg::params(wf.str()));
  }

  // The statuses of the reactor's import task, decoded with the one codec.
  std::vector<std::string> import_statuses(const Uuid& wf_id) {
    const std::vector<StoredEvent> events = db.events();
    const Workflow all = decode_workflow(wf_id, events);
    std::vector<std::string> statuses;
    for (const auto& t : all.tasks) {
      if (t.name != "SLURM_Import_Results.py") continue;
      for (const auto& e : events) {
        if (e.originator_id == t.id && e.topic == topics::status_updated) {
          statuses.emplace_back(decode_state(e.state).at("status").as_string());
        }
        if (e.originator_id == t.id && e.topic == topics::task_failed) {
          statuses.push_back("TaskFailed: " + std::string(decode_state(e.state).at("error_message").as_string()));
        }
        if (e.originator_id == t.id && e.topic == topics::task_completed) statuses.emplace_back("TaskCompleted");
      }
    }
    return statuses;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(import_flow_test)

BOOST_FIXTURE_TEST_CASE(a_completed_workflow_ends_imported_in_place_with_one_order, Flow) {
  const auto cfg = config();
  auto importer = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  const SampleWorkflow wf = completed_workflow();
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out), 0);
  BOOST_TEST(job_state(wf.id) == "imported");

  const fs::path job_dir = data / "Demo" / ".analyzed" / wf.id.str() / "1234";
  BOOST_TEST(fs::is_regular_file(job_dir / "1234_out.zip"));
  BOOST_TEST(fs::is_regular_file(job_dir / "omero-1234.log"));
  BOOST_TEST(fs::is_regular_file(job_dir / "1234_out" / "metadata.csv"));
  BOOST_TEST(fs::is_regular_file(job_dir / "1234_out" / "data" / "out" / "result_image.tiff"));
  BOOST_TEST(read_file(job_dir / "1234_out" / "metadata.csv").find("Workflow_ID," + wf.id.str()) != std::string::npos);

  // Exactly one order, pointing at the archived image, completed by the importer.
  BOOST_TEST(db.count("SELECT count(DISTINCT uuid) FROM public.imports") == 1);
  auto order = db.query(
      "SELECT files, destination_type, destination_id, group_name, user_name, \"timestamp\" IS NOT NULL "
      "FROM public.imports WHERE stage = 'Import Pending'");
  BOOST_REQUIRE_EQUAL(order.rows(), 1);
  BOOST_TEST(std::string(order.text(0, 0)) ==
             "[\"" + (job_dir / "1234_out" / "data" / "out" / "result_image.tiff").string() + "\"]");
  BOOST_TEST(order.text(0, 1) == "Dataset");
  BOOST_TEST(order.text(0, 2) == "51");
  BOOST_TEST(order.text(0, 3) == "Demo");
  BOOST_TEST(order.text(0, 4) == "alice");
  BOOST_TEST(order.boolean(0, 5));

  const std::vector<std::string> expected{"IMPORTING", "IMPORTED", "TaskCompleted"};
  BOOST_TEST(import_statuses(wf.id) == expected, boost::test_tools::per_element());
  // Versions grow by exactly one per aggregate (the codec's decoder checks it too).
  BOOST_TEST(db.count("SELECT count(*) FROM (SELECT originator_id, max(originator_version) + 1 = count(*) AS ok "
                      "FROM workflowtracker_events GROUP BY originator_id) v WHERE NOT ok") == 0);
  BOOST_TEST(
      db.scalar("SELECT status || ' ' || progress FROM public.biomero_workflow_progress_view WHERE workflow_id = $1",
                pg::params(wf.id.str())) == "IMPORTED 90%");
  BOOST_TEST(
      db.scalar("SELECT status FROM public.biomero_task_execution WHERE task_name = 'SLURM_Import_Results.py'") ==
      "IMPORTED");
}

BOOST_FIXTURE_TEST_CASE(an_importer_failure_is_reported_as_import_failed_with_its_description, Flow) {
  const auto cfg = config();
  auto importer = start_standin_importer(db.conninfo(), tree.path() / "importer.log",
                                         {"--interval", "200", "--fail", "Bio-Formats cannot read result_image.tiff"});
  const SampleWorkflow wf = completed_workflow();
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_state(wf.id) == "failed");
  const std::vector<std::string> expected{"IMPORTING", "IMPORT_FAILED",
                                          "TaskFailed: Import failed: Bio-Formats cannot read result_image.tiff"};
  BOOST_TEST(import_statuses(wf.id) == expected, boost::test_tools::per_element());
  BOOST_TEST(db.scalar("SELECT status FROM public.biomero_workflow_progress_view WHERE workflow_id = $1",
                       pg::params(wf.id.str())) == "IMPORT_FAILED");
}

BOOST_FIXTURE_TEST_CASE(a_hung_importer_gives_import_failed_at_the_deadline, Flow) {
  const auto cfg = config("import:\n  degraded_poll_interval: 200ms\n  poll_interval: 500ms\n  timeout: 3s\n");
  auto importer = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200", "--hang"});
  const SampleWorkflow wf = completed_workflow();
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_state(wf.id) == "failed");
  const auto statuses = import_statuses(wf.id);
  BOOST_REQUIRE_EQUAL(statuses.size(), 3U);
  BOOST_TEST(statuses[1] == "IMPORT_FAILED");
  BOOST_TEST(statuses[2].find("no result from BIOMERO.importer within 3s (last stage: Import Started)") !=
             std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(without_the_imports_trigger_the_job_still_completes_by_polling, Flow) {
  db.script(
      "DROP TRIGGER biomero_reactor_import_inserted ON public.imports;"
      "DROP TRIGGER biomero_reactor_import_stage_changed ON public.imports");
  const auto cfg = config();
  auto importer = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  const SampleWorkflow wf = completed_workflow();
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out), 0);
  BOOST_TEST(job_state(wf.id) == "imported");
  BOOST_TEST(out.find("trigger not installed; polling instead") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(a_restarted_importers_null_description_failure_is_resubmitted_and_succeeds, Flow) {
  const auto cfg = config();
  auto hung = start_standin_importer(db.conninfo(), tree.path() / "importer1.log", {"--interval", "200", "--hang"});
  const SampleWorkflow wf = completed_workflow();
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log", {"--once"});
  BOOST_REQUIRE(
      eventually([&] { return db.count("SELECT count(*) FROM public.imports WHERE stage = 'Import Started'") == 1; }));
  hung.reset();  // the importer dies mid-import; its replacement fails open orders without a description
  auto restarted = start_standin_importer(db.conninfo(), tree.path() / "importer2.log",
                                          {"--interval", "200", "--fail-open-orders-on-start"});
  BOOST_REQUIRE_EQUAL(reactor->wait(60s).value_or(-1), 0);
  BOOST_TEST(job_state(wf.id) == "imported");
  BOOST_TEST(db.count("SELECT count(DISTINCT uuid) FROM public.imports") == 2);
  BOOST_TEST(db.count("SELECT submission FROM biomero_reactor.jobs") == 2);
  const std::vector<std::string> expected{"IMPORTING", "IMPORTED", "TaskCompleted"};
  BOOST_TEST(import_statuses(wf.id) == expected, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(replay_imports_a_workflow_again_as_the_next_attempt, Flow) {
  const auto cfg = config();
  auto importer = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  const SampleWorkflow wf = completed_workflow();
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"replay", wf.id.str()}, &out), 0);
  BOOST_TEST(out.find("replaying 1 job(s)") != std::string::npos);
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_state(wf.id) == "imported");
  BOOST_TEST(db.scalar("SELECT attempt FROM biomero_reactor.jobs") == "2");
  BOOST_TEST(db.count("SELECT count(DISTINCT uuid) FROM public.imports") == 2);
  const std::vector<std::string> expected{"IMPORTING", "IMPORTED", "TaskCompleted",
                                          "IMPORTING", "IMPORTED", "TaskCompleted"};
  BOOST_TEST(import_statuses(wf.id) == expected, boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"status", "--json"}, &out), 0);
  BOOST_TEST(out.find("\"attempt\":2") != std::string::npos);
  BOOST_TEST(out.find("imported > pending > started") != std::string::npos);
  BOOST_TEST(run_reactor(cfg, {"replay", "../etc"}, &out) == 2);
}

// NL-BIOMERO may keep BIOMERO.importer's tracking table in a database of its own
// (INGEST_TRACKING_DB_URL): orders go there and its NOTIFY comes from there.
BOOST_FIXTURE_TEST_CASE(with_the_importer_in_its_own_database_orders_and_their_notify_come_from_there, Flow) {
  TestDb importer_db(false);
  // Each database keeps only its own side, so a query sent to the wrong one fails.
  db.script("DROP TABLE public.imports CASCADE");
  importer_db.script("DROP TABLE public.workflowtracker_events CASCADE");
  // The backstop poll is an hour away: the job can only finish through the importer
  // database's NOTIFY.
  const auto cfg =
      write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()) + "import:\n  poll_interval: 1h\n",
                           importer_db.conninfo());
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"install-sql"}, &out), 0);
  BOOST_TEST_MESSAGE(out);
  BOOST_TEST(importer_db.count("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'biomero_reactor_import%'") == 2);

  auto importer = start_standin_importer(importer_db.conninfo(), tree.path() / "importer.log", {"--interval", "100"});
  const SampleWorkflow wf = completed_workflow();
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log", {"--once"});
  BOOST_REQUIRE_EQUAL(reactor->wait(60s).value_or(-1), 0);
  BOOST_TEST(job_state(wf.id) == "imported");
  BOOST_TEST(importer_db.count("SELECT count(*) FROM public.imports WHERE stage = 'Import Completed'") == 1);
  const std::vector<std::string> expected{"IMPORTING", "IMPORTED", "TaskCompleted"};
  BOOST_TEST(import_statuses(wf.id) == expected, boost::test_tools::per_element());
  BOOST_TEST(reactor->output().find("\"import_notifications\":true") != std::string::npos);
  BOOST_TEST(reactor->output().find("notifications unavailable") == std::string::npos);  // never fell back to polling
}

BOOST_AUTO_TEST_SUITE_END()
