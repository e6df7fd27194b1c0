// The pipeline with OMERO.web configured, against a real PostgreSQL, the reactor as a
// real process and the OMERO.web stand-in serving HTTP on loopback: names come from
// OMERO.web, the destination dataset is found or created as the user and recorded before
// the order, and after the import the workflow annotations are on the imported images.
// The importer's side in OMERO (images with the order's uuid) is played by a thread here
// (StandinImporter, test/support).
#include <signal.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <fstream>
#include <boost/test/unit_test.hpp>
#include <set>
#include <thread>

#include "biomero_reactor/archive.hpp"
#include "omero_importer_standin.hpp"
#include "omero_web_standin.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

constexpr std::string_view admin_password = "s3cret-Adm1n-pw";

struct OmeroFlow {
  TestDb db;
  TempTree tree;
  OmeroWebStandin web;
  std::int64_t lab = web.add_group("Demo");
  std::int64_t root = web.add_user("root", std::string(admin_password), true, {lab});
  std::int64_t alice = web.add_user("alice", "alice-pw", false, {lab});
  fs::path results = tree.path() / "results";
  // omero.annotation_retry: short, so a failure is given up soon; a test that needs a
  // retry raises it, so the retry is not given up on a loaded host.
  std::string annotation_retry = "2s";

  // What a test changes in the config; each string is appended to its section.
  struct Settings {
    std::string username = "root";
    std::string password{admin_password};
    std::string omero;  // e.g. "  attach_log: true\n"
    std::string jobs;   // e.g. "  lease: 5s\n"
    std::string more;   // whole sections
  };

  // The shared pipeline sections without the names tables and the default destination.
  fs::path config(const std::string& password = std::string(admin_password), const std::string& more = "") {
    Settings s;
    s.password = password;
    s.more = more;
    return config(s);
  }

  fs::path config(const Settings& s) {
    std::string yaml = pipeline_yaml(tree.path());
    yaml = yaml.substr(0, yaml.find("names:\n"));
    const fs::path pw = tree.write("omero-password", s.password + "\n");
    yaml += "omero:\n  web:\n    url: " + web.url() + "\n    username: " + s.username +
            "\n    password_file: " + pw.string() + "\n    timeout: 5s\n  annotation_retry: " + annotation_retry +
            "\n" + s.omero;
    yaml += "import:\n  degraded_poll_interval: 200ms\n";
    yaml += "jobs:\n  retry_initial: 100ms\n  retry_max: 400ms\n  max_attempts: 2\n" + s.jobs;
    return write_reactor_config(tree.path(), db.conninfo(), yaml + s.more);
  }

  // Names from the config tables and an explicit Dataset_ID: only the annotations (and
  // the log upload) need OMERO.web, so its requests can be counted and faulted exactly.
  std::string names_tables() const {
    return "names:\n  users: {" + std::to_string(alice) + ": alice}\n  groups: {" + std::to_string(lab) + ": Demo}\n";
  }

  SampleWorkflow completed_workflow(boost::json::object params = {{"alpha", 1}}) {
    SampleWorkflow wf;
    wf.user = alice;
    wf.group = lab;
    wf.params = std::move(params);
    write_completed_workflow(db, results, wf);
    return wf;
  }

  std::string job_column(const Uuid& wf, const std::string& column) {
    return db.scalar("SELECT coalesce(" + column + "::text, '') FROM biomero_reactor.jobs WHERE workflow_id = $1",
                     pg::params(wf.str()));
  }

  std::vector<OmeroWebStandin::Object> datasets_named(const std::string& name) {
    std::vector<OmeroWebStandin::Object> out;
    for (const auto& d : web.objects("dataset")) {
      if (d.name == name) out.push_back(d);
    }
    return out;
  }

  std::vector<OmeroWebStandin::Object> images_in(std::int64_t dataset) {
    std::vector<OmeroWebStandin::Object> out;
    for (const auto& i : web.objects("image")) {
      if (i.parent == dataset) out.push_back(i);
    }
    return out;
  }

  // Namespaces of the map annotations on an image, other than the importer's.
  std::multiset<std::string> workflow_namespaces(std::int64_t image) {
    std::multiset<std::string> out;
    for (const auto& a : web.annotations_on("image", image)) {
      if (a.kind == "map" && a.ns != "biomero.import") out.insert(a.ns);
    }
    return out;
  }

  std::string value_on(std::int64_t image, const std::string& ns, const std::string& key) {
    for (const auto& a : web.annotations_on("image", image)) {
      if (a.ns != ns) continue;
      for (const auto& [k, v] : a.values) {
        if (k == key) return v;
      }
    }
    return "<absent>";
  }

  std::vector<OmeroWebStandin::Annotation> file_annotations_on(std::int64_t dataset) {
    std::vector<OmeroWebStandin::Annotation> out;
    for (const auto& a : web.annotations_on("dataset", dataset)) {
      if (a.kind == "file") out.push_back(a);
    }
    return out;
  }

  std::int64_t history_count(const std::string& detail_like) {
    return db.count("SELECT count(*) FROM biomero_reactor.job_history WHERE detail LIKE $1", pg::params(detail_like));
  }

  // A reactor started with start_reactor, asked to stop as systemd would.
  static void stop(Process& reactor) {
    reactor.signal(SIGTERM);
    BOOST_TEST(reactor.wait(30s).value_or(-1) == 0, reactor.output());
  }
};

const std::multiset<std::string> expected_namespaces{"biomero/workflow", "biomero/workflow/task/cellexpansion",
                                                     "biomero/workflow/task/cellexpansion/job",
                                                     "biomero/workflow/task/SLURM_Get_Results.py"};

}  // namespace

BOOST_AUTO_TEST_SUITE(omero_flow_test)

BOOST_FIXTURE_TEST_CASE(a_workflow_gets_a_user_owned_dataset_and_its_images_carry_the_annotations, OmeroFlow) {
  const auto cfg = config();
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow();
  std::string out;
  const int code = run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out);
  BOOST_REQUIRE_MESSAGE(code == 0, out);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "done");

  // Names from OMERO.web (the config tables are empty), a new dataset owned by alice.
  const auto datasets = datasets_named("Imported_Results");
  BOOST_REQUIRE_EQUAL(datasets.size(), 1U);
  BOOST_TEST(datasets[0].owner == alice);
  BOOST_TEST(datasets[0].group == lab);
  BOOST_TEST(datasets[0].description == "Images from SLURM job 1234 (Workflow " + wf.id.str() + ")");
  BOOST_TEST(job_column(wf.id, "destination_id") == std::to_string(datasets[0].id));
  auto order = db.query(
      "SELECT destination_type, destination_id, group_name, user_name FROM public.imports "
      "WHERE stage = 'Import Pending'");
  BOOST_REQUIRE_EQUAL(order.rows(), 1);
  BOOST_TEST(order.text(0, 0) == "Dataset");
  BOOST_TEST(order.text(0, 1) == std::to_string(datasets[0].id));
  BOOST_TEST(order.text(0, 2) == "Demo");
  BOOST_TEST(order.text(0, 3) == "alice");

  // Every imported image carries the three levels once, owned by alice, with BIOMERO's values.
  const auto images = images_in(datasets[0].id);
  BOOST_REQUIRE_EQUAL(images.size(), 1U);
  BOOST_TEST(workflow_namespaces(images[0].id) == expected_namespaces, boost::test_tools::per_element());
  for (const auto& a : web.annotations_on("image", images[0].id)) BOOST_TEST(a.owner == alice);
  BOOST_TEST(value_on(images[0].id, "biomero/workflow", "Workflow_ID") == wf.id.str());
  BOOST_TEST(value_on(images[0].id, "biomero/workflow", "Version") == "1.0.1");
  BOOST_TEST(value_on(images[0].id, "biomero/workflow/task/cellexpansion/job", "Job_ID") == "1234");
  BOOST_TEST(value_on(images[0].id, "biomero/workflow/task/SLURM_Get_Results.py", "Status") == "IMPORTING");
  BOOST_TEST(value_on(images[0].id, "biomero/workflow/task/SLURM_Get_Results.py", "Input_Data") ==
             "{'IDs': [101, 102]}");
  BOOST_TEST(out.find(admin_password) == std::string::npos);

  // A second workflow of the same user reuses the dataset by name.
  const SampleWorkflow second = completed_workflow();
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(second.id, "state") == "imported");
  BOOST_TEST(datasets_named("Imported_Results").size() == 1U);
  BOOST_TEST(job_column(second.id, "destination_id") == std::to_string(datasets[0].id));
  // The first run's image was not annotated again: the second run's uuid is not on it.
  BOOST_TEST(workflow_namespaces(images[0].id) == expected_namespaces, boost::test_tools::per_element());
  BOOST_TEST(value_on(images[0].id, "biomero/workflow", "Workflow_ID") == wf.id.str());
}

BOOST_FIXTURE_TEST_CASE(the_named_dataset_of_the_output_settings_is_reused_and_decoys_stay_untouched, OmeroFlow) {
  const auto existing = web.add_container("dataset", "My results", alice, lab);
  const auto decoy = web.add_child("image", existing, "earlier.tiff");
  web.add_map_annotation("image", decoy, "biomero.import", {{"UUID", "11111111-2222-3333-4444-555555555555"}}, alice);
  const auto cfg = config();
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf =
      completed_workflow({{"Output - Add as new images in NEW dataset", true}, {"New Dataset", "My results"}});
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "destination_id") == std::to_string(existing));
  BOOST_TEST(datasets_named("My results").size() == 1U);
  BOOST_TEST(workflow_namespaces(decoy).empty());
  for (const auto& image : images_in(existing)) {
    if (image.id != decoy) BOOST_TEST(workflow_namespaces(image.id) == expected_namespaces);
  }
}

BOOST_FIXTURE_TEST_CASE(omero_web_down_while_resolving_names_makes_the_job_wait_not_fail, OmeroFlow) {
  // Far more failures than jobs.max_attempts (2) allows for other errors.
  web.inject("", "/", OmeroWebStandin::Fault::status_503, 12);
  const auto cfg = config();
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow();
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "done");
  BOOST_TEST(web.requests("", "/") > 12U);
  BOOST_TEST(datasets_named("Imported_Results").size() == 1U);
}

BOOST_FIXTURE_TEST_CASE(a_crash_after_creating_the_dataset_creates_no_second_one, OmeroFlow) {
  const auto cfg = config();
  const SampleWorkflow wf = completed_workflow();
  auto first = start_reactor(cfg, tree.path() / "first.log", {"--once"},
                             {{"BIOMERO_REACTOR_TEST_STOP_AT_STEP", "omero_container_resolved"}});
  BOOST_REQUIRE(first->wait(std::chrono::seconds(60)) == 137);
  BOOST_REQUIRE_EQUAL(datasets_named("Imported_Results").size(), 1U);
  BOOST_TEST(job_column(wf.id, "destination_id").empty());
  BOOST_TEST(db.count("SELECT count(*) FROM public.imports") == 0);

  StandinImporter importer(db, web, alice);
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  const auto datasets = datasets_named("Imported_Results");
  BOOST_REQUIRE_EQUAL(datasets.size(), 1U);
  BOOST_TEST(job_column(wf.id, "destination_id") == std::to_string(datasets[0].id));
}

BOOST_FIXTURE_TEST_CASE(bad_credentials_leave_the_job_imported_with_the_annotation_failure_reported, OmeroFlow) {
  // Names from the config tables and an explicit Dataset_ID: only the annotations need OMERO.web.
  const auto dataset = web.add_container("dataset", "given", alice, lab);
  const std::string wrong = "not-the-Adm1n-pw";
  const auto cfg = config(wrong, "names:\n  users: {" + std::to_string(alice) + ": alice}\n  groups: {" +
                                     std::to_string(lab) + ": Demo}\n");
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow({{"Dataset_ID", dataset}});
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out), 0);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "given_up");
  BOOST_TEST(job_column(wf.id, "annotation_error").find("OMERO.web login as root") != std::string::npos);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.job_history WHERE detail LIKE 'annotations given up:%'") ==
             1);
  BOOST_TEST(out.find("OMERO annotations given up") != std::string::npos);

  // The password is in no log line, no error, no check or status output.
  std::string check, status;
  run_reactor(cfg, {"check"}, &check);
  run_reactor(cfg, {"status"}, &status);
  for (const std::string* text : {&out, &check, &status}) BOOST_TEST(text->find(wrong) == std::string::npos);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE error LIKE '%' || $1 || '%' "
                      "OR annotation_error LIKE '%' || $1 || '%'",
                      pg::params(wrong)) == 0);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.job_history WHERE detail LIKE '%' || $1 || '%'",
                      pg::params(wrong)) == 0);
}

// The Done-when cases of the annotation step. Each uses names from the config tables and an
// explicit Dataset_ID, so the only OMERO.web traffic is the annotation step's and the
// request counts below are exact. With one result image and BIOMERO's four sets, a clean
// run writes with four annotate_map requests, in the order of expected_namespaces' levels:
// workflow, task, job, import task.

BOOST_FIXTURE_TEST_CASE(a_502_after_a_committed_write_is_retried_without_a_second_set, OmeroFlow) {
  annotation_retry = "60s";  // the retry must not be given up on a loaded host
  const auto dataset = web.add_container("dataset", "given", alice, lab);
  Settings s;
  s.more = names_tables();
  const auto cfg = config(s);
  // The second write (the first task's namespace) commits in OMERO, then the proxy answers 502.
  web.inject("POST", "/webclient/annotate_map/", OmeroWebStandin::Fault::status_502_after, 1, 1);
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow({{"Dataset_ID", dataset}});
  // Not --once: that stops once every job was tried, and this one needs a second try.
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  const bool done = eventually([&] { return job_column(wf.id, "annotation_state") == "done"; }, 60s);
  stop(*reactor);
  BOOST_REQUIRE_MESSAGE(done, reactor->output());

  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_attempts") == "2");
  BOOST_TEST(history_count("annotations failed, retrying: %502%") == 1);
  // The retry found both committed sets and wrote only the other two.
  BOOST_TEST(history_count("annotations: 1 objects, 2 written, 2 already present") == 1);
  BOOST_TEST(web.requests("POST", "/webclient/annotate_map/") == 4U);
  const auto images = images_in(dataset);
  BOOST_REQUIRE_EQUAL(images.size(), 1U);
  BOOST_TEST(workflow_namespaces(images[0].id) == expected_namespaces, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(an_su_session_expiring_between_two_writes_is_renewed_without_a_second_set, OmeroFlow) {
  const auto dataset = web.add_container("dataset", "given", alice, lab);
  Settings s;
  s.more = names_tables();
  const auto cfg = config(s);
  // Every OMERO session ends right after the first write was answered.
  web.inject("POST", "/webclient/annotate_map/", OmeroWebStandin::Fault::expire_sessions_after);
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow({{"Dataset_ID", dataset}});
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out), 0);

  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "done");
  BOOST_TEST(job_column(wf.id, "annotation_attempts") == "1");  // renewed within the attempt
  BOOST_TEST(out.find("OMERO.web session expired; logging in again") != std::string::npos, out);
  BOOST_TEST(web.requests("POST", "/webgateway/su/") == 2U);
  // The second write, refused with 403, was sent again after the renewal.
  BOOST_TEST(web.requests("POST", "/webclient/annotate_map/") == 5U);
  const auto images = images_in(dataset);
  BOOST_REQUIRE_EQUAL(images.size(), 1U);
  BOOST_TEST(workflow_namespaces(images[0].id) == expected_namespaces, boost::test_tools::per_element());
  for (const auto& a : web.annotations_on("image", images[0].id)) BOOST_TEST(a.owner == alice);
  BOOST_TEST(web.live_omero_sessions() == 0);
}

BOOST_FIXTURE_TEST_CASE(a_sigkill_between_two_namespaces_leaves_one_set_after_the_restart, OmeroFlow) {
  const auto dataset = web.add_container("dataset", "given", alice, lab);
  Settings s;
  s.more = names_tables();
  s.jobs = "  lease: 5s\n";  // the dead reactor's claim on the annotations lapses after it
  const auto cfg = config(s);
  auto first = start_reactor(cfg, tree.path() / "first.log");
  // The first write commits in OMERO; the reactor dies before it hears the answer.
  web.kill_after("POST", "/webclient/annotate_map/", first->pid());
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow({{"Dataset_ID", dataset}});
  BOOST_REQUIRE_MESSAGE(first->wait(60s) == 137, first->output());
  const auto images = images_in(dataset);
  BOOST_REQUIRE_EQUAL(images.size(), 1U);
  BOOST_REQUIRE(workflow_namespaces(images[0].id) == std::multiset<std::string>{"biomero/workflow"});
  BOOST_TEST(job_column(wf.id, "annotation_state") == "pending");
  BOOST_TEST(job_column(wf.id, "annotation_attempts") == "0");

  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "done");
  BOOST_TEST(history_count("annotations: 1 objects, 3 written, 1 already present") == 1);
  BOOST_TEST(workflow_namespaces(images[0].id) == expected_namespaces, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(a_configured_user_who_is_not_an_administrator_gives_up_at_once, OmeroFlow) {
  const auto dataset = web.add_container("dataset", "given", alice, lab);
  Settings s;
  s.username = "alice";
  s.password = "alice-pw";
  s.more = names_tables();
  const auto cfg = config(s);
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow({{"Dataset_ID", dataset}});
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out), 0);

  const std::string reason = "OMERO user alice is not an OMERO administrator";
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "given_up");
  BOOST_TEST(job_column(wf.id, "annotation_attempts") == "1");  // permanent: no retry
  BOOST_TEST(job_column(wf.id, "annotation_error").find(reason) != std::string::npos);
  BOOST_TEST(history_count("annotations given up: %" + reason + "%") == 1);
  BOOST_TEST(out.find("OMERO annotations given up") != std::string::npos, out);
  BOOST_TEST(out.find(reason) != std::string::npos, out);
  BOOST_TEST(web.requests("POST", "/webclient/annotate_map/") == 0U);
  for (const auto& image : images_in(dataset)) BOOST_TEST(workflow_namespaces(image.id).empty());
}

BOOST_FIXTURE_TEST_CASE(su_refused_with_404_gives_up_at_once_with_the_reason, OmeroFlow) {
  const auto dataset = web.add_container("dataset", "given", alice, lab);
  Settings s;
  s.more = names_tables();
  const auto cfg = config(s);
  // Once only: a retry (which must not happen) would succeed and end `done`.
  web.inject("POST", "/webgateway/su/", OmeroWebStandin::Fault::status_404);
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow({{"Dataset_ID", dataset}});
  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out), 0);

  const std::string reason = "OMERO.web refused su to alice (404): root is not an OMERO administrator";
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "given_up");
  BOOST_TEST(job_column(wf.id, "annotation_attempts") == "1");
  BOOST_TEST(job_column(wf.id, "annotation_error").find(reason) != std::string::npos);
  BOOST_TEST(history_count("annotations given up: %" + reason + "%") == 1);
  BOOST_TEST(out.find("OMERO annotations given up") != std::string::npos, out);
  BOOST_TEST(out.find(reason) != std::string::npos, out);
  BOOST_TEST(web.requests("POST", "/webgateway/su/") == 1U);
  for (const auto& image : images_in(dataset)) BOOST_TEST(workflow_namespaces(image.id).empty());
  BOOST_TEST(web.live_omero_sessions() == 0);  // the admin's session was logged out
}

BOOST_FIXTURE_TEST_CASE(attach_log_uploads_the_jobs_log_to_the_dataset_as_the_user, OmeroFlow) {
  Settings s;
  s.omero = "  attach_log: true\n";
  const auto cfg = config(s);
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow();
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "done");

  const auto datasets = datasets_named("Imported_Results");
  BOOST_REQUIRE_EQUAL(datasets.size(), 1U);
  const auto files = file_annotations_on(datasets[0].id);
  BOOST_REQUIRE_EQUAL(files.size(), 1U);
  BOOST_TEST(files[0].file_name == "omero-1234.log");
  BOOST_TEST(files[0].owner == alice);
  BOOST_TEST(files[0].group == lab);
  // The copy in the job's directory, which is what the worker wrote.
  const fs::path job_dir = job_column(wf.id, "job_dir");
  BOOST_TEST(files[0].file_content == read_file(job_dir / "omero-1234.log"));
  BOOST_TEST(files[0].file_content.find("SLURM job 1234 finished") != std::string::npos);
  BOOST_TEST(files[0].link_owner == alice);
  BOOST_TEST(web.requests("POST", "/webclient/annotate_file/") == 1U);
  for (const auto& image : images_in(datasets[0].id)) {
    BOOST_TEST(workflow_namespaces(image.id) == expected_namespaces, boost::test_tools::per_element());
  }

  // A later run has nothing to annotate and uploads nothing again.
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(file_annotations_on(datasets[0].id).size() == 1U);
  BOOST_TEST(web.requests("POST", "/webclient/annotate_file/") == 1U);
}

BOOST_FIXTURE_TEST_CASE(a_sigkill_after_the_log_upload_uploads_no_second_log, OmeroFlow) {
  const auto dataset = web.add_container("dataset", "given", alice, lab);
  Settings s;
  s.omero = "  attach_log: true\n";
  s.jobs = "  lease: 5s\n";  // the dead reactor's claim on the annotations lapses after it
  s.more = names_tables();
  const auto cfg = config(s);
  auto first = start_reactor(cfg, tree.path() / "first.log");
  // The upload commits in OMERO; the reactor dies before it records the annotations as done.
  web.kill_after("POST", "/webclient/annotate_file/", first->pid());
  StandinImporter importer(db, web, alice);
  const SampleWorkflow wf = completed_workflow({{"Dataset_ID", dataset}});
  BOOST_REQUIRE_MESSAGE(first->wait(60s) == 137, first->output());
  BOOST_REQUIRE_EQUAL(file_annotations_on(dataset).size(), 1U);
  BOOST_TEST(job_column(wf.id, "annotation_state") == "pending");

  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(wf.id, "annotation_state") == "done");
  BOOST_TEST(file_annotations_on(dataset).size() == 1U);
  for (const auto& image : images_in(dataset)) {
    BOOST_TEST(workflow_namespaces(image.id) == expected_namespaces, boost::test_tools::per_element());
  }
}

// BIOMERO's import script renames label images "<parent> [<label>]". With the default
// import.labels, a zarr with label groups is imported as its labels only (one "labels"
// order), and each label group arrives named `<label>.zarr` (the reactor names them so).
BOOST_FIXTURE_TEST_CASE(the_label_images_of_a_zarr_are_renamed_after_their_parent_once, OmeroFlow) {
  const auto cfg = config();
  StandinImporter importer(db, web, alice);
  SampleWorkflow wf;
  wf.user = alice;
  wf.group = lab;
  {
    const fs::path src = tree.path() / "src-labels";
    const fs::path zarr = src / "data" / "out" / "cells.zarr";
    for (const char* label : {"nuclei", "membrane"}) {
      fs::create_directories(zarr / "labels" / label);
      std::ofstream(zarr / "labels" / label / ".zattrs") << "{}";
    }
    std::ofstream(zarr / ".zgroup") << R"({"zarr_format": 2})";
    std::ofstream(zarr / "labels" / ".zgroup") << R"({"zarr_format": 2})";
    fs::create_directories(results);
    (void)zip_directory(src, results / "1234_out.zip");
  }
  db.query(
      "INSERT INTO public.biomero_workflow_progress_view (workflow_id, status, progress, \"user\", \"group\", "
      "name, start_time) VALUES ($1, 'COMPLETED', '100%', 2, 3, 'cellexpansion', now())",
      pg::params(wf.id.str()));
  write_workflow(db, wf);
  std::string out;
  BOOST_REQUIRE_MESSAGE(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out) == 0, out);
  BOOST_TEST(job_column(wf.id, "state") == "imported");
  BOOST_TEST(job_column(wf.id, "annotation_state") == "done");
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.orders WHERE kind = 'labels'") == 1);
  const auto datasets = datasets_named("Imported_Results");
  BOOST_REQUIRE_EQUAL(datasets.size(), 1U);
  std::multiset<std::string> names;
  for (const auto& image : images_in(datasets[0].id)) {
    names.insert(image.name);
    BOOST_TEST(workflow_namespaces(image.id) == expected_namespaces, boost::test_tools::per_element());
  }
  BOOST_TEST(names == (std::multiset<std::string>{"cells [membrane]", "cells [nuclei]"}),
             boost::test_tools::per_element());
  BOOST_TEST(web.requests("POST", "/webclient/action/savename/image/") == 2U);
  BOOST_TEST(history_count("%label images: 2, 2 renamed%") == 1);

  // A replayed run of the annotations (as after a crash before `done`) renames nothing.
  db.query("UPDATE biomero_reactor.jobs SET annotation_state = 'pending', annotation_next_at = now(), "
           "annotation_attempts = 0");
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"run", "--once"}), 0);
  BOOST_TEST(job_column(wf.id, "annotation_state") == "done");
  BOOST_TEST(web.requests("POST", "/webclient/action/savename/image/") == 2U);
  BOOST_TEST(history_count("%label images: 2, 0 renamed%") == 1);
}

BOOST_AUTO_TEST_SUITE_END()
