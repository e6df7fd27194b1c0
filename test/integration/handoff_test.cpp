// The handoff path end to end: the handoff script's module (deploy/biomero, run with the
// system python3 through its `stage` command) publishes a results zip into a spool; the
// real reactor binary takes it, archives it into .analyzed/ by moving (linking) the zip,
// submits it to the stand-in importer, and writes result.json. Real PostgreSQL, real
// files, real processes.
#include <sys/stat.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <thread>

#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

const fs::path handoff_module = fs::path(BIOMERO_TEST_FIXTURES) / "../../deploy/biomero/biomero_reactor_handoff.py";

struct Handoff {
  TestDb db;
  TempTree tree;
  fs::path spool = tree.path() / "data" / ".biomero-reactor" / "spool";
  fs::path results = tree.path() / "results";

  Handoff() { fs::create_directories(results); }

  fs::path config() {
    return write_reactor_config(tree.path(), db.conninfo(),
                                pipeline_yaml(tree.path()) +
                                    "import:\n  poll_interval: 1s\n  degraded_poll_interval: "
                                    "200ms\njobs:\n  max_attempts: 2\nhandoff:\n  spool: " +
                                    spool.string() + "\n  scan_interval: 1s\n  result_keep: 10s\n");
  }

  // A workflow in BIOMERO's event store whose SLURM job's results are to be handed off.
  SampleWorkflow workflow(const std::string& job = "1234") {
    SampleWorkflow wf;
    wf.job_ids = {job};
    wf.finished = false;
    write_workflow(db, wf);
    write_job_results(results, job);
    pad_results_zip(results / (job + "_out.zip"));
    return wf;
  }

  // What the handoff script does after the SLURM job: stage and publish. Returns the handoff id.
  std::string stage(const SampleWorkflow& wf, const std::string& job = "1234", const std::string& inputs = "{}") {
    const Uuid task = random_uuid4();
    Process p({"/usr/bin/python3",
               handoff_module.string(),
               "stage",
               "--spool",
               spool.string(),
               "--workflow",
               wf.id.str(),
               "--job",
               job,
               "--zip",
               (results / (job + "_out.zip")).string(),
               "--log",
               (results / ("omero-" + job + ".log")).string(),
               "--user-id",
               "2",
               "--user-name",
               "alice",
               "--group-id",
               "3",
               "--group-name",
               "Demo",
               "--task-id",
               task.str(),
               "--inputs",
               inputs},
              tree.path() / ("stage-" + task.hex().substr(0, 8) + ".log"));
    const auto rc = p.wait(60s);
    BOOST_REQUIRE_MESSAGE(rc && *rc == 0, "stage failed: " + p.output());
    BOOST_REQUIRE(p.output().find("BIOMERO-REACTOR-HANDOFF/1 handoff=" + task.str()) != std::string::npos);
    return task.str();
  }

  std::string job_state(const std::string& handoff) {
    return db.scalar("SELECT coalesce((SELECT state FROM biomero_reactor.jobs WHERE handoff_id = $1), 'none')",
                     pg::params(handoff));
  }
  std::int64_t jobs() { return db.count("SELECT count(*) FROM biomero_reactor.jobs"); }
  fs::path job_dir(const SampleWorkflow& wf, const std::string& job = "1234") {
    return tree.path() / "data" / "Demo" / ".analyzed" / wf.id.str() / job;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(handoff_test)

BOOST_FIXTURE_TEST_CASE(a_staged_handoff_is_imported_once_with_result_json_and_its_zip_moved, Handoff) {
  const auto cfg = config();
  auto imp = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  const SampleWorkflow wf = workflow();
  const std::string id = stage(wf, "1234", R"({"Output - Add csv files as OMERO.table": true})");
  const fs::path ready = spool / "ready" / id;
  struct stat before {};
  BOOST_REQUIRE(::stat((ready / "1234_out.zip").c_str(), &before) == 0);

  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state(id) == "imported"; }, 60s), reactor->output());
  BOOST_REQUIRE(eventually([&] { return fs::exists(ready / "result.json"); }, 20s));
  const auto result = boost::json::parse(read_file(ready / "result.json")).as_object();
  BOOST_TEST(result.at("status").as_string() == "IMPORTED");
  BOOST_TEST(result.at("handoff_id").as_string() == id);
  BOOST_TEST(std::string(result.at("message").as_string()).find("OMERO.table") != std::string::npos);

  // Moved, not copied: the job directory's zip is the spool's inode; the spool no longer has it.
  struct stat after {};
  BOOST_REQUIRE(::stat((job_dir(wf) / "1234_out.zip").c_str(), &after) == 0);
  BOOST_TEST(after.st_ino == before.st_ino);
  BOOST_TEST(!fs::exists(ready / "1234_out.zip"));
  BOOST_TEST(db.scalar("SELECT group_name || '/' || user_name FROM biomero_reactor.jobs WHERE handoff_id = $1",
                       pg::params(id)) == "Demo/alice");
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.job_history h JOIN biomero_reactor.jobs j ON j.id = "
                      "h.job_id WHERE j.handoff_id = $1 AND h.detail LIKE '%not honoured%OMERO.table%'",
                      pg::params(id)) == 1);
  // The reactor's import task in BIOMERO's event store: IMPORTING then IMPORTED.
  BOOST_TEST(db.scalar("SELECT string_agg(convert_from(state, 'UTF8')::jsonb->>'status', ',' ORDER BY id) FROM "
                       "workflowtracker_events WHERE topic = 'biomero.eventsourcing:Task.StatusUpdated' AND "
                       "originator_id <> $1",
                       pg::params(wf.task_id.str())) == "IMPORTING,IMPORTED");

  // Scans after the import find the entry finished: still one job. After result_keep it is removed.
  std::this_thread::sleep_for(2500ms);
  BOOST_TEST(jobs() == 1);
  BOOST_TEST(eventually([&] { return !fs::exists(ready); }, 30s));
  BOOST_TEST(jobs() == 1);
  BOOST_TEST(reactor->running());
}

BOOST_FIXTURE_TEST_CASE(the_users_rename_pattern_names_the_archived_images_and_the_order, Handoff) {
  const auto cfg = config();
  auto imp = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  const SampleWorkflow wf = workflow();
  const std::string id =
      stage(wf, "1234", R"({"Rename imported files?": true, "Rename": "{original_file}_seg_{{v2}}.{ext}"})");
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state(id) == "imported"; }, 60s), reactor->output());
  const fs::path out = job_dir(wf) / "1234_out" / "data" / "out";
  BOOST_TEST(fs::is_regular_file(out / "result_image_seg_{v2}.tiff"));
  BOOST_TEST(!fs::exists(out / "result_image.tiff"));
  BOOST_TEST(fs::is_regular_file(out / "measurements.csv"));  // not an image: never renamed
  BOOST_TEST(db.scalar("SELECT file_names FROM public.imports") == R"(["result_image_seg_{v2}.tiff"])");
  BOOST_TEST(read_file(job_dir(wf) / "SHA256SUMS").find("1234_out/data/out/result_image_seg_{v2}.tiff\n") !=
             std::string::npos);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.job_history h JOIN biomero_reactor.jobs j ON j.id = "
                      "h.job_id WHERE j.handoff_id = $1 AND h.detail LIKE '%1 renamed by the user''s pattern%'",
                      pg::params(id)) == 1);
}

BOOST_FIXTURE_TEST_CASE(a_second_scan_and_a_replayed_notify_make_no_second_job, Handoff) {
  const auto cfg = config();
  const SampleWorkflow wf = workflow();
  const std::string id = stage(wf);
  // No importer: the job waits as submitted, and its entry stays in ready/ without result.json.
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state(id) == "submitted"; }, 60s), reactor->output());
  db.query("SELECT pg_notify('biomero_reactor_handoff', $1)", pg::params(id));
  db.query("SELECT pg_notify('biomero_reactor_handoff', $1)", pg::params(id));
  std::this_thread::sleep_for(3s);  // three scans
  BOOST_TEST(jobs() == 1);
  BOOST_TEST(reactor->running());
}

BOOST_FIXTURE_TEST_CASE(hostile_handoffs_are_rejected_and_the_daemon_keeps_importing, Handoff) {
  const auto cfg = config();
  auto imp = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  const SampleWorkflow bad1 = workflow("111");
  const SampleWorkflow bad2 = workflow("222");
  const SampleWorkflow good = workflow("333");
  const std::string traversal = stage(bad1, "111");
  const std::string wrong_sha = stage(bad2, "222");
  // Path traversal in a file name.
  {
    const fs::path m = spool / "ready" / traversal / "manifest.json";
    auto doc = boost::json::parse(read_file(m)).as_object();
    doc["files"].as_object()["zip"].as_object()["name"] = "../../../../etc/passwd";
    fs::remove(m);
    std::ofstream(m) << boost::json::serialize(doc);
  }
  // A zip that is not what the manifest says.
  { std::ofstream(spool / "ready" / wrong_sha / "222_out.zip", std::ios::app) << "tampered"; }
  // Not a UUID: not a handoff at all; left alone.
  fs::create_directories(spool / "ready" / "not-a-uuid");
  std::ofstream(spool / "ready" / "not-a-uuid" / "manifest.json") << "{}";
  const std::string ok = stage(good, "333");

  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state(ok) == "imported"; }, 60s), reactor->output());
  BOOST_REQUIRE(eventually([&] { return fs::exists(spool / "rejected" / (wrong_sha + ".reason")); }, 20s));
  BOOST_TEST(fs::exists(spool / "rejected" / traversal / "manifest.json"));
  BOOST_TEST(read_file(spool / "rejected" / (traversal + ".reason")).find("files.zip.name") != std::string::npos);
  BOOST_TEST(read_file(spool / "rejected" / (wrong_sha + ".reason")).find("222_out.zip") != std::string::npos);
  BOOST_TEST(fs::exists(spool / "ready" / "not-a-uuid" / "manifest.json"));
  BOOST_TEST(job_state(traversal) == "none");
  BOOST_TEST(job_state(wrong_sha) == "none");
  BOOST_TEST(jobs() == 1);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.handoff_rejections") == 2);
  BOOST_TEST(reactor->running());
}

BOOST_FIXTURE_TEST_CASE(a_reactor_killed_mid_archive_imports_the_handoff_once_on_restart, Handoff) {
  const auto cfg = config();
  auto imp = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "100"});
  const SampleWorkflow wf = workflow();
  const std::string id = stage(wf);
  for (const std::string step : {"archiving", "archived"}) {
    if (job_state(id) == "imported") break;
    // One instance name throughout: a restart frees the lease its killed run held.
    auto killed = start_reactor(cfg, tree.path() / ("killed-" + step + ".log"), {"--instance", "handoff-x"},
                                {{"BIOMERO_REACTOR_TEST_STOP_AT_STEP", step}});
    BOOST_REQUIRE_EQUAL(killed->wait(60s).value_or(-1), 137);
    BOOST_REQUIRE_EQUAL(job_state(id), step);
  }
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "--instance", "handoff-x", "run", "--once"}, &out), 0);
  BOOST_TEST(job_state(id) == "imported");
  // --once waits for the handoff's result.json (wait mode reads it), not only for the job.
  BOOST_TEST(fs::exists(spool / "ready" / id / "result.json"), out);
  BOOST_TEST(jobs() == 1);
  // One order per kind, each submitted once (no second generation after the kills).
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.orders") >= 1);
  BOOST_TEST(db.count("SELECT count(DISTINCT uuid) FROM public.imports") ==
             db.count("SELECT count(*) FROM biomero_reactor.orders"));
  BOOST_TEST(db.count("SELECT max(submission) FROM biomero_reactor.orders") == 1);
  BOOST_TEST(fs::exists(job_dir(wf) / "1234_out.zip"));
  BOOST_TEST(!fs::exists(spool / "ready" / id / "1234_out.zip"));
}

BOOST_AUTO_TEST_CASE(a_first_install_on_a_database_with_history_creates_no_jobs) {
  TestDb db(false);
  TempTree tree;
  SampleWorkflow old;
  write_workflow(db, old);  // completed before the reactor was installed
  const auto cfg = write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()));
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"install-sql"}, &out), 0);
  BOOST_TEST(out.find("intake cursor set to event") != std::string::npos, out);
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out), 0);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.jobs") == 0);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.workflows") == 0);

  // --from-start takes the history deliberately.
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"install-sql", "--from-start"}, &out), 0);
  BOOST_TEST(out.find("intake cursor set to event 0") != std::string::npos, out);
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out), 0);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.workflows") == 1);
}

BOOST_AUTO_TEST_SUITE_END()
