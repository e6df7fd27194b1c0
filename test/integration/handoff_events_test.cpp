// The handoff as BIOMERO writes it, end to end. Run_Workflow creates its import task H
// (TaskCreated, TaskAdded, TaskStarted), the handoff script publishes the results into the
// spool (its module's `stage` command) and records StatusUpdated(HANDED_OFF) on H,
// Run_Workflow stores the marker message as H's TaskCompleted and ends the workflow with
// WorkflowCompleted or WorkflowFailed. The spool scan runs once an hour here, so only the
// R03 trigger's NOTIFY can make the reactor take the handoff in time. Checked: one job, the
// reactor's own import task R and the verdict event in the order docs/HANDOFF.md gives
// ("The reactor's import task and the verdict"), BIOMERO's progress view, result.json.
// A standalone handoff (its workflow not in the event store) is imported from its
// manifest alone and writes nothing into BIOMERO's event store.
#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <thread>

#include "biomero_reactor/import_task.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

const fs::path handoff_module = fs::path(BIOMERO_TEST_FIXTURES) / "../../deploy/biomero/biomero_reactor_handoff.py";

struct Event {
  std::int64_t id;
  std::string originator, topic;
  boost::json::object state;
};

struct BiomeroHandoff {
  TestDb db;
  TempTree tree;
  fs::path spool = tree.path() / "data" / ".biomero-reactor" / "spool";
  fs::path results = tree.path() / "results";
  SampleWorkflow wf;
  Uuid h = random_uuid4();  // Run_Workflow's import task: the handoff id
  boost::json::object h_input_data{{"IDs", boost::json::array{101, 102}}};
  std::string marker;

  BiomeroHandoff() { fs::create_directories(results); }

  fs::path config(const std::string& scan_interval) {
    return write_reactor_config(tree.path(), db.conninfo(),
                                pipeline_yaml(tree.path()) + "import:\n  poll_interval: 1s\n  degraded_poll_interval: "
                                                             "200ms\njobs:\n  max_attempts: 2\nhandoff:\n  spool: " +
                                    spool.string() + "\n  scan_interval: " + scan_interval +
                                    "\n  result_keep: 10s\n");
  }

  // BIOMERO's results for job 1234, padded over the handoff script's 1 KiB minimum.
  void results_for(const std::string& job) {
    write_job_results(results, job);
    pad_results_zip(results / (job + "_out.zip"));
  }

  // The handoff script's publish (its module's `stage` command); returns its stdout, the
  // message the script hands Run_Workflow.
  std::string stage(const Uuid& workflow, const std::optional<Uuid>& task, const std::string& job = "1234") {
    std::vector<std::string> argv{"/usr/bin/python3", handoff_module.string(), "stage", "--spool", spool.string(),
                                  "--workflow", workflow.str(), "--job", job, "--zip",
                                  (results / (job + "_out.zip")).string(), "--log",
                                  (results / ("omero-" + job + ".log")).string(), "--user-id", "2", "--user-name",
                                  "alice", "--group-id", "3", "--group-name", "Demo", "--inputs",
                                  R"({"Dataset_ID": 51})"};
    if (task) {
      argv.push_back("--task-id");
      argv.push_back(task->str());
    }
    Process p(argv, tree.path() / "stage.log");
    const auto rc = p.wait(60s);
    BOOST_REQUIRE_MESSAGE(rc && *rc == 0, "stage failed: " + p.output());
    BOOST_REQUIRE(p.output().rfind("BIOMERO-REACTOR-HANDOFF/1 handoff=", 0) == 0);
    return p.output();
  }

  // Run_Workflow before the import script: H created, added to the workflow, started.
  void import_task_started() {
    const std::string ev = "biomero.eventsourcing:";
    boost::json::object created{{"timestamp", typed_datetime(now_us())},
                                {"originator_topic", ev + "Task"},
                                {"workflow_id", typed_uuid(wf.id)},
                                {"task_name", "SLURM_Import_Results.py"},
                                {"task_version", "2.8.2"},
                                {"input_data", h_input_data},
                                {"params", boost::json::object{{"SLURM Job Id", "1234"},
                                                               {"workflow_uuid", wf.id.str()},
                                                               {"Completed Job", true},
                                                               {"Dataset_ID", 51}}}};
    save_events(db, {{h, std::string(topics::task_created), created}});
    save_events(db, {{wf.id, std::string(topics::task_added), boost::json::object{{"task_id", typed_uuid(h)}}}});
    save_events(db, {{h, std::string(topics::task_started), boost::json::object{}}});
  }
  void handed_off() {
    save_events(db, {{h, std::string(topics::status_updated), boost::json::object{{"status", "HANDED_OFF"}}}});
  }
  void task_completed() {
    save_events(db, {{h, std::string(topics::task_completed), boost::json::object{{"result", marker}}}});
  }
  void workflow_ended(bool completed) {
    if (completed) {
      save_events(db, {{wf.id, std::string(topics::workflow_completed), boost::json::object{}}});
    } else {
      save_events(db, {{wf.id, std::string(topics::workflow_failed),
                        boost::json::object{{"error_message", "Import script failed: job 1235 FAILED"}}}});
    }
  }

  std::string job_state() {
    return db.scalar("SELECT coalesce((SELECT state FROM biomero_reactor.jobs WHERE handoff_id = $1), 'none')",
                     pg::params(h.str()));
  }
  std::int64_t jobs() { return db.count("SELECT count(*) FROM biomero_reactor.jobs"); }

  std::vector<Event> events_after(std::int64_t id) {
    auto r = db.query(
        "SELECT id, originator_id::text, topic, convert_from(state, 'UTF8') FROM workflowtracker_events "
        "WHERE id > $1 ORDER BY id",
        pg::params(id));
    std::vector<Event> out;
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back({r.int64(i, 0), std::string(r.text(i, 1)), std::string(r.text(i, 2)),
                     boost::json::parse(r.text(i, 3)).as_object()});
    }
    return out;
  }
  std::int64_t last_event_id() { return db.count("SELECT coalesce(max(id), 0) FROM workflowtracker_events"); }

  // W's events: R's TaskAdded and BIOMERO's T in either order (how soon the reactor takes
  // the handoff decides), then the verdict, last.
  void check_workflow_events(const std::vector<Event>& events, const std::string& t, const std::string& verdict) {
    auto w = shapes(events, wf.id.str());
    BOOST_REQUIRE_EQUAL(w.size(), 3u);
    BOOST_TEST(w.back() == "WorkflowRun." + verdict);
    w.pop_back();
    std::sort(w.begin(), w.end());
    const std::vector<std::string> first{"WorkflowRun.TaskAdded", "WorkflowRun." + t};
    BOOST_TEST(w == first, boost::test_tools::per_element());
    BOOST_TEST(events.back().originator == wf.id.str());
    BOOST_TEST(events.back().id == db.count("SELECT event_id FROM biomero_reactor.verdict_events"));
  }

  // "Task.StatusUpdated(IMPORTING)", "WorkflowRun.WorkflowCompleted", ...: the short form
  // of the events of one aggregate.
  static std::vector<std::string> shapes(const std::vector<Event>& events, const std::string& originator) {
    std::vector<std::string> out;
    for (const auto& e : events) {
      if (e.originator != originator) continue;
      std::string s = e.topic.substr(topic_prefix.size());
      if (const auto* st = e.state.if_contains("status")) s += "(" + std::string(st->as_string()) + ")";
      out.push_back(s);
    }
    return out;
  }
};

// The scenario up to the verdict: the reactor started with an hourly scan, H started, the
// spool entry published, HANDED_OFF, the marker TaskCompleted, T. Returns the id of the
// last event before HANDED_OFF.
std::int64_t handoff_as_biomero_writes_it(BiomeroHandoff& f, bool t_completed, Process& reactor) {
  f.wf.job_ids = {"1234"};
  f.wf.finished = false;
  write_workflow(f.db, f.wf);
  f.db.query(
      "INSERT INTO public.biomero_workflow_progress_view (workflow_id, status, progress, \"user\", \"group\", "
      "name, start_time) VALUES ($1, 'JOB_COMPLETED', '80%', 2, 3, 'cellexpansion', now())",
      pg::params(f.wf.id.str()));
  f.results_for("1234");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return reactor.output().find("\"msg\":\"listening\"") != std::string::npos; }, 30s),
                        reactor.output());
  f.import_task_started();
  f.marker = f.stage(f.wf.id, f.h);
  BOOST_REQUIRE(f.marker.find("handoff=" + f.h.str() + " workflow=" + f.wf.id.str() + " job=1234") !=
                std::string::npos);
  // Published, but nothing in the event store says so yet: the hourly scan does not see it.
  std::this_thread::sleep_for(1500ms);
  BOOST_REQUIRE_EQUAL(f.job_state(), "none");
  const std::int64_t before = f.last_event_id();
  const auto notified = std::chrono::steady_clock::now();
  f.handed_off();
  BOOST_REQUIRE_MESSAGE(eventually([&] { return f.job_state() != "none"; }, 15s), reactor.output());
  BOOST_TEST((std::chrono::steady_clock::now() - notified < 15s));
  f.task_completed();
  f.workflow_ended(t_completed);
  return before;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(handoff_events_test)

BOOST_FIXTURE_TEST_CASE(biomeros_events_wake_the_intake_and_a_successful_import_ends_in_one_workflow_completed,
                        BiomeroHandoff) {
  const auto cfg = config("1h");
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  const std::int64_t before = handoff_as_biomero_writes_it(*this, true, *reactor);
  // No importer yet: T (WorkflowCompleted) is surely written before the import ends.
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state() == "submitted"; }, 60s), reactor->output());
  auto imp = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state() == "imported"; }, 60s), reactor->output());
  const fs::path entry = spool / "ready" / h.str();
  BOOST_REQUIRE_MESSAGE(eventually([&] { return fs::exists(entry / "result.json"); }, 20s), reactor->output());
  BOOST_REQUIRE(eventually([&] { return db.count("SELECT count(*) FROM biomero_reactor.verdict_events") == 1; }, 20s));
  std::this_thread::sleep_for(2s);  // a second verdict would come within the finisher's second

  BOOST_TEST(jobs() == 1);
  const auto events = events_after(before);
  // R: the reactor's import task, named by the handoff id and the attempt.
  const Uuid r = import_task_for(wf.id, "1234", 1, h).id;
  BOOST_TEST(r == uuid5(reactor_namespace(), "handoff/" + h.str() + "/1"));
  const std::vector<std::string> r_events{"Task.TaskCreated", "Task.TaskStarted", "Task.StatusUpdated(IMPORTING)",
                                          "Task.StatusUpdated(IMPORTED)", "Task.TaskCompleted"};
  BOOST_TEST(shapes(events, r.str()) == r_events, boost::test_tools::per_element());
  const std::vector<std::string> h_events{"Task.StatusUpdated(HANDED_OFF)", "Task.TaskCompleted"};
  BOOST_TEST(shapes(events, h.str()) == h_events, boost::test_tools::per_element());
  check_workflow_events(events, "WorkflowCompleted", "WorkflowCompleted");
  // R's TaskCreated: the contract's params and H's input_data.
  const auto first_r =
      std::find_if(events.begin(), events.end(), [&](const Event& e) { return e.originator == r.str(); });
  BOOST_REQUIRE(first_r != events.end());
  const Event& created = *first_r;
  BOOST_TEST(created.state.at("task_name").as_string() == "SLURM_Import_Results.py");
  BOOST_TEST(std::string(created.state.at("task_version").as_string()).rfind("biomero-reactor ", 0) == 0);
  BOOST_TEST(boost::json::serialize(created.state.at("input_data")) == boost::json::serialize(h_input_data));
  const boost::json::object params{
      {"Imported_By", "biomero-reactor"}, {"Handoff_Task_ID", h.str()}, {"SLURM Job Id", "1234"}, {"Attempt", 1}};
  BOOST_TEST(boost::json::serialize(created.state.at("params")) == boost::json::serialize(params));
  BOOST_TEST(db.scalar("SELECT import_task_id::text FROM biomero_reactor.jobs") == r.str());
  // BIOMERO's progress view ends on DONE.
  BOOST_TEST(db.scalar("SELECT status || ' ' || progress FROM public.biomero_workflow_progress_view "
                       "WHERE workflow_id = $1",
                       pg::params(wf.id.str())) == "DONE 100%");
  // The WorkflowCompleted makes no second job and is not "already imported".
  BOOST_TEST(db.scalar("SELECT coalesce(reason, '') FROM biomero_reactor.workflows WHERE workflow_id = $1",
                       pg::params(wf.id.str()))
                 .find("handed off") != std::string::npos);

  // status: the intake cursor against the event store's head, and no handoff left open.
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"status", "--json"}, &out), 0);
  const auto status = boost::json::parse(out).as_object();
  BOOST_TEST(status.at("event_store_head").as_int64() == last_event_id());
  BOOST_TEST(status.at("intake_cursor").as_int64() <= status.at("event_store_head").as_int64());
  BOOST_TEST(status.at("intake_cursor").as_int64() > before);
  BOOST_TEST(status.at("handoffs_open").as_int64() == 0);
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"status"}, &out), 0);
  BOOST_TEST(out.find(" behind)") != std::string::npos, out);

  const auto result = boost::json::parse(read_file(entry / "result.json")).as_object();
  BOOST_TEST(result.at("schema").as_string() == "biomero-reactor/handoff-result@1");
  BOOST_TEST(result.at("handoff_id").as_string() == h.str());
  BOOST_TEST(result.at("reactor_task_id").as_string() == r.str());
  BOOST_TEST(result.at("status").as_string() == "IMPORTED");
  BOOST_TEST(std::string(result.at("message").as_string()).find("SLURM job 1234") != std::string::npos);
  BOOST_TEST(!std::string(result.at("finished_at").as_string()).empty());
  BOOST_TEST(reactor->running());
}

BOOST_FIXTURE_TEST_CASE(a_failed_import_after_workflow_completed_ends_the_workflow_failed, BiomeroHandoff) {
  const auto cfg = config("1h");
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  const std::int64_t before = handoff_as_biomero_writes_it(*this, true, *reactor);
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state() == "submitted"; }, 60s), reactor->output());
  auto imp = start_standin_importer(db.conninfo(), tree.path() / "importer.log",
                                    {"--interval", "200", "--fail", "disk quota exceeded"});
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state() == "failed"; }, 60s), reactor->output());
  const fs::path entry = spool / "ready" / h.str();
  BOOST_REQUIRE(eventually([&] { return fs::exists(entry / "result.json"); }, 20s));
  BOOST_REQUIRE(eventually([&] { return db.count("SELECT count(*) FROM biomero_reactor.verdict_events") == 1; }, 20s));
  std::this_thread::sleep_for(2s);

  const auto events = events_after(before);
  const Uuid r = import_task_for(wf.id, "1234", 1, h).id;
  const std::vector<std::string> r_events{"Task.TaskCreated", "Task.TaskStarted", "Task.StatusUpdated(IMPORTING)",
                                          "Task.StatusUpdated(IMPORT_FAILED)", "Task.TaskFailed"};
  BOOST_TEST(shapes(events, r.str()) == r_events, boost::test_tools::per_element());
  check_workflow_events(events, "WorkflowCompleted", "WorkflowFailed");
  const std::string verdict_message(events.back().state.at("error_message").as_string());
  BOOST_TEST(verdict_message.rfind("Import failed: ", 0) == 0, verdict_message);
  BOOST_TEST(verdict_message.find("disk quota exceeded") != std::string::npos, verdict_message);
  BOOST_TEST(db.scalar("SELECT status FROM public.biomero_workflow_progress_view WHERE workflow_id = $1",
                       pg::params(wf.id.str())) == "FAILED");
  const auto result = boost::json::parse(read_file(entry / "result.json")).as_object();
  BOOST_TEST(result.at("status").as_string() == "IMPORT_FAILED");
  BOOST_TEST(result.at("reactor_task_id").as_string() == r.str());
  BOOST_TEST(std::string(result.at("message").as_string()).find("disk quota exceeded") != std::string::npos);
  BOOST_TEST(jobs() == 1);
}

BOOST_FIXTURE_TEST_CASE(a_workflow_that_another_job_failed_keeps_its_failure_after_a_successful_import,
                        BiomeroHandoff) {
  const auto cfg = config("1h");
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  const std::int64_t before = handoff_as_biomero_writes_it(*this, false, *reactor);
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state() == "submitted"; }, 60s), reactor->output());
  auto imp = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state() == "imported"; }, 60s), reactor->output());
  BOOST_REQUIRE(eventually([&] { return db.count("SELECT count(*) FROM biomero_reactor.verdict_events") == 1; }, 20s));
  std::this_thread::sleep_for(2s);
  const auto events = events_after(before);
  check_workflow_events(events, "WorkflowFailed", "WorkflowFailed");
  BOOST_TEST(events.back().state.at("error_message").as_string() == "Import script failed: job 1235 FAILED");
  BOOST_TEST(jobs() == 1);
}

BOOST_FIXTURE_TEST_CASE(a_standalone_handoff_is_imported_from_its_manifest_and_writes_no_events, BiomeroHandoff) {
  const auto cfg = config("1s");
  auto imp = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  results_for("777");
  const Uuid workflow = random_uuid4();  // never written to the event store
  const std::string message = stage(workflow, std::nullopt, "777");
  const std::string id = message.substr(std::string("BIOMERO-REACTOR-HANDOFF/1 handoff=").size(), 36);
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  const auto state = [&] {
    return db.scalar("SELECT coalesce((SELECT state FROM biomero_reactor.jobs WHERE handoff_id = $1), 'none')",
                     pg::params(id));
  };
  BOOST_REQUIRE_MESSAGE(eventually([&] { return state() == "imported"; }, 60s),
                        reactor->output() + " job: " +
                            db.scalar("SELECT coalesce(error, '') FROM biomero_reactor.jobs"));
  const fs::path entry = spool / "ready" / id;
  BOOST_REQUIRE(eventually([&] { return fs::exists(entry / "result.json"); }, 20s));
  BOOST_TEST(boost::json::parse(read_file(entry / "result.json")).as_object().at("status").as_string() == "IMPORTED");
  BOOST_TEST(fs::exists(tree.path() / "data" / "Demo" / ".analyzed" / workflow.str() / "777" / "777_out.zip"));
  BOOST_TEST(db.scalar("SELECT workflow_id::text || ' ' || user_name || ' ' || group_name FROM biomero_reactor.jobs") ==
             workflow.str() + " alice Demo");
  // BIOMERO has no such workflow: the reactor writes no task or verdict for it.
  std::this_thread::sleep_for(2s);
  BOOST_TEST(db.count("SELECT count(*) FROM workflowtracker_events") == 0);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.verdict_events") == 0);
  BOOST_TEST(jobs() == 1);
  BOOST_TEST(reactor->running());
}

BOOST_AUTO_TEST_SUITE_END()
